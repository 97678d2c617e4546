package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.nio.file.Paths;
import org.junit.jupiter.api.Test;

/** peft4j inspect on the Gemma golden fixtures names the family-specific settings. */
class GemmaCliTest {
    static Path fixture(String name) {
        return Paths.get("").toAbsolutePath().getParent().resolve("peft4j-core/src/test/resources/golden/models/" + name);
    }

    @Test
    void inspectShowsGemmaSettings() {
        String[] g2 = CliTest.run("inspect", fixture("gemma2").toString());
        assertThat(g2[0]).as(g2[2]).isEqualTo("0");
        assertThat(g2[1]).contains("gemma2").contains("sliding window 3 on 2 of 3 layers").contains("query_pre_attn_scalar 8.0")
                .contains("attention soft-cap 1.5").contains("final logit soft-cap 2.0");
        String[] g3 = CliTest.run("inspect", fixture("gemma3").toString());
        assertThat(g3[0]).as(g3[2]).isEqualTo("0");
        assertThat(g3[1]).contains("gemma3_text").contains("rope scaling linear x8.0").contains("local rope theta 10000.0")
                .contains("q/k RMSNorm per head").doesNotContain("soft-cap");
    }
}
