package dev.peft4j.model;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.nio.file.Paths;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Golden logits from scripts/golden/make_model_goldens.py (an independent float64 PyTorch
 * implementation of transformers' math): GPT-2, Llama (GQA, llama3 rope scaling, untied), a tied
 * SmolLM-like Llama (MQA), Mistral (bf16, explicit head_dim), Qwen2 (f16, q/k/v biases, tied), Qwen3 (per-head
 * q/k norms), SmolLM3 (NoPE layers), OLMo 2 (post-norm, q/k norms over the full projections) and a sharded checkpoint. Also checks that incremental decoding through the KV cache and left-padded
 * batching reproduce the full forward pass.
 */
public class ModelGoldenTest {
    public static Path dir(String name) throws Exception {
        return Paths.get(ModelGoldenTest.class.getResource("/golden/models/" + name + "/config.json").toURI()).getParent();
    }

    static int[][] ids(JsonNode n) {
        int[][] out = new int[n.size()][];
        for (int b = 0; b < n.size(); b++) {
            out[b] = new int[n.get(b).size()];
            for (int t = 0; t < out[b].length; t++) out[b][t] = n.get(b).get(t).asInt();
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama", "llama-tied", "mistral", "qwen2", "qwen3", "smollm3", "olmo2", "llama-sharded", "phi3", "phi3-tied", "gemma2", "gemma3"})
    void logitsMatchPyTorchReference(String name) throws Exception {
        Path d = dir(name);
        JsonNode expected = new ObjectMapper().readTree(d.resolve("expected.json").toFile());
        int[][] ids = ids(expected.get("input_ids"));
        CausalLM model = CausalLM.load(d);
        int B = ids.length, T = ids[0].length, V = model.config().vocabSize();
        int[] flat = new int[B * T];
        for (int b = 0; b < B; b++) System.arraycopy(ids[b], 0, flat, b * T, T);
        float[] logits = model.forward(flat, B, T, model.newCache(B, T), null, false);
        double maxErr = 0;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int v = 0; v < V; v++)
                    maxErr = Math.max(maxErr, Math.abs(logits[(b * T + t) * V + v] - expected.get("logits").get(b).get(t).get(v).asDouble()));
        System.out.printf("%s: max |logit - reference| %.2e%n", name, maxErr);
        assertThat(maxErr).as("%s max |logit - reference|", name).isLessThan(1e-4);
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama", "mistral", "qwen2", "qwen3", "smollm3", "olmo2", "gemma2", "gemma3"})
    void kvCacheDecodingAndPaddedBatchesMatchFullForward(String name) throws Exception {
        CausalLM model = CausalLM.load(dir(name));
        int V = model.config().vocabSize();
        int[] seq = {3, 17, 5, 9, 11, 2, 8, 30};
        int T = seq.length;
        float[] full = model.forward(seq, 1, T, model.newCache(1, T), null, false);
        // prefill 5 positions, then one position at a time
        KvCache cache = model.newCache(1, T);
        float[] pre = model.forward(java.util.Arrays.copyOf(seq, 5), 1, 5, cache, null, false);
        for (int t = 0; t < 5; t++) assertClose(pre, t * V, full, t * V, V, name + " prefill t=" + t);
        for (int t = 5; t < T; t++) {
            float[] step = model.forward(new int[] {seq[t]}, 1, 1, cache, null, true);
            assertClose(step, 0, full, t * V, V, name + " decode t=" + t);
        }
        // a batch of (the last 3 tokens, left-padded) and (the whole sequence): row 0 must equal a solo run
        int[] shortSeq = {seq[5], seq[6], seq[7]};
        float[] solo = model.forward(shortSeq, 1, 3, model.newCache(1, 3), null, true);
        int[] batch = new int[2 * T];
        System.arraycopy(shortSeq, 0, batch, T - 3, 3);
        System.arraycopy(seq, 0, batch, T, T);
        float[] both = model.forward(batch, 2, T, model.newCache(2, T), new int[] {T - 3, 0}, true);
        assertClose(both, 0, solo, 0, V, name + " left-padded row");
        assertClose(both, V, full, (T - 1) * V, V, name + " unpadded row");
    }

    static void assertClose(float[] a, int aOff, float[] b, int bOff, int n, String what) {
        for (int i = 0; i < n; i++)
            assertThat((double) a[aOff + i]).as("%s [%d]", what, i).isCloseTo(b[bOff + i], org.assertj.core.api.Assertions.within(1e-4));
    }
}
