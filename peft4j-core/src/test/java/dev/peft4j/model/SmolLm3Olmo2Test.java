/*
 * SmolLm3Olmo2Test: the two families that are the Llama decoder with ModelConfig.Arch switches.
 * SmolLM3: which layers skip RoPE (no_rope_layers, or every no_rope_layer_interval-th layer), SmolLM3Config's
 * defaults, sliding-window layers refused by name. OLMo 2: post-norm blocks and q/k norms over the full
 * projections, with transformers' module names and parameter counts. For both: PEFT has no default target
 * modules (the error PEFT raises), and a model made in memory saves and reloads with the same logits.
 * The logits themselves are checked against the float64 goldens in ModelGoldenTest.
 */
package dev.peft4j.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.io.Checkpoint;
import dev.peft4j.io.DType;
import dev.peft4j.tuner.ModelModules;
import dev.peft4j.tuner.PeftRules;
import dev.peft4j.tuner.adalora.AdaLora;
import dev.peft4j.train.AdamW;
import dev.peft4j.train.LmLoss;
import dev.peft4j.tuner.ia3.Ia3;
import dev.peft4j.tuner.lora.InitLoraWeights;
import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraModel;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraPlan;
import dev.peft4j.tuner.vera.Vera;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeSet;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SmolLm3Olmo2Test {
    @TempDir Path tmp;

    /** The golden model's config.json, edited, parsed. */
    private static ModelConfig edited(String model, Consumer<ObjectNode> edit) throws Exception {
        ObjectNode c = (ObjectNode) new ObjectMapper().readTree(ModelGoldenTest.dir(model).resolve("config.json").toFile());
        edit.accept(c);
        return ModelConfig.parse(c, model + "/config.json");
    }

    @Test
    void smollm3SkipsRopeInTheLayersNoRopeLayersMarks() throws Exception {
        ModelConfig c = ModelConfig.load(ModelGoldenTest.dir("smollm3"));
        assertThat(c.family()).isEqualTo(ModelConfig.Family.SMOLLM3);
        assertThat(c.arch().nopeLayers()).containsExactly(1, 3);             // no_rope_layers [1, 0, 1, 0]
        assertThat(c.arch().rope(0)).isTrue();
        assertThat(c.arch().rope(1)).isFalse();
        assertThat(c.arch().qkNorm() || c.arch().postNorm()).isFalse();
        assertThat(c.tieWordEmbeddings()).isTrue();
        assertThat(c.arch().describe()).isEqualTo("no RoPE in layers [1, 3]");
        // absent no_rope_layers: SmolLM3Config's rule, NoPE where (layer + 1) % no_rope_layer_interval == 0
        assertThat(edited("smollm3", o -> o.remove("no_rope_layers")).arch().nopeLayers()).containsExactly(3);
        assertThat(edited("smollm3", o -> { o.remove("no_rope_layers"); o.put("no_rope_layer_interval", 2); })
                .arch().nopeLayers()).containsExactly(1, 3);
        assertThat(edited("smollm3", o -> { o.remove("no_rope_layers"); o.remove("no_rope_layer_interval"); })
                .arch().nopeLayers()).containsExactly(3);                       // default interval 4
        // SmolLM3Config defaults: tied embeddings, rope_theta 2e6
        assertThat(edited("smollm3", o -> o.remove("tie_word_embeddings")).tieWordEmbeddings()).isTrue();
        assertThat(edited("smollm3", o -> o.remove("rope_theta")).ropeTheta()).isEqualTo(2_000_000.0);
        assertThat(edited("smollm3", o -> o.put("attention_bias", true)))
                .satisfies(b -> assertThat(b.qkvBias() && b.outputBias()).isTrue());
        // the other families have no NoPE layers
        assertThat(ModelConfig.load(ModelGoldenTest.dir("llama")).arch().nopeLayers()).isEmpty();
    }

    @Test
    void smollm3SettingsPeft4jDoesNotImplementAreRefusedByName() {
        assertThatThrownBy(() -> edited("smollm3", o -> ((ArrayNode) o.get("no_rope_layers")).remove(3)))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("\"no_rope_layers\" must be a list with one entry per layer (4)");
        assertThatThrownBy(() -> edited("smollm3", o -> ((ArrayNode) o.get("no_rope_layers")).set(2, 2)))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("\"no_rope_layers\"[2] must be 1 (RoPE) or 0 (no RoPE) (got 2)");
        assertThatThrownBy(() -> edited("smollm3", o -> { o.remove("no_rope_layers"); o.put("no_rope_layer_interval", 0); }))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("no_rope_layer_interval");
        // sliding windows: explicit layer types, or use_sliding_window + sliding_window (SmolLM3Config slides the NoPE layers)
        assertThatThrownBy(() -> edited("smollm3", o -> ((ArrayNode) o.get("layer_types")).set(1, "sliding_attention")))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("sliding-window layers")
                .hasMessageContaining("not supported for smollm3");
        assertThatThrownBy(() -> edited("smollm3", o -> {
            o.remove("layer_types");
            o.put("use_sliding_window", true);
            o.put("sliding_window", 16);
        })).isInstanceOf(Peft4jException.class).hasMessageContaining("set use_sliding_window to false");
        assertThatThrownBy(() -> edited("smollm3", o -> ((ArrayNode) o.get("layer_types")).set(0, "chunked_attention")))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("\"layer_types\" entry \"chunked_attention\"");
        assertThatThrownBy(() -> edited("smollm3", o -> o.putObject("rope_scaling").put("rope_type", "yarn").put("factor", 2.0)))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("rope_scaling type 'yarn' is not supported");
    }

    @Test
    void smollm3WithoutSlidingLayersLoadsWhateverUseSlidingWindowSays() throws Exception {
        // layer_types all full_attention decides, as in SmolLM3Attention; so does a null sliding_window
        assertThat(edited("smollm3", o -> { o.put("use_sliding_window", true); o.put("sliding_window", 16); })
                .slidingWindow()).isZero();
        assertThat(edited("smollm3", o -> { o.remove("layer_types"); o.put("use_sliding_window", true); })
                .slidingWindow()).isZero();
    }

    @Test
    void olmo2IsPostNormWithQkNormsOverTheFullProjections() throws Exception {
        ModelConfig c = ModelConfig.load(ModelGoldenTest.dir("olmo2"));
        assertThat(c.family()).isEqualTo(ModelConfig.Family.OLMO2);
        assertThat(c.arch().qkNorm() && c.arch().qkNormFull() && c.arch().postNorm()).isTrue();
        assertThat(c.arch().nopeLayers()).isEmpty();
        assertThat(Llama.qkNormSizes(c)).containsExactly(64, 32);              // NH*HS = 4*16, KVH*HS = 2*16
        assertThat(Llama.normNames(c)).containsExactly("post_attention_layernorm", "post_feedforward_layernorm");
        assertThat(c.arch().describe()).isEqualTo("q/k RMSNorm over the full projection, "
                + "post-norm blocks (norm after attention and after the MLP)");
        // Olmo2Config's rms_norm_eps default is 1e-5 (Llama's 1e-6); OlmoMLP has no biases
        assertThat(edited("olmo2", o -> o.remove("rms_norm_eps")).normEps()).isEqualTo(1e-5f);
        assertThat(edited("olmo2", o -> o.put("mlp_bias", true)).mlpBias()).isFalse();
        assertThat(edited("olmo2", o -> o.remove("tie_word_embeddings")).tieWordEmbeddings()).isFalse();
        ModelConfig qwen3 = ModelConfig.load(ModelGoldenTest.dir("qwen3"));
        assertThat(Llama.qkNormSizes(qwen3)).containsExactly(24, 24);
        assertThat(qwen3.arch().describe()).isEqualTo("q/k RMSNorm per head");
        assertThat(Llama.normNames(qwen3)).containsExactly("input_layernorm", "post_attention_layernorm");
    }

    @Test
    void anUnsupportedModelTypeListsTheSupportedOnes() {
        assertThatThrownBy(() -> edited("olmo2", o -> o.put("model_type", "olmo3")))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("unsupported model_type 'olmo3'")
                .hasMessageContaining("llama, mistral, qwen2, qwen3").hasMessageContaining("smollm3").hasMessageContaining("olmo2")
                .hasMessageContaining("SmolLM3, OLMo 2");
    }

    @ParameterizedTest
    @ValueSource(strings = {"smollm3", "olmo2"})
    void moduleTreeHasTransformersNamesAndTheCheckpointsParameterCount(String name) throws Exception {
        ModelConfig c = ModelConfig.load(ModelGoldenTest.dir(name));
        ModelModules mm = ModelModules.of(c);
        long stored = 0;
        try (Checkpoint ckpt = Checkpoint.open(ModelGoldenTest.dir(name))) {
            for (String t : ckpt.names()) stored += ckpt.info(t).numel();
        }
        assertThat(mm.baseParameterCount()).isEqualTo(stored);
        List<String> names = mm.modules().stream().map(ModelModules.Module::name).toList();
        String fam = name.equals("olmo2") ? "Olmo2" : "SmolLM3";
        assertThat(mm.modules()).anyMatch(m -> m.name().equals("model.layers.0") && m.type().equals(fam + "DecoderLayer"));
        assertThat(mm.modules()).anyMatch(m -> m.name().equals("model.norm") && m.type().equals(fam + "RMSNorm"));
        if (name.equals("olmo2")) {
            // Olmo2DecoderLayer registers self_attn (q, k, v, o, q_norm, k_norm), mlp, post_attention_layernorm,
            // post_feedforward_layernorm; there is no input_layernorm
            int at = names.indexOf("model.layers.1.self_attn.o_proj");
            assertThat(names.subList(at, at + 3)).containsExactly("model.layers.1.self_attn.o_proj",
                    "model.layers.1.self_attn.q_norm", "model.layers.1.self_attn.k_norm");
            assertThat(names).containsSubsequence("model.layers.1.mlp.down_proj", "model.layers.1.post_attention_layernorm",
                    "model.layers.1.post_feedforward_layernorm").noneMatch(n -> n.contains("input_layernorm"));
        } else {
            assertThat(names).contains("model.layers.3.input_layernorm").noneMatch(n -> n.contains("q_norm"));
        }
        assertThat(mm.linearSuffixes()).containsExactly("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                "down_proj", "lm_head");
    }

    @ParameterizedTest
    @ValueSource(strings = {"smollm3", "olmo2"})
    void peftHasNoDefaultTargetModulesForThese(String name) throws Exception {
        ModelConfig c = ModelConfig.load(ModelGoldenTest.dir(name));
        ModelModules mm = ModelModules.of(c);
        String peft = "(PEFT: Please specify `target_modules` in `peft_config`)";
        assertThatThrownBy(() -> LoraPlan.of(mm, LoraConfig.builder().r(4).build()))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("LoRA has no default target modules for model type " + name)
                .hasMessageContaining(peft).hasMessageContaining("--lora.target-modules");
        assertThatThrownBy(() -> Vera.defaultTargetModules(c.family())).hasMessageContaining(peft).hasMessageContaining("--vera.target-modules");
        assertThatThrownBy(() -> AdaLora.defaultTargetModules(c.family())).hasMessageContaining(peft).hasMessageContaining("--adalora.target-modules");
        assertThatThrownBy(() -> Ia3.defaultTargetModules(c.family())).hasMessageContaining(peft).hasMessageContaining("--ia3.target-modules");
        assertThatThrownBy(() -> Ia3.defaultFeedforwardModules(c.family()))
                .hasMessageContaining("(PEFT: Please specify `feedforward_modules` in `peft_config`)").hasMessageContaining("--ia3.feedforward-modules");
        assertThatThrownBy(() -> PeftRules.defaultTargetModules(c.family())).isInstanceOf(Peft4jException.class);
        // with targets given, LoRA plans as for any Llama-like model: all-linear leaves the head out
        LoraPlan p = LoraPlan.of(mm, LoraConfig.builder().r(4).allLinear().build());
        assertThat(p.targets()).hasSize(7 * c.numLayers()).noneMatch(t -> t.module().equals("lm_head"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"smollm3", "olmo2"})
    void aModelMadeInMemorySavesWithTheCheckpointsNamesAndReloadsWithTheSameLogits(String name) throws Exception {
        ModelConfig c = ModelConfig.load(ModelGoldenTest.dir(name));
        CausalLM made = ModelFactory.random(c, 7, 0.1f);
        try (Checkpoint golden = Checkpoint.open(ModelGoldenTest.dir(name))) {
            assertThat(new TreeSet<>(ModelWriter.tensors(made, DType.F32).keySet())).isEqualTo(new TreeSet<>(golden.names()));
        }
        Path dir = Files.createDirectory(tmp.resolve(name));
        ModelWriter.saveConfig(c, dir);
        ModelWriter.saveWeights(made, dir, DType.F32, Long.MAX_VALUE);
        assertThat(ModelConfig.load(dir)).isEqualTo(c);                       // every field, the Arch switches included
        CausalLM back = CausalLM.load(dir);
        int[] ids = {3, 17, 5, 9, 11, 2};
        assertThat(back.forward(ids, 1, ids.length, back.newCache(1, ids.length), null, false))
                .containsExactly(made.forward(ids, 1, ids.length, made.newCache(1, ids.length), null, false));
    }

    /** LoRA loss and gradients on the golden model: 2 sequences of 8 tokens, every position a target. */
    private static float[][] loraGradients(CausalLM model, boolean checkpointing) {
        model.setGradientCheckpointing(checkpointing);
        int[] ids = {5, 17, 3, 22, 9, 41, 7, 30, 12, 6, 33, 2, 19, 8, 27, 14};
        Tape tape = new Tape(0);
        LoraModel lm = Lora.apply(model, LoraConfig.builder().r(4).alpha(8).allLinear().init(InitLoraWeights.GAUSSIAN).build(), 3);
        Tensor loss = LmLoss.loss(tape, model, ids, ids, 2, 8);
        tape.backward(loss);
        List<Tensor> params = lm.trainableParameters();
        float[][] out = new float[params.size() + 1][];
        out[0] = new float[] {loss.data[0]};
        for (int i = 0; i < params.size(); i++) out[i + 1] = params.get(i).grad().clone();
        lm.unload();
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"smollm3", "olmo2"})
    void gradientCheckpointingGivesTheSameGradientsAndQLoraTrains(String name) throws Exception {
        CausalLM model = CausalLM.load(ModelGoldenTest.dir(name));
        float[][] plain = loraGradients(model, false), recomputed = loraGradients(model, true);
        assertThat(recomputed.length).isEqualTo(plain.length).isGreaterThan(1);
        for (int i = 0; i < plain.length; i++) assertThat(recomputed[i]).as("%s tensor %d", name, i).containsExactly(plain[i]);
        // QLoRA: NF4 base, LoRA on every linear layer; 30 AdamW steps on one batch lower its loss
        CausalLM q = CausalLM.load(ModelGoldenTest.dir(name));
        q.quantizeWeights("nf4", 64);
        LoraModel lm = Lora.apply(q, LoraConfig.builder().r(4).alpha(8).allLinear().build(), 1);
        AdamW opt = new AdamW(lm.trainableParameters(), new AdamW.Hyper(0.9, 0.999, 1e-8, 0.0));
        int[] ids = {5, 17, 3, 22, 9, 41, 7, 30, 12, 6, 33, 2, 19, 8, 27, 14};
        double first = 0, last = 0;
        for (int step = 0; step < 30; step++) {
            for (Tensor p : lm.trainableParameters()) p.zeroGrad();
            Tape tape = new Tape(step);
            Tensor loss = LmLoss.loss(tape, q, ids, ids, 2, 8);
            tape.backward(loss);
            opt.step(1e-2);
            if (step == 0) first = loss.data[0];
            last = loss.data[0];
        }
        System.out.printf("%s: QLoRA (nf4) loss %.4f -> %.4f in 30 steps%n", name, first, last);
        assertThat(last).as("%s QLoRA loss after 30 steps (from %.3f)", name, first).isLessThan(0.5 * first);
    }
}
