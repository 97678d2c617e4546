package dev.peft4j.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.quant.Ggml;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** GgufWriter round trips through GgufFile; malformed files each raise a GgufFormatException that says what is wrong. */
class GgufFileTest {
    @TempDir Path tmp;

    Path written() {
        float[] a = new float[64], b = new float[8];
        for (int i = 0; i < a.length; i++) a[i] = (float) Math.sin(i);
        for (int i = 0; i < b.length; i++) b[i] = i;
        GgufWriter w = new GgufWriter();
        w.put("general.architecture", "llama").put("n", 7).put("neg", -3).put("big", 1L << 40).put("f", 0.5f).put("yes", true)
                .put("names", List.of("a", "b")).put("scores", new GgufWriter.Array(GgufWriter.F32, List.of(1f, 2f)));
        w.add(new GgufWriter.Entry("m", new long[] {32, 2}, GgmlType.Q8_0, Ggml.quantize(GgmlType.Q8_0, a, 0, 64)));
        w.add(new GgufWriter.Entry("v", new long[] {8}, GgmlType.F32, Ggml.quantize(GgmlType.F32, b, 0, 8)));
        Path f = tmp.resolve("x.gguf");
        w.write(f);
        return f;
    }

    @Test
    @SuppressWarnings("unchecked")
    void writtenFilesReadBack() {
        try (GgufFile g = GgufFile.open(written())) {
            assertThat(g.version()).isEqualTo(3);
            assertThat(g.string("general.architecture")).isEqualTo("llama");
            assertThat(g.integer("n")).isEqualTo(7);
            assertThat(g.integer("neg")).isEqualTo(-3);
            assertThat(g.integer("big")).isEqualTo(1L << 40);
            assertThat(g.real("f", 0)).isEqualTo(0.5);
            assertThat(g.bool("yes", false)).isTrue();
            assertThat((List<Object>) g.array("names")).containsExactly("a", "b");
            assertThat((List<Object>) g.array("scores")).containsExactly(1.0, 2.0);
            GgufFile.Tensor m = g.tensor("m");
            assertThat(m.dims()).containsExactly(32, 2);
            assertThat(m.type()).isEqualTo(GgmlType.Q8_0);
            assertThat(m.offset() % 32).isZero();
            assertThat(g.tensor("v").offset() % 32).isZero();
            float[] v = new float[8];
            Ggml.dequantize(GgmlType.F32, g.bytes(g.tensor("v")).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), 0, 8, v, 0);
            assertThat(v).containsExactly(0, 1, 2, 3, 4, 5, 6, 7);
        }
    }

    @Test
    void malformedFilesRaiseTypedErrors() throws Exception {
        byte[] good = Files.readAllBytes(written());
        expect(Arrays.copyOf(good, 10), "shorter than a GGUF header");
        expect(Arrays.copyOf(good, 200), "truncated");
        expect(Arrays.copyOf(good, good.length - 40), "runs past the end of the file");
        expect(patch(good, 0, 0x12345678), "not GGUF's magic");
        expect(patch(good, 4, 9), "version 9 is not supported");
        expect(patch64(good, 8, 1L << 40), "tensors, more than the file");
        expect(patch64(good, 16, 1L << 40), "metadata entries");
        expect(patch64(good, 24, 1L << 50), "declares a string of");                    // the first key's length
        int type = indexOf(good, "general.architecture".getBytes()) + "general.architecture".length();
        expect(patch(good, type, 77), "unknown value type 77");
        int m = lastIndexOf(good, new byte[] {1, 0, 0, 0, 0, 0, 0, 0, 'm'}) + 9;           // tensor "m": n_dims, dims, type, offset
        expect(patch(good, m, 9), "dimensions; GGUF allows 1 to 4");
        expect(patch(good, m + 4 + 16, 99), "unknown ggml type id 99");
        expect(patch64(good, m + 4 + 16 + 4, 3), "not a multiple of the alignment");
        expect(patch64(good, m + 4 + 16 + 4, 1L << 40), "runs past the end");
        expect(patch64(good, m + 4, 31), "not a multiple of its block size 32");
        assertThatThrownBy(() -> GgufFile.open(tmp)).hasMessageContaining("is a directory");
    }

    void expect(byte[] bytes, String message) throws Exception {
        Path f = Files.write(tmp.resolve("bad.gguf"), bytes);
        assertThatThrownBy(() -> GgufFile.open(f).close()).isInstanceOf(GgufFormatException.class).hasMessageContaining(message)
                .hasMessageContaining("bad.gguf");
    }

    static byte[] patch(byte[] b, int at, int v) {
        byte[] c = b.clone();
        ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).putInt(at, v);
        return c;
    }

    static byte[] patch64(byte[] b, int at, long v) {
        byte[] c = b.clone();
        ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).putLong(at, v);
        return c;
    }

    static int indexOf(byte[] h, byte[] n) {
        outer:
        for (int i = 0; i <= h.length - n.length; i++) {
            for (int j = 0; j < n.length; j++) if (h[i + j] != n[j]) continue outer;
            return i;
        }
        throw new AssertionError("not found");
    }

    static int lastIndexOf(byte[] h, byte[] n) {
        outer:
        for (int i = h.length - n.length; i >= 0; i--) {
            for (int j = 0; j < n.length; j++) if (h[i + j] != n[j]) continue outer;
            return i;
        }
        throw new AssertionError("not found");
    }
}
