package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.io.SafeTensorsFile;
import dev.peft4j.io.TensorInfo;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** train --lora.init pissa|pissa_niter_K|olora and --lora.convert-to-lora (PEFT's path_initial_model_for_weight_conversion). */
class PissaCliTest {
    @TempDir Path tmp;

    Path data() throws Exception { return CliFixtures.animalSounds(tmp); }

    static JsonNode config(Path out) throws Exception {
        return new ObjectMapper().readTree(out.resolve("adapter_config.json").toFile());
    }

    static long rankOfA(Path out) throws Exception {
        try (SafeTensorsFile f = SafeTensorsFile.open(out.resolve("adapter_model.safetensors"))) {
            long r = -1;
            for (TensorInfo t : f.tensors()) {
                assertThat(t.name()).matches(".*\\.lora_[AB]\\.weight");
                if (t.name().endsWith(".lora_A.weight")) r = t.shape()[0];
            }
            return r;
        }
    }

    @Test
    void pissaSavesAConvertedPlainLoraByDefault() throws Exception {
        Path model = CliTest.shared("models/stories260K"), data = data();
        Path a = tmp.resolve("a");
        String[] r = CliTest.run("train", "--model", model.toString(), "--data", data.toString(), "--output", a.toString(),
                "--lora.init", "pissa", "--lora.r", "4", "--lora.alpha", "8", "--steps", "2", "--add-eos", "false");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).contains("converted to a plain LoRA of rank 8");
        JsonNode c = config(a);
        assertThat(c.get("init_lora_weights").asBoolean()).as(c.toString()).isTrue();
        assertThat(c.get("r").asInt()).isEqualTo(8);
        assertThat(c.get("lora_alpha").asDouble()).isEqualTo(16.0);
        assertThat(rankOfA(a)).isEqualTo(8);

        Path b = tmp.resolve("b");
        r = CliTest.run("train", "--model", model.toString(), "--data", data.toString(), "--output", b.toString(),
                "--lora.init", "pissa_niter_4", "--lora.r", "4", "--lora.convert-to-lora", "false", "--steps", "2", "--add-eos", "false");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(config(b).get("init_lora_weights").asText()).isEqualTo("pissa_niter_4");
        assertThat(config(b).get("r").asInt()).isEqualTo(4);
        assertThat(rankOfA(b)).isEqualTo(4);

        Path c2 = tmp.resolve("c"), cfg = tmp.resolve("cfg.yaml");
        Files.writeString(cfg, """
                model: %s
                data: %s
                output: %s
                lora:
                  r: 2
                  init: olora
                steps: 2
                add-eos: false
                """.formatted(model, data, c2));
        r = CliTest.run("train", "--config", cfg.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(config(c2).get("init_lora_weights").asBoolean()).isTrue();
        assertThat(rankOfA(c2)).isEqualTo(4);
    }

    @Test
    void conversionThatWouldDropTensorsIsRefusedBeforeTraining() throws Exception {
        Path model = CliTest.shared("models/stories260K"), data = data();
        String[] r = CliTest.run("train", "--model", model.toString(), "--data", data.toString(), "--output", tmp.resolve("d").toString(),
                "--lora.init", "olora", "--lora.use-dora", "--lora.r", "4", "--steps", "2", "--add-eos", "false");
        assertThat(r[0]).isNotEqualTo("0");
        assertThat(r[2]).contains("DoRA").contains("--lora.convert-to-lora false");
    }
}
