package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `peft4j inspect` names each family's own switches (ModelConfig.Arch), on the core module's golden models. */
class InspectFamiliesCliTest {
    @TempDir Path tmp;

    static Path golden(String model) {
        for (Path p = Paths.get("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path d = p.resolve("peft4j-core/src/test/resources/golden/models").resolve(model);
            if (Files.isDirectory(d)) return d;
        }
        Assumptions.abort("golden model " + model + " not found; skipping");
        return null;
    }

    static String architecture(String model) {
        String[] r = CliTest.run("inspect", golden(model).toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        return r[1].lines().filter(l -> l.startsWith("architecture")).findFirst().orElseThrow();
    }

    @Test
    void inspectShowsTheFamilySpecificSettings() {
        assertThat(architecture("smollm3")).startsWith("architecture smollm3 (").contains("no RoPE in layers [1, 3]")
                .contains("tied embeddings");
        assertThat(architecture("olmo2")).startsWith("architecture olmo2 (").contains("q/k RMSNorm over the full projection")
                .contains("post-norm blocks");
        assertThat(architecture("qwen3")).contains("q/k RMSNorm per head").doesNotContain("post-norm");
        assertThat(architecture("llama")).doesNotContain("RMSNorm").doesNotContain("RoPE in layers").doesNotContain("post-norm");
    }

    @Test
    void anUnsupportedModelTypeListsWhatIsSupported() throws Exception {
        Files.writeString(tmp.resolve("config.json"), "{\"model_type\": \"olmo3\", \"hidden_size\": 64}");
        String[] r = CliTest.run("inspect", tmp.toString());
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2]).startsWith("error: ").contains("unsupported model_type 'olmo3'")
                .contains("llama, mistral, qwen2, qwen3").contains("smollm3").contains("olmo2").contains("gpt2");
    }
}
