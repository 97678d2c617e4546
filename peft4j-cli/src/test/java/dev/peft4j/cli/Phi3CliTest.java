package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.nio.file.Paths;
import org.junit.jupiter.api.Test;

/** inspect on the phi3 golden model (peft4j-core's test fixture) shows Phi-3's own settings. */
class Phi3CliTest {
    static Path golden(String name) {
        return Paths.get("").toAbsolutePath().getParent().resolve("peft4j-core/src/test/resources/golden/models/" + name);
    }

    @Test
    void inspectShowsFusedProjectionsPartialRotaryLongRopeAndWindow() {
        String[] r = CliTest.run("inspect", golden("phi3").toString(), "--tensors");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).contains("architecture phi3").contains("partial rotary 12 of 16 dims")
                .contains("rope scaling longrope x12.8").contains("switch past 5 tokens").contains("sliding window 4")
                .contains("fused qkv_proj / gate_up_proj").contains("model.layers.0.self_attn.qkv_proj.weight");
    }
}
