/*
 * FuzzFindingsTest: plain regression tests for what fuzzing found, asserting the exact typed error
 * (the reproducers themselves are also replayed by the @FuzzTest methods from their Inputs dirs).
 */
package dev.peft4j.fuzz;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.Peft4jException;
import dev.peft4j.data.DataConfig;
import dev.peft4j.data.DataFormatException;
import dev.peft4j.data.Dataset;
import dev.peft4j.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class FuzzFindingsTest {
    @Test
    void aNumberBeyondBigDecimalInJsonLinesIsADataFormatErrorNamingTheLine() throws Exception {
        Path dir = FuzzFiles.dir("findings-data");
        Path file = FuzzFiles.write(dir, "train.jsonl",
                "{\"text\": \"ok\"}\n{\"text\": \"x\", \"n\": 5E5555555555555}\n".getBytes(StandardCharsets.UTF_8));
        try (Tokenizer tok = Tokenizer.load(tokenizerDir())) {
            assertThatThrownBy(() -> Dataset.load(file, tok, null, DataConfig.defaults()))
                    .isInstanceOf(DataFormatException.class).hasMessageContaining("train.jsonl:2")
                    .hasMessageContaining("number out of range");
        }
    }

    @Test
    void aNumberBeyondBigDecimalInAJsonArrayIsADataFormatError() throws Exception {
        Path dir = FuzzFiles.dir("findings-data-array");
        Path file = FuzzFiles.write(dir, "train.json",
                "[{\"text\": \"ok\"},\n {\"text\": \"x\", \"n\": 5E5555555555555}]".getBytes(StandardCharsets.UTF_8));
        try (Tokenizer tok = Tokenizer.load(tokenizerDir())) {
            assertThatThrownBy(() -> Dataset.load(file, tok, null, DataConfig.defaults()))
                    .isInstanceOf(DataFormatException.class).hasMessageContaining("element [1]")
                    .hasMessageContaining("number out of range");
        }
    }

    @Test
    void aWordLevelTokenizerWhoseUnkTokenIsNotInTheVocabularyFailsTypedOnEncode() throws Exception {
        Path dir = FuzzFiles.dir("findings-tokenizer");
        FuzzFiles.copyResource("TokenizerFuzzTestInputs/tokenizerJson/crash-wordlevel-unk-not-in-vocab.json", dir, "tokenizer.json");
        try (Tokenizer tok = Tokenizer.load(dir)) {
            assertThatThrownBy(() -> tok.encode("an unknown word"))
                    .isInstanceOf(Peft4jException.class).hasMessageContaining("unk_token")
                    .hasMessageContaining("re-download tokenizer.json");
        }
    }

    private static Path tokenizerDir() {
        Path dir = FuzzFiles.dir("findings-tokenizer-ok");
        FuzzFiles.copyResource("tiny-tokenizer/tokenizer.json", dir, "tokenizer.json");
        FuzzFiles.copyResource("tiny-tokenizer/tokenizer_config.json", dir, "tokenizer_config.json");
        return dir;
    }
}
