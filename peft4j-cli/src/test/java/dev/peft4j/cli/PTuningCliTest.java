package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * train / quickstart --method p-tuning. The options (flags and --config keys) reach the saved
 * adapter_config.json under PEFT's names; the adapter generates and cannot be merged; training
 * continues from a saved adapter on its table of virtual tokens. The quickstart's held-out exact match:
 * MethodsLearningTest (measured 0/100 -> 100/100).
 */
class PTuningCliTest {
    @TempDir Path tmp;

    /** The first and last "step N: validation loss X" of a training log. */
    static double[] validation(String log) {
        Matcher m = Pattern.compile("step (\\d+): validation loss ([0-9.]+)").matcher(log);
        double first = Double.NaN, last = Double.NaN;
        while (m.find()) {
            if (Double.isNaN(first)) first = Double.parseDouble(m.group(2));
            last = Double.parseDouble(m.group(2));
        }
        return new double[] {first, last};
    }

    @Test
    void trainWithOptionsAndConfigThenGenerateAndContinue() throws Exception {
        Path qs = tmp.resolve("qs");
        String[] r = CliTest.run("quickstart", "--method", "p-tuning", "--steps", "3", "--output", qs.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        String base = qs.resolve("base-model").toString(), data = qs.resolve("data/train.jsonl").toString();
        Path yaml = tmp.resolve("cfg.yaml");
        Files.writeString(yaml, "method: p-tuning\np-tuning.encoder-reparameterization-type: LSTM\np-tuning.encoder-num-layers: 2\n"
                + "p-tuning.encoder-dropout: 0.1\np-tuning.num-virtual-tokens: 9\n");
        Path out = tmp.resolve("run");
        r = CliTest.run("train", "--config", yaml.toString(), "--model", base, "--data", data, "--output", out.toString(),
                "--p-tuning.num-virtual-tokens", "5", "--p-tuning.encoder-hidden-size", "12", "--steps", "3", "--batch-size", "4");
        assertThat(r[0]).as(r[1] + r[2]).isEqualTo("0");
        JsonNode cfg = new ObjectMapper().readTree(out.resolve("adapter_config.json").toFile());
        assertThat(cfg.get("peft_type").asText()).isEqualTo("P_TUNING");
        assertThat(cfg.get("num_virtual_tokens").asInt()).as("the flag overrides the config file").isEqualTo(5);
        assertThat(cfg.get("encoder_reparameterization_type").asText()).isEqualTo("LSTM");
        assertThat(cfg.get("encoder_hidden_size").asInt()).isEqualTo(12);
        assertThat(cfg.get("encoder_num_layers").asInt()).isEqualTo(2);
        assertThat(cfg.get("encoder_dropout").asDouble()).isEqualTo(0.1);
        assertThat(cfg.get("token_dim").asInt()).isEqualTo(64);
        r = CliTest.run("generate", "--model", base, "--adapter", out.toString(), "--prompt", "Mia went to the farm and saw a cow. The cow said",
                "--max-new-tokens", "3");
        assertThat(r[0]).as(r[1] + r[2]).isEqualTo("0");
        r = CliTest.run("merge", "--model", base, "--adapter", out.toString(), "--output", tmp.resolve("merged").toString());
        assertThat(r[0]).isNotEqualTo("0");
        assertThat(r[1] + r[2]).contains("cannot be merged");
        Path more = tmp.resolve("more");
        r = CliTest.run("train", "--model", base, "--data", data, "--output", more.toString(), "--adapter", out.toString(), "--steps", "2",
                "--batch-size", "4");
        assertThat(r[0]).as(r[1] + r[2]).isEqualTo("0");
        assertThat(r[1]).contains("training continues on that table of virtual tokens").contains("trainable params: 320 ");
        assertThat(new ObjectMapper().readTree(more.resolve("adapter_config.json").toFile())).isEqualTo(cfg);
        r = CliTest.run("train", "--model", base, "--data", data, "--output", tmp.resolve("bad").toString(), "--method", "p-tuning",
                "--p-tuning.encoder-reparameterization-type", "GRU", "--steps", "1");
        assertThat(r[0]).isNotEqualTo("0");
        assertThat(r[1] + r[2]).contains("MLP or LSTM");
    }
}
