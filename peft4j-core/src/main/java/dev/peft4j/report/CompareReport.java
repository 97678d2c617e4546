/*
 * CompareReport: renders a comparison of model variants (base vs adapters) three ways:
 *   - toHtml()/writeHtml(): ONE self-contained HTML page — the Chart.js UMD bundle from the
 *     WebJar inlined, the data embedded as JSON, charts drawn by ChartScript (grouped bars with
 *     confidence-interval error bars per metric, training-loss curves with a log-scale toggle,
 *     drift bars) and tables rendered here in Java (summary with n, paired tests, per-class
 *     accuracy and confusion matrices as heat tables, drift with units and intervals);
 *   - toJson()/writeJson(): every number, as JSON (the same document the HTML embeds), with the
 *     per-item results, the paired tests and the verdicts; curves downsampled to LossCurve.MAX_POINTS;
 *   - toCsv(): the per-item predictions, one row per variant and item;
 *   - toText(): a plain-text table for stdout, "metric | base | adapter-a", cells
 *     "0.812 [0.790, 0.830] n=500", then the paired tests.
 * "Best" is a claim of significance: a variant is marked best ('*', ★) only when a paired test on
 * the same items (McNemar for accuracies, paired bootstrap for losses; dev.peft4j.eval.Paired)
 * shows it better than every other variant at p < 0.05; otherwise the top variant and those it
 * cannot be told apart from are marked not distinguishable ('=', ≈). Metrics without per-item
 * samples are never marked best.
 * Usage:
 *   var report = CompareReport.of("models/SmolLM2-135M", List.of("gsm8k", "arc"), variants);
 *   System.out.print(report.toText());
 *   report.write(outDir, "compare");   // compare.html, compare.json, compare-predictions.csv, each atomic
 * The first variant is the reference (the base): drift is measured from it.
 * Constraints: every user string in the HTML is escaped (text and attributes); the embedded
 * JSON has '<', '>', '&' as \\u escapes so no name can close the script element; non-finite
 * numbers become JSON null; files are written to a temp file in the target folder then renamed.
 */
package dev.peft4j.report;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.peft4j.Peft4jException;
import dev.peft4j.eval.Ci;
import dev.peft4j.eval.Paired;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

