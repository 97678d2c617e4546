package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * eval scores every item by default, repeated task types get distinct labels, and every misuse is
 * a one-line error before any model is loaded (issue 13, "comparisons a statistician would sign").
 */
class EvalStatsCliTest {
    @TempDir Path tmp;

    /** n multiple-choice items about animal sounds, sorted by class (the case a silent --limit 200 got wrong). */
    static Path animals(Path file, int n) throws Exception {
        String[] animals = {"dog", "cat", "cow", "duck"};
        StringBuilder sb = new StringBuilder();
        for (int a = 0; a < 4; a++)
            for (int i = 0; i < n / 4 + (a < n % 4 ? 1 : 0); i++)
                sb.append(String.format("{\"prompt\": \"Tom %d saw a %s. The %s said\", \"choices\": [\" woof\", \" meow\", \" moo\", \" quack\"], \"answer\": %d}%n",
                        i, animals[a], animals[a], a));
        Files.writeString(file, sb);
        return file;
    }

    @Test
    void evalWithoutLimitScoresEveryItemAndWritesPerItemPredictions() throws Exception {
        Path model = CliTest.shared("models/stories260K");
        Path data = animals(tmp.resolve("animals.jsonl"), 250), out = tmp.resolve("res.json");
        String[] r = CliTest.run("eval", "--model", model.toString(), "--task", "mc", "--data", data.toString(), "--output", out.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).contains("mc:acc (higher is better)").contains("n=250").doesNotContain("(max)");
        JsonNode json = new ObjectMapper().readTree(out.toFile());
        JsonNode acc = json.get("variants").get(0).get("metrics").get("mc:acc");
        assertThat(acc.get("n").asInt()).isEqualTo(250);
        JsonNode items = json.get("variants").get(0).get("items");
        assertThat(items).hasSize(250);
        int correct = 0;
        for (JsonNode it : items) {
            assertThat(it.get("choice_scores")).hasSize(4);
            int best = 0;
            for (int c = 1; c < 4; c++) if (it.get("choice_scores").get(c).asDouble() > it.get("choice_scores").get(best).asDouble()) best = c;
            assertThat(it.get("predicted_index").asInt()).as("prediction = argmax of the choice scores").isEqualTo(best);
            assertThat(it.get("correct").asBoolean()).isEqualTo(best == it.get("gold_index").asInt());
            if (it.get("correct").asBoolean()) correct++;
        }
        assertThat(acc.get("value").asDouble()).isEqualTo(correct / 250.0);
        assertThat(items.get(249).get("gold_index").asInt()).as("the last class is scored too").isEqualTo(3);
        JsonNode conf = json.get("variants").get(0).get("confusion").get(0);
        assertThat(conf.get("labels")).extracting(JsonNode::asText).containsExactly("woof", "meow", "moo", "quack");
        int[] perClassN = new int[4];
        for (int g = 0; g < 4; g++) perClassN[g] = conf.get("per_class").get(g).get("n").asInt();
        assertThat(perClassN).containsExactly(63, 63, 62, 62);
        Path csv = tmp.resolve("res-predictions.csv");
        assertThat(Files.readString(csv).split("\r\n")).hasSize(251);
    }

    @Test
    void theSameTaskTwiceGetsDistinctLabels() throws Exception {
        Path model = CliTest.shared("models/stories260K");
        Path a = animals(tmp.resolve("a.jsonl"), 8), b = animals(tmp.resolve("b.jsonl"), 12);
        String[] r = CliTest.run("eval", "--model", model.toString(), "--task", "mc", "--data", a.toString(), "--task", "mc", "--data", b.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).contains("mc[a.jsonl]:acc (higher is better)").contains("mc[b.jsonl]:acc").contains("n=8").contains("n=12");
        // the same file name in two folders: numbered
        Files.createDirectories(tmp.resolve("x"));
        Files.createDirectories(tmp.resolve("y"));
        Path xa = animals(tmp.resolve("x/t.jsonl"), 4), ya = animals(tmp.resolve("y/t.jsonl"), 4);
        var et = new EvalTasks(java.util.List.of("mc", "mc", "perplexity"), java.util.List.of(xa, ya, a), 0, 64, 4, null);
        assertThat(et.labels()).containsExactly("mc#1", "mc#2", "perplexity");
    }

