/*
 * The committed golden checkpoints (src/test/resources/golden/models, written by
 * scripts/golden/make_model_goldens.py with PyTorch and its own safetensors writer): BF16 and F16
 * files decode to the values Python's struct module reads, and the sharded Llama (index + 2 shards)
 * holds exactly the same bits as the single-file one.
 */
package dev.peft4j.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class SafeTensorsGoldenFixturesTest {

    private static Path golden(String model) throws URISyntaxException {
        URL url = SafeTensorsGoldenFixturesTest.class.getResource("/golden/models/" + model);
        Assumptions.assumeTrue(url != null, "test resource golden/models/" + model + " not found; skipping");
        return Path.of(url.toURI());
    }

    private static double sum(float[] v, boolean abs) {
        double s = 0;
        for (float x : v) s += abs ? Math.abs(x) : x;
        return s;
    }

    @Test
    void bf16CheckpointDecodes() throws URISyntaxException {
        try (Checkpoint ck = Checkpoint.open(golden("mistral"))) {
            TensorInfo emb = ck.info("model.embed_tokens.weight");
            assertThat(emb.dtype()).isEqualTo(DType.BF16);
            assertThat(emb.shape()).containsExactly(120, 64);
            float[] w = ck.readFloats("model.embed_tokens.weight");
            assertThat(w[0]).isEqualTo(-0.166015625f);
            assertThat(w[1]).isEqualTo(-0.0296630859375f);
            assertThat(sum(w, false)).isCloseTo(-7.754527755081654, within(1e-9));
            assertThat(sum(w, true)).isCloseTo(612.3341100737453, within(1e-9));
            assertThat(sum(ck.readFloats("model.norm.weight"), false)).isEqualTo(64.5390625);
        }
    }

    @Test
    void f16CheckpointDecodes() throws URISyntaxException {
        try (Checkpoint ck = Checkpoint.open(golden("qwen2"))) {
            assertThat(ck.names()).hasSize(26);
            float[] w = ck.readFloats("model.embed_tokens.weight");
            assertThat(ck.info("model.embed_tokens.weight").dtype()).isEqualTo(DType.F16);
            assertThat(w).hasSize(112 * 64);
            assertThat(w[0]).isEqualTo(0.014434814453125f);
            assertThat(sum(w, false)).isCloseTo(16.70467871427536, within(1e-9));
            assertThat(sum(w, true)).isCloseTo(572.854198038578, within(1e-9));
            assertThat(sum(ck.readFloats("model.norm.weight"), false)).isEqualTo(65.06005859375);
        }
    }

    @Test
    void shardedLlamaEqualsTheSingleFileOneBitForBit() throws URISyntaxException {
        try (Checkpoint sharded = Checkpoint.open(golden("llama-sharded"));
             Checkpoint single = Checkpoint.open(golden("llama"))) {
            assertThat(sharded.files()).hasSize(2);
            assertThat(sharded.names()).isEqualTo(single.names());
            assertThat(sharded.totalBytes()).isEqualTo(312576).isEqualTo(single.totalBytes()); // index metadata.total_size
            assertThat(sharded.fileOf("model.layers.1.mlp.up_proj.weight").path().getFileName().toString())
                    .isEqualTo("model-00002-of-00002.safetensors");
            for (String name : single.names()) {
                assertThat(sharded.info(name).shape()).as(name).isEqualTo(single.info(name).shape());
                assertThat(sharded.segment(name).mismatch(single.segment(name))).as(name).isEqualTo(-1L);
            }
        }
    }
}
