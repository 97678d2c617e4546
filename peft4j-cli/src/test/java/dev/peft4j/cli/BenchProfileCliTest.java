package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `bench train --profile FILE` follows the output policy: an existing file is kept unless --overwrite, checked before the run. */
class BenchProfileCliTest {
    @TempDir Path tmp;

    @Test
    void anExistingProfileFileIsKeptUnlessOverwrite() throws Exception {
        Path f = tmp.resolve("profile.json");
        Files.writeString(f, "keep me");
        long t0 = System.nanoTime();
        String[] r = CliTest.run("bench", "train", "--shape", "smollm2-135m", "--profile", f.toString());
        assertThat(r[0]).isNotEqualTo("0");
        assertThat(r[2]).contains("already exists").contains("--overwrite");
        assertThat(Files.readString(f)).isEqualTo("keep me");
        assertThat((System.nanoTime() - t0) / 1e9).as("refused before building the model").isLessThan(5);
    }
}
