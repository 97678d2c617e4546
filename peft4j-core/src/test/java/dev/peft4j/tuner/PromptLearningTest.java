package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.LoraConfig;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Ops;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.io.SafeTensorsFile;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.KvCache;
import dev.peft4j.tokenizer.Tokenizer;
import dev.peft4j.tuner.prefixtuning.PrefixTuning;
import dev.peft4j.tuner.prefixtuning.PrefixTuningConfig;
import dev.peft4j.tuner.prefixtuning.PrefixTuningModel;
import dev.peft4j.tuner.prompttuning.PromptTuning;
import dev.peft4j.tuner.prompttuning.PromptTuningConfig;
import dev.peft4j.tuner.prompttuning.PromptTuningModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Prompt tuning and prefix tuning (tuner/prompttuning, tuner/prefixtuning) on the shared prompt base
 * (tuner/prompt): the files as PEFT 0.14 writes them (config keys and values, the prompt_embeddings
 * key and shape, checked against what the real PEFT wrote on stories260K), PEFT's trainable counts,
 * switching (disable/enable/unload, PeftModel), merge refused, TEXT init, generation over a KV
 * cache == the full forward and a left-padded batch == rows one by one through each adapter, and
 * gradients with gradient checkpointing == without (the prefix MLP's per-tape cache).
 */
class PromptLearningTest {
    @TempDir Path tmp;

    static Path stories() {
        for (Path p = Paths.get("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path s = p.resolveSibling("shared").resolve("models/stories260K");
            if (Files.exists(s)) return s;
        }
        org.junit.jupiter.api.Assumptions.abort("../shared/models/stories260K not found");
        return null;
    }

    static CausalLM golden(String name) throws Exception {
        return CausalLM.load(Paths.get(PromptLearningTest.class.getResource("/golden/models/" + name + "/config.json").toURI()).getParent());
    }

    static AdapterConfig config(String spec) {
        return switch (spec) {
            case "prompt" -> PromptTuningConfig.random(4);
            case "prefix" -> PrefixTuningConfig.of(4, false, null);
            case "prefix-proj" -> PrefixTuningConfig.of(4, true, null);
            case "prefix-proj-h16" -> PrefixTuningConfig.of(3, true, 16);
            default -> throw new IllegalArgumentException(spec);
        };
    }

    /** Makes every trainable value non-trivial (deterministic). */
    static void perturb(AdapterModel am) {
        int k = 0;
        for (Tensor t : am.trainableParameters()) {
            k++;
            for (int i = 0; i < t.size(); i++) t.data[i] = (float) (0.3 * Math.sin(i * 0.37 + k));
        }
    }

    static float[] logits(CausalLM m, int[] ids) { return m.forward(null, ids, 1, ids.length, null, null, false).data; }

    static double maxDiff(float[] a, float[] b) {
        assertThat(a).hasSameSizeAs(b);
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        return d;
    }

    static Set<String> keys(JsonNode n) {
        Set<String> s = new TreeSet<>();
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) s.add(it.next());
        return s;
    }

    static final int[] IDS = {1, 403, 407, 261, 378, 77, 300}, SMALL = {3, 9, 27, 81, 11, 60};

    /** Config keys and values, tensor key/shape and PEFT's summary line, each as PEFT 0.14 wrote them on stories260K (P = 4). */
    @ParameterizedTest
    @ValueSource(strings = {"prompt", "prefix", "prefix-proj"})
    void savedLikePeft(String spec) throws Exception {
        Path stories = stories();
        CausalLM m = CausalLM.load(stories);
        float[] base = logits(m, IDS);
        AdapterModel am = PeftAdapter.load(m, writeAndReturn(m, spec, stories), "back");
        JsonNode c = new ObjectMapper().readTree(tmp.resolve(spec).resolve(PeftAdapter.CONFIG).toFile());
        boolean prompt = spec.equals("prompt");
        Set<String> want = new TreeSet<>(List.of("auto_mapping", "base_model_name_or_path", "inference_mode", "num_attention_heads",
                "num_layers", "num_transformer_submodules", "num_virtual_tokens", "peft_type", "revision", "task_type", "token_dim"));
        want.addAll(prompt ? List.of("prompt_tuning_init", "prompt_tuning_init_text", "tokenizer_kwargs", "tokenizer_name_or_path")
                : List.of("encoder_hidden_size", "prefix_projection"));
        assertThat(keys(c)).isEqualTo(want);
        assertThat(c.get("peft_type").asText()).isEqualTo(prompt ? "PROMPT_TUNING" : "PREFIX_TUNING");
        assertThat(c.get("inference_mode").asBoolean()).isTrue();
        assertThat(c.get("task_type").asText()).isEqualTo("CAUSAL_LM");
        assertThat(c.get("num_virtual_tokens").asInt()).isEqualTo(4);
        assertThat(c.get("num_layers").asInt()).isEqualTo(5);
        assertThat(c.get("num_transformer_submodules").asInt()).isEqualTo(1);
        assertThat(c.get("token_dim").asInt()).isEqualTo(prompt ? 64 : 32);           // GQA prefix: 64 / 8 heads * 4 KV heads
        assertThat(c.get("num_attention_heads").asInt()).isEqualTo(prompt ? 8 : 4);
        if (prompt) assertThat(c.get("prompt_tuning_init").asText()).isEqualTo("RANDOM");
        else {
            assertThat(c.get("encoder_hidden_size").asInt()).isEqualTo(32);
            assertThat(c.get("prefix_projection").asBoolean()).isEqualTo(spec.equals("prefix-proj"));
        }
        try (SafeTensorsFile f = SafeTensorsFile.open(tmp.resolve(spec).resolve(PeftAdapter.WEIGHTS))) {
            assertThat(f.tensors()).hasSize(1);
            assertThat(f.tensors().get(0).name()).isEqualTo("prompt_embeddings");
            assertThat(f.tensors().get(0).shape()).containsExactly(prompt ? new long[] {4, 64} : new long[] {4, 320});
        }
        // the saved adapter (projected prefix: its projected output, read back as the plain table) gives the trained logits
        assertThat(maxDiff(logits(m, IDS), written)).isLessThan(1e-6);
        assertThat(maxDiff(logits(m, IDS), base)).isGreaterThan(1e-2);
        assertThat(am.trainableParameters()).hasSize(1);
        am.unload();
        assertThat(maxDiff(logits(m, IDS), base)).isZero();
    }

    private float[] written;

    private Path writeAndReturn(CausalLM m, String spec, Path stories) {
        AdapterModel am = PeftMethods.of(config(spec).peftType(), null).apply(m, config(spec), "default", 5);
        assertThat(am.trainableSummary()).isEqualTo(switch (spec) {     // printed by PEFT 0.14's print_trainable_parameters
            case "prompt" -> "trainable params: 256 || all params: 260,288 || trainable%: 0.0984";
            case "prefix" -> "trainable params: 1,280 || all params: 261,312 || trainable%: 0.4898";
            default -> "trainable params: 11,744 || all params: 271,776 || trainable%: 4.3212";
        });
        perturb(am);
        written = logits(m, IDS);
        Path out = tmp.resolve(spec);
        PeftAdapter.save(am, out, stories.toString(), null);
        am.unload();
        return out;
    }

    /** PEFT 0.14's print_trainable_parameters on the GPT-2-124M and SmolLM2-135M shapes, 20 virtual tokens. */
    @Test
    void countsOnReferenceShapes() {
        var g = Fixtures.gpt2_124m();
        var s = Fixtures.smollm2_135m();
        assertThat(PromptTuning.trainableSummary(g, PromptTuningConfig.random(20)))
                .isEqualTo("trainable params: 15,360 || all params: 124,455,168 || trainable%: 0.0123");
        assertThat(PrefixTuning.trainableSummary(g, PrefixTuningConfig.of(20, false, null)))
                .isEqualTo("trainable params: 368,640 || all params: 124,808,448 || trainable%: 0.2954");
        assertThat(PrefixTuning.trainableSummary(g, PrefixTuningConfig.of(20, true, null)))
                .isEqualTo("trainable params: 14,780,160 || all params: 139,219,968 || trainable%: 10.6164");
        assertThat(PromptTuning.trainableSummary(s, PromptTuningConfig.random(20)))
                .isEqualTo("trainable params: 11,520 || all params: 134,526,528 || trainable%: 0.0086");
        assertThat(PrefixTuning.trainableSummary(s, PrefixTuningConfig.of(20, false, null)))
                .isEqualTo("trainable params: 230,400 || all params: 134,745,408 || trainable%: 0.1710");
        assertThat(PrefixTuning.trainableSummary(s, PrefixTuningConfig.of(20, true, null)))
                .isEqualTo("trainable params: 2,264,256 || all params: 136,779,264 || trainable%: 1.6554");
    }

    @Test
    void switchingAndMergeRefused() throws Exception {
        CausalLM m = golden("llama");
        float[] base = logits(m, SMALL);
        PeftModel pm = new PeftModel(m);
        AdapterModel a = pm.addAdapter(config("prompt"), "a", 1);
        perturb(a);
        float[] la = logits(m, SMALL);
        AdapterModel b = pm.addAdapter(config("prefix"), "b", 2);
        perturb(b);
        float[] lb = logits(m, SMALL);
        AdapterModel lora = pm.addAdapter(LoraConfig.builder().r(2).alpha(4).targetModules("q_proj").build(), "l", 3);
        assertThat(maxDiff(la, base)).isGreaterThan(1e-3);
        assertThat(maxDiff(lb, la)).isGreaterThan(1e-3);
        pm.setAdapter("a");
        assertThat(maxDiff(logits(m, SMALL), la)).isZero();
        pm.setAdapter("b");
        assertThat(maxDiff(logits(m, SMALL), lb)).isZero();
        pm.setAdapters(List.of("b", "l"));                 // a prompt adapter with a LoRA (B = 0: identity)
        assertThat(maxDiff(logits(m, SMALL), lb)).isLessThan(1e-6);
        assertThatThrownBy(() -> pm.setAdapters(List.of("a", "b"))).isInstanceOf(Peft4jException.class).hasMessageContaining("only one");
        pm.disableAdapters();
        assertThat(maxDiff(logits(m, SMALL), base)).isZero();
        pm.enableAdapters();
        assertThat(maxDiff(logits(m, SMALL), lb)).isLessThan(1e-6);
        assertThatThrownBy(() -> pm.merge("b")).isInstanceOf(Peft4jException.class).hasMessageContaining("cannot be merged");
        assertThatThrownBy(pm::mergeAndUnload).isInstanceOf(Peft4jException.class).hasMessageContaining("cannot be merged");
        b.disable();
        assertThat(maxDiff(logits(m, SMALL), base)).isLessThan(1e-6);
        b.enable();
        assertThat(maxDiff(logits(m, SMALL), lb)).isLessThan(1e-6);
        pm.deleteAdapter("b");
        assertThat(m.prompt()).isNull();
        assertThat(lora).isNotNull();
    }

    /** PEFT's TEXT init: the tokenizer's ids (with BOS) repeated / truncated to P; rows = the model's input embeddings. */
    @Test
    void textInit() throws Exception {
        Path stories = stories();
        CausalLM m = CausalLM.load(stories);
        String text = "Once upon a time";
        int[] ids;
        try (Tokenizer tok = Tokenizer.load(stories)) { ids = tok.encodeWithSpecial(text); }
        assertThat(ids[0]).isEqualTo(1);                                          // Llama tokenizer: BOS first, as HF __call__
        assertThat(PromptTuning.initIds(new int[] {5, 6, 7}, 7)).containsExactly(5, 6, 7, 5, 6, 7, 5);
        assertThat(PromptTuning.initIds(new int[] {5, 6, 7}, 2)).containsExactly(5, 6);
        for (int P : new int[] {2, ids.length + 3}) {
            PromptTuningModel am = PromptTuning.apply(m, PromptTuningConfig.text(P, text, stories.toString()), "t" + P, 0);
            int[] want = PromptTuning.initIds(ids, P);
            float[] rows = Ops.embedding(null, m.parameters().get(0), want).floats();
            assertThat(am.embedding().data).containsExactly(rows);
            assertThat(am.config().toPeftJson()).containsEntry("tokenizer_name_or_path", stories.toString())
                    .containsEntry("prompt_tuning_init", "TEXT").containsEntry("prompt_tuning_init_text", text);
            am.unload();
        }
        assertThatThrownBy(() -> PromptTuningConfig.Init.parse("SAMPLE_VOCAB")).hasMessageContaining("PEFT 0.15");
        assertThatThrownBy(() -> new PromptTuningConfig(dev.peft4j.tuner.prompt.PromptLearningConfig.of(4), PromptTuningConfig.Init.TEXT, "x", null))
                .hasMessageContaining("tokenizer_name_or_path");
    }

    /** Prefill + decode over the KV cache == the full forward; a left-padded batch == rows one by one (whatever prompt is installed). */
    static float[] assertCacheMatchesFullForward(CausalLM m) {
        int V = m.config().vocabSize();
        int[] x = {3, 9, 27, 81, 11, 60};
        float[] want = logits(m, x);
        KvCache cache = m.newCache(1, x.length);
        int pre = x.length - 2;
        float[] first = m.forward(Arrays.copyOf(x, pre), 1, pre, cache, null, false);
        assertThat(maxDiff(first, Arrays.copyOf(want, pre * V))).isLessThan(2e-5);
        for (int t = pre; t < x.length; t++) {
            float[] step = m.forward(new int[] {x[t]}, 1, 1, cache, null, true);
            assertThat(maxDiff(step, Arrays.copyOfRange(want, t * V, (t + 1) * V))).as("decode " + t).isLessThan(2e-5);
        }
        int[][] rows = {{3, 9, 27, 81, 11, 60}, {7, 8, 2, 33}};
        int B = 2, T = 6, steps = 3;
        int[] next = {4, 12, 19};
        float[][][] single = new float[B][steps + 1][];
        for (int b = 0; b < B; b++) {
            KvCache c = m.newCache(1, rows[b].length + steps);
            single[b][0] = m.forward(rows[b], 1, rows[b].length, c, null, true);
            for (int i = 0; i < steps; i++) single[b][i + 1] = m.forward(new int[] {next[i]}, 1, 1, c, null, true);
        }
        int[] pad = new int[B], tokens = new int[B * T];
        for (int b = 0; b < B; b++) {
            pad[b] = T - rows[b].length;
            System.arraycopy(rows[b], 0, tokens, b * T + pad[b], rows[b].length);
        }
        KvCache c = m.newCache(B, T + steps);
        float[] out = m.forward(tokens, B, T, c, pad, true);
        for (int i = 0; i <= steps; i++) {
            if (i > 0) out = m.forward(new int[] {next[i - 1], next[i - 1]}, B, 1, c, pad, true);
            for (int b = 0; b < B; b++)
                assertThat(maxDiff(Arrays.copyOfRange(out, b * V, (b + 1) * V), single[b][i])).as("step " + i + " row " + b).isLessThan(2e-5);
        }
        return want;
    }

    /** Through each adapter: prefill + decode over the KV cache == the full forward; a left-padded batch == rows one by one. */
    @ParameterizedTest
    @ValueSource(strings = {"llama:prompt", "llama:prefix", "llama:prefix-proj", "gpt2:prompt", "gpt2:prefix-proj-h16"})
    void generationOverTheCache(String spec) throws Exception {
        String[] s = spec.split(":");
        CausalLM m = golden(s[0]);
        AdapterModel am = PeftMethods.of(config(s[1]).peftType(), null).apply(m, config(s[1]), "default", 7);
        perturb(am);
        assertCacheMatchesFullForward(m);
    }

    /** Gradients of every prompt parameter with gradient checkpointing equal those without (the prefix MLP recomputed per block tape). */
    @ParameterizedTest
    @ValueSource(strings = {"llama:prompt", "llama:prefix", "llama:prefix-proj", "gpt2:prefix-proj-h16", "phi3:prefix"})
    void checkpointingGivesTheSameGradients(String spec) throws Exception {
        String[] s = spec.split(":");
        CausalLM m = golden(s[0]);
        AdapterModel am = PeftMethods.of(config(s[1]).peftType(), null).apply(m, config(s[1]), "default", 7);
        perturb(am);
        int[] x = {3, 9, 27, 81, 11, 60, 7, 8};
        int[] targets = {9, 27, 81, 11, 60, 7, 8, 2};
        List<float[]> grads = new ArrayList<>();
        for (boolean ckpt : new boolean[] {false, true}) {
            m.setGradientCheckpointing(ckpt);
            for (Tensor t : am.trainableParameters()) t.zeroGrad();
            Tape tape = new Tape(0);
            Tensor y = m.forward(tape, x, 1, x.length, null, null, false);
            tape.backward(Ops.crossEntropy(tape, y, targets));
            for (Tensor t : am.trainableParameters()) grads.add(t.grad().clone());
        }
        int n = am.trainableParameters().size();
        for (int i = 0; i < n; i++) {
            float[] a = grads.get(i), b = grads.get(n + i);
            double scale = 0;
            for (float v : a) scale = Math.max(scale, Math.abs(v));
            assertThat(scale).as("gradient of parameter " + i).isGreaterThan(0);
            assertThat(maxDiff(a, b) / scale).as("parameter " + i).isLessThan(1e-5);
        }
        if (am instanceof PrefixTuningModel p) assertThat(p.projecting()).isEqualTo(s[1].startsWith("prefix-proj"));
    }
}
