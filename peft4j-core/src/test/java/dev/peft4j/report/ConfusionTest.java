package dev.peft4j.report;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.data.Offset.offset;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Confusion matrix, per-class accuracy and the per-item predictions table of a hand-made set. */
class ConfusionTest {
    static final List<String> SENTIMENT = List.of(" negative", " positive");

    /** Hand-made: gold negative → predicted negative ×3, positive ×1; gold positive → positive ×4, negative ×2. */
    static List<ItemResult> handMade() {
        int[][] goldPred = {{0, 0}, {0, 0}, {0, 0}, {0, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 0}, {1, 0}};
        List<ItemResult> out = new ArrayList<>();
        for (int i = 0; i < goldPred.length; i++) {
            int g = goldPred[i][0], p = goldPred[i][1];
            double[] scores = p == 0 ? new double[] {-1.0, -2.5} : new double[] {-3.0, -0.5};
            out.add(ItemResult.choice("sst2", i, null, "Review: text " + i + "\nSentiment:", SENTIMENT, scores, g, p));
        }
        return out;
    }

    @Test
    void matrixAndPerClassAccuracyOfAHandMadeSet() {
        Confusion c = Confusion.of("sst2", handMade());
        assertThat(c.labels()).containsExactly("negative", "positive");
        assertThat(c.counts()).isDeepEqualTo(new int[][] {{3, 1}, {2, 4}});
        assertThat(c.total()).isEqualTo(10);
        List<Confusion.ClassAccuracy> pc = c.perClass();
        assertThat(pc.get(0).correct()).isEqualTo(3);
        assertThat(pc.get(0).n()).isEqualTo(4);
        assertThat(pc.get(0).acc().value()).isEqualTo(0.75);            // 3 / 4
        assertThat(pc.get(1).correct()).isEqualTo(4);
        assertThat(pc.get(1).n()).isEqualTo(6);
        assertThat(pc.get(1).acc().value()).isCloseTo(4 / 6.0, offset(1e-15));
        // Wilson 95% for 3/4 by hand: centre (0.75 + 1.96²/8) / (1 + 1.96²/4) = 1.23019/1.96036 = 0.62753,
        // half 1.96·sqrt(0.75·0.25/4 + 1.96²/64) / 1.96036 = 1.96·0.30497/1.96036 = 0.30491 -> [0.3006, 0.9544]
        assertThat(pc.get(0).acc().lo()).isCloseTo(0.3006, offset(5e-4));
        assertThat(pc.get(0).acc().hi()).isCloseTo(0.9544, offset(5e-4));
    }

    @Test
    void itemsWithDifferentChoicesAreNumberedClasses() {
        var a = ItemResult.choice("mc", 0, null, "q0", List.of("x", "y", "z"), new double[] {0, -1, -2}, 2, 0);
        var b = ItemResult.choice("mc", 1, null, "q1", List.of("u", "v"), new double[] {0, -1}, 0, 0);
        Confusion c = Confusion.of("mc", List.of(a, b));
        assertThat(c.labels()).containsExactly("choice 0", "choice 1", "choice 2");
        assertThat(c.counts()).isDeepEqualTo(new int[][] {{1, 0, 0}, {0, 0, 0}, {1, 0, 0}});
        assertThat(c.perClass().get(1).n()).isZero();
    }

    @Test
    void reportCarriesConfusionPerItemRowsAndACsv(@TempDir Path dir) throws Exception {
        List<ItemResult> items = new ArrayList<>(handMade());
        items.add(ItemResult.generated("gen", 0, "Q: 1+1=", "2", "=2,", false));
        items.add(ItemResult.document("perplexity", 0, "Once upon a time", 1.25, 12));
        var v = new Variant("base", List.of(new Metric("sst2:acc", 0.7, 0.4, 0.9, 10, true)), List.of(), null, items, null);
        CompareReport r = CompareReport.of("m", List.of("sst2", "gen", "perplexity"), List.of(v));
        var written = r.write(dir, "compare");
        assertThat(written.predictions()).isEqualTo(dir.resolve("compare-predictions.csv"));

        JsonNode json = new ObjectMapper().readTree(written.json().toFile());
        JsonNode conf = json.get("variants").get(0).get("confusion").get(0);
        assertThat(conf.get("task").asText()).isEqualTo("sst2");
        assertThat(conf.get("counts_gold_by_predicted").toString()).isEqualTo("[[3,1],[2,4]]");
        assertThat(conf.get("per_class").get(1).get("acc").asDouble()).isCloseTo(4 / 6.0, offset(1e-12));
        assertThat(conf.get("per_class").get(1).get("n").asInt()).isEqualTo(6);
        JsonNode it3 = json.get("variants").get(0).get("items").get(3);
        assertThat(it3.get("index").asInt()).isEqualTo(3);
        assertThat(it3.get("gold").asText()).isEqualTo(" negative");
        assertThat(it3.get("predicted").asText()).isEqualTo(" positive");
        assertThat(it3.get("correct").asBoolean()).isFalse();
        assertThat(it3.get("choice_scores").toString()).isEqualTo("[-3.0,-0.5]");

        // RFC 4180: records end in CRLF; the prompts' own newlines stay inside quoted cells
        List<String> csv = List.of(Files.readString(written.predictions()).split("\r\n"));
        assertThat(csv).hasSize(1 + 12);
        assertThat(csv.get(0)).isEqualTo("variant,task,index,id,gold,predicted,correct,nll,tokens,choice_scores,prompt");
        assertThat(csv.get(4)).isEqualTo("base,sst2,3,3, negative, positive,false,,,-3.0;-0.5,\"Review: text 3\nSentiment:\"");
        assertThat(csv.get(11)).isEqualTo("base,gen,0,0,2,\"'=2,\",false,,,,Q: 1+1=").as("formula-like cells are neutralised and quoted");
        assertThat(csv.get(12)).isEqualTo("base,perplexity,0,0,,,,1.25,12,,Once upon a time");

        String html = Files.readString(written.html());
        assertThat(html).contains("id=\"confusion-section\"").contains("<table class=\"heat\">").contains("n=6")
                .contains("href=\"compare-predictions.csv\" download");
    }
}
