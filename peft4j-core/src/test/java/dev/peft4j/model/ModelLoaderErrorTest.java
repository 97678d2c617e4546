package dev.peft4j.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.Peft4jException;
import dev.peft4j.io.SafeTensorsFormatException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A model directory that does not fit together fails with a message naming the problem and the fix. */
class ModelLoaderErrorTest {
    @TempDir Path tmp;

    Path copyOf(String name) throws Exception {
        Path src = ModelGoldenTest.dir(name), dst = tmp.resolve(name);
        Files.createDirectories(dst);
        try (var files = Files.list(src)) {
            for (Path f : files.toList()) Files.copy(f, dst.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
        }
        return dst;
    }

    void editConfig(Path dir, String from, String to) throws Exception {
        Path c = dir.resolve("config.json");
        String s = Files.readString(c);
        assertThat(s).contains(from);
        Files.writeString(c, s.replace(from, to));
    }

    @Test
    void unsupportedModelTypeListsTheSupportedOnes() throws Exception {
        Path d = copyOf("llama");
        editConfig(d, "\"model_type\": \"llama\"", "\"model_type\": \"falcon\"");
        assertThatThrownBy(() -> CausalLM.load(d)).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("falcon").hasMessageContaining("llama, mistral, qwen2, qwen3, gpt2").hasMessageContaining("gemma2, gemma3_text");
    }

    @Test
    void shapeMismatchNamesTensorAndBothShapes() throws Exception {
        Path d = copyOf("llama");
        editConfig(d, "\"intermediate_size\": 96", "\"intermediate_size\": 100");
        assertThatThrownBy(() -> CausalLM.load(d)).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("model.layers.0.mlp.gate_proj.weight").hasMessageContaining("[96, 64]")
                .hasMessageContaining("[100, 64]");
    }

    @Test
    void untiedConfigWithoutLmHeadExplainsTying() throws Exception {
        Path d = copyOf("llama-tied");
        editConfig(d, "\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false");
        assertThatThrownBy(() -> CausalLM.load(d)).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("lm_head.weight").hasMessageContaining("tie_word_embeddings");
    }

    @Test
    void missingConfigAndMissingWeightsAreClear() throws Exception {
        assertThatThrownBy(() -> CausalLM.load(tmp)).isInstanceOf(Peft4jException.class).hasMessageContaining("config.json");
        Path d = copyOf("gpt2");
        Files.delete(d.resolve("model.safetensors"));
        assertThatThrownBy(() -> CausalLM.load(d)).isInstanceOf(Peft4jException.class).hasMessageContaining("safetensors");
    }

    @Test
    void truncatedWeightsRaiseFormatError() throws Exception {
        Path d = copyOf("gpt2");
        Path f = d.resolve("model.safetensors");
        byte[] all = Files.readAllBytes(f);
        Files.write(f, java.util.Arrays.copyOf(all, all.length / 2));
        assertThatThrownBy(() -> CausalLM.load(d)).isInstanceOf(SafeTensorsFormatException.class);
    }

    @Test
    void unsupportedRopeScalingIsNamed() throws Exception {
        Path d = copyOf("llama");
        editConfig(d, "\"rope_type\": \"llama3\"", "\"rope_type\": \"yarn\"");
        assertThatThrownBy(() -> CausalLM.load(d)).isInstanceOf(Peft4jException.class).hasMessageContaining("yarn")
                .hasMessageContaining("llama3");
    }
}
