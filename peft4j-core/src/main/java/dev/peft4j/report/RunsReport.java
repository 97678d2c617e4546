/*
 * RunsReport: the version history of `peft4j runs DIR` as a text table and as one self-contained
 * HTML page - the table, and a Chart.js line chart of one metric across the versions in date order
 * (a menu switches to any other metric the runs have). Chart.js is inlined from the WebJar
 * (CompareReport.chartJs), the data embedded as JSON (#peft4j-runs-data), so the page needs no
 * network. The page carries a generator marker, so `runs` may replace a page it wrote itself.
 * Constraints: no animation (headless screenshots show the final frame); a run without the metric
 * is a gap in the line, never a zero.
 */
package dev.peft4j.report;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Peft4jException;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

public final class RunsReport {
    /** Marks a page written by RunsReport (a later `runs` may overwrite it). */
    public static final String GENERATOR = "<meta name=\"generator\" content=\"peft4j runs\">";
    private static final DateTimeFormatter DATE = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm").withZone(ZoneOffset.UTC);

    private final String title;
    private final List<Runs.Run> runs;
    private final String metric;

    /** metric: the one to chart (must be one some run has; see metricsOf). */
    public RunsReport(String title, List<Runs.Run> runs, String metric) {
        if (runs.isEmpty()) throw new IllegalArgumentException("no runs");
        Set<String> available = metricsOf(runs);
        if (!available.contains(metric))
            throw new Peft4jException("--metric " + metric + ": no run under " + title + " has it; available: " + String.join(", ", available)
                    + " (eval metrics appear once recorded with peft4j eval --record)");
        this.title = title;
        this.runs = List.copyOf(runs);
        this.metric = metric;
    }

    /** Every metric at least one run has: the standard ones first, then recorded eval metrics. */
    public static Set<String> metricsOf(List<Runs.Run> runs) {
        Set<String> out = new LinkedHashSet<>();
        for (String m : Runs.STANDARD_METRICS) if (runs.stream().anyMatch(r -> r.metrics().containsKey(m))) out.add(m);
        for (Runs.Run r : runs) out.addAll(r.metrics().keySet());
        return out;
    }

    static final String[] HEADER = {"#", "name", "date (UTC)", "method", "rank", "params", "data", "steps", "train loss", "val loss",
            "eval metrics", "energy"};

    /** One row of cells per run, as the text table and the HTML table show them. */
    List<String[]> rows() {
        List<String[]> rows = new ArrayList<>();
        for (int i = 0; i < runs.size(); i++) {
            Runs.Run r = runs.get(i);
            List<String> evals = new ArrayList<>();
            r.evalMetrics().forEach((k, v) -> evals.add(k + " " + String.format(Locale.ROOT, "%.4g", v)));
            rows.add(new String[] {String.valueOf(i + 1), r.name(), DATE.format(r.date()), r.method() == null ? "-" : r.method(),
                    r.rank() == null ? "-" : r.rank().toString(), r.trainableParams() == null ? "-" : String.format(Locale.ROOT, "%,d", r.trainableParams()),
                    r.data().isEmpty() ? "-" : String.join(", ", r.data()), r.steps() == null ? "-" : r.steps().toString(),
                    loss(r.trainLoss()), loss(r.valLoss()), evals.isEmpty() ? "-" : String.join("; ", evals),
                    r.energyWh() == null ? "-" : String.format(Locale.ROOT, "%s Wh, %s g CO2e", num(r.energyWh()), num(r.co2eGrams()))});
        }
        return rows;
    }

    public String toText() {
        List<String[]> rows = rows();
        int[] w = new int[HEADER.length];
        for (int c = 0; c < w.length; c++) {
            w[c] = HEADER[c].length();
            for (String[] r : rows) w[c] = Math.max(w[c], r[c].length());
        }
        StringBuilder s = new StringBuilder();
        s.append("runs under ").append(title).append(" (").append(runs.size()).append(", oldest first)\n");
        line(s, HEADER, w);
        for (int c = 0; c < w.length; c++) s.append(c == 0 ? "" : "-+-").append("-".repeat(w[c]));
        s.append('\n');
        for (String[] r : rows) line(s, r, w);
        long without = runs.stream().filter(r -> !r.hasProvenance()).count();
        if (without > 0)
            s.append(without).append(" run(s) without provenance.json (trained elsewhere or by an older peft4j): '-' where unknown\n");
        for (Runs.Run r : runs) for (String n : r.notes()) s.append("note: ").append(r.name()).append(": ").append(n).append('\n');
        return s.toString();
    }

    private static void line(StringBuilder s, String[] cells, int[] w) {
        for (int c = 0; c < cells.length; c++) {
            if (c > 0) s.append(" | ");
            s.append(c == cells.length - 1 ? cells[c] : String.format("%-" + w[c] + "s", cells[c]));
        }
        s.append('\n');
    }

