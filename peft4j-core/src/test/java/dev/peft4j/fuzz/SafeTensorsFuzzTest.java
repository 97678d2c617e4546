/*
 * SafeTensorsFuzzTest: coverage-guided fuzzing (Jazzer) of the safetensors reader — a whole
 * .safetensors file (8-byte length prefix, JSON header, data area) through SafeTensorsFile.open and
 * every accessor, and a sharded checkpoint's model.safetensors.index.json through Checkpoint.open.
 * Oracle: TypedErrors (only a Peft4jException with a message may escape).
 * Seeds: src/test/resources/dev/peft4j/fuzz/SafeTensorsFuzzTestInputs/<method>/ (run in every
 * `mvn test`); fuzzing proper: bin/fuzz.
 */
package dev.peft4j.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.peft4j.io.Checkpoint;
import dev.peft4j.io.DType;
import dev.peft4j.io.SafeTensorsFile;
import dev.peft4j.io.SafeTensorsWriter;
import dev.peft4j.io.TensorInfo;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

class SafeTensorsFuzzTest {
    /** Inputs above this are skipped: the parser's size checks are covered by small inputs too. */
    private static final int MAX_INPUT = 1 << 16;

    @FuzzTest
    void safetensorsFile(byte[] data) throws Exception {
        if (data.length <= MAX_INPUT) acceptsFile(data);
    }

    /** True when the bytes open as a .safetensors file and as a one-file checkpoint. */
    static boolean acceptsFile(byte[] data) throws Exception {
        Path file = FuzzFiles.write(FuzzFiles.dir("safetensors"), "model.safetensors", data);
        boolean file1 = TypedErrors.check(() -> {
            try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
                f.metadata().forEach((k, v) -> { k.length(); v.length(); });
                for (TensorInfo t : f.tensors()) {
                    f.info(t.name());
                    f.segment(t.name());
                    t.numel();
                    if (t.dtype().isFloatReadable()) f.readFloats(t.name());
                }
            }
        });
        // The same bytes as a model directory's only weights file.
        boolean checkpoint = TypedErrors.check(() -> {
            try (Checkpoint c = Checkpoint.open(file.getParent())) {
                c.totalBytes();
                for (String n : c.names()) c.info(n);
            }
        });
        return file1 && checkpoint;
    }

    @FuzzTest
    void checkpointIndex(byte[] data) throws Exception {
        if (data.length <= MAX_INPUT) acceptsIndex(data);
    }

    /** True when the bytes, as model.safetensors.index.json beside two valid shards, open as a checkpoint. */
    static boolean acceptsIndex(byte[] data) throws Exception {
        Path dir = shardDir();
        Path index = FuzzFiles.write(dir, Checkpoint.INDEX_FILE, data);
        boolean asDir = TypedErrors.check(() -> {
            try (Checkpoint c = Checkpoint.open(dir)) {
                c.totalBytes();
                for (String n : c.names()) {
                    c.info(n);
                    c.fileOf(n);
                    if (c.info(n).dtype().isFloatReadable()) c.readFloats(n);
                }
            }
        });
        boolean asFile = TypedErrors.check(() -> Checkpoint.open(index).close());
        return asDir && asFile;
    }

    private static Path shards;

    /** Two valid shards (a.weight, b.bias | c.weight) next to which the fuzzed index is written. */
    private static synchronized Path shardDir() {
        if (shards == null) {
            Path dir = FuzzFiles.dir("sharded");
            SafeTensorsWriter.write(dir.resolve("model-00001-of-00002.safetensors"), Map.of("format", "pt"), List.of(
                    new SafeTensorsWriter.Tensor("a.weight", DType.F32, new long[] {2, 2}, new float[] {1, 2, 3, 4}),
                    new SafeTensorsWriter.Tensor("b.bias", DType.F32, new long[] {2}, new float[] {5, 6})));
            SafeTensorsWriter.write(dir.resolve("model-00002-of-00002.safetensors"), Map.of("format", "pt"), List.of(
                    new SafeTensorsWriter.Tensor("c.weight", DType.F32, new long[] {1, 2}, new float[] {7, 8})));
            shards = dir;
        }
        return shards;
    }
}
