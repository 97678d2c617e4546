package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Peft4jException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `peft4j check`: the --require grammar, exit code 2 for what cannot run, and 0 / 1 on a good and a regressed adapter. */
class CheckCliTest {
    @TempDir Path tmp;

    @Test
    void requirementGrammar() {
        Requirement r = Requirement.parse("mc:acc>=0.6");
        assertThat(r).isEqualTo(new Requirement("mc:acc>=0.6", "mc:acc", Requirement.Op.GE, 0.6, false));
        assertThat(r.op().holds(0.6, r.threshold(Double.NaN))).isTrue();
        assertThat(r.op().holds(0.59, 0.6)).isFalse();
        Requirement b = Requirement.parse(" mc:acc >= baseline - 0.01 ");
        assertThat(b.relative()).isTrue();
        assertThat(b.number()).isEqualTo(-0.01);
        assertThat(b.threshold(0.8)).isEqualTo(0.8 - 0.01);
        assertThat(b.thresholdText(0.8)).isEqualTo("baseline 0.8 - 0.01 = 0.79");
        assertThat(Requirement.parse("perplexity:perplexity<baseline").threshold(12.5)).isEqualTo(12.5);
        assertThat(Requirement.parse("perplexity:perplexity<=baseline+1.5e-1").number()).isEqualTo(0.15);
        assertThat(Requirement.parse("forgetting<=0.1").metric()).isEqualTo("forgetting");
        assertThat(Requirement.parse("kl==0").op().holds(0, 0)).isTrue();
        assertThat(Requirement.parse("kl>-1").number()).isEqualTo(-1);
        assertThat(Requirement.Op.LT.holds(Double.NaN, 1)).as("NaN never passes").isFalse();
        assertThat(Requirement.parse("mc[b.jsonl]:acc>=0.5").metric()).as("labels of a task given twice").isEqualTo("mc[b.jsonl]:acc");
        for (String bad : List.of("mc:acc", "mc:acc=>0.6", "mc:acc>=", ">=0.6", "mc:acc>=0.6x", "mc:acc>=baseline*2", "mc:acc>>0.6", "mc:acc>=1e999"))
            assertThatThrownBy(() -> Requirement.parse(bad)).as(bad).isInstanceOf(Peft4jException.class).hasMessageContaining("--require");
    }

    @Test
    void whatCannotRunExitsTwoBeforeLoadingAnything() throws IOException {
        Path model = Files.createDirectories(tmp.resolve("model")), adapter = Files.createDirectories(tmp.resolve("adapter"));
        Path data = Files.writeString(tmp.resolve("mc.jsonl"), "{\"prompt\": \"a\", \"choices\": [\"b\", \"c\"], \"answer\": 0}\n");
        List<String> base = List.of("check", "--model", model.toString(), "--adapter", adapter.toString(), "--task", "mc", "--data", data.toString());
        Map<String, String> cases = Map.of(
                "mc:acc>0.6x", "is not a condition; expected METRIC OP NUMBER",
                "sst2:acc>=0.5", "unknown metric sst2:acc; metrics come from the --task given (mc)",
                "forgetting<=0.1", "needs --reference FILE",
                "mc:acc>=baseline-0.01", "give --baseline ADAPTER_DIR");
        for (var c : cases.entrySet()) {
            String[] args = concat(base, "--require", c.getKey());
            String[] r = CliTest.run(args);
            assertThat(r[0]).as(c.getKey()).isEqualTo("2");
            assertThat(r[2]).as(c.getKey()).startsWith("error: ").contains(c.getValue());
        }
        String[] noRequire = CliTest.run(base.toArray(String[]::new));
        assertThat(noRequire[0]).isEqualTo("2");
        assertThat(noRequire[2]).contains("--require");
        String[] missing = CliTest.run("check", "--model", model.toString(), "--adapter", adapter.toString(), "--task", "mc", "--data",
                tmp.resolve("none.jsonl").toString(), "--require", "mc:acc>=0.5");
        assertThat(missing[0]).isEqualTo("2");
        assertThat(missing[2]).contains("none.jsonl not found");
        String[] noModel = CliTest.run(concat(base, "--require", "mc:acc>=0.5"));
        assertThat(noModel[0]).as("an empty model directory: could not run").isEqualTo("2");
        assertThat(noModel[2]).startsWith("error: ");
    }

    static String[] concat(List<String> a, String... b) {
        String[] out = Arrays.copyOf(a.toArray(String[]::new), a.size() + b.length);
        System.arraycopy(b, 0, out, a.size(), b.length);
        return out;
    }

