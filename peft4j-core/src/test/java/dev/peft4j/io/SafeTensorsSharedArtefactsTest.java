/*
 * Real checkpoints from ../shared, read in place (skipped when absent). Expected values were read
 * from the files with Python's struct module, independently of this code.
 */
package dev.peft4j.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.peft4j.SharedArtefacts;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class SafeTensorsSharedArtefactsTest {

    private static double sum(float[] v) {
        double s = 0;
        for (float x : v) s += x;
        return s;
    }

    @Test
    void stories260K() {
        Path p = SharedArtefacts.require("models/stories260K/model.safetensors");
        try (SafeTensorsFile st = SafeTensorsFile.open(p)) {
            assertThat(st.metadata()).containsEntry("format", "pt");
            assertThat(st.tensors()).hasSize(47);
            TensorInfo emb = st.info("model.embed_tokens.weight");
            assertThat(emb.dtype()).isEqualTo(DType.F32);
            assertThat(emb.shape()).containsExactly(512, 64);
            float[] w = st.readFloats("model.embed_tokens.weight");
            assertThat(w).hasSize(512 * 64);
            assertThat(w[0]).isEqualTo(-0.29474878311157227f);
            assertThat(w[1]).isEqualTo(0.5618956089019775f);
            assertThat(sum(w)).isCloseTo(-752.3677446640068, within(1e-9));
            assertThat(sum(st.readFloats("model.norm.weight"))).isCloseTo(115.95276230573654, within(1e-9));
        }
        try (Checkpoint ck = Checkpoint.open(p.getParent())) {
            assertThat(ck.names()).hasSize(47).contains("model.layers.4.mlp.down_proj.weight");
            assertThat(ck.info("model.layers.0.mlp.down_proj.weight").shape()).containsExactly(64, 172);
            assertThat(ck.totalBytes()).isEqualTo(1040128);
        }
    }

    @Test
    void fakeGpt2() {
        Path p = SharedArtefacts.require("models/fake-gpt2/model.safetensors");
        try (SafeTensorsFile st = SafeTensorsFile.open(p)) {
            assertThat(st.tensors()).hasSize(16);
            assertThat(st.info("transformer.wte.weight").shape()).containsExactly(50257, 2);
            assertThat(st.info("transformer.h.0.attn.c_attn.weight").shape()).containsExactly(2, 6); // Conv1D [in, out]
            assertThat(sum(st.readFloats("transformer.wte.weight"))).isCloseTo(0.577284033384899, within(1e-9));
            assertThat(st.readFloats("transformer.h.0.attn.c_attn.weight")[0]).isEqualTo(-0.05586402863264084f);
        }
    }

    @Test
    void tinyGpt2() {
        Path p = SharedArtefacts.require("models/tiny-gpt2/model.safetensors");
        try (SafeTensorsFile st = SafeTensorsFile.open(p)) {
            assertThat(st.tensors()).hasSize(16);
            assertThat(st.contains("transformer.wte.weight")).isFalse();
            assertThat(st.info("wte.weight").shape()).containsExactly(21, 2);
            assertThat(sum(st.readFloats("wte.weight"))).isCloseTo(-0.04719568137079477, within(1e-9));
            assertThat(sum(st.readFloats("h.0.attn.c_attn.weight"))).isCloseTo(0.06982932472601533, within(1e-9));
        }
    }
}
