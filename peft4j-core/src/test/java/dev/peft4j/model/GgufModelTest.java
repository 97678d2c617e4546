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
