/*
 * TokenizerFuzzTest: coverage-guided fuzzing (Jazzer) of Tokenizer.load on a model directory —
 * a fuzzed tokenizer.json (parsed by peft4j for the vocabulary and post-processor, then by
 * HuggingFace tokenizers' native Rust library through DJL) beside a fixed tokenizer_config.json, and
 * a fuzzed tokenizer_config.json (special tokens, flags, added_tokens_decoder, chat template)
 * beside a fixed small byte-level BPE tokenizer.json. A loaded tokenizer must also encode and
 * decode a short text. Inputs are capped at 64 KiB: the native library parses everything it is given.
 * Oracle: TypedErrors (only a Peft4jException with a message may escape).
 * Seeds: src/test/resources/dev/peft4j/fuzz/TokenizerFuzzTestInputs/<method>/; fuzzing: bin/fuzz.
 */
package dev.peft4j.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.peft4j.tokenizer.Tokenizer;
import java.nio.file.Path;

class TokenizerFuzzTest {
    private static final int MAX_INPUT = 1 << 16;
    private static final String TEXT = "Once upon a time, <s> the cat said \"héllo\" 🙂</s>";

    @FuzzTest
    void tokenizerJson(byte[] data) throws Exception {
        if (data.length <= MAX_INPUT) acceptsTokenizerJson(data);
    }

    /** True when the bytes, as tokenizer.json, load and encode/decode. */
    static boolean acceptsTokenizerJson(byte[] data) throws Exception {
        Path dir = FuzzFiles.dir("tokenizer-json");
        FuzzFiles.copyResource("tiny-tokenizer/tokenizer_config.json", dir, "tokenizer_config.json");
        FuzzFiles.write(dir, "tokenizer.json", data);
        return TypedErrors.check(() -> exercise(dir));
    }

    @FuzzTest
    void tokenizerConfig(byte[] data) throws Exception {
        if (data.length <= MAX_INPUT) acceptsTokenizerConfig(data);
    }

    /** True when the bytes, as tokenizer_config.json, load and encode/decode. */
    static boolean acceptsTokenizerConfig(byte[] data) throws Exception {
        Path dir = FuzzFiles.dir("tokenizer-config");
        FuzzFiles.copyResource("tiny-tokenizer/tokenizer.json", dir, "tokenizer.json");
        FuzzFiles.write(dir, "tokenizer_config.json", data);
        return TypedErrors.check(() -> exercise(dir));
    }

    private static void exercise(Path dir) {
        try (Tokenizer tok = Tokenizer.load(dir)) {
            int[] ids = tok.encodeWithSpecial(TEXT);
            tok.decode(ids);
            tok.encodeWithOffsets(TEXT);
        }
    }
}
