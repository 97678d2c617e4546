package dev.peft4j.model;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.SharedArtefacts;
import dev.peft4j.generate.Generator;
import dev.peft4j.generate.SamplingConfig;
import dev.peft4j.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * stories260K, a genuinely trained tiny Llama, against the oracle in ../shared (float64 logits of an
 * independent implementation, llama2.c's greedy sample, teacher-forced NLL). Skipped without ../shared.
 */
class Stories260KTest {
    static Path dir;
    static JsonNode ref;
    static CausalLM model;

    @BeforeAll
    static void load() throws Exception {
        dir = SharedArtefacts.require("models/stories260K");
        ref = new ObjectMapper().readTree(dir.resolve("reference_outputs.json").toFile());
        model = CausalLM.load(dir);
    }

    static int[] ints(JsonNode n) {
        int[] out = new int[n.size()];
        for (int i = 0; i < out.length; i++) out[i] = n.get(i).asInt();
        return out;
    }

    @Test
    void promptLogitsMatchOracle() {
        JsonNode p = ref.get("prompt_logits");
        int[] ids = ints(p.get("input_ids"));
        assertThat(ids).containsExactly(1, 403, 407, 261, 378);
        int V = model.config().vocabSize();
        float[] logits = model.forward(ids, 1, ids.length, model.newCache(1, ids.length), null, false);
        double maxErr = 0;
        for (int t = 0; t < ids.length; t++)
            for (int v = 0; v < V; v++)
                maxErr = Math.max(maxErr, Math.abs(logits[t * V + v] - p.get("logits").get(t).get(v).asDouble()));
        assertThat(maxErr).as("max |logit - oracle|").isLessThan(1e-4);
    }

    @Test
    void greedyGenerationFromBosEqualsReferenceText() {
        JsonNode g = ref.get("greedy_from_bos");
        int[] expected = ints(g.get("generated_ids"));
        // llama2.c stops on BOS (id 1); the reference ran 255 steps without meeting it
        int[] got = new Generator(model).generate(ints(g.get("input_ids")), SamplingConfig.greedy(expected.length), Set.of(1), null);
        assertThat(got).containsExactly(expected);
        try (Tokenizer tok = Tokenizer.load(dir)) {
            assertThat(tok.decode(got)).isEqualTo(g.get("text").asText());
        }
    }

    @Test
    void teacherForcedMeanNll() {
        JsonNode n = ref.get("teacher_forced_mean_nll");
        int[] ids = ints(n.get("input_ids"));
        int T = ids.length, V = model.config().vocabSize();
        float[] logits = model.forward(ids, 1, T, model.newCache(1, T), null, false);
        double nll = 0;
        for (int t = 0; t < T - 1; t++) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int v = 0; v < V; v++) max = Math.max(max, logits[t * V + v]);
            for (int v = 0; v < V; v++) sum += Math.exp(logits[t * V + v] - max);
            nll += -(logits[t * V + ids[t + 1]] - max - Math.log(sum));
        }
        nll /= (T - 1);
        assertThat(T - 1).isEqualTo(64);
        assertThat(nll).isCloseTo(0.39729, org.assertj.core.api.Assertions.within(1e-4));
        assertThat(nll).isCloseTo(n.get("mean_nll_over_64_predictions").asDouble(), org.assertj.core.api.Assertions.within(1e-4));
    }
}
