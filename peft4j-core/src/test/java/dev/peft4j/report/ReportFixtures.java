/*
 * ReportFixtures: synthetic comparisons for the report tests (base + two adapters, three
 * metrics, loss curves with validation rows, drift numbers).
 */
package dev.peft4j.report;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

final class ReportFixtures {
    private ReportFixtures() {
    }

    static final Instant CREATED = Instant.parse("2025-05-01T12:34:56Z");

    static List<LossPoint> curve(double start, double end, int steps, double valOffset) {
        List<LossPoint> out = new ArrayList<>();
        out.add(LossPoint.validation(0, start + valOffset));
        for (int s = 1; s <= steps; s++) {
            double loss = end + (start - end) * Math.exp(-4.0 * s / steps) + 0.03 * Math.sin(s * 1.7);
            Double val = s % 10 == 0 ? loss + valOffset : null;
            out.add(new LossPoint(s, loss, val, 2e-4 * (1 - (double) s / steps), 1.0 + 0.1 * Math.cos(s),
                    950.0 + s, (double) s / steps));
        }
        return out;
    }

    /** n items of which the first k are correct. */
    static Metric.Samples firstCorrect(int k, int n) {
        boolean[] c = new boolean[n];
        for (int i = 0; i < k; i++) c[i] = true;
        return Metric.Samples.correctness(c, "accuracy");
    }

    /** 200 documents with mean nll ln(ppl) and a ±0.8 noise pattern (period 2 or 4) summing to 0. */
    static Metric.Samples docs(double ppl, int period) {
        double[] v = new double[200];
        for (int d = 0; d < v.length; d++) v[d] = Math.log(ppl) + 0.8 * (d % period < period / 2 ? 1 : -1);
        return new Metric.Samples(v, null, false, "nll (nats/token)");
    }

    static Metric acc(String name, int k, double lo, double hi) {
        return new Metric(name, k / 500.0, lo, hi, 500, true, firstCorrect(k, 500));
    }

    static Metric ppl(double value, double lo, double hi, int period) {
        return new Metric("perplexity", value, lo, hi, 200, false, docs(value, period));
    }

    /**
     * Planted: accuracy, nested correct sets (base 306 < b 387 < a 406 of 500): a is significantly
     * best (19 items only a gets right, exact McNemar p = 2/2^19); exact_match: b (249) vs a (228),
     * 21 discordant, b significantly best; perplexity: a and b differ by a noise pattern that does
     * not cancel in the pairing, so they are not distinguishable, while both beat the base.
     */
    static CompareReport sample() {
        var base = new Variant("base", List.of(
                acc("accuracy", 306, 0.58, 0.64),
                acc("exact_match", 150, 0.26, 0.34),
                ppl(14.2, 13.6, 14.9, 2)),
                List.of(), new DriftFromBase(0.0, 0.0));
        var a = new Variant("adapter-a", List.of(
                acc("accuracy", 406, 0.79, 0.83),
                acc("exact_match", 228, 0.41, 0.50),
                ppl(11.7, 11.2, 12.3, 2)),
                curve(2.9, 1.1, 60, 0.15), new DriftFromBase(0.084, 0.021, 0.07, 0.1, 0.01, 0.03, 2.1, 2.0, 2.2, 50, 5000));
        var b = new Variant("adapter-b", List.of(
                acc("accuracy", 387, 0.75, 0.80),
                acc("exact_match", 249, 0.46, 0.54),
                ppl(12.4, 11.9, 13.0, 4)),
                curve(2.9, 1.3, 60, 0.10), new DriftFromBase(0.051, 0.009, 0.04, 0.06, -0.002, 0.02, 2.1, 2.0, 2.2, 50, 5000));
        return new CompareReport(null, "models/SmolLM2-135M", List.of("arc_easy", "gsm8k"), CREATED, List.of(base, a, b));
    }

    /** sample() with per-item multiple-choice results (a confusion matrix per variant) for the screenshot. */
    static CompareReport sampleWithItems() {
        CompareReport r = sample();
        List<Variant> vs = new ArrayList<>();
        List<String> choices = List.of(" yes", " no", " maybe");
        for (int k = 0; k < r.variants().size(); k++) {
            Variant v = r.variants().get(k);
            List<ItemResult> items = new ArrayList<>();
            for (int i = 0; i < 60; i++) {
                int gold = i % 3, pred = (i * (k + 2)) % 7 < 4 + k ? gold : (gold + 1 + i % 2) % 3;
                items.add(ItemResult.choice("pubmedqa", i, "pmid" + i, "Question " + i + "\nAnswer:", choices,
                        new double[] {-1 - (pred == 0 ? 0 : 1), -1 - (pred == 1 ? 0 : 1), -1 - (pred == 2 ? 0 : 1)}, gold, pred));
            }
            vs.add(new Variant(v.name(), v.metrics(), v.lossCurve(), v.drift(), items, null));
        }
        return new CompareReport(r.title(), r.modelPath(), r.tasks(), r.created(), vs);
    }
}
