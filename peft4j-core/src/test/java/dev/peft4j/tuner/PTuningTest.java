package dev.peft4j.tuner;

import static dev.peft4j.tuner.PromptLearningTest.golden;
import static dev.peft4j.tuner.PromptLearningTest.logits;
import static dev.peft4j.tuner.PromptLearningTest.maxDiff;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Ops;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.KvCache;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tuner.ptuning.PTuning;
import dev.peft4j.tuner.ptuning.PTuningConfig;
import dev.peft4j.tuner.ptuning.PTuningConfig.EncoderType;
import dev.peft4j.tuner.ptuning.PTuningModel;
import dev.peft4j.io.SafeTensorsFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * P-tuning (tuner/ptuning) on the prompt-learning base: PEFT 0.14's trainable counts (PromptEncoder's
 * parameters, checked against the real PEFT's module), the encoder at work through generation over a KV
 * cache and a left-padded batch, gradient checkpointing, switching and merge refused, a saved adapter read
 * back as a fixed table that training continues on, and config refusals.
 */
class PTuningTest {
    @TempDir Path tmp;

    static PTuningConfig config(String spec) {
        return switch (spec) {
            case "mlp" -> PTuningConfig.of(4, EncoderType.MLP, 12, 2, 0.0);
            case "lstm" -> PTuningConfig.of(3, EncoderType.LSTM, 6, 2, 0.0);
            case "lstm-dropout" -> PTuningConfig.of(3, EncoderType.LSTM, 6, 3, 0.2);
            default -> throw new IllegalArgumentException(spec);
        };
    }

    /** Counts as the real PEFT 0.14 PromptEncoder(config).parameters() gives them (20 virtual tokens, hidden = token_dim). */
    @Test
    void countsOnReferenceShapes() {
        var g = Fixtures.gpt2_124m();
        var s = Fixtures.smollm2_135m();
        assertThat(PTuning.trainableParameterCount(g, PTuningConfig.of(20))).isEqualTo(1_787_136);
        assertThat(PTuning.trainableParameterCount(g, PTuningConfig.of(20, EncoderType.LSTM, null, 2, 0))).isEqualTo(27_174_144);
        assertThat(PTuning.trainableParameterCount(s, PTuningConfig.of(20))).isEqualTo(1_008_576);
        assertThat(PTuning.trainableParameterCount(s, PTuningConfig.of(20, EncoderType.LSTM, null, 2, 0))).isEqualTo(15_293_376);
        System.out.println("GPT-2-124M MLP:  " + PTuning.trainableSummary(g, PTuningConfig.of(20)));
        System.out.println("GPT-2-124M LSTM: " + PTuning.trainableSummary(g, PTuningConfig.of(20, EncoderType.LSTM, null, 2, 0)));
        System.out.println("SmolLM2-135M MLP:  " + PTuning.trainableSummary(s, PTuningConfig.of(20)));
        System.out.println("SmolLM2-135M LSTM: " + PTuning.trainableSummary(s, PTuningConfig.of(20, EncoderType.LSTM, null, 2, 0)));
    }

    @Test
    void countMatchesTheBuiltEncoder() throws Exception {
        for (String spec : new String[] {"mlp", "lstm", "lstm-dropout"}) {
            CausalLM m = golden("llama");
            PTuningModel am = PTuning.apply(m, config(spec), "default", 1);
            long n = am.trainableParameters().stream().mapToLong(Tensor::size).sum();
            assertThat(n).as(spec).isEqualTo(am.trainableParameterCount()).isEqualTo(PTuning.trainableParameterCount(m.config(), config(spec)));
            assertThat(am.trainableSummary()).startsWith("trainable params: ");
        }
    }

    /** Prefill + decode over the KV cache == the full forward; a left-padded batch == rows one by one. */
    @ParameterizedTest
    @ValueSource(strings = {"llama:mlp", "gpt2:lstm", "llama:lstm-dropout"})
    void generationOverTheCache(String spec) throws Exception {
        String[] s = spec.split(":");
        CausalLM m = golden(s[0]);
        PTuningModel am = PTuning.apply(m, config(s[1]), "default", 7);
        int[] x = {3, 9, 27, 81, 11, 60};
        float[] want = PromptLearningTest.assertCacheMatchesFullForward(m);
        am.disable();
        float[] base = logits(m, x);
        assertThat(maxDiff(base, want)).as("the encoder's prompt moves the logits").isGreaterThan(1e-3);
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama:mlp", "gpt2:lstm"})
    void checkpointingGivesTheSameGradients(String spec) throws Exception {
        String[] s = spec.split(":");
        CausalLM m = golden(s[0]);
        PTuningModel am = PTuning.apply(m, config(s[1]), "default", 7);
        int[] x = {3, 9, 27, 81, 11, 60, 7, 8}, targets = {9, 27, 81, 11, 60, 7, 8, 2};
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
            assertThat(scale).as("gradient of " + am.trainableParameters().get(i).name).isGreaterThan(0);
            assertThat(maxDiff(a, b) / scale).as(am.trainableParameters().get(i).name).isLessThan(1e-5);
        }
    }

