package dev.peft4j.model;

import static dev.peft4j.model.ModelGoldenTest.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.peft4j.Peft4jException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Phi-3 generation paths against the full forward. With LongRoPE the logits at a position depend on the
 * whole sequence's length (short factors up to original_max_position_embeddings tokens, long beyond, as in
 * transformers), so each decoding step is compared with a full forward over the prefix it has seen —
 * across the switch from short to long (the cached keys are turned to the long factors then), with
 * sliding windows shorter than the sequence, and in left-padded batches whose rows switch at different steps.
 * Golden logits: ModelGoldenTest ("phi3", "phi3-tied").
 */
class Phi3ModelTest {
    static final int[] SEQ = {3, 17, 5, 9, 11, 2, 8, 30, 21, 14, 40, 6};

    /** Logits of the last position of a full forward over seq[0, n). */
    static float[] lastOfPrefix(CausalLM m, int[] seq, int n) {
        return m.forward(Arrays.copyOf(seq, n), 1, n, null, null, true);
    }

    /** "phi3", or "phi3-tied:prompt" / "phi3-tied:prefix": the model with a perturbed prompt-tuning / prefix-tuning adapter. */
    static CausalLM model(String spec) throws Exception {
        String[] s = spec.split(":");
        CausalLM m = CausalLM.load(ModelGoldenTest.dir(s[0]));
        if (s.length == 1) return m;
        dev.peft4j.tuner.AdapterConfig cfg = s[1].equals("prompt") ? dev.peft4j.tuner.prompttuning.PromptTuningConfig.random(3)
                : dev.peft4j.tuner.prefixtuning.PrefixTuningConfig.of(3, false, null);
        dev.peft4j.tuner.AdapterModel am = new dev.peft4j.tuner.PeftModel(m).addAdapter(cfg, "default", 5);
        int k = 0;
        for (dev.peft4j.autograd.Tensor t : am.trainableParameters()) {
            k++;
            for (int i = 0; i < t.size(); i++) t.data[i] += (float) (0.3 * Math.sin(i + 1.3 * k));
        }
        return m;
    }

    // with a prompt adapter the virtual tokens count towards the length: prompt tuning's take positions 0..P-1
    @ParameterizedTest
    @ValueSource(strings = {"phi3", "phi3-tied", "phi3-tied:prompt", "phi3-tied:prefix"})
    void kvCacheDecodingMatchesTheFullForwardAcrossTheLongRopeSwitch(String name) throws Exception {
        CausalLM m = model(name);
        int P = m.prompt() == null ? 0 : m.prompt().length();                       // virtual positions count too
        int V = m.config().vocabSize(), T = SEQ.length, orig = m.config().ropeScaling().originalMaxPositions() - P;
        assertThat(T).isGreaterThan(orig + 1);
        KvCache cache = m.newCache(1, T);
        float[] pre = m.forward(Arrays.copyOf(SEQ, 3), 1, 3, cache, null, false);
        for (int t = 0; t < 3; t++) assertClose(pre, t * V, lastOfPrefix(m, SEQ, t + 1), 0, V, name + " prefill t=" + t);
        for (int t = 3; t < T; t++) {
            float[] step = m.forward(new int[] {SEQ[t]}, 1, 1, cache, null, true);
            assertClose(step, 0, lastOfPrefix(m, SEQ, t + 1), 0, V, name + " decode t=" + t + " (original_max " + orig + ")");
        }
        // a chunk that crosses the switch: cache holds orig-1 positions (short), the chunk ends past orig
        cache = m.newCache(1, T);
        m.forward(Arrays.copyOf(SEQ, orig - 1), 1, orig - 1, cache, null, false);
        int n = orig + 2;
        float[] chunk = m.forward(Arrays.copyOfRange(SEQ, orig - 1, n), 1, 3, cache, null, false);
        float[] full = m.forward(Arrays.copyOf(SEQ, n), 1, n, null, null, false);
        for (int i = 0; i < 3; i++)
            assertClose(chunk, i * V, full, (orig - 1 + i) * V, V, name + " crossing chunk row " + i);
        // and the switch really matters: the same position in a short sequence gives other logits
        float[] shortRun = m.forward(Arrays.copyOf(SEQ, orig), 1, orig, null, null, false);
        double moved = 0;
        for (int v = 0; v < V; v++) moved = Math.max(moved, Math.abs(shortRun[(orig - 1) * V + v] - full[(orig - 1) * V + v]));
        assertThat(moved).as("long vs short factors at position %d", orig - 1).isGreaterThan(1e-3);
    }

