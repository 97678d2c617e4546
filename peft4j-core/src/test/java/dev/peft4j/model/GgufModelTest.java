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
