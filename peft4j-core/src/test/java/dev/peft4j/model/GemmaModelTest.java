package dev.peft4j.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.peft4j.Peft4jException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * Gemma 2 / Gemma 3: the golden logits (scripts/golden/make_model_goldens.py gemma2, gemma3) also through the
 * cache-less forward — the training path, FlashAttention with the query_pre_attn_scalar scale and the attention
 * soft-capping (ModelGoldenTest goes through the KV-cache kernel) — and the config parsing: layer kinds, defaults,
 * settings refused by name.
 */
class GemmaModelTest {
    @ParameterizedTest
    @ValueSource(strings = {"gemma2", "gemma3"})
    void cachelessForwardMatchesPyTorchReference(String name) throws Exception {
        Path d = ModelGoldenTest.dir(name);
        JsonNode expected = new ObjectMapper().readTree(d.resolve("expected.json").toFile());
        int[][] ids = ModelGoldenTest.ids(expected.get("input_ids"));
        CausalLM model = CausalLM.load(d);
        assertThat(model).isInstanceOf(Gemma.class);
        int B = ids.length, T = ids[0].length, V = model.config().vocabSize();
        int[] flat = new int[B * T];
        for (int b = 0; b < B; b++) System.arraycopy(ids[b], 0, flat, b * T, T);
        for (boolean cached : new boolean[] {false, true}) {
            float[] logits = model.forward(flat, B, T, cached ? model.newCache(B, T) : null, null, false);
            double maxErr = 0;
            for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++)
                    for (int v = 0; v < V; v++)
                        maxErr = Math.max(maxErr, Math.abs(logits[(b * T + t) * V + v] - expected.get("logits").get(b).get(t).get(v).asDouble()));
            System.out.printf("%s %s forward: max |logit - reference| %.2e%n", name, cached ? "KV-cache" : "cache-less", maxErr);
            assertThat(maxErr).as("%s max |logit - reference|", name).isLessThan(1e-4);
        }
    }

    static ObjectNode config(String name) throws Exception {
        return (ObjectNode) new ObjectMapper().readTree(ModelGoldenTest.dir(name).resolve("config.json").toFile());
    }

    @Test
    void layerKindsAndDefaults() throws Exception {
        ModelConfig g2 = ModelConfig.parse(config("gemma2"), "gemma2");
        assertThat(g2.arch().gemma().sliding()).containsExactly(true, false, true);   // even layers slide
        assertThat(g2.arch().qkNorm()).isFalse();
        assertThat(g2.finalLogitSoftcap()).isEqualTo(2.0f);
        ModelConfig g3 = ModelConfig.parse(config("gemma3"), "gemma3");
        assertThat(g3.arch().gemma().sliding()).containsExactly(true, true, false);   // sliding_window_pattern 3
        assertThat(g3.arch().qkNorm()).isTrue();
        assertThat(g3.arch().gemma().ropeLocalTheta()).isEqualTo(10000.0);
        assertThat(g3.arch().gemma().attnSoftcap()).isZero();

        ObjectNode c = config("gemma3");
        c.remove("sliding_window_pattern");
        c.put("num_hidden_layers", 12);
        List<Boolean> s = ModelConfig.parse(c, "x").arch().gemma().sliding();      // default pattern 6: layers 5, 11 global
        for (int l = 0; l < 12; l++) assertThat(s.get(l)).as("layer %d", l).isEqualTo(l != 5 && l != 11);
        c.put("num_hidden_layers", 3);
        c.putArray("layer_types").add("full_attention").add("sliding_attention").add("full_attention");
        assertThat(ModelConfig.parse(c, "x").arch().gemma().sliding()).containsExactly(false, true, false);

        ObjectNode d = config("gemma2");
        for (String k : new String[] {"attn_logit_softcapping", "final_logit_softcapping", "query_pre_attn_scalar", "head_dim"}) d.remove(k);
        ModelConfig dg = ModelConfig.parse(d, "x");                                    // Gemma2Config's defaults
        assertThat(dg.arch().gemma().attnSoftcap()).isEqualTo(50f);
        assertThat(dg.finalLogitSoftcap()).isEqualTo(30f);
        assertThat(dg.arch().gemma().queryPreAttnScalar()).isEqualTo(224.0);
        assertThat(dg.headDim()).isEqualTo(256);
        d.putNull("final_logit_softcapping");
        assertThat(ModelConfig.parse(d, "x").finalLogitSoftcap()).isZero();
    }

    @ParameterizedTest
    @ValueSource(strings = {"gemma2", "gemma3"})
    void mergedExportReloadsWithTheAdaptedLogits(String name, @org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        CausalLM m = CausalLM.load(ModelGoldenTest.dir(name));
        dev.peft4j.tuner.PeftModel pm = new dev.peft4j.tuner.PeftModel(m);
        dev.peft4j.tuner.lora.LoraModel lm = pm.addAdapter(dev.peft4j.tuner.lora.LoraConfig.builder().r(4).alpha(8).allLinear().build(), "default", 5);
        int k = 0;
        for (dev.peft4j.autograd.Tensor t : lm.trainableParameters()) {
            k++;
            for (int i = 0; i < t.size(); i++) t.data[i] += (float) (0.04 * Math.cos(0.29 * i + 0.9 * k));
        }
        int[] ids = {3, 17, 5, 9, 11, 2, 8, 30};
        float[] base = CausalLM.load(ModelGoldenTest.dir(name)).forward(ids, 1, 8, null, null, false);
        float[] adapted = m.forward(ids, 1, 8, null, null, false);
        pm.mergeAndUnload();
        ModelWriter.export(m, ModelGoldenTest.dir(name), tmp.resolve("merged"), dev.peft4j.io.DType.F32, 1L << 30);
        CausalLM back = CausalLM.load(tmp.resolve("merged"));
        assertThat(back.config().arch()).isEqualTo(m.config().arch());                // the Gemma settings survive the export
        float[] again = back.forward(ids, 1, 8, null, null, false);
        double moved = 0;
        for (int i = 0; i < base.length; i++) moved = Math.max(moved, Math.abs(adapted[i] - base[i]));
        assertThat(moved).as("the adapter changes the logits").isGreaterThan(1e-3);
        ModelGoldenTest.assertClose(again, 0, adapted, 0, adapted.length, name + " merged export");
    }

    @ParameterizedTest
    @ValueSource(strings = {"gemma2", "gemma3"})
    void randomModelConfigRoundTrips(String name, @org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        ModelConfig c = ModelConfig.parse(config(name), name);
        CausalLM m = ModelFactory.random(c, 1, 0.02f);
        assertThat(m).isInstanceOf(Gemma.class);
        ModelWriter.saveConfig(c, tmp);
        assertThat(ModelConfig.load(tmp)).isEqualTo(c);
        ModelWriter.saveWeights(m, tmp, dev.peft4j.io.DType.F32, 1L << 30);
        float[] a = m.forward(new int[] {1, 2, 3, 4, 5}, 1, 5, null, null, false), b = CausalLM.load(tmp).forward(new int[] {1, 2, 3, 4, 5}, 1, 5, null, null, false);
        assertThat(b).isEqualTo(a);
        assertThat(dev.peft4j.tuner.ModelModules.of(m).baseParameterCount()).isEqualTo(m.parameterCount());
    }

    @ParameterizedTest
    @ValueSource(strings = {"gemma2", "gemma3"})
    void qloraBaseTrainsThroughTheGemmaOps(String name) throws Exception {
        int[] ids = {5, 17, 3, 22, 9, 41, 7, 30};
        CausalLM f32 = CausalLM.load(ModelGoldenTest.dir(name)), nf4 = CausalLM.load(ModelGoldenTest.dir(name), "nf4", 64);
        float[] a = f32.forward(ids, 1, 8, null, null, false), b = nf4.forward(ids, 1, 8, null, null, false);
        double diff = 0;
        for (int i = 0; i < a.length; i++) { assertThat(Float.isFinite(b[i])).isTrue(); diff = Math.max(diff, Math.abs(a[i] - b[i])); }
        // 4-bit random tiny weights (embeddings and head included): the llama/qwen3 fixtures move by 0.7-1.0 as well
        assertThat(diff).as("nf4 is an approximation, not the same weights").isGreaterThan(0).isLessThan(3.0);
        dev.peft4j.tuner.lora.LoraModel lm = dev.peft4j.tuner.lora.Lora.apply(nf4,
                dev.peft4j.tuner.lora.LoraConfig.builder().r(4).alpha(8).build(), 1);                  // PEFT default targets
        assertThat(lm.adaptedModules()).allMatch(m -> m.endsWith("q_proj") || m.endsWith("v_proj")).hasSize(6);
        dev.peft4j.autograd.Tape tape = new dev.peft4j.autograd.Tape(0);
        dev.peft4j.autograd.Tensor loss = dev.peft4j.train.LmLoss.loss(tape, nf4, ids, ids, 1, 8);
        tape.backward(loss);
        double norm = 0;
        for (dev.peft4j.autograd.Tensor t : lm.trainableParameters()) for (float g : t.grad()) norm += g * g;
        assertThat(Double.isFinite(loss.data[0]) && norm > 0).as("finite loss and non-zero LoRA gradients").isTrue();
    }

    @Test
    void peftDefaultTargetModules() throws Exception {
        for (String name : new String[] {"gemma2", "gemma3"}) {
            ModelConfig.Family f = ModelConfig.parse(config(name), name).family();
            assertThat(dev.peft4j.tuner.PeftRules.defaultTargetModules(f)).containsExactly("q_proj", "v_proj");
            assertThat(dev.peft4j.tuner.vera.Vera.defaultTargetModules(f)).containsExactly("q_proj", "v_proj");
            assertThat(dev.peft4j.tuner.adalora.AdaLora.defaultTargetModules(f)).containsExactly("q_proj", "v_proj");
            assertThat(dev.peft4j.tuner.ia3.Ia3.defaultTargetModules(f)).containsExactly("q_proj", "v_proj", "down_proj");
            assertThat(dev.peft4j.tuner.ia3.Ia3.defaultFeedforwardModules(f)).containsExactly("down_proj");
        }
    }

    @Test
    void publishedConfigsParse() throws Exception {
        // google/gemma-3-1b-it's config.json (transformers 4.50 layout: sliding_window_pattern, no layer_types)
        String g3 = """
                {"architectures": ["Gemma3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
                 "attn_logit_softcapping": null, "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": [1, 106],
                 "final_logit_softcapping": null, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 1152,
                 "initializer_range": 0.02, "intermediate_size": 6912, "max_position_embeddings": 32768, "model_type": "gemma3_text",
                 "num_attention_heads": 4, "num_hidden_layers": 26, "num_key_value_heads": 1, "pad_token_id": 0,
                 "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000, "rope_scaling": null,
                 "rope_theta": 1000000, "sliding_window": 512, "sliding_window_pattern": 6, "torch_dtype": "bfloat16",
                 "transformers_version": "4.50.0.dev0", "use_cache": true, "vocab_size": 262144}""";
        ModelConfig c3 = ModelConfig.parse(new ObjectMapper().readTree(g3), "gemma-3-1b-it");
        List<Boolean> s3 = c3.arch().gemma().sliding();
        for (int l = 0; l < 26; l++) assertThat(s3.get(l)).as("layer %d sliding", l).isEqualTo((l + 1) % 6 != 0);
        assertThat(c3.slidingWindow()).isEqualTo(512);
        assertThat(c3.finalLogitSoftcap()).isZero();
        // google/gemma-2-2b's config.json
        String g2 = """
                {"architectures": ["Gemma2ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
                 "attn_logit_softcapping": 50.0, "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": 1,
                 "final_logit_softcapping": 30.0, "head_dim": 256, "hidden_act": "gelu_pytorch_tanh",
                 "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 2304, "initializer_range": 0.02,
                 "intermediate_size": 9216, "max_position_embeddings": 8192, "model_type": "gemma2", "num_attention_heads": 8,
                 "num_hidden_layers": 26, "num_key_value_heads": 4, "pad_token_id": 0, "query_pre_attn_scalar": 256,
                 "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "sliding_window": 4096,
                 "torch_dtype": "float32", "transformers_version": "4.42.4", "use_cache": true, "vocab_size": 256000}""";
        ModelConfig c2 = ModelConfig.parse(new ObjectMapper().readTree(g2), "gemma-2-2b");
        assertThat(c2.arch().gemma().sliding().subList(0, 4)).containsExactly(true, false, true, false);
        assertThat(c2.arch().gemma().attnSoftcap()).isEqualTo(50f);
        assertThat(dev.peft4j.tuner.ModelModules.of(c2).baseParameterCount()).isEqualTo(2_614_341_888L);   // Gemma 2 2B
        assertThat(dev.peft4j.tuner.ModelModules.of(c3).baseParameterCount()).isEqualTo(999_885_952L);     // Gemma 3 1B
    }

    @Test
    void unsupportedSettingsAreRefusedByName() throws Exception {
        ObjectNode c = config("gemma3");
        c.put("hidden_activation", "gelu");
        assertThatThrownBy(() -> ModelConfig.parse(c, "x")).isInstanceOf(Peft4jException.class).hasMessageContaining("hidden_activation 'gelu'");
        ObjectNode r = config("gemma3");
        r.putObject("rope_scaling").put("rope_type", "yarn").put("factor", 4.0);
        assertThatThrownBy(() -> ModelConfig.parse(r, "x")).isInstanceOf(Peft4jException.class).hasMessageContaining("'yarn'");
        ObjectNode t = config("gemma2");
        t.putArray("layer_types").add("sliding_attention").add("chunked_attention").add("full_attention");
        assertThatThrownBy(() -> ModelConfig.parse(t, "x")).isInstanceOf(Peft4jException.class).hasMessageContaining("chunked_attention");
        ObjectNode b = config("gemma3");
        b.put("use_bidirectional_attention", true);
        assertThatThrownBy(() -> ModelConfig.parse(b, "x")).isInstanceOf(Peft4jException.class).hasMessageContaining("use_bidirectional_attention");
        ObjectNode m = config("gemma3");
        m.put("model_type", "gemma3");
        assertThatThrownBy(() -> ModelConfig.parse(m, "x")).isInstanceOf(Peft4jException.class).hasMessageContaining("gemma3_text");
    }
}