    // (not with a prompt adapter: its virtual slots come before the padding, and a sliding window shorter than the
    // sequence counts the padding slots, in transformers' mask as in peft4j's, so padded rows differ from solo runs)
    @ParameterizedTest
    @ValueSource(strings = {"phi3", "phi3-tied"})
    void leftPaddedBatchesMatchSoloRunsWhenRowsSwitchAtDifferentSteps(String name) throws Exception {
        CausalLM m = model(name);
        int V = m.config().vocabSize(), T = SEQ.length, pad0 = 5, len0 = T - pad0;   // row 0: 7 tokens, row 1: all 12
        int[] row0 = Arrays.copyOfRange(SEQ, 2, 2 + len0);
        // whole sequences: row 0 short (or long), row 1 long -> the stacked tables
        int[] batch = new int[2 * T];
        System.arraycopy(row0, 0, batch, pad0, len0);
        System.arraycopy(SEQ, 0, batch, T, T);
        float[] both = m.forward(batch, 2, T, m.newCache(2, T), new int[] {pad0, 0}, true);
        assertClose(both, 0, lastOfPrefix(m, row0, len0), 0, V, name + " padded row");
        assertClose(both, V, lastOfPrefix(m, SEQ, T), 0, V, name + " unpadded row");
        // decoding: prefill 3 real tokens of row 0 (padded by pad0) and 8 of row 1, then one at a time
        int prefill = pad0 + 3, steps = 4;
        int[] seq0 = Arrays.copyOf(row0, 3 + steps), seq1 = Arrays.copyOf(SEQ, prefill + steps);
        KvCache cache = m.newCache(2, prefill + steps);
        int[] first = new int[2 * prefill];
        System.arraycopy(seq0, 0, first, pad0, 3);
        System.arraycopy(seq1, 0, first, prefill, prefill);
        float[] out = m.forward(first, 2, prefill, cache, new int[] {pad0, 0}, true);
        assertClose(out, 0, lastOfPrefix(m, seq0, 3), 0, V, name + " prefill row 0");
        assertClose(out, V, lastOfPrefix(m, seq1, prefill), 0, V, name + " prefill row 1");
        for (int s = 0; s < steps; s++) {
            out = m.forward(new int[] {seq0[3 + s], seq1[prefill + s]}, 2, 1, cache, new int[] {pad0, 0}, true);
            assertClose(out, 0, lastOfPrefix(m, seq0, 4 + s), 0, V, name + " decode row 0 step " + s);
            assertClose(out, V, lastOfPrefix(m, seq1, prefill + 1 + s), 0, V, name + " decode row 1 step " + s);
        }
    }

    @Test
    void aFactoryModelSavedWithItsConfigReloadsIdentically(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        ModelConfig c = ModelConfig.load(ModelGoldenTest.dir("phi3"));
        CausalLM m = ModelFactory.random(c, 7, 0.05f);
        ModelWriter.saveConfig(c, tmp);
        ModelWriter.saveWeights(m, tmp, dev.peft4j.io.DType.F32, Long.MAX_VALUE);
        assertThat(ModelConfig.load(tmp)).isEqualTo(c);
        CausalLM back = CausalLM.load(tmp);
        float[] a = m.forward(SEQ, 2, 6, null, null, false), b = back.forward(SEQ, 2, 6, null, null, false);
        assertThat(b).containsExactly(a);
    }

    @Test
    void configSettingsAndRefusals() throws Exception {
        ModelConfig c = ModelConfig.load(ModelGoldenTest.dir("phi3"));
        assertThat(c.family()).isEqualTo(ModelConfig.Family.PHI3);
        assertThat(c.headDim()).isEqualTo(16);
        assertThat(c.rotaryDim()).isEqualTo(12);
        assertThat(c.slidingWindow()).isEqualTo(4);
        assertThat(c.ropeScaling().type()).isEqualTo("longrope");
        assertThat(c.ropeScaling().originalMaxPositions()).isEqualTo(5);
        assertThat(c.ropeScaling().longFactor()).hasSize(6).contains(27.0);
        assertThat(c.longRopeAttentionFactor()).isCloseTo(Math.sqrt(1 + Math.log(64.0 / 5) / Math.log(5)), org.assertj.core.data.Offset.offset(1e-12));
        assertThat(ModelConfig.load(ModelGoldenTest.dir("phi3-tied")).rotaryDim()).isEqualTo(12);

        assertRefused(cfg -> ((ObjectNode) cfg.get("rope_scaling")).put("type", "dynamic"),
                "rope_scaling type 'dynamic' is not supported for phi3");
        assertRefused(cfg -> ((ArrayNode) cfg.get("rope_scaling").get("short_factor")).remove(0),
                "\"rope_scaling.short_factor\" must be a list of 6 numbers");
        assertRefused(cfg -> ((ObjectNode) cfg.get("rope_scaling")).put("attention_factor", 1.2),
                "\"rope_scaling.attention_factor\" is not supported");
        assertRefused(cfg -> cfg.put("partial_rotary_factor", 0.1), "partial_rotary_factor");
        assertRefused(cfg -> cfg.put("resid_pdrop", 0.1), "\"resid_pdrop\": 0.1 is not supported for phi3");
        assertRefused(cfg -> cfg.put("head_dim", 32), "head_dim");
        // "su" is transformers' old name of longrope (Phi3Config renames it)
        Path d = withConfig(cfg -> ((ObjectNode) cfg.get("rope_scaling")).put("type", "su"));
        assertThat(ModelConfig.load(d).ropeScaling().type()).isEqualTo("longrope");
    }

    interface Edit { void apply(ObjectNode cfg); }

    static Path withConfig(Edit e) throws Exception {
        ObjectMapper om = new ObjectMapper();
        ObjectNode cfg = (ObjectNode) om.readTree(ModelGoldenTest.dir("phi3").resolve("config.json").toFile());
        e.apply(cfg);
        Path d = Files.createTempDirectory("phi3cfg");
        om.writeValue(d.resolve("config.json").toFile(), cfg);
        return d;
    }

    static void assertRefused(Edit e, String message) throws Exception {
        Path d = withConfig(e);
        assertThatThrownBy(() -> ModelConfig.load(d)).isInstanceOf(Peft4jException.class).hasMessageContaining(message);
    }
}
