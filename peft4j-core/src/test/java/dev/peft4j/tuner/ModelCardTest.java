package dev.peft4j.tuner;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.peft4j.provenance.BuildInfo;
import dev.peft4j.provenance.Energy;
import dev.peft4j.provenance.EvalResults;
import dev.peft4j.provenance.Machine;
import dev.peft4j.provenance.Provenance;
import dev.peft4j.tuner.lora.LoraConfig;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ModelCardTest {
    /** The YAML between the leading "---" lines of a model card, parsed. */
    static JsonNode frontMatter(String card) throws Exception {
        assertThat(card).startsWith("---\n");
        int end = card.indexOf("\n---\n", 4);
        assertThat(end).as("closing --- of the front matter").isPositive();
        return new ObjectMapper(new YAMLFactory()).readTree(card.substring(4, end + 1));
    }

    static Provenance provenance() {
        return new Provenance(Provenance.FORMAT, new Provenance.Adapter("LORA", 3584, "trainable params: 3,584 || all params: 81,408"),
                new Provenance.BaseModel("/models/base: v1", "llama", List.of("LlamaForCausalLM"),
                        List.of(new Provenance.FileHash("model.safetensors", 313352, "3e6c".repeat(16)))),
                List.of(new Provenance.DataFile("train", "/d/train #1.jsonl", "train #1.jsonl", 10, "aa".repeat(32), new Provenance.Split(540, 9180), null),
                        new Provenance.DataFile("validation", "/d/val.jsonl", "val.jsonl", 10, "bb".repeat(32), null, new Provenance.Split(60, 1020))),
                Map.of("lora.r", 8, "lr", 1e-3), new BuildInfo("0.1.0", "f".repeat(40), false), 42, 2,
                new Machine("AMD EPYC", 2, "Linux 6", "amd64", "Temurin 25"),
                new Provenance.Run("2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", 60, 40, 2720, 0.1692, 0.1878, false),
                Energy.estimate(6, 12, 475));
    }

    @Test
    void cardHasHfFrontMatterEvenForAwkwardNamesAndTheProvenanceInItsBody() throws Exception {
        LoraConfig c = LoraConfig.builder().r(8).alpha(16).build();
        EvalResults evals = new EvalResults(EvalResults.FORMAT, List.of(new EvalResults.Entry("2026-01-02T00:00:00Z", "/models/base: v1",
                List.of(new EvalResults.TaskData("mc", "test.jsonl", "cc".repeat(32))),
                List.of(new EvalResults.Score("mc:acc", 0.8, 0.7, 0.9, 100, true)), new BuildInfo("0.1.0", "f".repeat(40), false))));
        String card = ModelCard.render(new ModelCard.Input("v-40", c, "/models/base: v1", "trainable params: 3,584", null, provenance(), evals));
        JsonNode y = frontMatter(card);
        assertThat(y.get("base_model").asText()).isEqualTo("/models/base: v1");
        assertThat(y.get("library_name").asText()).isEqualTo("peft");
        assertThat(y.get("pipeline_tag").asText()).isEqualTo("text-generation");
        assertThat(y.get("tags")).extracting(JsonNode::asText).contains("peft", "lora", "peft4j", "base_model:adapter:/models/base: v1");
        assertThat(y.get("datasets")).extracting(JsonNode::asText).containsExactly("train #1.jsonl", "val.jsonl");
        JsonNode result = y.get("model-index").get(0).get("results").get(0);
        assertThat(y.get("model-index").get(0).get("name").asText()).isEqualTo("v-40");
        assertThat(result.get("dataset").get("name").asText()).isEqualTo("test.jsonl");
        assertThat(result.get("metrics").get(0).get("type").asText()).isEqualTo("acc");
        assertThat(result.get("metrics").get(0).get("value").asDouble()).isEqualTo(0.8);
        assertThat(card).contains("## Evaluation").contains("| mc:acc (higher is better) | 0.8000 | [0.7000, 0.9000] | 100 | test.jsonl |")
                .contains("## Provenance").contains("3e6c".repeat(16)).contains("train 540 examples, 9180 tokens")
                .contains("validation 60 examples, 1020 tokens").contains("git commit " + "f".repeat(40))
                .contains("steps, tokens seen | 40, 2,720").contains("train loss 0.1692, validation loss 0.1878 after 40 steps")
                .contains("energy (estimate) | 0.0200 Wh").contains("lora.r: 8");
    }

    @Test
    void cardWithoutProvenanceOrEvaluationsStillHasTheFrontMatter() throws Exception {
        String card = ModelCard.render(new ModelCard.Input("a", LoraConfig.builder().r(4).build(), "base", "3 params",
                new PeftAdapter.Card("train.jsonl", "train loss 1.0"), null, null));
        JsonNode y = frontMatter(card);
        assertThat(y.get("datasets")).extracting(JsonNode::asText).containsExactly("train.jsonl");
        assertThat(y.has("model-index")).isFalse();
        assertThat(card).contains("| final metrics | train loss 1.0 |").doesNotContain("## Provenance");
    }
}
