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

/** VeRA from the command line: --method vera with --vera.* flags, the same keys in --config, and continuing with --adapter. */
class VeraCliTest {
    @TempDir Path tmp;

    Path data() throws Exception { return CliFixtures.animalSounds(tmp); }

    /** A VeRA adapter in PEFT's format with rank r and d_initial d; vera_lambda_d trained away from d. */
    static void assertVeraAdapter(Path out, int r, double d) throws Exception {
        JsonNode cfg = new ObjectMapper().readTree(out.resolve("adapter_config.json").toFile());
        assertThat(cfg.get("peft_type").asText()).isEqualTo("VERA");
        assertThat(cfg.get("r").asInt()).isEqualTo(r);
        assertThat(cfg.get("d_initial").asDouble()).isEqualTo(d);
        assertThat(cfg.get("save_projection").asBoolean()).isTrue();
        int lambdas = 0;
        try (SafeTensorsFile f = SafeTensorsFile.open(out.resolve("adapter_model.safetensors"))) {
            assertThat(f.info("base_model.vera_A").shape()[0]).isEqualTo(r);
            assertThat(f.info("base_model.vera_B").shape()[1]).isEqualTo(r);
            for (TensorInfo t : f.tensors())
                if (t.name().endsWith(".vera_lambda_d")) {
                    lambdas++;
                    assertThat(t.shape()).containsExactly(r);
                    float[] v = f.readFloats(t.name());
                    double moved = 0;
                    for (float x : v) moved = Math.max(moved, Math.abs(x - d));
                    assertThat(moved).as("%s trained", t.name()).isGreaterThan(0);
                }
        }
        assertThat(lambdas).isPositive();
    }

    @Test
    void methodVeraWithFlagsConfigKeysAndContinue() throws Exception {
        Path model = CliTest.shared("models/stories260K"), data = data();
        Path a = tmp.resolve("a");
        String[] r = CliTest.run("train", "--model", model.toString(), "--data", data.toString(), "--output", a.toString(),
                "--method", "vera", "--vera.r", "16", "--vera.d-initial", "0.2", "--vera.target-modules", "q_proj,v_proj",
                "--lr", "0.01", "--steps", "2", "--add-eos", "false");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).contains("trainable params:");
        assertVeraAdapter(a, 16, 0.2);

        Path c = tmp.resolve("c"), cfg = tmp.resolve("cfg.yaml");
        Files.writeString(cfg, """
                model: %s
                data: %s
                output: %s
                method: vera
                vera:
                  r: 8
                  d-initial: 0.1
                steps: 2
                lr: 0.01
                add-eos: false
                """.formatted(model, data, c));
        r = CliTest.run("train", "--config", cfg.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertVeraAdapter(c, 8, 0.1);

        Path d = tmp.resolve("d");                     // continue training the saved adapter (projections from the file)
        r = CliTest.run("train", "--model", model.toString(), "--data", data.toString(), "--output", d.toString(),
                "--adapter", a.toString(), "--lr", "0.01", "--steps", "1", "--add-eos", "false");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertVeraAdapter(d, 16, 0.2);
        try (SafeTensorsFile fa = SafeTensorsFile.open(a.resolve("adapter_model.safetensors"));
             SafeTensorsFile fd = SafeTensorsFile.open(d.resolve("adapter_model.safetensors"))) {
            assertThat(fd.readFloats("base_model.vera_A")).containsExactly(fa.readFloats("base_model.vera_A"));
        }
    }
}
