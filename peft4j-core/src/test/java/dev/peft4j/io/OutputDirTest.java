package dev.peft4j.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.Peft4jException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The output policy: refuse, stage beside, swap when complete, recover what killed writers left. */
class OutputDirTest {
    @TempDir Path tmp;

    /** Every file under dir (relative name -> bytes), to compare directories byte for byte. */
    static Map<String, String> snapshot(Path dir) throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (var s = Files.walk(dir)) {
            for (Path p : s.filter(Files::isRegularFile).toList())
                out.put(dir.relativize(p).toString(), new String(Files.readAllBytes(p), StandardCharsets.ISO_8859_1));
        }
        return out;
    }

    Path previous(String name) throws IOException {
        Path d = tmp.resolve(name);
        Files.createDirectories(d.resolve("sub"));
        Files.writeString(d.resolve("adapter_config.json"), "{\"r\": 8}");
        Files.writeString(d.resolve("sub/metrics.jsonl"), "{\"step\": 1}\n");
        return d;
    }

    @Test
    void newTargetIsWrittenBesideAndAppearsComplete() throws IOException {
        Path t = tmp.resolve("a/b/adapter");
        OutputDir out = OutputDir.prepare(t, OutputDir.Mode.NEW, OutputDir.Kind.ADAPTER);
        assertThat(out.staged()).isTrue();
        assertThat(out.workDir().getParent()).isEqualTo(t.getParent());
        Files.writeString(out.workDir().resolve("x.txt"), "new");
        assertThat(t).doesNotExist();                         // nothing visible until complete
        assertThat(out.commit()).isEqualTo(t);
        assertThat(Files.readString(t.resolve("x.txt"))).isEqualTo("new");
        assertThat(leftovers(t)).isEmpty();
    }

    @Test
    void nonEmptyTargetIsRefusedUnlessOverwriteWithNamesOfTheInterface() throws IOException {
        Path t = previous("run");
        Map<String, String> before = snapshot(t);
        assertThatThrownBy(() -> OutputDir.prepare(t, OutputDir.Mode.NEW, OutputDir.Kind.TRAINING_RUN, OutputDir.Names.CLI, 0, null))
                .isInstanceOf(Peft4jException.class)
                .hasMessageContaining("is not empty").hasMessageContaining("--overwrite").hasMessageContaining("--resume")
                .hasMessageContaining("adapter_config.json");
        assertThatThrownBy(() -> OutputDir.prepare(t, OutputDir.Mode.NEW, OutputDir.Kind.ADAPTER))
                .hasMessageContaining("OutputDir.Mode.OVERWRITE").hasMessageNotContaining("--overwrite");
        assertThat(snapshot(t)).isEqualTo(before);
    }

    @Test
    void overwriteKeepsTheOldContentUntilCommitAndAbortLeavesItByteIdentical() throws IOException {
        Path t = previous("adapter");
        Map<String, String> before = snapshot(t);
        OutputDir out = OutputDir.prepare(t, OutputDir.Mode.OVERWRITE, OutputDir.Kind.ADAPTER);
        Files.writeString(out.workDir().resolve("adapter_config.json"), "{\"r\": 16}");
        assertThat(snapshot(t)).isEqualTo(before);
        out.abort();                                          // a failed / diverged run
        assertThat(snapshot(t)).isEqualTo(before);
        assertThat(leftovers(t)).isEmpty();

        OutputDir again = OutputDir.prepare(t, OutputDir.Mode.OVERWRITE, OutputDir.Kind.ADAPTER);
        Files.writeString(again.workDir().resolve("adapter_config.json"), "{\"r\": 16}");
        again.commit();
        assertThat(snapshot(t)).containsOnlyKeys("adapter_config.json").containsEntry("adapter_config.json", "{\"r\": 16}");
        assertThat(leftovers(t)).isEmpty();
    }

    @Test
    void writeAbortsWhenTheFillerFails() throws IOException {
        Path t = previous("model");
        Map<String, String> before = snapshot(t);
        OutputDir out = OutputDir.prepare(t, OutputDir.Mode.OVERWRITE, OutputDir.Kind.MODEL);
        assertThatThrownBy(() -> out.write(dir -> {
            Files.writeString(dir.resolve("config.json"), "{}");
            throw new IOException("No space left on device");
        })).isInstanceOf(Peft4jException.class).hasMessageContaining("No space left on device").hasMessageContaining("nothing was changed");
        assertThat(snapshot(t)).isEqualTo(before);
        assertThat(leftovers(t)).isEmpty();
    }

    @Test
    void trainingRunsWorkInPlaceSoAKilledRunCanBeResumed() throws IOException {
        Path t = tmp.resolve("run");
        OutputDir out = OutputDir.prepare(t, OutputDir.Mode.NEW, OutputDir.Kind.TRAINING_RUN);
        assertThat(out.staged()).isFalse();
        assertThat(out.workDir()).isEqualTo(t.toAbsolutePath());
        Files.writeString(t.resolve("metrics.jsonl"), "{}\n");
        OutputDir resumed = OutputDir.prepare(t, OutputDir.Mode.RESUME, OutputDir.Kind.TRAINING_RUN);
        assertThat(resumed.staged()).isFalse();
        assertThat(resumed.workDir()).isEqualTo(t.toAbsolutePath());
        assertThatThrownBy(() -> OutputDir.prepare(t, OutputDir.Mode.RESUME, OutputDir.Kind.MODEL))
                .hasMessageContaining("continues a training run");
    }

    @Test
    void refusedTargets() throws IOException {
        Path file = tmp.resolve("file");
        Files.writeString(file, "x");
        assertThatThrownBy(() -> OutputDir.prepare(file, OutputDir.Mode.OVERWRITE, OutputDir.Kind.ADAPTER))
                .hasMessageContaining("is a file");
        assertThatThrownBy(() -> OutputDir.prepare(file.resolve("below"), OutputDir.Mode.NEW, OutputDir.Kind.ADAPTER))
                .hasMessageContaining("is a file, not a directory");
        Path model = tmp.resolve("model");
        Files.createDirectories(model);
        Files.writeString(model.resolve("config.json"), "{\"model_type\": \"llama\"}");
        Files.writeString(model.resolve("model.safetensors"), "x");
        for (OutputDir.Mode m : OutputDir.Mode.values())
            for (OutputDir.Kind k : new OutputDir.Kind[] {OutputDir.Kind.ADAPTER, OutputDir.Kind.TRAINING_RUN})
                assertThatThrownBy(() -> OutputDir.prepare(model, m, k)).hasMessageContaining("is a model directory");
        assertThat(snapshot(model)).containsOnlyKeys("config.json", "model.safetensors");
    }

    @Test
    void notEnoughDiskSpaceIsRefusedBeforeWork() {
        Path t = tmp.resolve("merged");
        assertThatThrownBy(() -> OutputDir.prepare(t, OutputDir.Mode.NEW, OutputDir.Kind.MODEL, OutputDir.Names.CLI, Long.MAX_VALUE / 2, null))
                .hasMessageContaining("not enough disk space").hasMessageContaining("free");
        assertThat(t).doesNotExist();
        assertThat(leftovers(t)).isEmpty();
    }

    @Test
    void leftoversOfDeadWritersAreRecoveredAndNamed() throws Exception {
        long dead = deadPid();
        Path t = previous("adapter");
        Map<String, String> before = snapshot(t);
        // killed between the two renames of a swap: the old content is beside, the target is gone
        Path old = t.resolveSibling(".adapter" + OutputDir.OLD + dead);
        Files.move(t, old);
        Path staging = t.resolveSibling(".adapter" + OutputDir.STAGING + dead);
        Files.createDirectories(staging);
        Files.writeString(staging.resolve("half.safetensors"), "partial");
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        OutputDir out = OutputDir.prepare(t, OutputDir.Mode.OVERWRITE, OutputDir.Kind.ADAPTER, OutputDir.Names.CLI, 0,
                new PrintStream(log, true, StandardCharsets.UTF_8));
        assertThat(snapshot(t)).isEqualTo(before);           // the previous content is back, byte for byte
        assertThat(staging).doesNotExist();
        assertThat(log.toString(StandardCharsets.UTF_8)).contains("restored " + t.toAbsolutePath()).contains("removed " + staging.toAbsolutePath());
        out.abort();
        assertThat(leftovers(t)).isEmpty();
    }

    @Test
    void aLiveWriterOfTheSameTargetIsNotDisturbed() throws Exception {
        Process other = new ProcessBuilder("sleep", "30").start();
        try {
            Path t = tmp.resolve("adapter");
            Path staging = t.resolveSibling(".adapter" + OutputDir.STAGING + other.pid());
            Files.createDirectories(staging);
            assertThatThrownBy(() -> OutputDir.prepare(t, OutputDir.Mode.NEW, OutputDir.Kind.ADAPTER))
                    .hasMessageContaining("another process (pid " + other.pid() + ") is writing");
            assertThat(staging).exists();
        } finally {
            other.destroyForcibly().waitFor();
        }
    }

    @Test
    void createdDirectoriesHaveNormalPermissions() throws IOException {
        Path reference = Files.createDirectory(tmp.resolve("reference"));
        Set<PosixFilePermission> normal = Files.getPosixFilePermissions(reference);
        Path t = tmp.resolve("parent/adapter");
        OutputDir out = OutputDir.prepare(t, OutputDir.Mode.NEW, OutputDir.Kind.ADAPTER);
        out.commit();
        assertThat(Files.getPosixFilePermissions(t)).isEqualTo(normal);
        assertThat(Files.getPosixFilePermissions(t.getParent())).isEqualTo(normal);
    }

    @Test
    void singleFileOutputs() throws IOException {
        Path f = tmp.resolve("results.json");
        OutputDir.checkFile(f, false, OutputDir.Names.CLI);
        Files.writeString(f, "{}");
        assertThatThrownBy(() -> OutputDir.checkFile(f, false, OutputDir.Names.CLI))
                .hasMessageContaining("already exists").hasMessageContaining("--overwrite");
        OutputDir.checkFile(f, true, OutputDir.Names.CLI);
        assertThatThrownBy(() -> OutputDir.checkFile(tmp, true, OutputDir.Names.CLI)).hasMessageContaining("is a directory");
    }

    /** Names beside t that belong to a writer of t. */
    static java.util.List<String> leftovers(Path t) {
        Path abs = t.toAbsolutePath();
        if (!Files.isDirectory(abs.getParent())) return java.util.List.of();
        try (var s = Files.list(abs.getParent())) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("." + abs.getFileName() + ".peft4j-")).toList();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** The pid of a process that has ended. */
    static long deadPid() throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        return p.pid();
    }
}
