package dev.peft4j.tuner;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.ModelConfig;
import java.nio.file.Path;
import java.nio.file.Paths;

/** The golden tiny models on the test classpath, and config-only shapes of real models. */
final class Fixtures {
    private Fixtures() {}

    static Path dir(String name) {
        try {
            return Paths.get(Fixtures.class.getResource("/golden/models/" + name + "/config.json").toURI()).getParent();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static CausalLM load(String name) { return CausalLM.load(dir(name)); }

    static ModelConfig config(String name) { return ModelConfig.load(dir(name)); }

    static ModelConfig parse(String json) {
        try {
            return ModelConfig.parse(new ObjectMapper().readTree(json), "test config");
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** GPT-2 124M (openai-community/gpt2): 12 layers, C 768, 12 heads, context 1024, V 50257, tied head. */
    static ModelConfig gpt2_124m() {
        return parse("{\"model_type\":\"gpt2\",\"n_embd\":768,\"n_head\":12,\"n_layer\":12,\"n_positions\":1024,\"vocab_size\":50257}");
    }

    /** SmolLM2-135M: 30 layers, C 576, 9 heads / 3 KV heads, FFN 1536, V 49152, tied head. */
    static ModelConfig smollm2_135m() {
        return parse("{\"model_type\":\"llama\",\"hidden_size\":576,\"num_attention_heads\":9,\"num_key_value_heads\":3,"
                + "\"intermediate_size\":1536,\"num_hidden_layers\":30,\"vocab_size\":49152,\"tie_word_embeddings\":true,"
                + "\"max_position_embeddings\":8192,\"rope_theta\":100000}");
    }

    /** Two rows of eight token ids for the tuner tests' forwards. */
    static final int[] IDS = {5, 17, 3, 22, 9, 41, 7, 30, 12, 6, 33, 2, 19, 8, 27, 14};

    /** The logits of IDS as a batch of 2 x 8. */
    static float[] logits(CausalLM m) { return m.forward(null, IDS, 2, 8, null, null, false).data; }

    static double maxDiff(float[] a, float[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        return d;
    }

    static int[] tokens(int n, int vocab, int salt) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = (i * 7 + salt * 13 + 3) % vocab;
        return t;
    }
}
