package dev.peft4j.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.SharedArtefacts;
import dev.peft4j.io.GgufFile;
import dev.peft4j.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The stories260K GGUF in ../shared (GGUF v1, F32, from llama2.c's converter) read as a model and a tokenizer. */
class GgufModelTest {
    static Path dir() { return SharedArtefacts.require("models/stories260K"); }

    @Test
    void stories260kGgufGivesTheLogitsOfTheSafetensorsModel() {
        Path gguf = dir().resolve("tinyllamas-stories-260k-f32.gguf");
        try (GgufFile g = GgufFile.open(gguf)) {
            assertThat(g.version()).isEqualTo(1);
            System.out.println("metadata: " + g.metadata().keySet() + "\ntensors: " + g.tensors().keySet().stream().limit(12).toList());
        }
        CausalLM hf = CausalLM.load(dir()), gg = CausalLM.load(gguf);
        assertThat(gg.config().numKvHeads()).isEqualTo(hf.config().numKvHeads());
        int[] ids = {1, 403, 407, 261, 378, 296, 265, 9, 13, 47, 300, 2, 100, 511};
        float[] a = hf.forward(ids, 1, ids.length, null, null, false), b = gg.forward(ids, 1, ids.length, null, null, false);
        double max = 0;
        for (int i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
        System.out.println("stories260K GGUF vs safetensors: max |logit diff| " + max);
        assertThat(max).isLessThan(1e-4);
    }

    /** QLoRA on GGUF: stories260K exported as Q8_0 / Q4_0, read back with its matrices still in ggml blocks, trains a LoRA. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"q8_0", "q4_0"})
    void aLoraTrainsOnAQuantisedGgufBase(String type, @org.junit.jupiter.api.io.TempDir Path tmp) {
        Path out = tmp.resolve("s.gguf");
        GgufExport.Result r = GgufExport.model(CausalLM.load(dir()), dir(), type, out);
        assertThat(r.fallbacks()).as("172-wide MLP rows do not fill 32-blocks").hasSize(5).allMatch(f -> f.contains("ffn_down"));
        CausalLM q = CausalLM.load(out);
        Llama l = (Llama) q;
        assertThat(l.blocks[0].q().weight().matrix()).isInstanceOf(dev.peft4j.kernels.GgmlMatrix.class);
        assertThat(l.embed.matrix()).isInstanceOf(dev.peft4j.kernels.GgmlMatrix.class);
        // the quantised model stays close to the original
        int[] ids = {1, 403, 407, 261, 378, 432, 383, 286, 261};
        float[] a = CausalLM.load(dir()).forward(ids, 1, ids.length, null, null, true), b = q.forward(ids, 1, ids.length, null, null, true);
        assertThat(dev.peft4j.generate.Sampler.argmax(b, 0, b.length)).isEqualTo(dev.peft4j.generate.Sampler.argmax(a, 0, a.length));
        dev.peft4j.tuner.lora.LoraModel lm = dev.peft4j.tuner.lora.Lora.apply(q,
                dev.peft4j.tuner.lora.LoraConfig.builder().r(4).alpha(8).allLinear().build(), 1);
        dev.peft4j.train.AdamW opt = new dev.peft4j.train.AdamW(lm.trainableParameters(), new dev.peft4j.train.AdamW.Hyper(0.9, 0.999, 1e-8, 0.0));
        int[] batch = {1, 274, 287, 300, 419, 261, 352, 266, 1, 268, 277, 416, 331, 268, 277, 416};
        double first = 0, last = 0;
        for (int step = 0; step < 30; step++) {
            for (dev.peft4j.autograd.Tensor p : lm.trainableParameters()) p.zeroGrad();
            dev.peft4j.autograd.Tape tape = new dev.peft4j.autograd.Tape(step);
            dev.peft4j.autograd.Tensor loss = dev.peft4j.train.LmLoss.loss(tape, q, batch, batch, 2, 8);
            tape.backward(loss);
            opt.step(1e-2);
            if (step == 0) first = loss.data[0];
            last = loss.data[0];
        }
        System.out.printf("QLoRA on a %s GGUF base: loss %.4f -> %.4f in 30 steps%n", type, first, last);
        assertThat(last).isLessThan(0.5 * first);
    }

    /** stories260K with Llama 3.1-style rope_scaling (llama3), a copy of the model directory with the scaling in config.json. */
    static Path scaledStories(Path out, double factor, double low, double high, int orig) throws java.io.IOException {
        java.nio.file.Files.createDirectories(out);
        for (String f : List.of("model.safetensors", "tokenizer.json", "tokenizer_config.json"))
            java.nio.file.Files.copy(dir().resolve(f), out.resolve(f));
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        com.fasterxml.jackson.databind.node.ObjectNode cfg = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(dir().resolve("config.json").toFile());
        cfg.putObject("rope_scaling").put("rope_type", "llama3").put("factor", factor).put("low_freq_factor", low).put("high_freq_factor", high)
                .put("original_max_position_embeddings", orig);
        java.nio.file.Files.writeString(out.resolve("config.json"), json.writeValueAsString(cfg));
        return out;
    }

    /** llama3 rope scaling goes out as rope_freqs (convert_hf_to_gguf's factors) and comes back as the same rope_scaling, same logits. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"8, 1, 4, 2048", "32, 1, 4, 8192", "4, 1, 2, 1024"})
    void llama3RopeScalingRoundTripsThroughRopeFreqs(double factor, double low, double high, int orig, @org.junit.jupiter.api.io.TempDir Path tmp)
            throws Exception {
        Path hf = scaledStories(tmp.resolve("hf"), factor, low, high, orig);
        CausalLM a = CausalLM.load(hf);
        Path out = tmp.resolve("s.gguf");
        GgufExport.model(a, hf, "f32", out);
        try (dev.peft4j.io.GgufFile g = dev.peft4j.io.GgufFile.open(out)) {
            assertThat(g.tensors()).containsKey("rope_freqs.weight");
        }
        ModelConfig.RopeScaling rs = ModelConfig.load(out).ropeScaling();
        assertThat(rs.type()).isEqualTo("llama3");
        assertThat(GgufModel.llama3Factors(10000.0, 8, rs)).containsExactly(GgufModel.llama3Factors(10000.0, 8, a.config().ropeScaling()),
                org.assertj.core.data.Offset.offset(1e-5f));
        int[] ids = new int[200];
        for (int i = 0; i < ids.length; i++) ids[i] = 3 + (i * 37) % 500;
        float[] x = a.forward(ids, 1, ids.length, null, null, false), y = CausalLM.load(out).forward(ids, 1, ids.length, null, null, false);
        float[] plain = CausalLM.load(dir()).forward(ids, 1, ids.length, null, null, false);
        double max = 0, moved = 0;
        for (int i = 0; i < x.length; i++) { max = Math.max(max, Math.abs(x[i] - y[i])); moved = Math.max(moved, Math.abs(x[i] - plain[i])); }
        assertThat(max).isLessThan(1e-4);
        assertThat(moved).as("the scaling changes the logits").isGreaterThan(1e-2);
    }

    @Test
    void ropeFreqsThatNoLlama3ScalingGivesAreRefused(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        Path hf = scaledStories(tmp.resolve("hf"), 8, 1, 4, 2048);
        Path out = tmp.resolve("s.gguf");
        GgufExport.model(CausalLM.load(hf), hf, "f32", out);
        dev.peft4j.io.GgufWriter w = new dev.peft4j.io.GgufWriter();
        try (dev.peft4j.io.GgufFile g = dev.peft4j.io.GgufFile.open(out)) {
            for (var e : g.metadata().entrySet()) if (!e.getKey().startsWith("tokenizer.") && !e.getKey().startsWith("general.alignment")) w.put(e.getKey(), e.getValue());
            for (dev.peft4j.io.GgufFile.Tensor t : g.tensors().values())
                if (!t.name().equals("rope_freqs.weight"))
                    w.add(new dev.peft4j.io.GgufWriter.Entry(t.name(), t.dims(), t.type(), g.bytes(t).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)));
            float[] bad = {1f, 3f, 1f, 8f};                                  // not monotone: no llama3 scaling
            w.add(new dev.peft4j.io.GgufWriter.Entry("rope_freqs.weight", new long[] {4}, dev.peft4j.io.GgmlType.F32,
                    dev.peft4j.quant.Ggml.quantize(dev.peft4j.io.GgmlType.F32, bad, 0, 4)));
        }
        Path broken = tmp.resolve("bad.gguf");
        w.write(broken);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> GgufModel.describe(broken))
                .isInstanceOf(dev.peft4j.io.GgufFormatException.class).hasMessageContaining("not the factors of a llama3");
    }

    @Test
    void stories260kGgufTokenizerGivesTheHuggingFaceIds() {
        Path gguf = dir().resolve("tinyllamas-stories-260k-f32.gguf");
        List<String> texts = List.of("Once upon a time, there was a little girl named Lily.", "Hello world", " leading space", "numbers 12345 and ünïcödé ✓",
                "new\nlines\n\nand  double  spaces", "", "The cat sat on the mat. \"Yes!\" she said.");
        try (Tokenizer hf = Tokenizer.load(dir()); Tokenizer gg = Tokenizer.load(gguf)) {
            for (String t : texts) {
                assertThat(gg.encode(t)).as(t).containsExactly(hf.encode(t));
                assertThat(gg.encodeWithSpecial(t)).as(t).containsExactly(hf.encodeWithSpecial(t));
                assertThat(gg.decode(hf.encode(t))).as(t).isEqualTo(hf.decode(hf.encode(t)));
            }
            assertThat(gg.eosIds()).isEqualTo(hf.eosIds());
            assertThat(gg.bosId()).isEqualTo(hf.bosId());
        }
    }
}
