package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.io.SafeTensorsFile;
import dev.peft4j.io.TensorInfo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** DoRA from the command line: --method dora, --lora.use-dora, and the same key in --config. */
class DoraCliTest {
    @TempDir Path tmp;

    Path data() throws Exception { return CliFixtures.animalSounds(tmp); }

    /** The adapter written to out is a DoRA adapter in PEFT's format: use_dora, one magnitude [out] per lora_B. */
    static void assertDoraAdapter(Path out) throws Exception {
        JsonNode cfg = new ObjectMapper().readTree(out.resolve("adapter_config.json").toFile());
        assertThat(cfg.get("peft_type").asText()).isEqualTo("LORA");
        assertThat(cfg.get("use_dora").asBoolean()).as("use_dora in %s", cfg).isTrue();
        List<String> mags = new ArrayList<>(), bs = new ArrayList<>();
        try (SafeTensorsFile f = SafeTensorsFile.open(out.resolve("adapter_model.safetensors"))) {
            for (TensorInfo t : f.tensors()) {
                if (t.name().endsWith(".lora_magnitude_vector")) {
                    mags.add(t.name().replace(".lora_magnitude_vector", ""));
                    String b = t.name().replace(".lora_magnitude_vector", ".lora_B.weight");
                    assertThat(t.shape()).containsExactly(f.info(b).shape()[0]);
                }
                if (t.name().endsWith(".lora_B.weight")) bs.add(t.name().replace(".lora_B.weight", ""));
            }
        }
        assertThat(mags).isNotEmpty().containsExactlyInAnyOrderElementsOf(bs);
    }

    @Test
    void methodDoraAndUseDoraFlagAndConfigKey() throws Exception {
        Path model = CliTest.shared("models/stories260K"), data = data();
        Path a = tmp.resolve("a");
        String[] r = CliTest.run("train", "--model", model.toString(), "--data", data.toString(), "--output", a.toString(),
                "--method", "dora", "--lora.r", "4", "--lora.target-modules", "q_proj,v_proj", "--steps", "2", "--add-eos", "false");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).contains("trainable params:");
        assertDoraAdapter(a);

        Path b = tmp.resolve("b");
        r = CliTest.run("train", "--model", model.toString(), "--data", data.toString(), "--output", b.toString(),
                "--lora.use-dora", "--lora.r", "4", "--steps", "2", "--add-eos", "false");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertDoraAdapter(b);

        Path c = tmp.resolve("c"), cfg = tmp.resolve("cfg.yaml");
        Files.writeString(cfg, """
                model: %s
                data: %s
                output: %s
                lora:
                  r: 4
                  use-dora: true
                steps: 2
                add-eos: false
                """.formatted(model, data, c));
        r = CliTest.run("train", "--config", cfg.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertDoraAdapter(c);
    }
}
