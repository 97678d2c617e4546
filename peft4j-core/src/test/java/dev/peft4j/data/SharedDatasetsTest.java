/*
 * SharedDatasetsTest: the real datasets in ../shared/datasets load (first few hundred records) with
 * sensible statistics: alpaca_en_demo.json (a JSON array, Alpaca shape) and GSM8K train.jsonl
 * ({question, answer}, renamed to prompt/completion), tokenized with stories260K; and a validation
 * split and packing on GSM8K. Skipped when ../shared is absent.
 */
package dev.peft4j.data;

import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.SharedArtefacts;
import dev.peft4j.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class SharedDatasetsTest {
    static Tokenizer tok;

    @BeforeAll
    static void load() {
        tok = Tokenizer.load(Fixtures.stories260K());
    }

    @AfterAll
    static void close() {
        if (tok != null) tok.close();
    }

    static final Map<String, String> GSM8K_COLUMNS = Map.of("question", "prompt", "answer", "completion");

    @Test
    void alpacaDemoLoads() {
        Path file = SharedArtefacts.require("datasets/alpaca-demo/alpaca_en_demo.json");
        Dataset d = Dataset.load(file, tok, null, DataConfig.builder().limit(300).build());
        DatasetStats s = d.stats();
        assertThat(s.formats()).containsEntry(file, DataFormat.ALPACA);
        assertThat(s.recordsRead()).isEqualTo(300);
        assertThat(s.skipped()).isZero();
        assertThat(s.examples() + s.droppedNoLoss()).isEqualTo(300);
        assertThat(d.train()).hasSize(s.examples());
        assertThat(s.truncated()).isPositive();   // some demo answers exceed 512 tokens
        assertThat(d.train()).allSatisfy(e -> {
            assertThat(e.length()).isLessThanOrEqualTo(512);
            assertThat(e.inputIds()[0]).isEqualTo(1);
            assertThat(e.lossTokens()).isPositive();
        });
        assertThat(s.lossTokens()).isLessThan(s.tokens());
        assertThat(s.summary()).contains("300 records read").contains("as ALPACA");
    }

    @Test
    void gsm8kLoadsWithSplitAndPacking() {
        Path file = SharedArtefacts.require("datasets/gsm8k/train.jsonl");
        DataConfig cfg = DataConfig.builder().limit(300).columns(GSM8K_COLUMNS).validationFraction(0.1).seed(7).build();
        Dataset d = Dataset.load(file, tok, null, cfg);
        DatasetStats s = d.stats();
        assertThat(s.formats()).containsEntry(file, DataFormat.PROMPT_COMPLETION);
        assertThat(s.recordsRead()).isEqualTo(300);
        assertThat(s.validationExamples()).isEqualTo(30);
        assertThat(s.trainExamples()).isEqualTo(270);
        // stories260K's 512-token vocabulary spells digits and rare words byte by byte: some answers
        // run past maxLength 512 and are cut (keeping the start, so the question and some answer stay)
        assertThat(s.truncated()).isBetween(1, 100);
        assertThat(s.droppedNoLoss()).isZero();
        // BOS + question take no loss; an answer that fits ends "#### <number>" + EOS, with loss
        assertThat(d.train()).allSatisfy(e -> {
            assertThat(e.labels()[0]).isEqualTo(Example.IGNORE);
            if (e.length() < 512) assertThat(e.labels()[e.length() - 1]).isEqualTo(2);
        });
        Example first = d.train().get(0);
        assertThat(tok.decode(labelled(first))).startsWith("Natalia sold 48/2 = <<48/2=24>>24 clips in May.").endsWith("#### 72");

        // the split is a function of the seed; packing keeps it and yields full rows
        Dataset again = Dataset.load(file, tok, null, cfg);
        assertThat(again.validation()).isEqualTo(d.validation());
        Dataset whole = Dataset.load(file, tok, null, cfg.toBuilder().maxLength(1 << 20).build());   // no truncation
        Dataset packed = Dataset.load(file, tok, null, cfg.toBuilder().packing(true).maxLength(256).build());
        assertThat(packed.stats().truncated()).isZero();   // packed examples continue into the next row instead
        assertThat(packed.train()).allSatisfy(r -> assertThat(r.length()).isEqualTo(256));
        assertThat(packed.validation()).allSatisfy(r -> assertThat(r.length()).isEqualTo(256));
        long trainTokens = whole.train().stream().mapToLong(Example::length).sum();
        long validationTokens = whole.validation().stream().mapToLong(Example::length).sum();
        assertThat(packed.train().size()).isEqualTo((int) (trainTokens / 256));
        assertThat(packed.stats().packedDroppedTokens()).isEqualTo(trainTokens % 256 + validationTokens % 256);
    }

    static int[] labelled(Example e) {
        return java.util.Arrays.stream(e.labels()).filter(l -> l != Example.IGNORE).toArray();
    }
}
