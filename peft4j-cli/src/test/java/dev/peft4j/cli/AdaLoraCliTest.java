package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** AdaLoRA from the command line: --method adalora with --adalora.* flags, total_step filled in, the same keys in --config. */
class AdaLoraCliTest {
    @TempDir Path tmp;

    Path data() throws Exception { return CliFixtures.animalSounds(tmp); }

    @Test
    void methodAdaloraFlagsPruneToTargetAndConfigKeys() throws Exception {
        Path model = CliTest.shared("models/stories260K"), data = data();
        Path a = tmp.resolve("a");
        String[] r = CliTest.run("train", "--model", model.toString(), "--data", data.toString(), "--output", a.toString(),
                "--method", "adalora", "--adalora.init-r", "4", "--adalora.target-r", "2", "--adalora.tinit", "1", "--adalora.tfinal", "1",
                "--adalora.delta-t", "1", "--adalora.beta1", "0.8", "--adalora.beta2", "0.9", "--adalora.orth-reg-weight", "0.1",
                "--adalora.target-modules", "q_proj,v_proj", "--lr", "0.01", "--steps", "6", "--add-eos", "false");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).contains("trainable params:").contains("adalora total_step = 6");
        ObjectMapper om = new ObjectMapper();
        JsonNode cfg = om.readTree(a.resolve("adapter_config.json").toFile());
        assertThat(cfg.get("peft_type").asText()).isEqualTo("ADALORA");
        assertThat(cfg.get("init_r").asInt()).isEqualTo(4);
        assertThat(cfg.get("target_r").asInt()).isEqualTo(2);
        assertThat(cfg.get("total_step").asInt()).isEqualTo(6);
        assertThat(cfg.get("beta1").asDouble()).isEqualTo(0.8);
        assertThat(cfg.get("beta2").asDouble()).isEqualTo(0.9);
        assertThat(cfg.get("orth_reg_weight").asDouble()).isEqualTo(0.1);
        JsonNode rp = cfg.get("rank_pattern");
        assertThat(rp.size()).isEqualTo(10);                       // stories260K: 5 layers x q_proj, v_proj
        int kept = 0;
        for (JsonNode list : rp) for (JsonNode b : list) if (b.asBoolean()) kept++;
        assertThat(kept).isEqualTo(2 * 10);
        List<Integer> budgets = new ArrayList<>();
        for (String line : Files.readAllLines(a.resolve("metrics.jsonl")))
            if (om.readTree(line).has("rank_budget")) budgets.add(om.readTree(line).get("rank_budget").asInt());
        assertThat(budgets).hasSize(6);
        assertThat(budgets.get(0)).isEqualTo(40);
        assertThat(budgets.get(5)).isEqualTo(20);

        Path c = tmp.resolve("c"), yaml = tmp.resolve("cfg.yaml");
        Files.writeString(yaml, """
                model: %s
                data: %s
                output: %s
                method: adalora
                adalora:
                  init-r: 6
                  target-r: 3
                  total-step: 8
                  delta-t: 2
                  alpha: 12
                steps: 2
                lr: 0.01
                add-eos: false
                """.formatted(model, data, c));
        r = CliTest.run("train", "--config", yaml.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        cfg = om.readTree(c.resolve("adapter_config.json").toFile());
        assertThat(cfg.get("init_r").asInt()).isEqualTo(6);
        assertThat(cfg.get("total_step").asInt()).isEqualTo(8);
        assertThat(cfg.get("deltaT").asInt()).isEqualTo(2);
        assertThat(cfg.get("lora_alpha").asInt()).isEqualTo(12);
        assertThat(cfg.get("target_modules")).hasSize(2);          // PEFT's AdaLoRA default for llama: q_proj, v_proj
    }

    @Test
    void modulesToSaveWithAdaloraAndTheOldLoraSpelling() throws Exception {
        Path model = CliTest.shared("models/stories260K"), data = data();
        String[][] runs = {{"adalora", "--modules-to-save"}, {"ia3", "--lora.modules-to-save"}};
        for (String[] run : runs) {
            Path out = tmp.resolve(run[0] + "-head");
            String[] r = CliTest.run("train", "--model", model.toString(), "--data", data.toString(), "--output", out.toString(),
                    "--method", run[0], run[1], "lm_head", "--lr", "0.01", "--steps", "3", "--add-eos", "false");
            assertThat(r[0]).as(run[0] + " " + run[1] + ": " + r[2]).isEqualTo("0");
            JsonNode cfg = new ObjectMapper().readTree(out.resolve("adapter_config.json").toFile());
            assertThat(cfg.get("modules_to_save").toString()).isEqualTo("[\"lm_head\"]");
            try (dev.peft4j.io.SafeTensorsFile f = dev.peft4j.io.SafeTensorsFile.open(out.resolve("adapter_model.safetensors"))) {
                assertThat(f.info("base_model.model.lm_head.weight").shape()).containsExactly(512L, 64L);
            }
        }
    }

    @Test
    void benchTrainAdaloraUsesTheReferenceTargetsAndTheStepsRun() {
        var gpt2 = (dev.peft4j.tuner.adalora.AdaLoraConfig) BenchCommand.Train.config("adalora", 3).apply(dev.peft4j.model.ModelFactory.gpt2Small());
        assertThat(List.of(gpt2.initR(), gpt2.targetR(), gpt2.totalStep())).containsExactly(8, 4, 3);
        assertThat(gpt2.loraAlpha()).isEqualTo(16.0);
        assertThat(gpt2.targetModules().toPeft()).isEqualTo(List.of("c_attn"));
        var smol = (dev.peft4j.tuner.adalora.AdaLoraConfig) BenchCommand.Train.config("adalora", 5).apply(dev.peft4j.model.ModelFactory.smolLm2_135m());
        assertThat(List.of(smol.initR(), smol.targetR(), smol.totalStep())).containsExactly(16, 8, 5);
        assertThat(smol.loraAlpha()).isEqualTo(32.0);
        assertThat((List<?>) smol.targetModules().toPeft()).hasSize(7);
    }
}
