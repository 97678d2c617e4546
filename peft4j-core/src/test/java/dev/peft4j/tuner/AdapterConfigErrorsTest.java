/*
 * AdapterConfigErrorsTest: a bad value in an adapter_config.json is reported by file and PEFT field
 * name (not a CLI flag or builder method); the same check through the API names LoraConfig.builder()
 * methods and through the CLI its --lora.* flags. lora_alpha <= 0, which PEFT 0.14 accepts
 * silently (scaling = lora_alpha / r in lora/layer.py), loads with a warning: 0 makes the adapter a
 * no-op, a negative value subtracts it.
 */
package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.Golden;
import dev.peft4j.Peft4jException;
import dev.peft4j.model.CausalLM;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class AdapterConfigErrorsTest {
    @TempDir Path tmp;

    private Path adapterDir(String fields) throws Exception {
        Path dir = Files.createTempDirectory(tmp, "adapter");
        Files.writeString(dir.resolve("adapter_config.json"), "{\"peft_type\": \"LORA\", \"target_modules\": [\"q_proj\"], "
                + fields + "}");
        return dir;
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "\"r\": 0|\"r\" must be > 0 (got 0)|\"r\": 8",
            "\"r\": -4|\"r\" must be > 0 (got -4)|\"r\": 8",
            "\"r\": 8.5|\"r\" must be an integer (got 8.5)|\"r\": 8",
            "\"r\": \"8\"|\"r\" must be an integer|\"r\": 8",
            "\"lora_dropout\": 1.5|\"lora_dropout\" must be in [0, 1) (got 1.5)|\"lora_dropout\": 0.05",
            "\"lora_alpha\": \"sixteen\"|\"lora_alpha\" must be a number|\"lora_alpha\"",
            "\"bias\": \"all\"|\"bias\" = 'all' is not supported yet|\"bias\": \"none\"",
            "\"lora_bias\": true|\"lora_bias\" = true (a bias on LoRA B) is not supported yet|\"lora_bias\": false",
            "\"rank_pattern\": {\"q_proj\": 0}|\"rank_pattern\" entry 'q_proj' must be > 0 (got 0)|\"rank_pattern\"",
    })
    void fileErrorsNameTheFileAndThePeftField(String fields, String problem, String fix) throws Exception {
        Path dir = adapterDir(fields);
        assertThatThrownBy(() -> PeftAdapter.readConfig(dir)).isInstanceOf(Peft4jException.class)
                .hasMessageStartingWith(dir.resolve("adapter_config.json") + ": ")
                .hasMessageContaining(problem).hasMessageContaining(fix)
                .hasMessageNotContaining("--lora").hasMessageNotContaining("builder()");
    }

    @Test
    void theSameCheckNamesEachInterface() {
        LoraConfig.Invalid e = org.junit.jupiter.api.Assertions.assertThrows(LoraConfig.Invalid.class,
                () -> LoraConfig.builder().r(0).build());
        assertThat(e.getMessage()).isEqualTo("LoraConfig r must be > 0 (got 0); e.g. LoraConfig.builder().r(8)");
        assertThat(e.onCommandLine().getMessage()).isEqualTo("--lora.r must be > 0 (got 0); e.g. --lora.r 8");
        assertThat(e.inFile(Path.of("/a/adapter_config.json")).getMessage())
                .isEqualTo("/a/adapter_config.json: \"r\" must be > 0 (got 0); e.g. \"r\": 8 in the file");
    }

    @Test
    void zeroOrNegativeAlphaLoadsWithAWarningAsPeftAcceptsIt() throws Exception {
        for (String alpha : new String[] {"0", "-16"}) {
            Path dir = adapterDir("\"r\": 4, \"lora_alpha\": " + alpha);
            PrintStream old = System.err;
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            LoraConfig cfg;
            try {
                cfg = PeftAdapter.readLoraConfig(dir);
            } finally {
                System.setErr(old);
            }
            assertThat(cfg.loraAlpha()).isEqualTo(Double.parseDouble(alpha));
            assertThat(err.toString(StandardCharsets.UTF_8)).contains("warning: ").contains("adapter_config.json")
                    .contains("\"lora_alpha\" is").contains(alpha.equals("0") ? "changes nothing" : "subtracted");

            CausalLM model = CausalLM.load(Golden.model("llama"));
            LoraModel lm = Lora.apply(model, cfg, 7);
            assertThat(lm.warnings()).anyMatch(w -> w.startsWith("lora_alpha is ")
                    && w.contains(alpha.equals("0") ? "changes nothing" : "subtracted"));
        }
        CausalLM model = CausalLM.load(Golden.model("llama"));
        LoraModel ok = Lora.apply(model, LoraConfig.builder().r(4).alpha(8).targetModules("q_proj").build(), 7);
        assertThat(ok.warnings()).noneMatch(w -> w.contains("lora_alpha"));
    }
}
