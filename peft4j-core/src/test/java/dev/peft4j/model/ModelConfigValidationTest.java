/*
 * ModelConfigValidationTest: config.json values that would make NaN/Inf (or nonsense) in the
 * forward are refused when the config is read, by file and key, with what was expected and what
 * was found: non-positive or non-finite rope_theta, norm epsilons, rope_scaling factors; zero
 * sizes; token ids outside the vocabulary; negative sliding windows. NaN and Infinity (which
 * Python's json.dump writes) are read and refused by key, not reported as a JSON syntax error.
 */
package dev.peft4j.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.Peft4jException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ModelConfigValidationTest {
    @TempDir Path tmp;

    /** The golden model's config.json with one text replacement, written to a fresh folder. */
    private Path config(String model, String from, String to) throws Exception {
        String s = Files.readString(ModelGoldenTest.dir(model).resolve("config.json"));
        assertThat(s).contains(from);
        Path dir = Files.createTempDirectory(tmp, model);
        Files.writeString(dir.resolve("config.json"), s.replace(from, to));
        return dir;
    }

    @ParameterizedTest(name = "{0}: {1} -> {2}")
    @CsvSource(delimiter = '|', value = {
            "llama|\"rope_theta\": 500000.0|\"rope_theta\": 0|rope_theta|> 0|got 0",
            "llama|\"rope_theta\": 500000.0|\"rope_theta\": -10000.0|rope_theta|> 0|got -10000.0",
            "llama|\"rope_theta\": 500000.0|\"rope_theta\": NaN|rope_theta|finite|got NaN",
            "llama|\"rope_theta\": 500000.0|\"rope_theta\": Infinity|rope_theta|finite|got Infinity",
            "llama|\"rope_theta\": 500000.0|\"rope_theta\": 1e400|rope_theta|finite|got ",
            "llama|\"rope_theta\": 500000.0|\"rope_theta\": \"big\"|rope_theta|a number|got \"big\"",
            "llama|\"rms_norm_eps\": 1e-05|\"rms_norm_eps\": 0.0|rms_norm_eps|> 0|got 0.0",
            "llama|\"rms_norm_eps\": 1e-05|\"rms_norm_eps\": -1e-05|rms_norm_eps|> 0|got -1.0E-5",
            "llama|\"rms_norm_eps\": 1e-05|\"rms_norm_eps\": NaN|rms_norm_eps|finite|got NaN",
            "llama|\"rms_norm_eps\": 1e-05|\"rms_norm_eps\": 1e-50|rms_norm_eps|small positive number|got 1.0E-50",
            "llama|\"factor\": 8.0|\"factor\": 0.0|rope_scaling.factor|> 0|got 0.0",
            "llama|\"factor\": 8.0|\"factor\": -8.0|rope_scaling.factor|> 0|got -8.0",
            "llama|\"factor\": 8.0|\"factor\": NaN|rope_scaling.factor|finite|got NaN",
            "llama|\"high_freq_factor\": 4.0|\"high_freq_factor\": 1.0|rope_scaling.high_freq_factor|greater than|1.0 <= 1.0",
            "llama|\"low_freq_factor\": 1.0|\"low_freq_factor\": -1.0|rope_scaling.low_freq_factor|> 0|got -1.0",
            "llama|\"original_max_position_embeddings\": 64|\"original_max_position_embeddings\": 0|rope_scaling.original_max_position_embeddings|positive integer|got 0",
            "llama|\"max_position_embeddings\": 128|\"max_position_embeddings\": 0|max_position_embeddings|positive integer|got 0",
            "llama|\"max_position_embeddings\": 128|\"max_position_embeddings\": -5|max_position_embeddings|positive integer|got -5",
            "llama|\"vocab_size\": 128|\"vocab_size\": 0|vocab_size|positive integer|got 0",
            "llama|\"num_hidden_layers\": 2|\"num_hidden_layers\": 0|num_hidden_layers|positive integer|got 0",
            "llama|\"intermediate_size\": 96|\"intermediate_size\": -96|intermediate_size|positive integer|got -96",
            "llama|\"bos_token_id\": 1|\"bos_token_id\": 128|bos_token_id|[0, vocab_size 128)|got 128",
            "llama|\"bos_token_id\": 1|\"bos_token_id\": -3|bos_token_id|>= 0|got -3",
            "llama|\"eos_token_id\": 2|\"eos_token_id\": [2, 4096]|eos_token_id|[0, vocab_size 128)|got 4096",
            "llama|\"eos_token_id\": 2|\"eos_token_id\": \"2\"|eos_token_id|integer|got \"2\"",
            "llama|\"hidden_size\": 64|\"hidden_size\": 100000000|vocab_size x hidden_size|one Java array|",
            "llama|\"head_dim\": 16|\"head_dim\": 2000000000|head_dim|at most 8192|= 2000000000",
            "llama|\"num_hidden_layers\": 2|\"num_hidden_layers\": 100000|num_hidden_layers|at most 4096|= 100000",
            "mistral|\"sliding_window\": 64|\"sliding_window\": -1|sliding_window|>= 0|got -1",
            "gpt2|\"layer_norm_epsilon\": 1e-05|\"layer_norm_epsilon\": 0|layer_norm_epsilon|> 0|got 0",
            "gpt2|\"layer_norm_epsilon\": 1e-05|\"layer_norm_epsilon\": -Infinity|layer_norm_epsilon|finite|got -Infinity",
            "gpt2|\"n_positions\": 32|\"n_positions\": 0|n_positions|positive integer|got 0",
    })
    void badValueIsRefusedByFileAndKey(String model, String from, String to, String key, String expected, String found)
            throws Exception {
        Path dir = config(model, from, to);
        assertThatThrownBy(() -> ModelConfig.load(dir)).isInstanceOf(Peft4jException.class)
                .hasMessageContaining(dir.resolve("config.json").toString())
                .hasMessageContaining(key).hasMessageContaining(expected)
                .hasMessageContaining(found == null ? "" : found);
    }

    @Test
    void ropeParametersOfTransformers5AreRead() throws Exception {
        // top-level rope_theta / rope_scaling moved into rope_parameters: the values are read, not defaulted
        ModelConfig c = ModelConfig.load(config("llama", "\"rope_theta\": 500000.0,", "\"rope_parameters\": {\"rope_theta\": 123456.0, \"rope_type\": \"default\"},"));
        assertThat(c.ropeTheta()).isEqualTo(123456.0);
        ModelConfig q = ModelConfig.load(config("qwen3", "\"rope_theta\": 1000000.0,",
                "\"rope_parameters\": {\"rope_theta\": 5e5, \"rope_type\": \"linear\", \"factor\": 4.0},"));
        assertThat(q.ropeTheta()).isEqualTo(5e5);
        assertThat(q.ropeScaling().type()).isEqualTo("linear");
        assertThat(q.ropeScaling().factor()).isEqualTo(4.0);
        assertThatThrownBy(() -> ModelConfig.load(config("llama", "\"rope_theta\": 500000.0,",
                "\"rope_theta\": 500000.0, \"rope_parameters\": {\"rope_theta\": 10000.0},")))
                .hasMessageContaining("disagree");
        assertThatThrownBy(() -> ModelConfig.load(config("qwen3", "\"rope_theta\": 1000000.0,",
                "\"rope_parameters\": {\"rope_theta\": 5e5, \"rope_type\": \"yarn\", \"factor\": 4.0},")))
                .hasMessageContaining("yarn");
    }

    @Test
    void qwen3() throws Exception {
        ModelConfig c = ModelConfig.load(ModelGoldenTest.dir("qwen3"));
        assertThat(c.family()).isEqualTo(ModelConfig.Family.QWEN3);
        assertThat(c.arch().qkNorm()).isTrue();
        assertThat(c.headDim()).isEqualTo(24);
        assertThat(c.qkvBias()).isFalse();
        assertThat(ModelConfig.load(ModelGoldenTest.dir("qwen2")).arch().qkNorm()).isFalse();
        // Qwen3Config's head_dim default is 128, not hidden / heads
        assertThat(ModelConfig.load(config("qwen3", "\"head_dim\": 24,", "")).headDim()).isEqualTo(128);
        assertThat(ModelConfig.load(config("qwen3", "\"attention_bias\": false", "\"attention_bias\": true")))
                .satisfies(b -> assertThat(b.qkvBias() && b.outputBias()).isTrue());
        assertThatThrownBy(() -> ModelConfig.load(config("qwen3", "\"use_sliding_window\": false", "\"use_sliding_window\": true")))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("use_sliding_window=true is not supported for qwen3");
        assertThatThrownBy(() -> ModelConfig.load(config("qwen3", "\"model_type\": \"qwen3\"", "\"model_type\": \"qwen9\"")))
                .hasMessageContaining("unsupported model_type 'qwen9'").hasMessageContaining("qwen3");
    }

    @Test
    void unchangedGoldenConfigsStillLoad() throws Exception {
        for (String m : new String[] {"llama", "llama-tied", "mistral", "qwen2", "gpt2"}) {
            ModelConfig c = ModelConfig.load(ModelGoldenTest.dir(m));
            assertThat(c.normEps()).isPositive();
            assertThat(c.vocabSize()).isPositive();
        }
        // sliding_window null or 0: full attention, as before
        assertThat(ModelConfig.load(config("mistral", "\"sliding_window\": 64", "\"sliding_window\": null")).slidingWindow()).isZero();
    }
}
