/*
 * StreamTest: Tokenizer.Stream, the incremental decoder generation prints with. Pushing ids one
 * at a time and concatenating the deltas plus flush() must give decode(all ids), and no delta may
 * show a half character (U+FFFD) for text that has none - on multi-byte UTF-8 and emoji, through
 * Llama-2's byte-fallback tokens (<0xF0><0x9F>...) and GPT-2's byte-level pieces.
 */
package dev.peft4j.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.SharedArtefacts;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StreamTest {
    private static final String[] TEXTS = {
            "Hello 🦙 world",
            "😶‍🌫️ emoji with a zero-width joiner, ✅ and 🚀🚀",
            "Grüße aus Köln: ünïcödé, 你好世界, Привет, नमस्ते, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
            "  leading spaces,\ttabs\nand\n\nnewlines  ",
            "🦙",
    };

    private final Map<String, Tokenizer> loaded = new HashMap<>();

    private Tokenizer tokenizer(String relative) {
        return loaded.computeIfAbsent(relative, r -> Tokenizer.load(SharedArtefacts.require(r)));
    }

    @AfterAll
    void closeAll() {
        loaded.values().forEach(Tokenizer::close);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tokenizers/llama2", "tokenizers/gpt2", "tokenizers/qwen2.5", "models/stories260K"})
    void deltasAddUpToDecodeAndNeverSplitACharacter(String dir) {
        Tokenizer tok = tokenizer(dir);
        for (String text : TEXTS) {
            int[] ids = tok.encode(text);
            Tokenizer.Stream s = tok.newStream();
            List<String> deltas = new ArrayList<>();
            int held = 0;                       // pushes that returned nothing (mid-character)
            for (int id : ids) {
                String d = s.push(id);
                deltas.add(d);
                if (d.isEmpty()) held++;
            }
            deltas.add(s.flush());
            assertThat(String.join("", deltas)).as("%s: %s", dir, text).isEqualTo(tok.decode(ids)).isEqualTo(text);
            assertThat(deltas).as("%s: no half characters in %s", dir, deltas).noneMatch(d -> d.contains("\uFFFD"));
            if (text.equals("🦙") && !dir.contains("qwen")) {     // Qwen2.5 has 🦙 as one token
                // 4 UTF-8 bytes in more than one token: the first pushes must hold back.
                assertThat(ids.length).as("%s splits the llama emoji", dir).isGreaterThan(1);
                assertThat(held).isPositive();
                assertThat(String.join("", deltas.subList(0, ids.length - 1))).isEmpty();
            }
        }
    }

    @Test
    void flushEmitsAnIncompleteTail() {
        Tokenizer tok = tokenizer("tokenizers/llama2");
        int[] ids = tok.encode("a🦙");
        Tokenizer.Stream s = tok.newStream();
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < ids.length - 1; i++) out.append(s.push(ids[i]));   // stop mid-emoji
        assertThat(out.toString()).isEqualTo("a");
        String tail = s.flush();
        assertThat(tail).isNotEmpty().matches("\uFFFD+");                      // what decode would show
        assertThat(out + tail).isEqualTo(tok.decode(Arrays.copyOf(ids, ids.length - 1)));
        assertThat(s.flush()).isEmpty();
    }

    @Test
    void specialTokensAreSkippedUnlessAsked() {
        Tokenizer tok = tokenizer("tokenizers/qwen2.5");
        int imStart = tok.idOf("<|im_start|>").orElseThrow();
        int imEnd = tok.idOf("<|im_end|>").orElseThrow();
        int[] ids = concat(new int[] {imStart}, tok.encode("assistant\nHi 🦙"), new int[] {imEnd});
        assertThat(streamAll(tok.newStream(), ids)).isEqualTo("assistant\nHi 🦙");
        assertThat(streamAll(tok.newStream(false), ids)).isEqualTo("<|im_start|>assistant\nHi 🦙<|im_end|>")
                .isEqualTo(tok.decode(ids, false));
    }

    private static String streamAll(Tokenizer.Stream s, int[] ids) {
        StringBuilder out = new StringBuilder();
        for (int id : ids) out.append(s.push(id));
        return out.append(s.flush()).toString();
    }

    private static int[] concat(int[]... parts) {
        return Arrays.stream(parts).flatMapToInt(Arrays::stream).toArray();
    }
}
