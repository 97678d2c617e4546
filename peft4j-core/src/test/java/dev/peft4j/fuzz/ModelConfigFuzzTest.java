/*
 * ModelConfigFuzzTest: coverage-guided fuzzing (Jazzer) of a model's config.json through
 * ModelConfig.load (the file as a user downloads it) — JSON syntax, model_type, every size, the
 * family-specific names, rope_scaling and token ids.
 * Oracle: TypedErrors (only a Peft4jException with a message may escape).
 * Seeds: src/test/resources/dev/peft4j/fuzz/ModelConfigFuzzTestInputs/configJson/; fuzzing: bin/fuzz.
 */
package dev.peft4j.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.peft4j.model.ModelConfig;
import java.nio.file.Path;

class ModelConfigFuzzTest {
    private static final int MAX_INPUT = 1 << 16;

    @FuzzTest
    void configJson(byte[] data) throws Exception {
        if (data.length <= MAX_INPUT) accepts(data);
    }

    /** True when the bytes load as a config.json. */
    static boolean accepts(byte[] data) throws Exception {
        Path dir = FuzzFiles.dir("model-config");
        FuzzFiles.write(dir, "config.json", data);
        return TypedErrors.check(() -> {
            ModelConfig c = ModelConfig.load(dir);
            c.isGpt2();
            c.eosTokenIds().size();
        });
    }
}