public record CompareReport(String title, String modelPath, List<String> tasks, Instant created,
                            List<Variant> variants) {

    public static final String SCHEMA = "peft4j.compare-report/1";
    static final String CHART_JS_RESOURCE = "META-INF/resources/webjars/chart.js/4.4.7/dist/chart.umd.js";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static volatile String chartJs;

    public CompareReport {
        Objects.requireNonNull(variants, "variants");
        if (variants.isEmpty()) throw new IllegalArgumentException("a comparison needs at least one variant");
        modelPath = modelPath == null ? "" : modelPath;
        tasks = List.copyOf(tasks == null ? List.of() : tasks);
        created = created == null ? Instant.now().truncatedTo(ChronoUnit.SECONDS) : created;
        title = title == null || title.isBlank() ? "peft4j comparison" + (modelPath.isEmpty() ? "" : ": " + modelPath) : title;
        variants = List.copyOf(variants);
        var names = new java.util.HashSet<String>();
        for (Variant v : variants)
            if (!names.add(v.name())) throw new IllegalArgumentException("variant " + v.name() + " given twice");
    }

    /** A report titled after the model, dated now. */
    public static CompareReport of(String modelPath, List<String> tasks, List<Variant> variants) {
        return new CompareReport(null, modelPath, tasks, null, variants);
    }

    /** Metric names in first-seen order, each with its direction (from the first variant that has it). */
    public Map<String, Boolean> metricNames() {
        Map<String, Boolean> out = new LinkedHashMap<>();
        for (Variant v : variants)
            for (Metric m : v.metrics()) out.putIfAbsent(m.name(), m.higherIsBetter());
        return out;
    }

    /**
     * A paired test of B against A on metric (diff = B − A in the samples' scale), or null when either
     * lacks the metric's per-item samples or they cover different numbers of items.
     */
    public Paired.Test pairedTest(String metric, Variant a, Variant b) {
        Metric ma = a.metric(metric), mb = b.metric(metric);
        if (ma == null || mb == null || ma.samples() == null || mb.samples() == null) return null;
        Metric.Samples sa = ma.samples(), sb = mb.samples();
        if (sa.values().length != sb.values().length || sa.values().length == 0) return null;
        if (sa.binary() && sb.binary()) {
            boolean[] x = new boolean[sa.values().length], y = new boolean[x.length];
            for (int i = 0; i < x.length; i++) {
                x[i] = sa.values()[i] != 0;
                y[i] = sb.values()[i] != 0;
            }
            return Paired.mcNemar(x, y);
        }
        return Paired.bootstrap(sa.values(), sb.values(), sa.weights());
    }

    /** One paired comparison of the report: variant b against variant a on metric. */
    public record Comparison(String metric, String a, String b, String scale, Paired.Test test) {
        /** True when b is significantly better than a (in the metric's direction). */
        public boolean bBetter(boolean higherIsBetter) {
            return test.significant() && (higherIsBetter ? test.diff() > 0 : test.diff() < 0);
        }
    }

    /** Every pair of variants (a before b in the report's order) that has a paired test on metric. */
    public List<Comparison> comparisons(String metric) {
        List<Comparison> out = new ArrayList<>();
        for (int i = 0; i < variants.size(); i++)
            for (int j = i + 1; j < variants.size(); j++) {
                Paired.Test t = pairedTest(metric, variants.get(i), variants.get(j));
                if (t != null) out.add(new Comparison(metric, variants.get(i).name(), variants.get(j).name(),
                        variants.get(i).metric(metric).samples().scale(), t));
            }
        return out;
    }

    /**
     * The verdict on metric: best is the variant with the best value when a paired test shows it
     * significantly better than EVERY other variant that has the metric (else null); tied lists the
     * top variant and those it cannot be told apart from (no significant difference, or no paired
     * test) when there is no best. reason says why in words.
     */
    public record Verdict(String metric, String best, List<String> tied, String reason) {}

    public Verdict verdict(String metric) {
        boolean higher = metricNames().getOrDefault(metric, true);
        List<Variant> with = variants.stream().filter(v -> v.metric(metric) != null && Double.isFinite(v.metric(metric).value())).toList();
        if (with.size() < 2) return new Verdict(metric, null, List.of(), "fewer than two versions have it");
        Variant top = with.getFirst();
        for (Variant v : with) {
            double x = v.metric(metric).value(), t = top.metric(metric).value();
            if (higher ? x > t : x < t) top = v;
        }
        List<String> tied = new ArrayList<>(List.of(top.name()));
        boolean untested = false;
        for (Variant v : with) {
            if (v == top) continue;
            Paired.Test t = pairedTest(metric, v, top);
            if (t == null) untested = true;
            if (t == null || !new Comparison(metric, v.name(), top.name(), "", t).bBetter(higher)) tied.add(v.name());
        }
        if (tied.size() == 1) return new Verdict(metric, top.name(), List.of(), "significantly better than every other version (p < 0.05)");
        return new Verdict(metric, null, List.copyOf(tied), untested ? "no paired test (per-item results missing or different items)"
                : "not distinguishable: no significant difference on the same items");
    }

    /** The significantly best variant of metric as a one-element list, or empty (kept for callers of the earlier API). */
    public List<String> best(String metric) {
        Verdict v = verdict(metric);
        return v.best() == null ? List.of() : List.of(v.best());
    }

    /** Warnings about training curves that cannot be compared (different data or label settings). */
    public List<String> lossWarnings() {
        List<Variant> withCurve = variants.stream().filter(v -> !v.lossCurve().isEmpty()).toList();
        List<String> out = new ArrayList<>();
        if (withCurve.size() < 2) return out;
        var keys = new java.util.TreeSet<String>();
        withCurve.forEach(v -> keys.addAll(v.lossSettings().keySet()));
        for (String k : keys) {
            Map<String, String> values = new LinkedHashMap<>();
            for (Variant v : withCurve) values.put(v.name(), v.lossSettings().getOrDefault(k, "(unknown)"));
            if (new java.util.HashSet<>(values.values()).size() > 1) {
                StringBuilder sb = new StringBuilder("losses are not comparable: " + k + " differs (");
                values.forEach((n, x) -> sb.append(n).append(": ").append(x).append("; "));
                sb.setLength(sb.length() - 2);
                out.add(sb.append(')').toString());
            }
        }
        return out;
    }

    /** Multiple-choice confusion matrices of a variant, one per task that has choice items. */
    public static List<Confusion> confusions(Variant v) {
        List<Confusion> out = new ArrayList<>();
        for (String task : v.items().stream().filter(ItemResult::isChoice).map(ItemResult::task).distinct().toList())
            out.add(Confusion.of(task, v.items()));
        return out;
    }

    // ---------------------------------------------------------------- JSON

    public ObjectNode toJsonTree() {
        ObjectNode root = JSON.createObjectNode();
        root.put("schema", SCHEMA);
        root.put("title", title);
        root.put("created", DateTimeFormatter.ISO_INSTANT.format(created));
        root.put("model_path", modelPath);
        ArrayNode taskArray = root.putArray("tasks");
        tasks.forEach(taskArray::add);
        ArrayNode metricArray = root.putArray("metrics");
        ObjectNode bestNode = JSON.createObjectNode();
        ArrayNode verdicts = JSON.createArrayNode();
        ArrayNode comparisons = JSON.createArrayNode();
        metricNames().forEach((name, higher) -> {
            metricArray.addObject().put("name", name).put("higher_is_better", higher);
            Verdict vd = verdict(name);
            ArrayNode b = bestNode.putArray(name);
            if (vd.best() != null) b.add(vd.best());
            ObjectNode vn = verdicts.addObject().put("metric", name);
            if (vd.best() == null) vn.putNull("best");
            else vn.put("best", vd.best());
            ArrayNode tied = vn.putArray("not_distinguishable");
            vd.tied().forEach(tied::add);
            vn.put("reason", vd.reason());
            for (Comparison c : comparisons(name)) {
                ObjectNode cn = comparisons.addObject();
                cn.put("metric", name).put("a", c.a()).put("b", c.b()).put("scale", c.scale()).put("method", c.test().method());
                num(cn, "diff_b_minus_a", c.test().diff());
                num(cn, "lo", c.test().lo());
                num(cn, "hi", c.test().hi());
                num(cn, "p", c.test().p());
                cn.put("n", c.test().n());
                if (c.test().onlyA() >= 0) cn.put("only_a_correct", c.test().onlyA()).put("only_b_correct", c.test().onlyB());
                cn.put("significant", c.test().significant());
            }
        });
        root.put("significance", "paired tests on the same items: McNemar (exact binomial below " + Paired.EXACT_BELOW
                + " discordant items, else chi-square with continuity correction) for accuracies; paired bootstrap over items/documents ("
                + Ci.DEFAULT_RESAMPLES + " resamples, seed " + Ci.DEFAULT_SEED + ") for losses; significant: p < 0.05 or a 95% interval of the difference excluding 0");
        ArrayNode warnings = root.putArray("loss_curve_warnings");
        lossWarnings().forEach(warnings::add);
        ArrayNode variantArray = root.putArray("variants");
        for (Variant v : variants) {
            ObjectNode vn = variantArray.addObject();
            vn.put("name", v.name());
            ObjectNode ms = vn.putObject("metrics");
            for (Metric m : v.metrics()) {
                ObjectNode mn = ms.putObject(m.name());
                num(mn, "value", m.value());
                num(mn, "lo", m.lo());
                num(mn, "hi", m.hi());
                mn.put("n", m.n());
                mn.put("higher_is_better", m.higherIsBetter());
            }
            ObjectNode drift = vn.putObject("drift");
            DriftFromBase d = v.drift();
            num(drift, "kl_from_base", d.klFromBase());
            num(drift, "kl_lo", d.klLo());
            num(drift, "kl_hi", d.klHi());
            num(drift, "forgetting", d.forgetting());
            num(drift, "forgetting_lo", d.forgettingLo());
            num(drift, "forgetting_hi", d.forgettingHi());
            num(drift, "base_nll", d.baseNll());
            num(drift, "base_nll_lo", d.baseNllLo());
            num(drift, "base_nll_hi", d.baseNllHi());
            drift.put("n_docs", d.docs()).put("tokens", d.tokens())
                    .put("units", "kl_from_base: nats/position; forgetting and base_nll: nats/token; intervals: 95% bootstrap over reference documents");
            ObjectNode settings = vn.putObject("loss_settings");
            v.lossSettings().forEach(settings::put);
            List<LossPoint> points = LossCurve.downsample(v.lossCurve(), LossCurve.MAX_POINTS);
            vn.put("loss_curve_points", v.lossCurve().size());
            ArrayNode curve = vn.putArray("loss_curve");
            for (LossPoint p : points) {
                ObjectNode pn = curve.addObject();
                pn.put("step", p.step());
                num(pn, "loss", p.loss());
                num(pn, "val_loss", p.valLoss());
                num(pn, "lr", p.lr());
                num(pn, "grad_norm", p.gradNorm());
                num(pn, "tokens_per_s", p.tokensPerS());
                num(pn, "epoch", p.epoch());
                if (p.rankBudget() != null) num(pn, "rank_budget", p.rankBudget());     // methods that prune ranks (AdaLoRA)
            }
            ArrayNode conf = vn.putArray("confusion");
            for (Confusion c : confusions(v)) {
                ObjectNode cn = conf.addObject().put("task", c.task()).put("n", c.total());
                ArrayNode labels = cn.putArray("labels");
                c.labels().forEach(labels::add);
                ArrayNode rows = cn.putArray("counts_gold_by_predicted");
                for (int[] row : c.counts()) {
                    ArrayNode r = rows.addArray();
                    for (int x : row) r.add(x);
                }
                ArrayNode pc = cn.putArray("per_class");
                for (Confusion.ClassAccuracy a : c.perClass()) {
                    ObjectNode an = pc.addObject().put("label", a.label()).put("correct", a.correct()).put("n", a.n());
                    num(an, "acc", a.n() == 0 ? null : a.acc().value());
                    num(an, "lo", a.n() == 0 ? null : a.acc().lo());
                    num(an, "hi", a.n() == 0 ? null : a.acc().hi());
                }
            }
            ArrayNode items = vn.putArray("items");
            for (ItemResult it : v.items()) {
                ObjectNode in = items.addObject().put("task", it.task()).put("index", it.index()).put("id", it.id());
                if (it.isChoice()) {
                    ArrayNode sc = in.putArray("choice_scores");
                    for (double s : it.scores()) {
                        if (Double.isFinite(s)) sc.add(s);
                        else sc.addNull();
                    }
                    in.put("gold_index", it.goldIndex()).put("predicted_index", it.predictedIndex());
                }
                if (it.gold() != null) in.put("gold", it.gold());
                if (it.predicted() != null) in.put("predicted", it.predicted());
                if (it.correct() != null) in.put("correct", it.correct());
                if (it.nll() != null) num(in, "nll", it.nll());
                if (it.tokens() != null) in.put("tokens", it.tokens());
            }
        }
        root.set("best", bestNode);
        root.set("verdicts", verdicts);
        root.set("comparisons", comparisons);
        return root;
    }

    // ---------------------------------------------------------------- CSV

    /** True when some variant has per-item results (the predictions table is then written). */
    public boolean hasItems() {
        return variants.stream().anyMatch(v -> !v.items().isEmpty());
    }

    /**
     * The per-item predictions of every variant as CSV (RFC 4180 quoting): variant, task, index, id,
     * gold, predicted, correct, nll, tokens, choice_scores (";"-separated log-likelihoods), prompt.
     */
    public String toCsv() {
        StringBuilder sb = new StringBuilder("variant,task,index,id,gold,predicted,correct,nll,tokens,choice_scores,prompt\r\n");
        for (Variant v : variants)
            for (ItemResult it : v.items()) {
                StringBuilder scores = new StringBuilder();
                for (double s : it.scores()) scores.append(scores.isEmpty() ? "" : ";").append(s);
                List<String> cells = List.of(v.name(), it.task(), String.valueOf(it.index()), it.id(),
                        it.gold() == null ? "" : it.gold(), it.predicted() == null ? "" : it.predicted(),
                        it.correct() == null ? "" : it.correct().toString(), it.nll() == null ? "" : it.nll().toString(),
                        it.tokens() == null ? "" : it.tokens().toString(), scores.toString(), it.prompt());
                for (int c = 0; c < cells.size(); c++) sb.append(c == 0 ? "" : ",").append(csv(cells.get(c)));
                sb.append("\r\n");
            }
        return sb.toString();
    }

    static String csv(String s) {
        boolean quote = s.contains(",") || s.contains("\"") || s.contains("\n") || s.contains("\r")
                || (!s.isEmpty() && "=+-@".indexOf(s.charAt(0)) >= 0 && !s.matches("-?[0-9.eE+-]+(;-?[0-9.eE+-]+)*"));
        if (!quote) return s;
        // a leading formula character is neutralised with a quote mark (spreadsheet formula injection)
        String t = !s.isEmpty() && "=+-@".indexOf(s.charAt(0)) >= 0 && !s.matches("-?[0-9.eE+-]+(;-?[0-9.eE+-]+)*") ? "'" + s : s;
        return "\"" + t.replace("\"", "\"\"") + "\"";
    }

    private static void num(ObjectNode node, String field, Double v) {
        if (v == null || !Double.isFinite(v)) node.putNull(field);
        else node.put(field, v.doubleValue());
    }

    public String toJson() {
        try {
            return JSON.writeValueAsString(toJsonTree()) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    // ---------------------------------------------------------------- text

    /**
     * A plain-text table: one row per metric (then the drift rows), one column per variant, every
     * cell with its interval and n; then the paired tests and the verdict of each metric.
     */
    public String toText() {
        List<List<String>> rows = new ArrayList<>();
        List<String> header = new ArrayList<>();
        header.add("metric");
        variants.forEach(v -> header.add(v.name()));
        rows.add(header);
        metricNames().forEach((name, higher) -> {
            Verdict vd = verdict(name);
            List<String> row = new ArrayList<>();
            row.add(name + (higher ? " (higher is better)" : " (lower is better)"));
            for (Variant v : variants) {
                Metric m = v.metric(name);
                String mark = v.name().equals(vd.best()) ? " *" : vd.tied().contains(v.name()) ? " =" : "";
                row.add(m == null ? "-" : cell(m) + (m.n() > 0 ? " n=" + m.n() : "") + mark);
            }
            rows.add(row);
        });
        if (variants.stream().anyMatch(v -> v.drift().klFromBase() != null))
            rows.add(driftRow("KL from base, nats/position (lower is better)", d -> d.klFromBase(), DriftFromBase::klLo, DriftFromBase::klHi));
        if (variants.stream().anyMatch(v -> v.drift().forgetting() != null))
            rows.add(driftRow("forgetting, nats/token (lower is better)", DriftFromBase::forgetting, DriftFromBase::forgettingLo, DriftFromBase::forgettingHi));
        DriftFromBase ref = referenceLoss();
        if (ref != null) {
            List<String> row = new ArrayList<>(List.of("base model's own loss on the reference, nats/token"));
            row.add(number(ref.baseNll()) + (ref.baseNllLo() == null ? "" : " [" + number(ref.baseNllLo()) + ", " + number(ref.baseNllHi()) + "]")
                    + " n=" + ref.docs());
            for (int i = 1; i < variants.size(); i++) row.add("");
            rows.add(row);
        }

        int cols = header.size();
        int[] width = new int[cols];
        for (List<String> r : rows)
            for (int c = 0; c < cols; c++) width[c] = Math.max(width[c], r.get(c).length());
        StringBuilder sb = new StringBuilder();
        sb.append(title).append('\n');
        if (!modelPath.isEmpty()) sb.append("model: ").append(modelPath).append('\n');
        if (!tasks.isEmpty()) sb.append("tasks: ").append(String.join(", ", tasks)).append('\n');
        for (int r = 0; r < rows.size(); r++) {
            List<String> row = rows.get(r);
            for (int c = 0; c < cols; c++) {
                if (c > 0) sb.append(" | ");
                String s = row.get(c);
                sb.append(s).append(" ".repeat(width[c] - s.length()));
            }
            trimEnd(sb);
            sb.append('\n');
            if (r == 0) {
                for (int c = 0; c < cols; c++) {
                    if (c > 0) sb.append("-+-");
                    sb.append("-".repeat(width[c]));
                }
                sb.append('\n');
            }
        }
        sb.append("[lo, hi]: 95% confidence interval; n: items (documents for losses and drift)\n");
        if (variants.size() > 1)
            sb.append("* significantly best (paired test on the same items, p < 0.05, against every other version); "
                    + "= not distinguishable from the best\n");
        List<String> tests = new ArrayList<>();
        metricNames().forEach((name, higher) -> {
            for (Comparison c : comparisons(name)) tests.add("  " + comparisonLine(c));
            Verdict vd = verdict(name);
            if (vd.best() != null || !vd.tied().isEmpty())
                tests.add("  => " + name + ": " + (vd.best() != null ? "best " + vd.best() + ": " + vd.reason()
                        : String.join(", ", vd.tied()) + ": " + vd.reason()));
        });
        if (!tests.isEmpty()) {
            sb.append("paired tests (B - A on the same items):\n");
            tests.forEach(t -> sb.append(t).append('\n'));
        }
        for (String w : lossWarnings()) sb.append("warning: training ").append(w).append('\n');
        return sb.toString();
    }

    /** The drift of the first variant that measured the base model's loss on the reference text, or null. */
    DriftFromBase referenceLoss() {
        return variants.stream().map(Variant::drift).filter(d -> d.baseNll() != null).findFirst().orElse(null);
    }

    /** "mc:acc  adapter - base = +0.120 [0.060, 0.180] (accuracy), McNemar exact p=0.0005 (3 vs 20 discordant), n=200, significant". */
    static String comparisonLine(Comparison c) {
        Paired.Test t = c.test();
        String method = switch (t.method()) {
            case "mcnemar-exact" -> "McNemar exact";
            case "mcnemar-chi2-cc" -> "McNemar chi2 (continuity-corrected)";
            default -> "paired bootstrap";
        };
        return c.metric() + "  " + c.b() + " - " + c.a() + " = " + signed(t.diff()) + " [" + number(t.lo()) + ", " + number(t.hi()) + "]"
                + (c.scale().isEmpty() ? "" : " (" + c.scale() + ")") + ", " + method + " p" + (pValue(t).startsWith("<") ? "" : "=") + pValue(t)
                + (t.onlyA() >= 0 ? " (" + t.onlyA() + " only " + c.a() + " right, " + t.onlyB() + " only " + c.b() + " right)" : "")
                + ", n=" + t.n() + ", " + (t.significant() ? "significant" : "not significant");
    }

    static String signed(double v) {
        return (v > 0 ? "+" : "") + number(v);
    }

    static String pValue(Paired.Test t) {
        double p = t.p();
        if (!Double.isFinite(p)) return "n/a";
        if (p == 0 && t.method().equals("paired-bootstrap")) return "<" + pValue(2.0 / Ci.DEFAULT_RESAMPLES);
        return pValue(p);
    }

    static String pValue(double p) {
        if (!Double.isFinite(p)) return "n/a";
        return p < 1e-4 ? String.format(Locale.ROOT, "%.1e", p) : String.format(Locale.ROOT, "%.4f", p);
    }

    private List<String> driftRow(String label, java.util.function.Function<DriftFromBase, Double> value,
                                  java.util.function.Function<DriftFromBase, Double> lo, java.util.function.Function<DriftFromBase, Double> hi) {
        List<String> row = new ArrayList<>();
        row.add(label);
        for (Variant v : variants) {
            Double d = value.apply(v.drift()), l = lo.apply(v.drift()), h = hi.apply(v.drift());
            if (d == null) {
                row.add("-");
                continue;
            }
            String s = number(d);
            if (l != null && h != null && Double.isFinite(l) && Double.isFinite(h)) s += " [" + number(l) + ", " + number(h) + "]";
            if (v.drift().docs() > 0) s += " n=" + v.drift().docs();
            row.add(s);
        }
        return row;
    }

    private static void trimEnd(StringBuilder sb) {
        while (!sb.isEmpty() && sb.charAt(sb.length() - 1) == ' ') sb.setLength(sb.length() - 1);
    }

    /** "0.812 [0.790, 0.830]", or "0.812" without an interval. */
    static String cell(Metric m) {
        String s = number(m.value());
        return m.hasInterval() ? s + " [" + number(m.lo()) + ", " + number(m.hi()) + "]" : s;
    }

    static String number(double v) {
        if (!Double.isFinite(v)) return String.valueOf(v);
        double a = Math.abs(v);
        if (a != 0 && (a >= 1e6 || a < 1e-3)) return String.format(Locale.ROOT, "%.3g", v);
        if (a >= 1000) return String.format(Locale.ROOT, "%.1f", v);
        return String.format(Locale.ROOT, "%.3f", v);
    }

    // ---------------------------------------------------------------- HTML

    public String toHtml() {
        return toHtml(null);
    }

    /** The page; predictionsFile (may be null): the CSV of per-item predictions next to it, linked for download. */
    public String toHtml(String predictionsFile) {
        StringBuilder h = new StringBuilder(300_000);
        h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
                .append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
                .append("<title>").append(escapeHtml(title)).append("</title>\n<style>\n").append(CSS).append("</style>\n</head>\n<body>\n");
        h.append("<header>\n<h1>").append(escapeHtml(title)).append("</h1>\n<dl class=\"meta\">\n");
        meta(h, "Date", DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss 'UTC'").withZone(ZoneOffset.UTC).format(created));
        meta(h, "Model", modelPath.isEmpty() ? "(not given)" : modelPath);
        meta(h, "Tasks", tasks.isEmpty() ? "(not given)" : String.join(", ", tasks));
        meta(h, "Variants", String.join(", ", variants.stream().map(Variant::name).toList()));
        h.append("</dl>\n</header>\n");

        h.append("<section id=\"summary\">\n<h2>Summary</h2>\n");
        summaryTable(h);
        h.append("</section>\n");
        pairedTable(h);
        h.append("<section id=\"metrics-section\">\n<h2>Metrics</h2>\n")
                .append("<p class=\"note\">Bars are the estimates; whiskers are the 95% confidence intervals; n in the tooltips.</p>\n")
                .append("<div id=\"metric-charts\" class=\"grid\"></div>\n</section>\n");
        confusionSection(h);
        if (hasItems() && predictionsFile != null)
            h.append("<section id=\"items-section\">\n<h2>Per-item predictions</h2>\n<p><a id=\"predictions-link\" href=\"")
                    .append(escapeHtml(predictionsFile)).append("\" download>").append(escapeHtml(predictionsFile))
                    .append("</a>: one row per variant and item (index, id, gold, predicted, correct, per-choice log-likelihoods, "
                            + "per-document loss, prompt). The JSON holds the same rows.</p>\n</section>\n");
        h.append("<section id=\"loss-section\">\n<h2>Training loss</h2>\n");
        for (String w : lossWarnings()) h.append("<p class=\"warn\">&#9888; ").append(escapeHtml(w)).append("</p>\n");
        h.append("<p class=\"note\"><label><input type=\"checkbox\" id=\"loss-log\"> log-scale loss axis</label> &nbsp; "
                        + "solid line: training loss; dashed line with &#9670; markers: validation loss, marked only at the steps where validation ran (joined when it ran 3 times or more). "
                        + "At most ").append(LossCurve.MAX_POINTS).append(" points per curve are kept (first, last and minimum always).</p>\n")
                .append("<div id=\"loss-chart\" class=\"wide\"></div>\n")
                .append("<p class=\"empty\">No training-loss curve was given.</p>\n</section>\n");
        h.append("<section id=\"rank-section\" style=\"display:none\">\n<h2>Rank budget</h2>\n<div id=\"rank-chart\"></div>\n</section>\n");
        h.append("<section id=\"drift-section\">\n<h2>Drift from base</h2>\n");
        driftTable(h);
        h.append("<div id=\"drift-chart\" class=\"wide\"></div>\n")
                .append("<p class=\"empty\">No drift measurements were given.</p>\n</section>\n");
        h.append("<footer>Generated by peft4j. The data behind every chart is embedded in this file as JSON (#peft4j-data).</footer>\n");

        h.append("<script type=\"application/json\" id=\"peft4j-data\">\n").append(escapeJsonForScript(toJson())).append("</script>\n");
        h.append("<script>\n").append(chartJs().replace("</script", "<\\/script")).append("\n</script>\n");
        h.append("<script>\n").append(ChartScript.CODE).append("</script>\n</body>\n</html>\n");
        return h.toString();
    }

    private static void meta(StringBuilder h, String key, String value) {
        h.append("<div><dt>").append(key).append("</dt><dd>").append(escapeHtml(value)).append("</dd></div>\n");
    }

    private void summaryTable(StringBuilder h) {
        h.append("<table class=\"summary\">\n<thead><tr><th>metric</th>");
        for (Variant v : variants) h.append("<th>").append(escapeHtml(v.name())).append("</th>");
        h.append("</tr></thead>\n<tbody>\n");
        metricNames().forEach((name, higher) -> {
            Verdict vd = verdict(name);
            h.append("<tr><th>").append(escapeHtml(name)).append(" <span class=\"dir\">")
                    .append(higher ? "&uarr; higher is better" : "&darr; lower is better").append("</span></th>");
            for (Variant v : variants) {
                Metric m = v.metric(name);
                if (m == null) {
                    h.append("<td class=\"missing\">&ndash;</td>");
                    continue;
                }
                boolean isBest = v.name().equals(vd.best()), tied = vd.tied().contains(v.name());
                h.append(isBest ? "<td class=\"best\" title=\"significantly best\">" : tied ? "<td class=\"tied\" title=\"not distinguishable from the best\">" : "<td>")
                        .append(escapeHtml(number(m.value())));
                if (m.hasInterval())
                    h.append(" <span class=\"ci\">[").append(escapeHtml(number(m.lo()))).append(", ")
                            .append(escapeHtml(number(m.hi()))).append("]</span>");
                if (m.n() > 0) h.append(" <span class=\"n\">n=").append(m.n()).append("</span>");
                if (isBest) h.append(" &#9733;");
                if (tied) h.append(" &asymp;");
                h.append("</td>");
            }
            h.append("</tr>\n");
        });
        h.append("</tbody>\n</table>\n<p class=\"note\">&#9733; significantly best in its row (paired test on the same items, p &lt; 0.05, "
                + "against every other version); &asymp; not distinguishable from the best. [lo, hi]: 95% confidence interval; n: items.</p>\n");
        List<String> notes = new ArrayList<>();
        metricNames().forEach((name, higher) -> {
            Verdict vd = verdict(name);
            if (vd.best() != null) notes.add(name + ": " + vd.best() + " is best, " + vd.reason());
            else if (!vd.tied().isEmpty()) notes.add(name + ": " + String.join(", ", vd.tied()) + " &mdash; " + vd.reason());
        });
        if (!notes.isEmpty()) {
            h.append("<ul class=\"verdicts\">\n");
            for (String n : notes) h.append("<li>").append(escapeHtml(n).replace("&amp;mdash;", "&mdash;")).append("</li>\n");
            h.append("</ul>\n");
        }
    }

    private void pairedTable(StringBuilder h) {
        List<Comparison> all = new ArrayList<>();
        metricNames().keySet().forEach(name -> all.addAll(comparisons(name)));
        if (all.isEmpty()) return;
        h.append("<section id=\"paired-section\">\n<h2>Paired tests</h2>\n<table class=\"summary\" id=\"paired-table\">\n")
                .append("<thead><tr><th>metric</th><th>B &minus; A</th><th>difference [95% CI]</th><th>scale</th><th>test</th>")
                .append("<th>p</th><th>discordant (only A / only B right)</th><th>n</th><th>verdict</th></tr></thead>\n<tbody>\n");
        for (Comparison c : all) {
            Paired.Test t = c.test();
            h.append("<tr").append(t.significant() ? " class=\"sig\"" : "").append("><th>").append(escapeHtml(c.metric())).append("</th><td>")
                    .append(escapeHtml(c.b())).append(" &minus; ").append(escapeHtml(c.a())).append("</td><td>")
                    .append(escapeHtml(signed(t.diff()))).append(" <span class=\"ci\">[").append(escapeHtml(number(t.lo()))).append(", ")
                    .append(escapeHtml(number(t.hi()))).append("]</span></td><td>").append(escapeHtml(c.scale())).append("</td><td>")
                    .append(escapeHtml(t.method())).append("</td><td>").append(escapeHtml(pValue(t))).append("</td><td>")
                    .append(t.onlyA() >= 0 ? t.onlyA() + " / " + t.onlyB() : "&ndash;").append("</td><td>").append(t.n()).append("</td><td>")
                    .append(t.significant() ? "significant" : "not significant").append("</td></tr>\n");
        }
        h.append("</tbody>\n</table>\n<p class=\"note\">Accuracies: McNemar's test on the items where the two versions disagree "
                + "(exact binomial below ").append(Paired.EXACT_BELOW).append(" discordant items, else chi-square with continuity correction); "
                + "the interval is a paired bootstrap. Losses (perplexity compared as nll): paired bootstrap over documents (")
                .append(Ci.DEFAULT_RESAMPLES).append(" resamples, seed ").append(Ci.DEFAULT_SEED).append("); significant when the interval excludes 0.</p>\n</section>\n");
    }

    private void confusionSection(StringBuilder h) {
        boolean any = variants.stream().anyMatch(v -> !confusions(v).isEmpty());
        if (!any) return;
        h.append("<section id=\"confusion-section\">\n<h2>Per-class accuracy and confusion matrices</h2>\n<div class=\"confusions\">\n");
        for (Variant v : variants)
            for (Confusion c : confusions(v)) {
                int max = 1;
                for (int[] row : c.counts()) for (int x : row) max = Math.max(max, x);
                h.append("<div class=\"confusion\"><h3>").append(escapeHtml(v.name())).append(" &middot; ").append(escapeHtml(c.task()))
                        .append(" <span class=\"n\">n=").append(c.total()).append("</span></h3>\n<table class=\"heat\">\n<thead><tr><th>gold &darr; / predicted &rarr;</th>");
                for (String l : c.labels()) h.append("<th>").append(escapeHtml(l)).append("</th>");
                h.append("<th>class accuracy</th></tr></thead>\n<tbody>\n");
                List<Confusion.ClassAccuracy> pc = c.perClass();
                for (int g = 0; g < c.labels().size(); g++) {
                    h.append("<tr><th>").append(escapeHtml(c.labels().get(g))).append("</th>");
                    for (int p = 0; p < c.labels().size(); p++) {
                        int x = c.counts()[g][p];
                        double a = 0.08 + 0.72 * x / max;
                        String rgb = g == p ? "89,161,79" : "225,87,89";
                        h.append("<td style=\"background: rgba(").append(rgb).append(',').append(String.format(Locale.ROOT, "%.2f", x == 0 ? 0.0 : a))
                                .append(")\">").append(x).append("</td>");
                    }
                    Confusion.ClassAccuracy ca = pc.get(g);
                    h.append("<td>").append(ca.n() == 0 ? "&ndash;" : escapeHtml(number(ca.acc().value())) + " <span class=\"ci\">["
                            + escapeHtml(number(ca.acc().lo())) + ", " + escapeHtml(number(ca.acc().hi())) + "]</span>")
                            .append(" <span class=\"n\">n=").append(ca.n()).append("</span></td></tr>\n");
                }
                h.append("</tbody>\n</table></div>\n");
            }
        h.append("</div>\n<p class=\"note\">Rows: the gold answer; columns: the prediction (acc, highest summed log-likelihood). "
                + "Green: correct, red: confusions; darker: more items.</p>\n</section>\n");
    }

    private void driftTable(StringBuilder h) {
        if (variants.stream().allMatch(v -> v.drift().isEmpty())) return;
        h.append("<table class=\"summary\" id=\"drift-table\">\n<thead><tr><th>variant</th><th>KL from base (nats/position)</th>")
                .append("<th>forgetting (nats/token)</th><th>reference documents</th></tr></thead>\n<tbody>\n");
        for (Variant v : variants) {
            DriftFromBase d = v.drift();
            if (d.isEmpty()) continue;
            h.append("<tr><th>").append(escapeHtml(v.name())).append("</th><td>").append(interval(d.klFromBase(), d.klLo(), d.klHi()))
                    .append("</td><td>").append(interval(d.forgetting(), d.forgettingLo(), d.forgettingHi())).append("</td><td>")
                    .append(d.docs() > 0 ? "n=" + d.docs() + (d.tokens() > 0 ? ", " + d.tokens() + " tokens" : "") : "&ndash;").append("</td></tr>\n");
        }
        h.append("</tbody>\n</table>\n");
        DriftFromBase ref = referenceLoss();
        h.append("<p class=\"note\">");
        if (ref != null)
            h.append("For scale: the base model's own loss on the reference text is ").append(interval(ref.baseNll(), ref.baseNllLo(), ref.baseNllHi()))
                    .append(" nats/token (n=").append(ref.docs()).append(" documents). ");
        h.append("Forgetting = the adapted model's loss minus the base's on the same text (&gt; 0: worse). "
                + "Intervals: 95% bootstrap over reference documents. Lower is better.</p>\n");
    }

    private static String interval(Double v, Double lo, Double hi) {
        if (v == null) return "&ndash;";
        String s = escapeHtml(number(v));
        if (lo != null && hi != null && Double.isFinite(lo) && Double.isFinite(hi))
            s += " <span class=\"ci\">[" + escapeHtml(number(lo)) + ", " + escapeHtml(number(hi)) + "]</span>";
        return s;
    }

    /** Escapes text for HTML element content and quoted attribute values. */
    public static String escapeHtml(String s) {
        if (s == null) return "";
        StringBuilder sb = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '&' -> sb.append("&amp;");
                case '<' -> sb.append("&lt;");
                case '>' -> sb.append("&gt;");
                case '"' -> sb.append("&quot;");
                case '\'' -> sb.append("&#39;");
                default -> sb.append(c);
            }
        }
        return sb.toString();
    }

    /** JSON safe inside a script element: '<', '>', '&' only occur in JSON strings, so \\u escapes keep it valid. */
    static String escapeJsonForScript(String json) {
        return json.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
                .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029");
    }

    static String chartJs() {
        String js = chartJs;
        if (js != null) return js;
        try (InputStream in = CompareReport.class.getClassLoader().getResourceAsStream(CHART_JS_RESOURCE)) {
            if (in == null)
                throw new Peft4jException("Chart.js is missing from the classpath (" + CHART_JS_RESOURCE
                        + "); peft4j-core depends on org.webjars.npm:chart.js:4.4.7");
            js = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new Peft4jException("cannot read Chart.js from the classpath: " + e.getMessage(), e);
        }
        chartJs = js;
        return js;
    }

    private static final String CSS = """
            body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto; max-width: 1200px; color: #222; padding: 0 16px; }
            h1 { font-size: 1.6em; margin: 0 0 8px; word-break: break-word; }
            h2 { font-size: 1.2em; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 28px; }
            dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
            dl.meta div { display: contents; }
            dt { font-weight: 600; color: #555; }
            dd { margin: 0; font-family: ui-monospace, Menlo, Consolas, monospace; word-break: break-all; }
            table.summary { border-collapse: collapse; width: 100%; font-size: 0.95em; }
            table.summary th, table.summary td { border: 1px solid #ddd; padding: 6px 10px; text-align: right; }
            table.summary th:first-child { text-align: left; }
            table.summary thead th { background: #f4f6f8; }
            td.best { font-weight: 700; background: #eaf6ea; }
            td.missing { color: #999; text-align: center; }
            td.tied { background: #f6f6ea; }
            tr.sig td { background: #eef5fb; }
            .warn { color: #8a4b00; background: #fff4e0; padding: 6px 10px; border-left: 4px solid #f28e2b; }
            ul.verdicts { color: #444; font-size: 0.9em; }
            table.heat { border-collapse: collapse; font-size: 0.9em; }
            table.heat th, table.heat td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; }
            .confusions { display: flex; flex-wrap: wrap; gap: 24px; }
            .confusion { max-width: 100%; overflow-x: auto; }
            .confusion h3 { font-size: 1em; margin: 8px 0; }
            tr.drift th, tr.drift td { background: #fafafa; }
            .ci, .n, .dir { color: #666; font-weight: normal; font-size: 0.85em; }
            .note { color: #666; font-size: 0.85em; }
            .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 16px; }
            .chart { position: relative; height: 300px; }
            .wide .chart { height: 380px; }
            .empty { display: none; color: #999; }
            footer { margin-top: 32px; color: #999; font-size: 0.8em; }
            """;

    // ---------------------------------------------------------------- files

    /** The files write() produced; predictions is null when no variant has per-item results. */
    public record Written(Path html, Path json, Path predictions) {
    }

    /**
     * Writes dir/baseName.html, dir/baseName.json and, when there are per-item results,
     * dir/baseName-predictions.csv (creating dir), each atomically.
     */
    public Written write(Path dir, String baseName) {
        Path html = dir.resolve(baseName + ".html"), json = dir.resolve(baseName + ".json");
        Path csv = hasItems() ? dir.resolve(baseName + "-predictions.csv") : null;
        writeJson(json);
        if (csv != null) writeAtomically(csv, toCsv());
        writeAtomically(html, toHtml(csv == null ? null : csv.getFileName().toString()));
        return new Written(html, json, csv);
    }

    public void writeCsv(Path file) {
        writeAtomically(file, toCsv());
    }

    public void writeHtml(Path file) {
        writeAtomically(file, toHtml());
    }

    public void writeJson(Path file) {
        writeAtomically(file, toJson());
    }

    /** Writes content to file through a sibling temporary file and a rename (no half-written file on failure). */
    public static void writeAtomically(Path file, String content) {
        Path target = file.toAbsolutePath();
        Path tmp = null;
        try {
            Files.createDirectories(target.getParent());
            // a fixed sibling name with the default permissions (createTempFile's 0600 would make the report private)
            tmp = target.resolveSibling("." + target.getFileName() + "." + ProcessHandle.current().pid() + ".tmp");
            Files.writeString(tmp, content, StandardCharsets.UTF_8);
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
        } catch (IOException e) {
            throw new Peft4jException("cannot write " + target + ": " + e.getMessage(), e);
        } finally {
            if (tmp != null) try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // best effort: the temp file is hidden and named after the target
            }
        }
    }
}