    @Test
    void switchingAndMergeRefused() throws Exception {
        CausalLM m = golden("llama");
        int[] x = {3, 9, 27, 81, 11, 60};
        float[] base = logits(m, x);
        PeftModel pm = new PeftModel(m);
        AdapterModel a = pm.addAdapter(config("mlp"), "a", 1);
        float[] la = logits(m, x);
        AdapterModel b = pm.addAdapter(config("lstm"), "b", 2);
        float[] lb = logits(m, x);
        assertThat(maxDiff(la, base)).isGreaterThan(1e-3);
        assertThat(maxDiff(lb, la)).isGreaterThan(1e-3);
        pm.setAdapter("a");
        assertThat(maxDiff(logits(m, x), la)).isZero();
        pm.disableAdapters();
        assertThat(maxDiff(logits(m, x), base)).isZero();
        pm.setAdapter("b");
        assertThat(maxDiff(logits(m, x), lb)).isZero();
        assertThatThrownBy(() -> pm.merge("b")).isInstanceOf(Peft4jException.class).hasMessageContaining("cannot be merged");
        a.unload();
        assertThatThrownBy(a::enable).hasMessageContaining("unloaded");
        assertThat(b).isNotNull();
    }

    /**
     * A saved adapter reads back as PEFT's inference-mode encoder: a fixed table holding the encoder output.
     * Training continues on that table (train --adapter); it saves under the same key and shape and keeps the
     * encoder fields of the config.
     */
    @Test
    void savedAdapterReadsBackAsATableThatTrainingContinuesOn() throws Exception {
        CausalLM m = golden("llama");
        int[] x = {3, 9, 27, 81, 11, 60};
        PTuningModel am = PTuning.apply(m, config("lstm"), "default", 5);
        float[] want = logits(m, x);
        Path dir = tmp.resolve("a");
        PeftAdapter.save(am, dir, "golden/llama", null);
        var cfg = new ObjectMapper().readTree(dir.resolve("adapter_config.json").toFile());
        assertThat(cfg.get("peft_type").asText()).isEqualTo("P_TUNING");
        assertThat(cfg.get("encoder_reparameterization_type").asText()).isEqualTo("LSTM");
        assertThat(cfg.get("encoder_hidden_size").asInt()).isEqualTo(6);
        assertThat(cfg.get("token_dim").asInt()).isEqualTo(64);
        assertThat(cfg.get("inference_mode").asBoolean()).isTrue();
        try (SafeTensorsFile f = SafeTensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
            assertThat(f.tensors()).extracting(t -> t.name()).containsExactly("prompt_embeddings");
            assertThat(f.info("prompt_embeddings").shapeInts()).containsExactly(3, 64);
        }
        CausalLM m2 = golden("llama");
        PTuningModel back = (PTuningModel) PeftAdapter.load(m2, dir, "default");
        assertThat(back.encoder()).isNull();
        assertThat(back.trainableParameters()).containsExactly(back.table());
        assertThat(maxDiff(logits(m2, x), want)).isLessThan(1e-5);
        float[] before = back.table().data.clone();
        Tape tape = new Tape(0);
        Tensor y = m2.forward(tape, x, 1, x.length, null, null, false);
        tape.backward(Ops.crossEntropy(tape, y, new int[] {9, 27, 81, 11, 60, 7}));
        for (int i = 0; i < before.length; i++) back.table().data[i] -= 0.1f * back.table().grad()[i];
        assertThat(back.table().data).isNotEqualTo(before);
        Path again = tmp.resolve("b");
        PeftAdapter.save(back, again, "golden/llama", null);
        try (SafeTensorsFile f = SafeTensorsFile.open(again.resolve("adapter_model.safetensors"))) {
            assertThat(f.readFloats("prompt_embeddings")).containsExactly(back.table().data);
        }
        assertThat(new ObjectMapper().readTree(again.resolve("adapter_config.json").toFile())).isEqualTo(new ObjectMapper().readTree(dir.resolve("adapter_config.json").toFile()));
    }

    @Test
    void refusals() throws Exception {
        assertThatThrownBy(() -> EncoderType.parse("GRU")).hasMessageContaining("MLP or LSTM");
        assertThatThrownBy(() -> PTuningConfig.of(4, EncoderType.LSTM, 0, 2, 0)).hasMessageContaining("encoder_hidden_size");
        assertThatThrownBy(() -> PTuningConfig.of(4, EncoderType.LSTM, 8, 0, 0)).hasMessageContaining("encoder_num_layers");
        assertThatThrownBy(() -> PTuningConfig.of(4, EncoderType.LSTM, 8, 2, 1.0)).hasMessageContaining("encoder_dropout");
        assertThatThrownBy(() -> PTuningConfig.of(0)).hasMessageContaining("num_virtual_tokens");
        Path dir = tmp.resolve("bad");
        java.nio.file.Files.createDirectories(dir);
        java.nio.file.Files.writeString(dir.resolve("adapter_config.json"),
                "{\"peft_type\":\"P_TUNING\",\"num_virtual_tokens\":4,\"encoder_reparameterization_type\":\"GRU\"}");
        assertThatThrownBy(() -> PeftAdapter.readConfig(dir)).hasMessageContaining("adapter_config.json").hasMessageContaining("MLP or LSTM");
        CausalLM m = golden("llama");
        PTuningConfig wide = new PTuningConfig(new dev.peft4j.tuner.prompt.PromptLearningConfig(4, 32, null, null, null, null, false),
                EncoderType.MLP, null, 2, 0);
        assertThatThrownBy(() -> PTuning.apply(m, wide, "x", 0)).isInstanceOf(Peft4jException.class).hasMessageContaining("token_dim");
        assertThat(m.prompt()).isNull();
    }
}
