package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Issue 10: no command loses earlier work; bad --output is refused before anything loads. */
class OutputPolicyCliTest {
    @TempDir Path tmp;

    static Map<String, String> snapshot(Path dir) throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (var s = Files.walk(dir)) {
            for (Path p : s.filter(Files::isRegularFile).toList())
                out.put(dir.relativize(p).toString(), new String(Files.readAllBytes(p), StandardCharsets.ISO_8859_1));
        }
        return out;
    }

    static List<String> besides(Path t) throws IOException {
        try (var s = Files.list(t.toAbsolutePath().getParent())) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("." + t.getFileName() + ".peft4j-")).toList();
        }
    }

    Path data() throws IOException {
        Path f = tmp.resolve("train.jsonl");
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 32; i++) s.append("{\"prompt\": \"Tom saw a dog. The dog said\", \"completion\": \" woof!\"}\n");
        Files.writeString(f, s.toString());
        return f;
    }

    String[] train(Path out, String... extra) throws IOException {
        List<String> a = new ArrayList<>(List.of("train", "--model", CliTest.shared("models/stories260K").toString(),
                "--data", data().toString(), "--output", out.toString(), "--steps", "4", "--batch-size", "4", "--add-eos", "false",
                "--lora.r", "4", "--log-every", "100"));
        a.addAll(List.of(extra));
        return CliTest.run(a.toArray(String[]::new));
    }

    @Test
    void nonEmptyOutputIsRefusedBeforeTheModelLoads() throws IOException {
        Path out = tmp.resolve("run");
        Files.createDirectories(out);
        Files.writeString(out.resolve("metrics.jsonl"), "{\"step\": 1, \"loss\": 2.0}\n");
        Map<String, String> before = snapshot(out);
        // the model does not exist: the error is about --output, so it came first
        String[] r = CliTest.run("train", "--model", tmp.resolve("no-such-model").toString(), "--data", "x.jsonl", "--output", out.toString());
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2]).contains("--output " + out).contains("is not empty").contains("--overwrite").contains("--resume")
                .doesNotContain("config.json");
        for (String[] cmd : new String[][] {
                {"merge", "--model", tmp.resolve("m").toString(), "--adapter", "a", "--output", out.toString()},
                {"quantize", "--model", tmp.resolve("m").toString(), "--output", out.toString()},
                {"adapters", "combine", "--model", tmp.resolve("m").toString(), "--adapter", "a", "--output", out.toString()},
                {"compare", "--model", tmp.resolve("m").toString(), "--adapter", "a", "--task", "perplexity", "--data", "d", "--output", out.toString()}}) {
            r = CliTest.run(cmd);
            assertThat(r[0]).as(String.join(" ", cmd)).isEqualTo("2");
            assertThat(r[2]).as(String.join(" ", cmd)).contains("is not empty").contains("--overwrite").doesNotContain("--resume");
        }
        assertThat(snapshot(out)).isEqualTo(before);
    }

    @Test
    void outputThatIsAFileOrAModelDirectoryIsRefused() throws IOException {
        Path file = tmp.resolve("file.txt");
        Files.writeString(file, "keep me");
        String[] r = CliTest.run("train", "--model", "m", "--data", "d", "--output", file.toString());
        assertThat(r[2]).contains("exists and is a file");
        Path model = CliTest.shared("models/stories260K");
        Path copy = tmp.resolve("model-copy");
        Files.createDirectories(copy);
        for (String f : List.of("config.json", "model.safetensors")) Files.copy(model.resolve(f), copy.resolve(f));
        Map<String, String> before = snapshot(copy);
        r = train(copy, "--overwrite");
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2]).contains("is a model directory");
        r = CliTest.run("adapters", "combine", "--model", model.toString(), "--adapter", "a", "--output", copy.toString(), "--overwrite");
        assertThat(r[2]).contains("is a model directory");
        assertThat(snapshot(copy)).isEqualTo(before);
        assertThat(Files.readString(file)).isEqualTo("keep me");
    }

    @Test
    void overwriteReplacesOnlyWhenCompleteAndADivergedRunChangesNothing() throws IOException {
        Path out = tmp.resolve("adapter");
        String[] r = train(out);
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        Map<String, String> first = snapshot(out);
        assertThat(first).containsKeys("adapter_config.json", "adapter_model.safetensors", "metrics.jsonl", "train_config.json");

        r = train(out, "--overwrite", "--lr", "1e30", "--max-grad-norm", "0");     // diverges
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2]).contains("diverged");
        assertThat(snapshot(out)).isEqualTo(first);           // byte-identical, metrics.jsonl included
        assertThat(besides(out)).isEmpty();

        r = train(out, "--overwrite", "--lora.r", "2");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(Files.readString(out.resolve("adapter_config.json"))).contains("\"r\" : 2");
        assertThat(besides(out)).isEmpty();

        r = train(out, "--overwrite", "--resume");
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2]).contains("contradict");
    }

    @Test
    void mergeOverwriteAndLeftoversOfAKilledWriter() throws Exception {
        Path model = CliTest.shared("models/stories260K");
        Path adapter = tmp.resolve("adapter");
        assertThat(train(adapter)[0]).isEqualTo("0");
        Path merged = tmp.resolve("merged");
        assertThat(CliTest.run("merge", "--model", model.toString(), "--adapter", adapter.toString(), "--output", merged.toString())[0]).isEqualTo("0");
        Map<String, String> first = snapshot(merged);
        // a writer killed earlier left its staging directory beside the target
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        Path stale = merged.resolveSibling(".merged.peft4j-staging-" + gone.pid());
        Files.createDirectories(stale);
        Files.writeString(stale.resolve("model.safetensors"), "half");
        String[] r = CliTest.run("merge", "--model", model.toString(), "--adapter", adapter.toString(), "--output", merged.toString());
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2]).contains("note: removed").contains(stale.getFileName().toString()).contains("is not empty");
        assertThat(stale).doesNotExist();
        assertThat(snapshot(merged)).isEqualTo(first);
        r = CliTest.run("merge", "--model", model.toString(), "--adapter", adapter.toString(), "--output", merged.toString(), "--overwrite");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(snapshot(merged)).isEqualTo(first);         // same inputs, same bytes, and nothing left beside
        assertThat(besides(merged)).isEmpty();
        // normal permissions (not the 0600/0700 of temp files), like anything the user creates
        Path plainFile = Files.writeString(tmp.resolve("plain.txt"), "x"), plainDir = Files.createDirectory(tmp.resolve("plain"));
        assertThat(Files.getPosixFilePermissions(merged)).isEqualTo(Files.getPosixFilePermissions(plainDir));
        try (var files = Files.list(merged)) {
            for (Path f : files.toList())
                assertThat(Files.getPosixFilePermissions(f)).as(f.toString()).isEqualTo(Files.getPosixFilePermissions(plainFile));
        }
    }

    @Test
    void evalOutputFileIsNotReplacedWithoutOverwrite() throws IOException {
        Path results = tmp.resolve("results.json");
        Files.writeString(results, "{\"old\": true}");
        String[] r = CliTest.run("eval", "--model", tmp.resolve("m").toString(), "--task", "perplexity", "--data", "d", "--output", results.toString());
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2]).contains("already exists").contains("--overwrite");
        assertThat(Files.readString(results)).isEqualTo("{\"old\": true}");
    }
}
