/*
 * GeneratedTextInContextTest: eval's generation tasks decode what the model generated as the
 * continuation of its prompt, so the text is what decode(prompt + generated) adds after the
 * prompt. Regression: decoding the generated ids alone lost the leading space of the first
 * token with SentencePiece-style tokenizers ("Once upon a" + "time"). Uses the trained
 * stories260K (skips without ../shared), which continues "Once upon a" with " time".
 */
package dev.peft4j.eval;

import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.SharedArtefacts;
import dev.peft4j.generate.Generator;
import dev.peft4j.generate.SamplingConfig;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class GeneratedTextInContextTest {
    @Test
    void generationTaskAndExactMatchKeepTheFirstTokensSpace() {
        Path dir = SharedArtefacts.require("models/stories260K");
        CausalLM model = CausalLM.load(dir);
        try (Tokenizer tok = Tokenizer.load(dir)) {
            String prompt = "Once upon a";
            int[] promptIds = tok.encodeWithSpecial(prompt);
            int[] generated = new Generator(model).generate(promptIds, SamplingConfig.greedy(6), tok.eosIds(), null);
            String whole = tok.decode(concat(promptIds, generated));
            assertThat(whole).startsWith("Once upon a time");
            String expected = whole.substring(prompt.length());

            GenerationTask g = new GenerationTask(List.<String[]>of(new String[] {prompt, "time"}), null);
            GenerationTask.Item item = g.evaluate(model, tok, 6, 1).items().get(0);
            assertThat(item.generated()).isEqualTo(expected).startsWith(" time");
            assertThat(item.correct()).isFalse();   // whole trimmed text vs "time"

            ExactMatch.Item em = ExactMatch.evaluate(model, tok, List.<String[]>of(new String[] {prompt, " time"}), 1)
                    .items().get(0);
            assertThat(em.got()).isEqualTo(" time");
            assertThat(em.correct()).isTrue();
        }
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
