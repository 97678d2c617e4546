/*
 * TokenizerLoadTest: how Tokenizer.load reads a directory - which files it uses, how it assembles
 * GPT-2 / Qwen2 tokenizers from vocab.json + merges.txt, where BOS/EOS come from, and the errors
 * for missing or malformed files. The toy tokenizers are written by the tests themselves (so these
 * run in a fresh clone); the real ones come from ../shared and are skipped when it is absent.
 */
package dev.peft4j.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.Peft4jException;
import dev.peft4j.SharedArtefacts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizerLoadTest {
    @TempDir
    Path tmp;

    // A toy byte-level vocabulary: "Ġ" is the byte-level space, "Ã©" the two bytes of "é".
    private static final String VOCAB = """
            {"l": 0, "o": 1, "w": 2, "Ġ": 3, "lo": 4, "low": 5, "Ġlow": 6, "1": 7, "2": 8, "12": 9,
             "Ã": 10, "©": 11, "Ã©": 12, "e": 13}""";
    private static final String MERGES = "#version: 0.2\nl o\nlo w\nĠ low\n1 2\nÃ ©\n";

    private Path dir(String name, String tokenizerConfig, String config) throws IOException {
        Path d = Files.createDirectories(tmp.resolve(name));
        Files.writeString(d.resolve("vocab.json"), VOCAB);
        Files.writeString(d.resolve("merges.txt"), MERGES);
        if (tokenizerConfig != null) Files.writeString(d.resolve("tokenizer_config.json"), tokenizerConfig);
        if (config != null) Files.writeString(d.resolve("config.json"), config);
        return d;
    }

    @Test
    void gpt2FromVocabAndMerges() throws IOException {
        Path d = dir("gpt2", """
                {"tokenizer_class": "GPT2Tokenizer", "bos_token": "<|endoftext|>", "add_bos_token": true,
                 "eos_token": {"content": "<|endoftext|>", "special": true},
                 "added_tokens_decoder": {"14": {"content": "<|endoftext|>", "lstrip": false, "rstrip": false,
                   "normalized": true, "single_word": false, "special": true}}}""", null);
        Files.writeString(d.resolve("generation_config.json"), "{\"bos_token_id\": 14, \"eos_token_id\": [14, 7]}");
        try (Tokenizer tok = Tokenizer.load(d)) {
            assertThat(tok.source()).isEqualTo(Tokenizer.Source.GPT2_VOCAB_MERGES);
            assertThat(tok.encode("low low")).containsExactly(5, 6);
            assertThat(tok.encode("12")).containsExactly(9);                 // GPT-2 keeps digit runs together
            assertThat(tok.encode("low<|endoftext|>")).containsExactly(5, 14);
            assertThat(tok.vocabSize()).isEqualTo(15);
            assertThat(tok.bosId()).hasValue(14);
            assertThat(tok.eosIds()).containsExactlyInAnyOrder(14, 7);
            assertThat(tok.addsBos()).isTrue();
            assertThat(tok.encodeWithSpecial("low")).containsExactly(14, 5);
            assertThat(tok.decode(new int[] {14, 5, 6})).isEqualTo("low low");
            assertThat(tok.decode(new int[] {14, 5, 6}, false)).isEqualTo("<|endoftext|>low low");
            assertThat(tok.decode(new int[] {5, 15, 1_000_000})).isEqualTo("low");   // unknown ids dropped, as HF
            assertThatThrownBy(() -> tok.decode(new int[] {-1})).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> tok.tokenText(15)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("no token with id 15");
            assertThat(tok.encodeBatch(List.of("low low", "", "12"))).containsExactly(
                    new int[] {5, 6}, new int[0], new int[] {9});
            assertThat(tok.tokenText(6)).isEqualTo("Ġlow");
            assertThat(tok.idOf("Ġlow")).hasValue(6);
            assertThat(tok.idOf("nope")).isEmpty();
        }
    }

    @Test
    void qwen2FromVocabAndMerges() throws IOException {
        // The added token sits at id 20, leaving a gap after the vocabulary (ids 14..19 unused).
        Path d = dir("qwen2", """
                {"tokenizer_class": "Qwen2Tokenizer", "bos_token": null, "eos_token": "<|im_end|>",
                 "added_tokens_decoder": {"20": {"content": "<|im_end|>", "lstrip": false, "rstrip": false,
                   "normalized": false, "single_word": false, "special": true}}}""",
                "{\"model_type\": \"qwen2\", \"eos_token_id\": 7}");
        try (Tokenizer tok = Tokenizer.load(d)) {
            assertThat(tok.source()).isEqualTo(Tokenizer.Source.QWEN2_VOCAB_MERGES);
            assertThat(tok.encode("low low")).containsExactly(5, 6);
            assertThat(tok.encode("12")).containsExactly(7, 8);              // Qwen2 splits single digits
            assertThat(tok.encode("é")).containsExactly(12);
            assertThat(tok.encode("e\u0301")).containsExactly(12);           // NFC: e + combining acute = é
            assertThat(tok.encode("low<|im_end|>")).containsExactly(5, 20);
            assertThat(tok.vocabSize()).isEqualTo(21);
            assertThat(tok.tokenText(20)).isEqualTo("<|im_end|>");
            assertThat(tok.isSpecial(20)).isTrue();
            assertThat(tok.bosId()).isEmpty();
            assertThat(tok.addsBos()).isFalse();
            assertThat(tok.eosIds()).containsExactlyInAnyOrder(7, 20);      // config.json (no generation_config) + eos_token
            assertThat(tok.encodeWithSpecial("low")).containsExactly(5);
            assertThat(tok.decode(new int[] {5, 20})).isEqualTo("low");
            assertThat(tok.decode(new int[] {5, 20}, false)).isEqualTo("low<|im_end|>");
        }
    }

    @Test
    void familyFallsBackToConfigModelType() throws IOException {
        Path d = dir("qwen2-by-model-type", "{}", "{\"model_type\": \"qwen2\"}");
        try (Tokenizer tok = Tokenizer.load(d)) {
            assertThat(tok.source()).isEqualTo(Tokenizer.Source.QWEN2_VOCAB_MERGES);
            assertThat(tok.encode("12")).containsExactly(7, 8);
        }
        Path plain = dir("no-hints", null, null);
        try (Tokenizer tok = Tokenizer.load(plain)) {
            assertThat(tok.source()).isEqualTo(Tokenizer.Source.GPT2_VOCAB_MERGES);
        }
    }

    @Test
    void unknownVocabMergesFamilyIsRefused() throws IOException {
        Path d = dir("roberta", "{\"tokenizer_class\": \"RobertaTokenizer\"}", null);
        assertThatThrownBy(() -> Tokenizer.load(d)).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("RobertaTokenizer").hasMessageContaining("save_pretrained");
    }

    @Test
    void missingFilesSayWhatWasLookedFor() throws IOException {
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        assertThatThrownBy(() -> Tokenizer.load(empty)).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("tokenizer.json").hasMessageContaining("vocab.json")
                .hasMessageContaining("merges.txt").hasMessageContaining("an empty directory")
                .hasMessageContaining("save_pretrained");

        Path onlyVocab = Files.createDirectories(tmp.resolve("only-vocab"));
        Files.writeString(onlyVocab.resolve("vocab.json"), VOCAB);
        Files.writeString(onlyVocab.resolve("config.json"), "{}");
        assertThatThrownBy(() -> Tokenizer.load(onlyVocab)).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("merges.txt").hasMessageContaining("[config.json, vocab.json]");

        assertThatThrownBy(() -> Tokenizer.load(tmp.resolve("nowhere"))).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("nowhere").hasMessageContaining("does not exist");
    }

    @Test
    void malformedFilesAreReportedWithTheirPath() throws IOException {
        Path badJson = Files.createDirectories(tmp.resolve("bad-json"));
        Files.writeString(badJson.resolve("tokenizer.json"), "{\"model\": ");
        assertThatThrownBy(() -> Tokenizer.load(badJson)).isInstanceOf(Peft4jException.class)
                .hasMessageContaining(badJson.resolve("tokenizer.json").toString());

        Path badMerges = dir("bad-merges", null, null);
        Files.writeString(badMerges.resolve("merges.txt"), "#version: 0.2\nl o\nl o w\n");
        assertThatThrownBy(() -> Tokenizer.load(badMerges)).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("merges.txt line 3");

        Path badConfig = dir("bad-config", "{oops", null);
        assertThatThrownBy(() -> Tokenizer.load(badConfig)).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("tokenizer_config.json");
    }

    @Test
    void qwen25SpecialTokens() {
        try (Tokenizer tok = Tokenizer.load(SharedArtefacts.require("tokenizers/qwen2.5"))) {
            assertThat(tok.vocabSize()).isEqualTo(151665);
            assertThat(tok.tokenText(151643)).isEqualTo("<|endoftext|>");
            assertThat(tok.isSpecial(151644)).isTrue();
            int[] ids = tok.encode("<|im_start|>user\nhi<|im_end|>");
            assertThat(ids[0]).isEqualTo(151644);
            assertThat(ids[ids.length - 1]).isEqualTo(151645);
            assertThat(tok.decode(ids, false)).isEqualTo("<|im_start|>user\nhi<|im_end|>");
            assertThat(tok.decode(ids)).isEqualTo("user\nhi");
            assertThat(tok.bosId()).isEmpty();                     // "bos_token": null
            assertThat(tok.addsBos()).isFalse();
            assertThat(tok.eosIds()).containsExactly(151645);     // <|im_end|>; no model config in this dir
        }
    }

    @Test
    void llama2AddsBosByDefault() {
        // tokenizer_config.json has no add_bos_token; LlamaTokenizer's default (and the template
        // in tokenizer.json) add <s>.
        try (Tokenizer tok = Tokenizer.load(SharedArtefacts.require("tokenizers/llama2"))) {
            assertThat(tok.addsBos()).isTrue();
            assertThat(tok.addsEos()).isFalse();
            assertThat(tok.bosId()).hasValue(1);
            assertThat(tok.eosIds()).containsExactly(2);
            assertThat(tok.encodeWithSpecial("Hello")).containsExactly(1, 15043);
            assertThat(tok.vocabSize()).isEqualTo(32000);
            assertThat(tok.tokenText(15043)).isEqualTo("▁Hello");
        }
    }

    @Test
    void gpt2AddsNoSpecialTokens() {
        try (Tokenizer tok = Tokenizer.load(SharedArtefacts.require("tokenizers/gpt2"))) {
            assertThat(tok.addsBos()).isFalse();
            assertThat(tok.bosId()).hasValue(50256);
            assertThat(tok.eosIds()).containsExactly(50256);
            assertThat(tok.encodeWithSpecial("Hello world")).containsExactly(tok.encode("Hello world"))
                    .containsExactly(15496, 995);
        }
    }

    @Test
    void tinyGpt2ToyVocabulary() {
        // vocab.json + merges.txt with a 21-token toy vocabulary; ids from config.json.
        try (Tokenizer tok = Tokenizer.load(SharedArtefacts.require("models/tiny-gpt2"))) {
            assertThat(tok.source()).isEqualTo(Tokenizer.Source.GPT2_VOCAB_MERGES);
            assertThat(tok.vocabSize()).isEqualTo(21);
            assertThat(tok.encode(" lowest")).containsExactly(14, 3, 5, 6);   // Ġlow e s t: no merge makes Ġlowest
            assertThat(tok.bosId()).hasValue(20);
            assertThat(tok.eosIds()).containsExactly(20);
            assertThat(tok.isSpecial(19)).isTrue();
        }
    }
}