    /**
     * The quickstart's base model and its trained adapter (good: animal sounds 100/100) against an
     * adapter trained on the wrong sound of every animal (regressed), on a multiple-choice version of
     * the quickstart's held-out prompts.
     */
    @Test
    @Tag("slow")
    void goodAdapterPassesRegressedAdapterFails() throws IOException {
        Path qs = tmp.resolve("qs");
        String[] q = CliTest.run("quickstart", "--output", qs.toString());
        assertThat(q[0]).as(q[2]).isEqualTo("0");
        Path model = qs.resolve("base-model"), good = qs.resolve("adapter");
        List<String> sounds = List.of(QuickstartTask.SOUNDS);
        ObjectMapper om = new ObjectMapper();
        StringBuilder mc = new StringBuilder(), wrong = new StringBuilder();
        for (String line : Files.readAllLines(qs.resolve("data/test.jsonl"))) {
            JsonNode n = om.readTree(line);
            String sound = n.get("completion").asText().strip().replace("!", "");
            mc.append(om.writeValueAsString(Map.of("prompt", n.get("prompt").asText(),
                    "choices", sounds.stream().map(s -> " " + s + "!").toList(), "answer", sounds.indexOf(sound)))).append('\n');
        }
        for (String line : Files.readAllLines(qs.resolve("data/train.jsonl"))) {
            JsonNode n = om.readTree(line);
            String sound = n.get("completion").asText().strip().replace("!", "");
            String shifted = sounds.get((sounds.indexOf(sound) + 1) % sounds.size());   // every animal taught the next one's sound
            wrong.append(om.writeValueAsString(Map.of("prompt", n.get("prompt").asText(), "completion", " " + shifted + "!"))).append('\n');
        }
        Path mcFile = Files.writeString(tmp.resolve("mc.jsonl"), mc), wrongFile = Files.writeString(tmp.resolve("wrong.jsonl"), wrong);
        Path bad = tmp.resolve("bad");
        String[] t = CliTest.run("train", "--model", model.toString(), "--data", wrongFile.toString(), "--output", bad.toString(),
                "--steps", "60", "--lr", "3e-3", "--batch-size", "16", "--lora.target-modules", "all-linear");
        assertThat(t[0]).as(t[2]).isEqualTo("0");

        List<String> common = List.of("check", "--model", model.toString(), "--task", "mc", "--data", mcFile.toString(), "--limit", "40",
                "--reference", qs.resolve("data/reference.txt").toString());
        Path goodJson = tmp.resolve("good.json"), badJson = tmp.resolve("bad.json");
        String[] g = CliTest.run(concat(common, "--adapter", good.toString(), "--require", "mc:acc>=0.9",
                "--require", "forgetting<=2", "--json", goodJson.toString()));
        assertThat(g[0]).as(g[1] + g[2]).isEqualTo("0");
        assertThat(g[1]).contains("✓ PASS  mc:acc>=0.9").contains("check passed: all 2 conditions hold");
        JsonNode gj = om.readTree(goodJson.toFile());
        assertThat(gj.get("passed").asBoolean()).isTrue();
        assertThat(gj.get("conditions").get(0).get("value").asDouble()).isGreaterThanOrEqualTo(0.9);
        assertThat(gj.get("conditions").get(0).get("n").asInt()).isEqualTo(40);
        assertThat(gj.get("metrics").get("adapter").has("kl")).isTrue();

        String[] b = CliTest.run(concat(common, "--adapter", bad.toString(), "--require", "mc:acc>=0.9",
                "--require", "forgetting<=2", "--baseline", good.toString(), "--require", "mc:acc>=baseline-0.01", "--json", badJson.toString()));
        assertThat(b[0]).as(b[1] + b[2]).isEqualTo("1");
        assertThat(b[1]).contains("✗ FAIL  mc:acc>=0.9").contains("✗ FAIL  mc:acc>=baseline-0.01").contains("check FAILED: 2 of 3");
        JsonNode bj = om.readTree(badJson.toFile());
        assertThat(bj.get("passed").asBoolean()).isFalse();
        assertThat(bj.get("failed").asInt()).isEqualTo(2);
        JsonNode rel = bj.get("conditions").get(2);
        assertThat(rel.get("relative_to_baseline").asBoolean()).isTrue();
        assertThat(rel.get("baseline_value").asDouble()).isEqualTo(gj.get("conditions").get(0).get("value").asDouble());
        assertThat(rel.get("threshold").asDouble()).isEqualTo(rel.get("baseline_value").asDouble() - 0.01);
        assertThat(bj.get("metrics").get("baseline").get("mc:acc").get("value").asDouble()).isEqualTo(rel.get("baseline_value").asDouble());
        assertThat(bj.get("conditions").get(0).get("value").asDouble()).isLessThan(0.5);

        String[] driftOnly = CliTest.run("check", "--model", model.toString(), "--adapter", good.toString(),
                "--reference", qs.resolve("data/reference.txt").toString(), "--require", "kl<=" + gj.get("metrics").get("adapter").get("kl").get("value").asDouble());
        assertThat(driftOnly[0]).as(driftOnly[1] + driftOnly[2]).isEqualTo("0");
        assertThat(driftOnly[1]).contains("✓ PASS  kl<=");

        String[] unknown = CliTest.run(concat(common, "--adapter", good.toString(), "--require", "mc:accuracy>=0.5"));
        assertThat(unknown[0]).isEqualTo("2");
        assertThat(unknown[2]).contains("unknown metric mc:accuracy").contains("mc:acc").contains("forgetting");
    }
}
