package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * quickstart / train with the prompt-learning methods: the quickstart's adapter has PEFT's config and
 * lowers the validation loss (held-out exact match for every method: MethodsLearningTest); train with
 * the methods' options, generate, merge refused. Real-text learning: MethodsRealTextLearningTest.
 */
@Tag("slow")
class PromptMethodsCliTest {
    @TempDir Path tmp;

    static double[] validation(String log) {
        Matcher m = Pattern.compile("step (\\d+): validation loss ([0-9.]+)").matcher(log);
        double first = Double.NaN, last = Double.NaN;
        while (m.find()) {
            if (Double.isNaN(first)) first = Double.parseDouble(m.group(2));
            last = Double.parseDouble(m.group(2));
        }
        return new double[] {first, last};
    }

    @ParameterizedTest
    @CsvSource({"prompt-tuning, 0.5, 50", "prefix-tuning, 0.5, 90"})  // measured 1.26 -> 0.21 (80/100), 1.26 -> 0.00 (100/100)
    void quickstartLearns(String method, double minLossDrop, int minExact) throws Exception {
        String[] r = CliTest.run("quickstart", "--method", method, "--output", tmp.resolve(method).toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        Matcher m = Pattern.compile("held-out exact match: base (\\d+)/(\\d+) \\(\\d+%\\) -> adapted (\\d+)/(\\d+)").matcher(r[1]);
        assertThat(m.find()).as(r[1]).isTrue();
        int base = Integer.parseInt(m.group(1)), adapted = Integer.parseInt(m.group(3)), total = Integer.parseInt(m.group(4));
        double[] v = validation(r[1]);
        System.out.printf("[learning] quickstart --method %s: base %d/%d -> adapted %d/%d, validation loss %.4f -> %.4f%n",
                method, base, total, adapted, total, v[0], v[1]);
        assertThat(v[0] - v[1]).as(r[1]).isGreaterThan(minLossDrop);
        assertThat(adapted).isGreaterThanOrEqualTo(base + minExact);
        JsonNode cfg = new ObjectMapper().readTree(tmp.resolve(method).resolve("adapter/adapter_config.json").toFile());
        assertThat(cfg.get("peft_type").asText()).isEqualTo(method.replace('-', '_').toUpperCase(java.util.Locale.ROOT));
        assertThat(cfg.get("num_virtual_tokens").asInt()).isEqualTo(20);
    }

    /** train --method prefix-tuning --prefix-tuning.*: the options reach the saved config; the projected prefix is saved as its output. */
    @Test
    void trainWithOptionsThenGenerate() throws Exception {
        Path qs = tmp.resolve("qs");
        String[] r = CliTest.run("quickstart", "--method", "prefix-tuning", "--steps", "5", "--output", qs.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        Path out = tmp.resolve("run");
        r = CliTest.run("train", "--model", qs.resolve("base-model").toString(), "--data", qs.resolve("data/train.jsonl").toString(),
                "--output", out.toString(), "--method", "prefix-tuning", "--prefix-tuning.num-virtual-tokens", "6",
                "--prefix-tuning.prefix-projection", "--prefix-tuning.encoder-hidden-size", "24", "--steps", "3", "--batch-size", "4");
        assertThat(r[0]).as(r[1] + r[2]).isEqualTo("0");
        JsonNode cfg = new ObjectMapper().readTree(out.resolve("adapter_config.json").toFile());
        assertThat(cfg.get("num_virtual_tokens").asInt()).isEqualTo(6);
        assertThat(cfg.get("prefix_projection").asBoolean()).isTrue();
        assertThat(cfg.get("encoder_hidden_size").asInt()).isEqualTo(24);
        assertThat(cfg.get("token_dim").asInt()).isEqualTo(32);                 // 64 / 4 heads * 2 KV heads
        r = CliTest.run("generate", "--model", qs.resolve("base-model").toString(), "--adapter", out.toString(),
                "--prompt", "Mia went to the farm and saw a cow. The cow said", "--max-new-tokens", "3");
        assertThat(r[0]).as(r[1] + r[2]).isEqualTo("0");
        r = CliTest.run("inspect", out.toString());
        assertThat(r[0]).as(r[1] + r[2]).isEqualTo("0");
        assertThat(r[1]).contains("PREFIX_TUNING").contains("virtual tokens: no adapted modules");
        r = CliTest.run("merge", "--model", qs.resolve("base-model").toString(), "--adapter", out.toString(), "--output", tmp.resolve("merged").toString());
        assertThat(r[0]).isNotEqualTo("0");
        assertThat(r[1] + r[2]).contains("cannot be merged");
        r = CliTest.run("train", "--model", qs.resolve("base-model").toString(), "--data", qs.resolve("data/train.jsonl").toString(),
                "--output", tmp.resolve("pt").toString(), "--method", "prompt-tuning", "--prompt-tuning.num-virtual-tokens", "5",
                "--prompt-tuning.init", "text", "--prompt-tuning.init-text", "The cow said", "--steps", "2", "--batch-size", "4");
        assertThat(r[0]).as(r[1] + r[2]).isEqualTo("0");
        cfg = new ObjectMapper().readTree(tmp.resolve("pt").resolve("adapter_config.json").toFile());
        assertThat(cfg.get("prompt_tuning_init").asText()).isEqualTo("TEXT");
        assertThat(cfg.get("prompt_tuning_init_text").asText()).isEqualTo("The cow said");
        assertThat(cfg.get("tokenizer_name_or_path").asText()).isEqualTo(qs.resolve("base-model").toString());
        assertThat(Files.exists(tmp.resolve("pt").resolve("adapter_model.safetensors"))).isTrue();
    }
}
