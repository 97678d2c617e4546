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
        assertThat(data.get("best").get("perplexity")).as("a and b are not distinguishable on perplexity").isEmpty();
        JsonNode ppl = data.get("verdicts").get(2);
        assertThat(ppl.get("metric").asText()).isEqualTo("perplexity");
        assertThat(ppl.get("best").isNull()).isTrue();
        assertThat(ppl.get("not_distinguishable")).extracting(JsonNode::asText).containsExactly("adapter-a", "adapter-b");
        assertThat(data.get("comparisons")).hasSize(9);
        JsonNode ab = data.get("comparisons").get(2);
        assertThat(ab.get("a").asText()).isEqualTo("adapter-a");
        assertThat(ab.get("b").asText()).isEqualTo("adapter-b");
        assertThat(ab.get("method").asText()).isEqualTo("mcnemar-exact");
        assertThat(ab.get("only_a_correct").asInt()).isEqualTo(19);
        assertThat(ab.get("only_b_correct").asInt()).isZero();
        assertThat(ab.get("p").asDouble()).isEqualTo(2.0 / (1 << 19));    // 2 · P[X <= 0], X ~ Bin(19, 1/2)
        assertThat(ab.get("diff_b_minus_a").asDouble()).isCloseTo(-19 / 500.0, org.assertj.core.data.Offset.offset(1e-12));
        assertThat(ab.get("significant").asBoolean()).isTrue();
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
    void textTableShowsNAndMarksOnlySignificantBests() {
        String text = ReportFixtures.sample().toText();
        assertThat(text).isEqualTo("""
                peft4j comparison: models/SmolLM2-135M
                model: models/SmolLM2-135M
                tasks: arc_easy, gsm8k
                metric                                             | base                          | adapter-a                       | adapter-b
                ---------------------------------------------------+-------------------------------+---------------------------------+--------------------------------
                accuracy (higher is better)                        | 0.612 [0.580, 0.640] n=500    | 0.812 [0.790, 0.830] n=500 *    | 0.774 [0.750, 0.800] n=500
                exact_match (higher is better)                     | 0.300 [0.260, 0.340] n=500    | 0.456 [0.410, 0.500] n=500      | 0.498 [0.460, 0.540] n=500 *
                perplexity (lower is better)                       | 14.200 [13.600, 14.900] n=200 | 11.700 [11.200, 12.300] n=200 = | 12.400 [11.900, 13.000] n=200 =
                KL from base, nats/position (lower is better)      | 0.000                         | 0.084 [0.070, 0.100] n=50       | 0.051 [0.040, 0.060] n=50
                forgetting, nats/token (lower is better)           | 0.000                         | 0.021 [0.010, 0.030] n=50       | 0.009 [-0.002, 0.020] n=50
                base model's own loss on the reference, nats/token | 2.100 [2.000, 2.200] n=50     |                                 |
                [lo, hi]: 95% confidence interval; n: items (documents for losses and drift)
                * significantly best (paired test on the same items, p < 0.05, against every other version); = not distinguishable from the best
                paired tests (B - A on the same items):
                  accuracy  adapter-a - base = +0.200 [0.168, 0.234] (accuracy), McNemar chi2 (continuity-corrected) p=4.2e-23 (0 only base right, 100 only adapter-a right), n=500, significant
                  accuracy  adapter-b - base = +0.162 [0.132, 0.196] (accuracy), McNemar chi2 (continuity-corrected) p=6.2e-19 (0 only base right, 81 only adapter-b right), n=500, significant
                  accuracy  adapter-b - adapter-a = -0.038 [-0.054, -0.022] (accuracy), McNemar exact p=3.8e-06 (19 only adapter-a right, 0 only adapter-b right), n=500, significant
                  => accuracy: best adapter-a: significantly better than every other version (p < 0.05)
                  exact_match  adapter-a - base = +0.156 [0.124, 0.190] (accuracy), McNemar chi2 (continuity-corrected) p=2.8e-18 (0 only base right, 78 only adapter-a right), n=500, significant
                  exact_match  adapter-b - base = +0.198 [0.164, 0.234] (accuracy), McNemar chi2 (continuity-corrected) p=6.9e-23 (0 only base right, 99 only adapter-b right), n=500, significant
                  exact_match  adapter-b - adapter-a = +0.042 [0.026, 0.060] (accuracy), McNemar exact p=9.5e-07 (0 only adapter-a right, 21 only adapter-b right), n=500, significant
                  => exact_match: best adapter-b: significantly better than every other version (p < 0.05)
                  perplexity  adapter-a - base = -0.194 [-0.194, -0.194] (nll (nats/token)), paired bootstrap p<0.0020, n=200, significant
                  perplexity  adapter-b - base = -0.136 [-0.280, 0.016] (nll (nats/token)), paired bootstrap p=0.1060, n=200, not significant
                  perplexity  adapter-b - adapter-a = +0.058 [-0.086, 0.210] (nll (nats/token)), paired bootstrap p=0.4160, n=200, not significant
                  => perplexity: adapter-a, adapter-b: not distinguishable: no significant difference on the same items
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
        assertThat(text).contains("x (higher is better) | 1.000 = | 1.000 =\n").as("without per-item samples nothing is marked best");
        assertThat(text).contains("y (lower is better)  | -       | 2.000\n").as("a lone value is not marked best");
        assertThat(r.best("x")).isEmpty();
        assertThat(r.verdict("x").tied()).containsExactly("base", "a");
        assertThat(r.verdict("x").reason()).contains("no paired test");
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
