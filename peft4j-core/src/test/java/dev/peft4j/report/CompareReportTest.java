package dev.peft4j.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class CompareReportTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    static JsonNode embeddedData(String html) throws Exception {
        Matcher m = Pattern.compile("<script type=\"application/json\" id=\"peft4j-data\">(.*?)</script>", Pattern.DOTALL).matcher(html);
        assertThat(m.find()).as("embedded data script").isTrue();
        return JSON.readTree(m.group(1));
    }

    static void assertMatches(JsonNode data, CompareReport report) {
        assertThat(data.get("schema").asText()).isEqualTo(CompareReport.SCHEMA);
        assertThat(data.get("model_path").asText()).isEqualTo(report.modelPath());
        assertThat(data.get("created").asText()).isEqualTo(report.created().toString());
        assertThat(data.get("variants")).hasSize(report.variants().size());
        for (int i = 0; i < report.variants().size(); i++) {
            Variant v = report.variants().get(i);
            JsonNode vn = data.get("variants").get(i);
            assertThat(vn.get("name").asText()).isEqualTo(v.name());
            for (Metric m : v.metrics()) {
                JsonNode mn = vn.get("metrics").get(m.name());
                assertThat(mn.get("value").asDouble()).isEqualTo(m.value());
                assertThat(mn.get("lo").asDouble()).isEqualTo(m.lo());
                assertThat(mn.get("hi").asDouble()).isEqualTo(m.hi());
                assertThat(mn.get("n").asInt()).isEqualTo(m.n());
                assertThat(mn.get("higher_is_better").asBoolean()).isEqualTo(m.higherIsBetter());
            }
            assertThat(vn.get("loss_curve")).hasSize(v.lossCurve().size());
            for (int k = 0; k < v.lossCurve().size(); k++) {
                LossPoint p = v.lossCurve().get(k);
                JsonNode pn = vn.get("loss_curve").get(k);
                assertThat(pn.get("step").asLong()).isEqualTo(p.step());
                if (p.loss() == null) assertThat(pn.get("loss").isNull()).isTrue();
                else assertThat(pn.get("loss").asDouble()).isEqualTo(p.loss());
                if (p.valLoss() == null) assertThat(pn.get("val_loss").isNull()).isTrue();
                else assertThat(pn.get("val_loss").asDouble()).isEqualTo(p.valLoss());
            }
            if (v.drift().klFromBase() != null)
                assertThat(vn.get("drift").get("kl_from_base").asDouble()).isEqualTo(v.drift().klFromBase());
            if (v.drift().forgetting() != null)
                assertThat(vn.get("drift").get("forgetting").asDouble()).isEqualTo(v.drift().forgetting());
        }
    }

    @Test
    void htmlInlinesChartJsAndNeedsNoNetwork() {
        String html = ReportFixtures.sample().toHtml();
        String lib = CompareReport.chartJs();
        assertThat(lib.length()).isGreaterThan(100_000);
        assertThat(html).contains(lib.substring(0, 2000)).contains(lib.substring(lib.length() - 2000));
        assertThat(html).doesNotContain("<script src").doesNotContain("<link ").doesNotContain("http://").as("no external fetches");
        assertThat(html).contains("afterDatasetsDraw").contains("new Chart(");
        assertThat(html).contains("<h1>peft4j comparison: models/SmolLM2-135M</h1>").contains("2025-05-01 12:34:56 UTC")
                .contains("arc_easy, gsm8k");
    }

    @Test
    void embeddedJsonParsesBackToTheInputNumbers() throws Exception {
        CompareReport report = ReportFixtures.sample();
        JsonNode data = embeddedData(report.toHtml());
        assertMatches(data, report);
        assertThat(data.get("best").get("accuracy")).extracting(JsonNode::asText).containsExactly("adapter-a");
        assertThat(data.get("best").get("exact_match")).extracting(JsonNode::asText).containsExactly("adapter-b");
        assertThat(data.get("best").get("perplexity")).extracting(JsonNode::asText).containsExactly("adapter-a");
    }

    @Test
    void jsonFileHoldsEveryNumberAndIsWrittenAtomically(@TempDir Path dir) throws Exception {
        CompareReport report = ReportFixtures.sample();
        var written = report.write(dir.resolve("out"), "compare");
        assertThat(written.html()).exists();
        JsonNode data = JSON.readTree(Files.readString(written.json()));
        assertMatches(data, report);
        assertThat(data.get("tasks")).extracting(JsonNode::asText).containsExactly("arc_easy", "gsm8k");
        assertThat(data.get("metrics")).extracting(n -> n.get("name").asText())
                .containsExactly("accuracy", "exact_match", "perplexity");
        JsonNode row = data.get("variants").get(1).get("loss_curve").get(5);
        assertThat(row.get("lr").asDouble()).isEqualTo(report.variants().get(1).lossCurve().get(5).lr());
        assertThat(row.get("tokens_per_s").asDouble()).isEqualTo(955.0);
        // rewriting replaces, and leaves no temp files behind
        report.write(dir.resolve("out"), "compare");
        try (var files = Files.list(dir.resolve("out"))) {
            assertThat(files.map(p -> p.getFileName().toString()).sorted().toList()).containsExactly("compare.html", "compare.json");
        }
    }

    @Test
    void userStringsAreEscaped() throws Exception {
        String evil = "<img src=x onerror=alert(1)> & \"q\" 'a' </script>";
        var v = new Variant("a<b>&\"c\"</script>", List.of(new Metric("acc<&>", 0.5, 0.4, 0.6, 10, true)),
                List.of(LossPoint.train(1, 2.0)), new DriftFromBase(0.1, null));
        var report = new CompareReport(evil, "/models/x<y>&z\"", List.of("t<1>", "t&2"), ReportFixtures.CREATED,
                List.of(v, new Variant("base", List.of(new Metric("acc<&>", 0.4, Double.NaN, Double.NaN, 0, true)))));
        String html = report.toHtml();
        assertThat(html).doesNotContain("<img").doesNotContain("a<b>").doesNotContain("acc<&>").doesNotContain("x<y>")
                .doesNotContain("t<1>");
        assertThat(html).contains("&lt;img src=x onerror=alert(1)&gt; &amp; &quot;q&quot; &#39;a&#39; &lt;/script&gt;")
                .contains("/models/x&lt;y&gt;&amp;z&quot;").contains("a&lt;b&gt;&amp;&quot;c&quot;&lt;/script&gt;");
        // exactly our three script elements close: data, library, chart code
        assertThat(html.split("</script>", -1)).hasSize(4);
        JsonNode data = embeddedData(html);
        assertThat(data.get("title").asText()).isEqualTo(evil);
        assertThat(data.get("variants").get(0).get("name").asText()).isEqualTo("a<b>&\"c\"</script>");
        assertThat(data.get("variants").get(1).get("metrics").get("acc<&>").get("lo").isNull()).isTrue();
        assertThat(CompareReport.escapeHtml("<a href='x'>&</a>")).isEqualTo("&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;");
    }

    @Test
    void textTableMarksTheBestPerRow() {
        String text = ReportFixtures.sample().toText();
        assertThat(text).isEqualTo("""
                peft4j comparison: models/SmolLM2-135M
                model: models/SmolLM2-135M
                tasks: arc_easy, gsm8k
                metric             | base                    | adapter-a                 | adapter-b
                -------------------+-------------------------+---------------------------+------------------------
                accuracy (max)     | 0.612 [0.580, 0.640]    | 0.812 [0.790, 0.830] *    | 0.774 [0.750, 0.800]
                exact_match (max)  | 0.301 [0.270, 0.330]    | 0.455 [0.420, 0.490]      | 0.498 [0.460, 0.530] *
                perplexity (min)   | 14.200 [13.600, 14.900] | 11.700 [11.200, 12.300] * | 12.400 [11.900, 13.000]
                KL from base (min) | 0.000                   | 0.084                     | 0.051 *
                forgetting (min)   | 0.000                   | 0.021                     | 0.009 *
                * best in its row; [lo, hi] is the confidence interval
                """);
    }

    @Test
    void textCellsAndMissingValues() {
        assertThat(CompareReport.cell(new Metric("acc", 0.8123, 0.79, 0.8301, 100, true))).isEqualTo("0.812 [0.790, 0.830]");
        assertThat(CompareReport.cell(Metric.of("acc", 0.5, true))).isEqualTo("0.500");
        assertThat(CompareReport.number(12345.67)).isEqualTo("12345.7");
        assertThat(CompareReport.number(0.0001234)).isEqualTo("0.000123");
        var r = CompareReport.of("m", List.of(), List.of(
                new Variant("base", List.of(Metric.of("x", 1, true))),
                new Variant("a", List.of(Metric.of("x", 1, true), Metric.of("y", 2, false)))));
        String text = r.toText();
        assertThat(text).contains("x (max) | 1.000 | 1.000").as("a tie everywhere marks nothing");
        assertThat(text).contains("y (min) | -     | 2.000\n").as("a lone value is not marked best");
        assertThat(r.best("x")).containsExactly("base", "a");
    }

    @Test
    void rejectsBadInput() {
        assertThatThrownBy(() -> CompareReport.of("m", List.of(), List.of())).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> CompareReport.of("m", List.of(), List.of(new Variant("a", List.of()), new Variant("a", List.of()))))
                .hasMessageContaining("given twice");
        assertThatThrownBy(() -> new Variant("a", List.of(Metric.of("x", 1, true), Metric.of("x", 2, true))))
                .hasMessageContaining("given twice");
    }
}