    /** The data behind the chart: versions in order, every metric of each, the metric charted first. */
    public String toJson() {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("title", title);
        root.put("metric", metric);
        root.put("metrics", new ArrayList<>(metricsOf(runs)));
        List<Map<String, Object>> list = new ArrayList<>();
        for (Runs.Run r : runs) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", r.name());
            m.put("date", r.date().toString());
            m.put("method", r.method());
            m.put("rank", r.rank());
            m.put("data", r.data());
            m.put("has_provenance", r.hasProvenance());
            m.put("metrics", r.metrics());
            list.add(m);
        }
        root.put("runs", list);
        try {
            return new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(root);
        } catch (JsonProcessingException e) {
            throw new Peft4jException("cannot serialise the runs: " + e.getMessage(), e);
        }
    }

    public String toHtml() {
        StringBuilder h = new StringBuilder(300_000);
        h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n").append(GENERATOR).append('\n')
                .append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
                .append("<title>peft4j runs: ").append(esc(title)).append("</title>\n<style>\n").append(CSS).append("</style>\n</head>\n<body>\n");
        h.append("<h1>Versions under ").append(esc(title)).append("</h1>\n");
        h.append("<p class=\"note\">").append(runs.size()).append(" adapter(s), oldest first. Energy is an estimate (CPU-seconds x watts per core; see provenance.json).</p>\n");
        h.append("<section>\n<label for=\"metric\">Metric across versions: </label><select id=\"metric\">");
        for (String m : metricsOf(runs))
            h.append("<option").append(m.equals(metric) ? " selected" : "").append(">").append(esc(m)).append("</option>");
        h.append("</select>\n<div class=\"chart\"><canvas id=\"runs-chart\"></canvas></div>\n</section>\n");
        h.append("<section>\n<h2>Versions</h2>\n<table class=\"runs\">\n<thead><tr>");
        for (String c : HEADER) h.append("<th>").append(esc(c)).append("</th>");
        h.append("</tr></thead>\n<tbody>\n");
        for (String[] r : rows()) {
            h.append("<tr>");
            for (String c : r) h.append(c.equals("-") ? "<td class=\"missing\">&ndash;</td>" : "<td>" + esc(c) + "</td>");
            h.append("</tr>\n");
        }
        h.append("</tbody>\n</table>\n</section>\n");
        h.append("<footer>Generated by peft4j runs. The data behind the chart is embedded in this file as JSON (#peft4j-runs-data).</footer>\n");
        h.append("<script type=\"application/json\" id=\"peft4j-runs-data\">\n").append(jsonForScript(toJson())).append("</script>\n");
        h.append("<script>\n").append(CompareReport.chartJs().replace("</script", "<\\/script")).append("\n</script>\n");
        h.append("<script>\n").append(SCRIPT).append("</script>\n</body>\n</html>\n");
        return h.toString();
    }

    private static final String SCRIPT = """
            (function () {
              'use strict';
              var data = JSON.parse(document.getElementById('peft4j-runs-data').textContent);
              var labels = data.runs.map(function (r) { return r.name; });
              var chart = null;
              function draw(metric) {
                var values = data.runs.map(function (r) { var v = r.metrics[metric]; return v == null ? null : v; });
                if (chart) chart.destroy();
                chart = new Chart(document.getElementById('runs-chart'), {
                  type: 'line',
                  data: {labels: labels, datasets: [{label: metric, data: values, borderColor: '#4e79a7', backgroundColor: '#4e79a7',
                    pointRadius: 5, borderWidth: 2, spanGaps: true}]},
                  options: {animation: false, responsive: true, maintainAspectRatio: false,
                    plugins: {title: {display: true, text: metric + ' across versions (oldest first)'}},
                    scales: {x: {title: {display: true, text: 'version'}}, y: {title: {display: true, text: metric}}}}
                });
              }
              var select = document.getElementById('metric');
              select.addEventListener('change', function () { draw(select.value); });
              draw(data.metric);
              document.body.setAttribute('data-rendered', 'true');
            })();
            """;

    private static final String CSS = """
            body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto; max-width: 1200px; color: #222; padding: 0 16px; }
            h1 { font-size: 1.6em; margin: 0 0 8px; word-break: break-word; }
            h2 { font-size: 1.2em; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 28px; }
            table.runs { border-collapse: collapse; width: 100%; font-size: 0.9em; }
            table.runs th, table.runs td { border: 1px solid #ddd; padding: 5px 8px; text-align: left; }
            table.runs thead th { background: #f4f6f8; }
            td.missing { color: #999; text-align: center; }
            .chart { position: relative; height: 380px; margin-top: 8px; }
            .note { color: #666; font-size: 0.85em; }
            footer { margin-top: 32px; color: #999; font-size: 0.8em; }
            """;

    private static String loss(Double v) {
        return v == null ? "-" : String.format(Locale.ROOT, "%.4f", v);
    }

    private static String num(Double v) {
        if (v == null) return "-";
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? String.format(Locale.ROOT, "%,d", v.longValue()) : String.format(Locale.ROOT, "%.4g", v);
    }

    static String esc(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (char c : s.toCharArray())
            switch (c) {
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '&' -> b.append("&amp;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> b.append(c);
            }
        return b.toString();
    }

    private static String jsonForScript(String json) {
        return json.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026");
    }
}
