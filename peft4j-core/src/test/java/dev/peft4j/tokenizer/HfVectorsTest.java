/*
 * HfVectorsTest: our tokenizer against HuggingFace's own ids on llama.cpp's 46 test strings
 * (../shared/tokenizers/hf-vectors), for four real tokenizers covering every loading path:
 *   gpt-2     - tokenizer.json, byte-level BPE with the GPT-2 regex
 *   llama-spm - Llama-2 tokenizer.json, SentencePiece-style BPE with byte fallback
 *   llama-bpe - Llama-3 tokenizer.json, tiktoken-style byte-level BPE (ignore_merges)
 *   qwen2     - Qwen2.5 vocab.json + merges.txt only: the tokenizer.json is assembled by ByteLevelBpe
 * plus GPT-2 rebuilt from its vocab.json + merges.txt (tokenizer.json hidden) to pin the GPT-2 path.
 * Also checks decode round trips and that streamed deltas add up to decode(ids).
 * Each tokenizer is loaded once per class (Llama-3's tokenizer.json is 9 MB).
 */
package dev.peft4j.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.SharedArtefacts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HfVectorsTest {
    private final Map<String, Tokenizer> loaded = new HashMap<>();

    @TempDir
    Path tmp;

    static Stream<Arguments> tokenizers() {
        return Stream.of(
                Arguments.of("gpt-2", "tokenizers/gpt2", Tokenizer.Source.TOKENIZER_JSON),
                Arguments.of("llama-spm", "tokenizers/llama2", Tokenizer.Source.TOKENIZER_JSON),
                Arguments.of("llama-bpe", "tokenizers/llama3", Tokenizer.Source.TOKENIZER_JSON),
                Arguments.of("qwen2", "tokenizers/qwen2.5", Tokenizer.Source.QWEN2_VOCAB_MERGES),
                Arguments.of("qwen2", "tokenizers/qwen3", Tokenizer.Source.TOKENIZER_JSON),     // Qwen3 keeps Qwen2's BPE
                Arguments.of("gemma3", "tokenizers/gemma3", Tokenizer.Source.TOKENIZER_JSON),
                Arguments.of("phi-3", "tokenizers/llama2", Tokenizer.Source.TOKENIZER_JSON));   // Phi-3: Llama 2's SentencePiece vocabulary
    }

    /** Byte-level BPE tokenizers: every string survives encode then decode unchanged. */
    static Stream<Arguments> byteLevel() {
        return tokenizers().filter(a -> !List.of("llama-spm", "phi-3", "gemma3").contains((String) a.get()[0]));
    }

    private Tokenizer tokenizer(String relative) {
        return loaded.computeIfAbsent(relative, r -> Tokenizer.load(SharedArtefacts.require(r)));
    }

    @AfterAll
    void closeAll() {
        loaded.values().forEach(Tokenizer::close);
    }

    @ParameterizedTest(name = "{0} vectors, {1}")
    @MethodSource("tokenizers")
    void encodesExactlyLikeHuggingFace(String name, String dir, Tokenizer.Source source) {
        HfVectors v = HfVectors.read(name);
        Tokenizer tok = tokenizer(dir);
        assertThat(tok.source()).isEqualTo(source);
        assertAllMatch(name, v, tok);
    }

    /** The GPT-2 vocab.json + merges.txt path, with tokenizer.json out of sight. */
    @Test
    void gpt2FromVocabAndMergesMatchesHuggingFace() throws IOException {
        HfVectors v = HfVectors.read("gpt-2");
        Path src = SharedArtefacts.require("tokenizers/gpt2");
        for (String f : List.of("vocab.json", "merges.txt", "tokenizer_config.json")) {
            Files.copy(src.resolve(f), tmp.resolve(f));   // a temp copy, deleted after the test
        }
        try (Tokenizer tok = Tokenizer.load(tmp)) {
            assertThat(tok.source()).isEqualTo(Tokenizer.Source.GPT2_VOCAB_MERGES);
            assertAllMatch("gpt-2 (vocab.json + merges.txt)", v, tok);
            assertThat(tok.vocabSize()).isEqualTo(50257);
            assertThat(tok.idOf("<|endoftext|>")).hasValue(50256);
            assertThat(tok.isSpecial(50256)).isTrue();
            assertThat(tok.encode("a<|endoftext|>b")).containsExactly(64, 50256, 65);
        }
    }

    private static void assertAllMatch(String name, HfVectors v, Tokenizer tok) {
        int pass = 0;
        List<String> failures = new ArrayList<>();
        for (int i = 0; i < v.texts().size(); i++) {
            int[] got = tok.encode(v.texts().get(i));
            if (Arrays.equals(got, v.ids().get(i))) pass++;
            else failures.add("#" + i + " " + quote(v.texts().get(i)) + ": expected " + Arrays.toString(v.ids().get(i))
                    + " got " + Arrays.toString(got));
        }
        assertThat(pass).as("%s: %d of %d strings give HuggingFace's ids; mismatches:%n%s",
                name, pass, v.texts().size(), String.join("\n", failures)).isEqualTo(v.texts().size());
        assertThat(v.texts()).hasSize(46);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("byteLevel")
    void byteLevelDecodeIsLossless(String name, String dir, Tokenizer.Source source) {
        HfVectors v = HfVectors.read(name);
        Tokenizer tok = tokenizer(dir);
        for (int i = 0; i < v.texts().size(); i++) {
            String text = v.texts().get(i);
            assertThat(tok.decode(tok.encode(text))).as("%s #%d %s", name, i, quote(text)).isEqualTo(text);
            assertThat(tok.decode(v.ids().get(i))).as("%s #%d HF ids", name, i).isEqualTo(text);
        }
    }

    /**
     * Llama-2 (SentencePiece BPE with byte fallback): its tokenizer.json normalizer prepends one
     * "▁" to the whole text and replaces every " " by "▁"; the decoder turns "▁" back into " ",
     * reassembles byte-fallback bytes and strips exactly one leading space. With byte fallback no
     * character becomes &lt;unk&gt;, so decode(encode(s)) == s for every string here, including
     * leading spaces, runs of spaces, newlines, tabs and emoji. What is NOT guaranteed (and not
     * asserted): decoding a slice of ids that starts at a "▁word" token drops that space, and
     * texts containing literal special-token text such as "&lt;s&gt;" decode without it (decode
     * skips special tokens). The Stream copes with the first by decoding windows of ids.
     */
    @Test
    void llama2RoundTrips() {
        HfVectors v = HfVectors.read("llama-spm");
        Tokenizer tok = tokenizer("tokenizers/llama2");
        for (int i = 0; i < v.texts().size(); i++) {
            String text = v.texts().get(i);
            assertThat(tok.decode(tok.encode(text))).as("llama-spm #%d %s", i, quote(text)).isEqualTo(text);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tokenizers")
    void streamedDeltasAddUpToDecode(String name, String dir, Tokenizer.Source source) {
        HfVectors v = HfVectors.read(name);
        Tokenizer tok = tokenizer(dir);
        for (int i = 0; i < v.texts().size(); i++) {
            int[] ids = v.ids().get(i);
            Tokenizer.Stream s = tok.newStream();
            StringBuilder out = new StringBuilder();
            for (int id : ids) out.append(s.push(id));
            out.append(s.flush());
            assertThat(out.toString()).as("%s #%d %s", name, i, quote(v.texts().get(i))).isEqualTo(tok.decode(ids));
        }
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        s.codePoints().forEach(c -> {
            if (c == '\n') b.append("\\n");
            else if (c == '\t') b.append("\\t");
            else if (c == '\r') b.append("\\r");
            else if (c < 0x20) b.append(String.format("\\u%04x", c));
            else b.appendCodePoint(c);
        });
        return b.append('"').toString();
    }
}
