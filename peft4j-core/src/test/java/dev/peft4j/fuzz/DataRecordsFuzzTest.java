/*
 * DataRecordsFuzzTest: coverage-guided fuzzing (Jazzer) of a training-data file through
 * Dataset.load — JSON Lines or a JSON array (JsonRecords), per-file format detection (DataFormat
 * AUTO), each record's shape (Sample: text, prompt/completion, messages, Alpaca), chat-template
 * rendering and masking, tokenization, truncation and the train/validation split; then, on a file
 * that loads, the data check train runs (DataCheck.run, the file also as its own test file).
 * Tokenizer: the committed tiny byte-level BPE (tiny-tokenizer/, with a simple chat template).
 * Oracle: TypedErrors (only a Peft4jException — here mostly DataFormatException — with a message).
 * Seeds: src/test/resources/dev/peft4j/fuzz/DataRecordsFuzzTestInputs/datasetFile/; fuzzing: bin/fuzz.
 */
package dev.peft4j.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.peft4j.data.DataCheck;
import dev.peft4j.data.DataConfig;
import dev.peft4j.data.Dataset;
import dev.peft4j.tokenizer.Tokenizer;
import java.nio.file.Path;

class DataRecordsFuzzTest {
    private static final int MAX_INPUT = 1 << 16;

    private static Tokenizer tokenizer;
    private static Path tokenizerDir;

    @FuzzTest
    void datasetFile(byte[] data) throws Exception {
        if (data.length <= MAX_INPUT) accepts(data);
    }

    /** True when the bytes load as a training-data file. */
    static boolean accepts(byte[] data) throws Exception {
        setUp();
        Path file = FuzzFiles.write(FuzzFiles.dir("data"), "train.jsonl", data);
        DataConfig cfg = DataConfig.builder().maxLength(1024).validationFraction(0.25).build();
        boolean loaded = TypedErrors.check(() -> Dataset.load(file, tokenizer, tokenizerDir, cfg));
        // train runs the data check on every file it loads: it must then report, never throw
        if (loaded && !TypedErrors.check(() -> DataCheck.run(file, file, tokenizer, tokenizerDir, cfg)))
            throw new AssertionError("DataCheck threw on a file Dataset.load accepts: " + TypedErrors.lastRejection);
        return loaded;
    }

    private static synchronized void setUp() {
        if (tokenizer != null) return;
        Path dir = FuzzFiles.dir("data-tokenizer");
        FuzzFiles.copyResource("tiny-tokenizer/tokenizer.json", dir, "tokenizer.json");
        FuzzFiles.copyResource("tiny-tokenizer/tokenizer_config.json", dir, "tokenizer_config.json");
        tokenizerDir = dir;
        tokenizer = Tokenizer.load(dir);
    }
}
