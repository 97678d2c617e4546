package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class CliTest {
    public static String[] run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int rc = Main.run(args);
            return new String[] {String.valueOf(rc), out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8)};
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    public static Path shared(String rel) {
        for (Path p = Paths.get("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path s = p.resolveSibling("shared").resolve(rel);
            if (Files.exists(s)) return s;
        }
        Assumptions.abort("../shared/" + rel + " not found; skipping");
        return null;
    }

    @Test
    void helpListsCommands() {
        String[] r = run("--help");
        assertThat(r[0]).isEqualTo("0");
        assertThat(r[1]).contains("generate").contains("inspect");
        assertThat(run("generate", "--help")[1]).contains("--max-new-tokens").contains("--top-p").contains("--seed");
    }

    @Test
    void inspectDescribesStories260K() {
        String[] r = run("inspect", shared("models/stories260K").toString(), "--tensors");
        assertThat(r[0]).isEqualTo("0");
        assertThat(r[1]).contains("llama").contains("260,032").contains("grouped-query").contains("model.norm.weight");
    }

    @Test
    void badModelDirIsAOneLineError() {
        String[] r = run("inspect", "/nonexistent-dir");
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2]).startsWith("error: ").contains("config.json");
    }

    @Test
    void generateStreamsTheSpaceOfTheFirstGeneratedToken() {
        // Regression: the SentencePiece stream printed "Once upon atime," (first token decoded alone).
        String[] r = run("generate", "--model", shared("models/stories260K").toString(), "--prompt", "Once upon a",
                "--max-new-tokens", "8");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).startsWith("Once upon a time").doesNotContain("atime");
    }

    @Test
    void bad_sampling_option_is_reported() {
        String[] r = run("generate", "--model", "/nonexistent", "--top-p", "0");
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2]).contains("top-p");
    }
}
