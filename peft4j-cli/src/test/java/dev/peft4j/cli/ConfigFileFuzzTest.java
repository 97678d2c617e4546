/*
 * ConfigFileFuzzTest: coverage-guided fuzzing (Jazzer) of `--config FILE` (YAML, the format the
 * README shows) through Cli.expandConfig — YAML syntax, anchors and aliases, nesting, non-mapping
 * documents and odd scalar types — as `peft4j train --config cfg.yaml` reads it.
 * Oracle (as dev.peft4j.fuzz.TypedErrors in peft4j-core): returning normally, or a
 * Peft4jException with a non-blank message; any other Throwable is a finding.
 * Seeds: src/test/resources/dev/peft4j/cli/ConfigFileFuzzTestInputs/yamlConfig/; fuzzing: bin/fuzz.
 */
package dev.peft4j.cli;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.peft4j.Peft4jException;
import java.nio.file.Files;
import java.nio.file.Path;

class ConfigFileFuzzTest {
    private static final int MAX_INPUT = 1 << 16;
    private static Path dir;

    @FuzzTest
    void yamlConfig(byte[] data) throws Exception {
        if (data.length > MAX_INPUT) return;
        Path file = Files.write(scratch().resolve("cfg.yaml"), data);
        try {
            String[] args = Cli.expandConfig(new String[] {"train", "--config", file.toString(), "--steps", "3"});
            if (!args[0].equals("train")) throw new AssertionError("the subcommand moved: " + String.join(" ", args));
        } catch (Peft4jException e) {
            if (e.getMessage() == null || e.getMessage().isBlank())
                throw new AssertionError("a " + e.getClass().getName() + " without a message", e);
        }
    }

    private static synchronized Path scratch() throws Exception {
        if (dir == null) {
            dir = Files.createTempDirectory("peft4j-fuzz-cli");
            dir.toFile().deleteOnExit();                     // deleted at exit after the file (reverse order)
            dir.resolve("cfg.yaml").toFile().deleteOnExit();
        }
        return dir;
    }
}
