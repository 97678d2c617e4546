/*
 * CompareReport: renders a comparison of model variants (base vs adapters) three ways:
 *   - toHtml()/writeHtml(): ONE self-contained HTML page — the Chart.js UMD bundle from the
 *     WebJar inlined, the data embedded as JSON, charts drawn by ChartScript (grouped bars with
 *     confidence-interval error bars per metric, training-loss curves, drift bars) and a summary
 *     table rendered here in Java;
 *   - toJson()/writeJson(): every number, as JSON (the same document the HTML embeds);
 *   - toText(): a plain-text table for stdout, "metric | base | adapter-a", cells
 *     "0.812 [0.790, 0.830]", the best cell of each row marked with '*'.
 * Usage:
 *   var report = CompareReport.of("models/SmolLM2-135M", List.of("gsm8k", "arc"), variants);
 *   System.out.print(report.toText());
 *   report.write(outDir, "compare");   // compare.html + compare.json, each written atomically
 * The first variant is the reference (the base): drift is measured from it, so the drift rows
 * mark the best among the others.
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

    /** Names of the variants with the best value of metric (ties all count); empty if none has it. */
    public List<String> best(String metric) {
        boolean higher = metricNames().getOrDefault(metric, true);
        double bestValue = Double.NaN;
        List<String> out = new ArrayList<>();
        for (Variant v : variants) {
            Metric m = v.metric(metric);
            if (m == null || !Double.isFinite(m.value())) continue;
            double x = m.value();
            if (out.isEmpty() || (higher ? x > bestValue : x < bestValue)) {
                out.clear();
                out.add(v.name());
                bestValue = x;
            } else if (x == bestValue) {
                out.add(v.name());
            }
        }
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
        metricNames().forEach((name, higher) -> {
            metricArray.addObject().put("name", name).put("higher_is_better", higher);
            ArrayNode b = bestNode.putArray(name);
            best(name).forEach(b::add);
        });
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
            num(drift, "kl_from_base", v.drift().klFromBase());
            num(drift, "forgetting", v.drift().forgetting());
            ArrayNode curve = vn.putArray("loss_curve");
            for (LossPoint p : v.lossCurve()) {
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
        }
        root.set("best", bestNode);
        return root;
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

    /** A plain-text table: one row per metric (then the drift rows), one column per variant. */
    public String toText() {
        List<List<String>> rows = new ArrayList<>();
        List<String> header = new ArrayList<>();
        header.add("metric");
        variants.forEach(v -> header.add(v.name()));
        rows.add(header);
        metricNames().forEach((name, higher) -> {
            List<String> best = best(name);
            List<String> row = new ArrayList<>();
            row.add(name + (higher ? " (max)" : " (min)"));
            for (Variant v : variants) {
                Metric m = v.metric(name);
                row.add(m == null ? "-" : cell(m) + (best.contains(v.name()) && best.size() < countWith(name) ? " *" : ""));
            }
            rows.add(row);
        });
        if (variants.stream().anyMatch(v -> v.drift().klFromBase() != null))
            rows.add(driftRow("KL from base (min)", true));
        if (variants.stream().anyMatch(v -> v.drift().forgetting() != null))
            rows.add(driftRow("forgetting (min)", false));

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
        sb.append("* best in its row; [lo, hi] is the confidence interval\n");
        return sb.toString();
    }

    private int countWith(String metric) {
        return (int) variants.stream().filter(v -> v.metric(metric) != null).count();
    }

    private List<String> driftRow(String label, boolean kl) {
        List<String> row = new ArrayList<>();
        row.add(label);
        double best = Double.POSITIVE_INFINITY;
        int count = 0;
        for (Variant v : variants.subList(1, variants.size())) { // drift is measured against variant 0
            Double d = kl ? v.drift().klFromBase() : v.drift().forgetting();
            if (d != null && Double.isFinite(d)) {
                best = Math.min(best, d);
                count++;
            }
        }
        for (Variant v : variants) {
            Double d = kl ? v.drift().klFromBase() : v.drift().forgetting();
            row.add(d == null ? "-" : number(d) + (count > 1 && d == best && v != variants.getFirst() ? " *" : ""));
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
        h.append("<section id=\"metrics-section\">\n<h2>Metrics</h2>\n")
                .append("<p class=\"note\">Bars are the estimates; whiskers are the confidence intervals.</p>\n")
                .append("<div id=\"metric-charts\" class=\"grid\"></div>\n</section>\n");
        h.append("<section id=\"loss-section\">\n<h2>Training loss</h2>\n<div id=\"loss-chart\" class=\"wide\"></div>\n")
                .append("<p class=\"empty\">No training-loss curve was given.</p>\n</section>\n");
        h.append("<section id=\"rank-section\" style=\"display:none\">\n<h2>Rank budget</h2>\n<div id=\"rank-chart\"></div>\n</section>\n");
        h.append("<section id=\"drift-section\">\n<h2>Drift from base</h2>\n<div id=\"drift-chart\" class=\"wide\"></div>\n")
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
            List<String> best = best(name);
            boolean mark = best.size() < countWith(name);
            h.append("<tr><th>").append(escapeHtml(name)).append(" <span class=\"dir\">")
                    .append(higher ? "&uarr; higher is better" : "&darr; lower is better").append("</span></th>");
            for (Variant v : variants) {
                Metric m = v.metric(name);
                if (m == null) {
                    h.append("<td class=\"missing\">&ndash;</td>");
                    continue;
                }
                boolean isBest = mark && best.contains(v.name());
                h.append(isBest ? "<td class=\"best\" title=\"best\">" : "<td>").append(escapeHtml(number(m.value())));
                if (m.hasInterval())
                    h.append(" <span class=\"ci\">[").append(escapeHtml(number(m.lo()))).append(", ")
                            .append(escapeHtml(number(m.hi()))).append("]</span>");
                if (m.n() > 0) h.append(" <span class=\"n\">n=").append(m.n()).append("</span>");
                if (isBest) h.append(" &#9733;");
                h.append("</td>");
            }
            h.append("</tr>\n");
        });
        for (boolean kl : new boolean[]{true, false}) {
            if (variants.stream().noneMatch(v -> (kl ? v.drift().klFromBase() : v.drift().forgetting()) != null)) continue;
            h.append("<tr class=\"drift\"><th>").append(kl ? "KL from base" : "forgetting")
                    .append(" <span class=\"dir\">&darr; lower is better</span></th>");
            for (Variant v : variants) {
                Double d = kl ? v.drift().klFromBase() : v.drift().forgetting();
                h.append(d == null ? "<td class=\"missing\">&ndash;</td>" : "<td>" + escapeHtml(number(d)) + "</td>");
            }
            h.append("</tr>\n");
        }
        h.append("</tbody>\n</table>\n<p class=\"note\">&#9733; best in its row. [lo, hi]: confidence interval; n: examples.</p>\n");
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

    /** The two files write() produced. */
    public record Written(Path html, Path json) {
    }

    /** Writes dir/baseName.html and dir/baseName.json (creating dir), each atomically. */
    public Written write(Path dir, String baseName) {
        Path html = dir.resolve(baseName + ".html"), json = dir.resolve(baseName + ".json");
        writeJson(json);
        writeHtml(html);
        return new Written(html, json);
    }

    public void writeHtml(Path file) {
        writeAtomically(file, toHtml());
    }

    public void writeJson(Path file) {
        writeAtomically(file, toJson());
    }

    static void writeAtomically(Path file, String content) {
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
