/*
 * Round trips through SafeTensorsWriter and SafeTensorsFile: F32 / F16 / BF16 / raw U8 and I64,
 * bit-exact on special values; BF16 rounding against hand-computed bit patterns; the header layout
 * the writer promises; input validation; and that a failed write leaves the previous file intact.
 */
package dev.peft4j.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Peft4jException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsRoundTripTest {
    @TempDir Path dir;

    private static int[] bits(float[] a) {
        int[] out = new int[a.length];
        for (int i = 0; i < a.length; i++) out[i] = Float.floatToRawIntBits(a[i]);
        return out;
    }

    @Test
    void f32IsBitExactIncludingSpecialValues() {
        float[] v = {
            0f, -0f, 1f, -1.5f, Float.MIN_VALUE, -Float.MIN_VALUE, 1e-40f /* subnormal */, Float.MIN_NORMAL,
            Float.MAX_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN,
            Float.intBitsToFloat(0x7FC00001) /* NaN with payload */, Float.intBitsToFloat(0xFFC00000) /* -NaN */,
            (float) Math.PI, 123456.789f
        };
        Path f = dir.resolve("f32.safetensors");
        SafeTensorsWriter.write(f, Map.of(), List.of(new SafeTensorsWriter.Tensor("w", DType.F32, new long[] {4, 4}, v)));
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            TensorInfo t = st.info("w");
            assertThat(t.dtype()).isEqualTo(DType.F32);
            assertThat(t.shape()).containsExactly(4, 4);
            assertThat(t.shapeInts()).containsExactly(4, 4);
            assertThat(t.numel()).isEqualTo(16);
            assertThat(bits(st.readFloats("w"))).containsExactly(bits(v));
        }
    }

    @Test
    void f16RoundTripsRepresentableValues() {
        float[] v = {
            0f, -0f, 1f, -2.5f, 65504f /* max f16 */, (float) Math.pow(2, -24) /* min subnormal */,
            -(float) Math.pow(2, -24), (float) Math.pow(2, -14) /* min normal */, 0.333251953125f,
            Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN
        };
        Path f = dir.resolve("f16.safetensors");
        SafeTensorsWriter.write(f, null, List.of(new SafeTensorsWriter.Tensor("h", DType.F16, new long[] {v.length}, v)));
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            assertThat(st.info("h").byteSize()).isEqualTo(2L * v.length);
            float[] back = st.readFloats("h");
            for (int i = 0; i < v.length; i++) {
                if (Float.isNaN(v[i])) assertThat(back[i]).isNaN();
                else assertThat(Float.floatToRawIntBits(back[i])).as("element %d", i).isEqualTo(Float.floatToRawIntBits(v[i]));
            }
        }
    }

    @Test
    void bf16RoundTripsRepresentableValues() {
        float[] v = {
            0f, -0f, 1f, -3.140625f, (float) Math.pow(2, -133) /* min bf16 subnormal */, Float.intBitsToFloat(0x7F7F0000) /* max */,
            Float.intBitsToFloat(0x00800000) /* min normal */, 256f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY,
            Float.NaN, Float.intBitsToFloat(0xFFC00000)
        };
        Path f = dir.resolve("bf16.safetensors");
        SafeTensorsWriter.write(f, Map.of(), List.of(new SafeTensorsWriter.Tensor("b", DType.BF16, new long[] {3, 4}, v)));
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            float[] back = st.readFloats("b");
            for (int i = 0; i < v.length; i++) {
                if (Float.isNaN(v[i])) assertThat(back[i]).isNaN();
                else assertThat(Float.floatToRawIntBits(back[i])).as("element %d", i).isEqualTo(Float.floatToRawIntBits(v[i]));
            }
            // The raw stored bits of the tensor: 1.0 is 0x3F80, -0 is 0x8000.
            MemorySegment seg = st.segment("b");
            assertThat(seg.byteSize()).isEqualTo(24);
            assertThat(seg.get(FloatCodec.U16_LE, 2)).isEqualTo((short) 0x8000);
            assertThat(seg.get(FloatCodec.U16_LE, 4)).isEqualTo((short) 0x3F80);
        }
    }

    @Test
    void bf16RoundsToNearestEvenByHand() {
        // Each pair: f32 bits -> expected bf16 bits, worked out by hand from the rounding rule.
        int[][] cases = {
            {0x3F800000, 0x3F80}, // 1.0 exact
            {0x3F808000, 0x3F80}, // 1 + 2^-8: a tie, kept bit 0 is even -> down
            {0x3F818000, 0x3F82}, // 1 + 3*2^-8: a tie, kept bit 1 is odd -> up to even
            {0x3F808001, 0x3F81}, // just above the tie -> up
            {0x3F807FFF, 0x3F80}, // just below the tie -> down
            {0x40490FDB, 0x4049}, // pi -> 3.140625
            {0xBF808001, 0xBF81}, // negative: magnitude rounds the same way
            {0x7F7FFFFF, 0x7F80}, // Float.MAX_VALUE rounds up to +inf
            {0xFF7FFFFF, 0xFF80}, // -MAX_VALUE -> -inf
            {0x7F800000, 0x7F80}, // +inf stays
            {0x80000000, 0x8000}, // -0 stays
            {0x00000001, 0x0000}, // tiniest f32 subnormal -> +0
            {0x00018000, 0x0002}, // subnormal tie with odd kept bit -> up to even
            {0x7FC00000, 0x7FC0}, // quiet NaN
        };
        for (int[] c : cases) {
            short got = FloatCodec.floatToBf16(Float.intBitsToFloat(c[0]));
            assertThat(got & 0xFFFF).as("bf16(0x%08X)", c[0]).isEqualTo(c[1]);
        }
        // A signalling NaN whose payload lives only in the low 16 bits must stay NaN, not become inf.
        assertThat(FloatCodec.bf16ToFloat(FloatCodec.floatToBf16(Float.intBitsToFloat(0x7F800001)))).isNaN();
        assertThat(FloatCodec.bf16ToFloat(FloatCodec.floatToBf16(Float.intBitsToFloat(0xFF800001)))).isNaN();
    }

    @Test
    void rawU8AndI64RoundTripByteForByte() {
        byte[] u8 = {0, 1, 127, (byte) 128, (byte) 255, 42};
        long[] longs = {0, -1, Long.MIN_VALUE, Long.MAX_VALUE, 1234567890123L, -42};
        ByteBuffer bb = ByteBuffer.allocate(8 * longs.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long l : longs) bb.putLong(l);
        Path f = dir.resolve("raw.safetensors");
        SafeTensorsWriter.write(f, Map.of("format", "pt"), List.of(
                SafeTensorsWriter.Tensor.raw("bytes", DType.U8, new long[] {2, 3}, u8),
                SafeTensorsWriter.Tensor.raw("ids", DType.I64, new long[] {6}, bb.array())));
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            assertThat(st.segment("bytes").toArray(ValueLayout.JAVA_BYTE)).containsExactly(u8);
            MemorySegment ids = st.segment("ids");
            for (int i = 0; i < longs.length; i++) {
                assertThat(ids.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 8L * i)).isEqualTo(longs[i]);
            }
            assertThatThrownBy(() -> st.readFloats("ids"))
                    .isInstanceOf(SafeTensorsFormatException.class)
                    .hasMessageContaining("tensor \"ids\"")
                    .hasMessageContaining("has dtype I64; peft4j reads F32, F16 and BF16 as floats");
        }
    }

    @Test
    void headerLayoutIsSortedPaddedAndContiguous() throws IOException {
        Path f = dir.resolve("layout.safetensors");
        SafeTensorsWriter.write(f, Map.of("format", "pt", "a", "b"), List.of(
                new SafeTensorsWriter.Tensor("zeta", DType.F32, new long[] {3}, new float[] {1, 2, 3}),
                new SafeTensorsWriter.Tensor("alpha", DType.BF16, new long[] {2, 1}, new float[] {1, 2}),
                new SafeTensorsWriter.Tensor("empty", DType.F16, new long[] {0, 5}, new float[0]),
                new SafeTensorsWriter.Tensor("scalar", DType.F32, new long[] {}, new float[] {7})));
        byte[] bytes = Files.readAllBytes(f);
        long n = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        assertThat(n % 8).isZero();
        String header = new String(bytes, 8, (int) n, StandardCharsets.UTF_8);
        assertThat(header).startsWith("{\"__metadata__\":{\"a\":\"b\",\"format\":\"pt\"}");
        assertThat(header.stripTrailing()).endsWith("}");
        JsonNode root = new ObjectMapper().readTree(header);
        List<String> keys = new ArrayList<>();
        root.fieldNames().forEachRemaining(keys::add);
        assertThat(keys).containsExactly("__metadata__", "alpha", "empty", "scalar", "zeta");
        assertThat(root.get("alpha").get("data_offsets").toString()).isEqualTo("[0,4]");
        assertThat(root.get("empty").get("data_offsets").toString()).isEqualTo("[4,4]");
        assertThat(root.get("scalar").get("data_offsets").toString()).isEqualTo("[4,8]");
        assertThat(root.get("zeta").get("data_offsets").toString()).isEqualTo("[8,20]");
        assertThat(bytes.length).isEqualTo(8 + n + 20);

        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            assertThat(st.metadata()).containsExactly(Map.entry("a", "b"), Map.entry("format", "pt"));
            assertThat(st.tensors()).extracting(TensorInfo::name).containsExactly("alpha", "empty", "scalar", "zeta");
            assertThat(st.readFloats("scalar")).containsExactly(7f);
            assertThat(st.info("scalar").numel()).isEqualTo(1);
            assertThat(st.readFloats("empty")).isEmpty();
            assertThat(st.info("zeta").toString()).isEqualTo("zeta F32[3] bytes 8..20");
            float[] dst = new float[6];
            st.readFloats("zeta", dst, 2);
            assertThat(dst).containsExactly(0, 0, 1, 2, 3, 0);
            assertThatThrownBy(() -> st.readFloats("zeta", dst, 4)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("3 elements");
        }
    }

    @Test
    void missingTensorNamesTheFileAndSimilarNames() {
        Path f = dir.resolve("names.safetensors");
        List<SafeTensorsWriter.Tensor> ts = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            ts.add(new SafeTensorsWriter.Tensor("model.layers." + i + ".mlp.up_proj.weight", DType.F32, new long[] {1}, new float[] {i}));
        }
        ts.add(new SafeTensorsWriter.Tensor("lm_head.weight", DType.F32, new long[] {1}, new float[] {1}));
        SafeTensorsWriter.write(f, Map.of(), ts);
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            assertThat(st.contains("lm_head.weight")).isTrue();
            assertThat(st.contains("lm_head")).isFalse();
            assertThatThrownBy(() -> st.info("layers.3.mlp.up_proj.weight"))
                    .isInstanceOf(Peft4jException.class)
                    .isNotInstanceOf(SafeTensorsFormatException.class)
                    .hasMessageContaining("no tensor \"layers.3.mlp.up_proj.weight\"")
                    .hasMessageContaining(f.toString())
                    .hasMessageContaining("similar names present: [model.layers.3.mlp.up_proj.weight,");
            assertThatThrownBy(() -> st.readFloats("nope")).hasMessageContaining("no tensor \"nope\"");
        }
    }

    @Test
    void writerRejectsInvalidInput() {
        Path f = dir.resolve("bad.safetensors");
        assertThatThrownBy(() -> new SafeTensorsWriter.Tensor("w", DType.F32, new long[] {2, 3}, new float[5]))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("6 elements").hasMessageContaining("5 floats");
        assertThatThrownBy(() -> new SafeTensorsWriter.Tensor("__metadata__", DType.F32, new long[] {1}, new float[1]))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("reserved");
        assertThatThrownBy(() -> new SafeTensorsWriter.Tensor("w", DType.I64, new long[] {1}, new float[1]))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("Tensor.raw");
        assertThatThrownBy(() -> SafeTensorsWriter.Tensor.raw("w", DType.I32, new long[] {3}, new byte[8]))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("12").hasMessageContaining("8 bytes");
        assertThatThrownBy(() -> new SafeTensorsWriter.Tensor("w", DType.F32, new long[] {-1}, new float[0]))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("negative dim");
        SafeTensorsWriter.Tensor a = new SafeTensorsWriter.Tensor("w", DType.F32, new long[] {1}, new float[1]);
        assertThatThrownBy(() -> SafeTensorsWriter.write(f, Map.of(), List.of(a, a)))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("two tensors are named \"w\"");
        assertThat(f).doesNotExist();
    }

    @Test
    void failedWriteLeavesThePreviousFileIntact() throws IOException {
        Path f = dir.resolve("model.safetensors");
        SafeTensorsWriter.write(f, Map.of("v", "1"),
                List.of(new SafeTensorsWriter.Tensor("w", DType.F32, new long[] {2}, new float[] {1, 2})));
        byte[] before = Files.readAllBytes(f);

        // Invalid input: rejected before anything touches the disk.
        SafeTensorsWriter.Tensor dup = new SafeTensorsWriter.Tensor("x", DType.F32, new long[] {1}, new float[] {9});
        assertThatThrownBy(() -> SafeTensorsWriter.write(f, Map.of("v", "2"), List.of(dup, dup)))
                .isInstanceOf(Peft4jException.class);
        assertThat(Files.readAllBytes(f)).isEqualTo(before);

        // A successful overwrite replaces it atomically.
        SafeTensorsWriter.write(f, Map.of("v", "2"), List.of(dup));
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            assertThat(st.metadata()).containsEntry("v", "2");
            assertThat(st.readFloats("x")).containsExactly(9f);
        }
        assertThat(listing()).containsExactly("model.safetensors");
    }

    @Test
    void failureAfterTheTempFileWasWrittenCleansUp() throws IOException {
        // A non-empty directory where the file should go: the temp is fully written, then the move fails.
        Path target = dir.resolve("in-the-way.safetensors");
        Files.createDirectory(target);
        Files.writeString(target.resolve("keep.txt"), "precious");
        assertThatThrownBy(() -> SafeTensorsWriter.write(target, Map.of(),
                List.of(new SafeTensorsWriter.Tensor("w", DType.F32, new long[] {1}, new float[] {1}))))
                .isInstanceOf(Peft4jException.class)
                .hasMessageContaining("could not write")
                .hasMessageContaining("unchanged");
        assertThat(Files.readString(target.resolve("keep.txt"))).isEqualTo("precious");
        assertThat(listing()).containsExactly("in-the-way.safetensors"); // no temp file left behind

        // A missing parent directory is a clear error too.
        assertThatThrownBy(() -> SafeTensorsWriter.write(dir.resolve("no/such/dir/x.safetensors"), Map.of(), List.of()))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("could not write");
    }

    @Test
    void anEmptyFileIsValid() {
        Path f = dir.resolve("empty.safetensors");
        SafeTensorsWriter.write(f, Map.of(), List.of());
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            assertThat(st.tensors()).isEmpty();
            assertThat(st.metadata()).isEmpty();
            assertThatThrownBy(() -> st.info("w")).hasMessageContaining("holds no tensors");
        }
    }

    private List<String> listing() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
