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

    static CompareReport sample() {
        var base = new Variant("base", List.of(
                new Metric("accuracy", 0.612, 0.58, 0.64, 500, true),
                new Metric("exact_match", 0.301, 0.27, 0.33, 500, true),
                new Metric("perplexity", 14.2, 13.6, 14.9, 200, false)),
                List.of(), new DriftFromBase(0.0, 0.0));
        var a = new Variant("adapter-a", List.of(
                new Metric("accuracy", 0.812, 0.79, 0.83, 500, true),
                new Metric("exact_match", 0.455, 0.42, 0.49, 500, true),
                new Metric("perplexity", 11.7, 11.2, 12.3, 200, false)),
                curve(2.9, 1.1, 60, 0.15), new DriftFromBase(0.084, 0.021));
        var b = new Variant("adapter-b", List.of(
                new Metric("accuracy", 0.774, 0.75, 0.80, 500, true),
                new Metric("exact_match", 0.498, 0.46, 0.53, 500, true),
                new Metric("perplexity", 12.4, 11.9, 13.0, 200, false)),
                curve(2.9, 1.3, 60, 0.10), new DriftFromBase(0.051, 0.009));
        return new CompareReport(null, "models/SmolLM2-135M", List.of("arc_easy", "gsm8k"), CREATED, List.of(base, a, b));
    }
}
