/*
 * ContinuationStreamTest: text generated after a prompt, streamed (Tokenizer.newStream(prompt)) or
 * decoded at once (Tokenizer.decodeContinuation), must be exactly what decoding prompt and
 * continuation together adds after the prompt's text: decode(prompt) + streamed ==
 * decode(prompt + generated). Checked for every tokenizer family in ../shared with many prompts
 * and id sequences - encoded text, random ids, byte-fallback / multi-byte pieces, special tokens.
 * Regression: SentencePiece-style decoders drop the leading space of a sequence's first token, so
 * a stream that started at the first generated id printed "Once upon a" + "time".
 */
package dev.peft4j.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.SharedArtefacts;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ContinuationStreamTest {
    private static final String[] PROMPTS = {
            "Once upon a", "Tom said", "Hello", " leading space", "ends with a space ", "ends with newline\n",
            "Grüße aus Köln:", "你好", "emoji 🦙", "(", "a", "1234", "tab\t", "Question: 2+2=?\nAnswer:",
    };
    private static final String[] CONTINUATIONS = {
            " time", "I", " there was", "time, there", "\n\nNew paragraph", "🦙🚀 ok", " 你好世界",
            "ünïcödé", "  two spaces", ".", "😶‍🌫️", " 42", "\t\tx",
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
    @ValueSource(strings = {"tokenizers/gpt2", "tokenizers/llama2", "tokenizers/llama3", "tokenizers/qwen2.5",
            "tokenizers/qwen3", "tokenizers/gemma3", "models/stories260K"})
    void streamedContinuationEqualsDecodeOfPromptPlusGenerated(String dir) {
        Tokenizer tok = tokenizer(dir);
        SplittableRandom rnd = new SplittableRandom(7);
        List<int[]> prompts = new ArrayList<>();
        for (String p : PROMPTS) {
            prompts.add(tok.encode(p));
            prompts.add(tok.encodeWithSpecial(p));
        }
        if (tok.bosId().isPresent()) prompts.add(new int[] {tok.bosId().getAsInt()});   // empty prompt: BOS only
        List<int[]> continuations = new ArrayList<>();
        for (String c : CONTINUATIONS) continuations.add(tok.encode(c));
        // Model output is not always encoder output: split encodings of other texts, random ids,
        // byte pieces (byte fallback "<0xE4>", byte-level "ä"), special tokens in the middle.
        for (String c : CONTINUATIONS) {
            int[] ids = tok.encode(c);
            continuations.add(Arrays.copyOfRange(ids, ids.length / 2, ids.length));
        }
        for (int k = 0; k < 30; k++) {
            int[] ids = new int[1 + rnd.nextInt(12)];
            for (int i = 0; i < ids.length; i++) ids[i] = rnd.nextInt(tok.vocabSize());
            continuations.add(ids);
        }
        int[] bytePieces = bytePieces(tok, "ä你🦙".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        if (bytePieces.length > 0) {
            continuations.add(bytePieces);
            continuations.add(concat(tok.encode(" x"), bytePieces, tok.encode("y")));
            continuations.add(Arrays.copyOfRange(bytePieces, 0, 2));           // ends mid-character
        }
        tok.eosId().ifPresent(eos -> continuations.add(concat(tok.encode(" end"), new int[] {eos}, tok.encode(" more"))));

        int checked = 0;
        for (int[] prompt : prompts) {
            String promptText = tok.decode(prompt);
            for (int[] gen : continuations) {
                String streamed = streamAll(tok.newStream(prompt), gen);
                String whole = tok.decode(concat(prompt, gen));
                String context = dir + ": prompt " + Arrays.toString(prompt) + " " + show(promptText) + " + "
                        + Arrays.toString(gen);
                // Random ids may make an invalid byte run, which HF's ByteFallback decoder turns into
                // U+FFFD as a whole - ASCII bytes already streamed included; no stream can take those
                // back. Text without U+FFFD (and every encoded continuation) must match exactly.
                if (whole.contains("\uFFFD") && continuations.indexOf(gen) >= 2 * CONTINUATIONS.length) continue;
                assertThat(streamed).as(context).isEqualTo(tok.decodeContinuation(prompt, gen));
                if (whole.startsWith(promptText)) {
                    assertThat(promptText + streamed).as(context).isEqualTo(whole);
                    checked++;
                }
            }
        }
        // Prompts from valid text always decode to a prefix of the whole; nearly every pair counts.
        assertThat(checked).as(dir).isGreaterThan(prompts.size() * 2 * CONTINUATIONS.length);

        // Without a prompt the stream is the whole decode.
        for (int[] gen : continuations) {
            if (tok.decode(gen).contains("\uFFFD") && continuations.indexOf(gen) >= 2 * CONTINUATIONS.length) continue;
            assertThat(streamAll(tok.newStream(), gen)).as(dir + " " + Arrays.toString(gen)).isEqualTo(tok.decode(gen));
        }
    }

    @Test
    void llamaStreamKeepsTheSpaceOfTheFirstGeneratedToken() {
        Tokenizer tok = tokenizer("models/stories260K");
        int[] prompt = tok.encodeWithSpecial("Once upon a");
        int[] all = tok.encodeWithSpecial("Once upon a time");
        int[] gen = Arrays.copyOfRange(all, prompt.length, all.length);
        assertThat(Arrays.copyOf(all, prompt.length)).isEqualTo(prompt);
        assertThat(streamAll(tok.newStream(prompt), gen)).isEqualTo(" time");
        assertThat(tok.decodeContinuation(prompt, gen)).isEqualTo(" time");

        Tokenizer llama2 = tokenizer("tokenizers/llama2");
        int[] said = llama2.encodeWithSpecial("Tom said");
        int[] i = llama2.encode("I");   // "▁I": SentencePiece gives the first word its space
        assertThat(llama2.decode(concat(said, i))).isEqualTo("Tom said I");
        assertThat(streamAll(llama2.newStream(said), i)).isEqualTo(" I");
    }

    @Test
    void promptOfOnlySpecialTokensAfterTextStillGivesTheSpace() {
        Tokenizer tok = tokenizer("tokenizers/llama2");
        int eos = tok.eosId().orElseThrow();
        int bos = tok.bosId().orElseThrow();
        int[] prompt = concat(tok.encodeWithSpecial("Hello"), new int[] {eos, bos, eos, bos, eos, bos});
        int[] gen = tok.encode("world");
        assertThat(tok.decode(concat(prompt, gen))).isEqualTo("Hello world");
        assertThat(streamAll(tok.newStream(prompt), gen)).isEqualTo(" world");
    }

    /** Ids of the single-byte tokens for bytes (byte fallback "<0xNN>" or GPT-2's byte alphabet); empty if absent. */
    private static int[] bytePieces(Tokenizer tok, byte[] bytes) {
        int[] out = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            int b = bytes[i] & 0xFF;
            var fallback = tok.idOf(String.format("<0x%02X>", b));
            if (fallback.isPresent()) {
                out[i] = fallback.getAsInt();
                continue;
            }
            var byteLevel = tok.idOf(String.valueOf((char) GPT2_BYTES[b]));
            if (byteLevel.isEmpty()) return new int[0];
            out[i] = byteLevel.getAsInt();
        }
        return out;
    }

    /** GPT-2's bytes_to_unicode table (openai/gpt-2 encoder.py): printable bytes map to themselves. */
    private static final int[] GPT2_BYTES = new int[256];

    static {
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            GPT2_BYTES[b] = printable ? b : 256 + extra++;
        }
    }

    private static String streamAll(Tokenizer.Stream s, int[] ids) {
        StringBuilder out = new StringBuilder();
        for (int id : ids) out.append(s.push(id));
        return out.append(s.flush()).toString();
    }

    private static String show(String s) {
        return "\"" + s.replace("\n", "\\n").replace("\t", "\\t") + "\"";
    }

    private static int[] concat(int[]... parts) {
        return Arrays.stream(parts).flatMapToInt(Arrays::stream).toArray();
    }
}