    @Test
    void misuseIsAOneLineErrorBeforeAnyModelWork() throws Exception {
        Path a = animals(tmp.resolve("a.jsonl"), 4);
        String noModel = tmp.resolve("no-such-model").toString();     // never reached: each error comes first
        String[][] cases = {
                {"--task", "mc", "--data", a.toString(), "--task", "mc"},
                {"--task", "mcq", "--data", a.toString()},
                {"--task", "mc", "--data", tmp.resolve("missing.jsonl").toString()},
                {"--task", "mc", "--data", a.toString(), "--regex", "(\\d+)"},
                {"--task", "gen", "--data", a.toString(), "--regex", "(unclosed"},
                {"--task", "mc", "--data", a.toString(), "--limit", "-1"},
        };
        String[] expect = {"2 --task but 1 --data", "unknown --task 'mcq'", "does not exist", "no --task gen was given",
                "not a valid regular expression", "--limit must be 0 (every item) or positive"};
        for (int i = 0; i < cases.length; i++) {
            String[] args = new String[cases[i].length + 3];
            args[0] = "eval";
            args[1] = "--model";
            args[2] = noModel;
            System.arraycopy(cases[i], 0, args, 3, cases[i].length);
            String[] r = CliTest.run(args);
            assertThat(r[0]).as(String.join(" ", args) + "\n" + r[2]).isEqualTo("2");
            assertThat(r[2]).as(String.join(" ", args)).startsWith("error: ").contains(expect[i]).doesNotContain("at dev.peft4j")
                    .doesNotContain("config.json");
            args[0] = "compare";
            String[] withAdapter = new String[args.length + 4];
            System.arraycopy(args, 0, withAdapter, 0, args.length);
            withAdapter[args.length] = "--adapter";
            withAdapter[args.length + 1] = tmp.toString();
            withAdapter[args.length + 2] = "--output";
            withAdapter[args.length + 3] = tmp.resolve("report-" + i).toString();
            r = CliTest.run(withAdapter);
            assertThat(r[0]).as(String.join(" ", withAdapter) + "\n" + r[2]).isEqualTo("2");
            assertThat(r[2]).contains(expect[i]).doesNotContain("at dev.peft4j");
            assertThat(tmp.resolve("report-" + i)).as("nothing is left behind").doesNotExist();
        }
    }

    @Test
    void lossSettingsComeFromTrainConfigJson() throws Exception {
        Path a = Files.createDirectories(tmp.resolve("a")), b = Files.createDirectories(tmp.resolve("b"));
        Files.writeString(a.resolve("train_config.json"), "{\"data\": \"t.jsonl\", \"completion-only-loss\": true, \"max-length\": 512, \"lr\": 0.001}");
        Files.writeString(b.resolve("train_config.json"), "{\"data\": \"t.jsonl\", \"completion-only-loss\": false, \"max-length\": 512}");
        assertThat(CompareCommand.lossSettings(a)).containsExactly(java.util.Map.entry("completion-only-loss", "true"),
                java.util.Map.entry("data", "t.jsonl"), java.util.Map.entry("max-length", "512"));
        assertThat(CompareCommand.lossSettings(tmp.resolve("none"))).isEmpty();
        var va = new dev.peft4j.report.Variant("a", java.util.List.of(), java.util.List.of(dev.peft4j.report.LossPoint.train(1, 1.0)), null,
                java.util.List.of(), CompareCommand.lossSettings(a));
        var vb = new dev.peft4j.report.Variant("b", java.util.List.of(), java.util.List.of(dev.peft4j.report.LossPoint.train(1, 1.0)), null,
                java.util.List.of(), CompareCommand.lossSettings(b));
        assertThat(dev.peft4j.report.CompareReport.of("m", java.util.List.of(), java.util.List.of(va, vb)).lossWarnings())
                .containsExactly("losses are not comparable: completion-only-loss differs (a: true; b: false)");
    }
}
