/*
 * GgufFuzzTest: coverage-guided fuzzing (Jazzer) of the GGUF reader — a whole .gguf file through
 * GgufFile.open, every metadata accessor, the decoding of every readable tensor, and what a GGUF model
 * builds from it (GgufModel's config.json and tokenizer.json views).
 * Oracle: TypedErrors (only a Peft4jException with a message may escape: no crash, hang or OutOfMemoryError).
 * Seeds: src/test/resources/dev/peft4j/fuzz/GgufFuzzTestInputs/ggufFile/ (scripts/golden/make_gguf_fuzz_seeds.py);
 * fuzzing proper: bin/fuzz.
 */
package dev.peft4j.fuzz;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.peft4j.io.GgufFile;
import dev.peft4j.model.GgufModel;
import dev.peft4j.quant.Ggml;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class GgufFuzzTest {
    private static final int MAX_INPUT = 1 << 16;

    @FuzzTest
    void ggufFile(byte[] data) throws Exception {
        if (data.length <= MAX_INPUT) accepts(data);
    }

    static boolean accepts(byte[] data) throws Exception {
        Path file = FuzzFiles.write(FuzzFiles.dir("gguf"), "model.gguf", data);
        return TypedErrors.check(() -> {
            try (GgufFile g = GgufFile.open(file)) {
                g.metadata().forEach((k, v) -> k.length());
                for (GgufFile.Tensor t : g.tensors().values()) {
                    if (!t.type().readable || t.elements() > 1 << 20) continue;
                    byte[] raw = g.bytes(t).toArray(ValueLayout.JAVA_BYTE);
                    float[] out = new float[(int) t.elements()];
                    Ggml.dequantize(t.type(), raw, 0, (int) (t.elements() / t.type().blockSize), out, 0);
                }
            }
            GgufModel.describe(file);
        });
    }

    @Test
    void seedsAreRead() throws Exception {
        Path dir = Path.of(GgufFuzzTest.class.getResource("GgufFuzzTestInputs/ggufFile").toURI());
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                try (GgufFile g = GgufFile.open(f)) {
                    assertThat(g.version()).isBetween(1, 3);
                }
                boolean whole = accepts(Files.readAllBytes(f));               // the small ones lack a model's metadata: typed errors
                if (f.getFileName().toString().equals("v3-llama.gguf")) assertThat(whole).as(TypedErrors.lastRejection).isTrue();
            }
        }
    }
}
