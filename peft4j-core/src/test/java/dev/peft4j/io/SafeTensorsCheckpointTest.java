/*
 * Checkpoint: a single file, a model directory, and a sharded checkpoint (index + 2 shards) built in a
 * temp dir; plus the errors for a missing shard, a shard lacking a tensor, an index escaping its
 * directory, and a directory with several shards and no index.
 */
package dev.peft4j.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.Peft4jException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsCheckpointTest {
    @TempDir Path dir;

    private static SafeTensorsWriter.Tensor f32(String name, float... v) {
        return new SafeTensorsWriter.Tensor(name, DType.F32, new long[] {v.length}, v);
    }

    /** dir/shards: two shards and an index, as transformers' save_pretrained lays them out. */
    private Path sharded() throws IOException {
        Path d = Files.createDirectories(dir.resolve("sharded"));
        SafeTensorsWriter.write(d.resolve("model-00001-of-00002.safetensors"), Map.of("format", "pt"),
                List.of(f32("model.embed.weight", 1, 2, 3), f32("model.layers.0.w", 4, 5)));
        SafeTensorsWriter.write(d.resolve("model-00002-of-00002.safetensors"), Map.of("format", "pt"),
                List.of(new SafeTensorsWriter.Tensor("model.layers.1.w", DType.BF16, new long[] {2, 2}, new float[] {6, 7, 8, 9}),
                        f32("lm_head.weight", 10)));
        Files.writeString(d.resolve(Checkpoint.INDEX_FILE), """
                {"metadata": {"total_size": 36},
                 "weight_map": {
                   "lm_head.weight": "model-00002-of-00002.safetensors",
                   "model.embed.weight": "model-00001-of-00002.safetensors",
                   "model.layers.0.w": "model-00001-of-00002.safetensors",
                   "model.layers.1.w": "model-00002-of-00002.safetensors"}}
                """);
        return d;
    }

    @Test
    void shardedCheckpointReadsTheRightTensors() throws IOException {
        Path d = sharded();
        try (Checkpoint ck = Checkpoint.open(d)) {
            assertThat(ck.names()).containsExactly("lm_head.weight", "model.embed.weight", "model.layers.0.w", "model.layers.1.w");
            assertThat(ck.readFloats("model.embed.weight")).containsExactly(1, 2, 3);
            assertThat(ck.readFloats("model.layers.0.w")).containsExactly(4, 5);
            assertThat(ck.readFloats("model.layers.1.w")).containsExactly(6, 7, 8, 9);
            assertThat(ck.readFloats("lm_head.weight")).containsExactly(10);
            assertThat(ck.info("model.layers.1.w").dtype()).isEqualTo(DType.BF16);
            assertThat(ck.segment("model.layers.1.w").byteSize()).isEqualTo(8);
            assertThat(ck.fileOf("lm_head.weight").path().getFileName().toString()).isEqualTo("model-00002-of-00002.safetensors");
            assertThat(ck.files()).hasSize(2);
            assertThat(ck.totalBytes()).isEqualTo(12 + 8 + 8 + 4);
            assertThat(ck.contains("model.layers.2.w")).isFalse();
            assertThatThrownBy(() -> ck.info("model.layers.2.w"))
                    .isInstanceOf(Peft4jException.class)
                    .hasMessageContaining("no tensor \"model.layers.2.w\" in checkpoint")
                    .hasMessageContaining(Checkpoint.INDEX_FILE)
                    .hasMessageContaining("model.layers.0.w");
        }
        // The index file itself can be passed too.
        try (Checkpoint ck = Checkpoint.open(d.resolve(Checkpoint.INDEX_FILE))) {
            assertThat(ck.names()).hasSize(4);
        }
    }

    @Test
    void missingShardNamesTheIndexAndTheShard() throws IOException {
        Path d = sharded();
        Files.delete(d.resolve("model-00002-of-00002.safetensors"));
        assertThatThrownBy(() -> Checkpoint.open(d))
                .isInstanceOf(SafeTensorsFormatException.class)
                .hasMessageContaining(Checkpoint.INDEX_FILE)
                .hasMessageContaining("model-00002-of-00002.safetensors")
                .hasMessageContaining("does not exist");
    }

    @Test
    void shardWithoutTheIndexedTensorIsRefused() throws IOException {
        Path d = sharded();
        Path index = d.resolve(Checkpoint.INDEX_FILE);
        Files.writeString(index, Files.readString(index).replace("\"lm_head.weight\": \"model-00002", "\"lm_head.weight\": \"model-00001"));
        assertThatThrownBy(() -> Checkpoint.open(d))
                .isInstanceOf(SafeTensorsFormatException.class)
                .hasMessageContaining(Checkpoint.INDEX_FILE)
                .hasMessageContaining("\"lm_head.weight\" in shard model-00001-of-00002.safetensors")
                .hasMessageContaining("no such tensor");
    }

    @Test
    void malformedIndexesAreRefused() throws IOException {
        Path d = sharded();
        Path index = d.resolve(Checkpoint.INDEX_FILE);
        Files.writeString(index, "{\"weight_map\": {\"x\": \"../escape.safetensors\"}}");
        assertThatThrownBy(() -> Checkpoint.open(d)).isInstanceOf(SafeTensorsFormatException.class)
                .hasMessageContaining("not a file name inside");
        Files.writeString(index, "{\"metadata\": {}}");
        assertThatThrownBy(() -> Checkpoint.open(d)).isInstanceOf(SafeTensorsFormatException.class)
                .hasMessageContaining("\"weight_map\"");
        Files.writeString(index, "{\"weight_map\": ");
        assertThatThrownBy(() -> Checkpoint.open(d)).isInstanceOf(SafeTensorsFormatException.class)
                .hasMessageContaining("not valid JSON");
    }

    @Test
    void severalShardsWithoutAnIndexIsAClearError() throws IOException {
        Path d = sharded();
        Files.delete(d.resolve(Checkpoint.INDEX_FILE));
        assertThatThrownBy(() -> Checkpoint.open(d))
                .isInstanceOf(Peft4jException.class)
                .hasMessageContaining("found 2 .safetensors files")
                .hasMessageContaining(Checkpoint.INDEX_FILE);
        // With only one left, that one is used whatever its name.
        Files.delete(d.resolve("model-00002-of-00002.safetensors"));
        try (Checkpoint ck = Checkpoint.open(d)) {
            assertThat(ck.names()).containsExactly("model.embed.weight", "model.layers.0.w");
        }
    }

    @Test
    void singleFileAndModelDirectory() throws IOException {
        Path d = Files.createDirectories(dir.resolve("single"));
        Path f = d.resolve(Checkpoint.SINGLE_FILE);
        SafeTensorsWriter.write(f, Map.of(), List.of(f32("b", 2), f32("a", 1)));
        try (Checkpoint byDir = Checkpoint.open(d); Checkpoint byFile = Checkpoint.open(f)) {
            assertThat(byDir.names()).containsExactly("a", "b");
            assertThat(byFile.readFloats("b")).containsExactly(2);
            assertThat(byDir.files()).containsExactly(f);
            assertThat(byDir.totalBytes()).isEqualTo(8);
        }
    }

    @Test
    void emptyOrMissingPathsAreClearErrors() throws IOException {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        assertThatThrownBy(() -> Checkpoint.open(empty)).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("found none");
        assertThatThrownBy(() -> Checkpoint.open(dir.resolve("missing"))).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("no checkpoint at");
    }
}
