package dev.peft4j.kernels;

import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.io.GgmlType;
import dev.peft4j.quant.Ggml;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

/** The AVX-512 block decoders of GgmlMatrix equal the scalar reference (quant.Ggml) bit for bit, for any block bytes. */
class GgmlMatrixTest {
    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"})
    void vectorDecodeEqualsTheScalarReferenceBitForBit(GgmlType t) {
        Assumptions.assumeTrue(GgmlMatrix.VECTOR, "no 512-bit vectors here: GgmlMatrix uses the scalar reference itself");
        SplittableRandom rng = new SplittableRandom(t.ordinal());
        int rows = 3, cols = 2 * 256;
        byte[] blocks = new byte[(int) t.bytes(cols) * rows];
        for (int i = 0; i < blocks.length; i++) blocks[i] = (byte) rng.nextInt(256);
        // finite f16 scales where the formats keep them (random bytes could be NaN / infinity)
        int perRow = cols / t.blockSize;
        for (int b = 0; b < rows * perRow; b++) {
            int s = b * t.typeSize;
            switch (t) {
                case Q6_K -> f16(blocks, s + 208, rng);
                case Q4_1, Q5_1, Q4_K, Q5_K -> { f16(blocks, s, rng); f16(blocks, s + 2, rng); }
                default -> f16(blocks, s, rng);
            }
        }
        GgmlMatrix m = GgmlMatrix.of(t, blocks, rows, cols);
        for (int r = 0; r < rows; r++) {
            float[] want = new float[cols], got = new float[cols];
            Ggml.dequantize(t, blocks, r * (int) t.bytes(cols), perRow, want, 0);
            m.decodeRow(r, 0, cols, got, 0);
            for (int i = 0; i < cols; i++)
                assertThat(Float.floatToRawIntBits(got[i])).as(t + " row " + r + " col " + i).isEqualTo(Float.floatToRawIntBits(want[i]));
            if (m.fusedDot()) {                                    // the fused dot equals the decoded row's dot (summation order aside)
                float[] x = new float[cols];
                for (int i = 0; i < cols; i++) x[i] = (float) rng.nextGaussian();
                double exact = 0, magnitude = 0;
                for (int i = 0; i < cols; i++) { exact += (double) x[i] * want[i]; magnitude += Math.abs((double) x[i] * want[i]); }
                assertThat((double) m.dotRow(r, x, 0)).as(t + " fused dot, row " + r).isCloseTo(exact, org.assertj.core.data.Offset.offset(2e-6 * magnitude));
            }
            float[] part = new float[40];                          // a segment that starts and ends inside blocks
            m.decodeRow(r, 3, 40, part, 0);
            for (int i = 0; i < 40; i++) assertThat(part[i]).isEqualTo(want[3 + i]);
        }
    }

    /** Gemm's small-M path (decode steps) with fused dots gives what decoding the matrix to f32 gives, for M = 1 and 3. */
    @Test
    void decodeStepMatmulsWithFusedDotsEqualTheF32Matmul() {
        Assumptions.assumeTrue(GgmlMatrix.VECTOR, "no 512-bit vectors here");
        SplittableRandom rng = new SplittableRandom(7);
        int N = 64, K = 512;
        float[] w = new float[N * K];
        for (int i = 0; i < w.length; i++) w[i] = (float) rng.nextGaussian();
        for (GgmlType t : new GgmlType[] {GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K}) {
            GgmlMatrix m = GgmlMatrix.of(t, Ggml.quantize(t, w, 0, w.length), N, K);
            assertThat(m.fusedDot()).isTrue();
            float[] dense = m.toFloats();
            for (int M : new int[] {1, 3}) {
                float[] a = new float[M * K];
                for (int i = 0; i < a.length; i++) a[i] = (float) rng.nextGaussian();
                float[] got = new float[M * N], want = new float[M * N];
                Gemm.matmulNT(got, a, m, M, false);
                Gemm.matmulNT(want, a, dense, M, N, K, false);
                for (int i = 0; i < got.length; i++) assertThat(got[i]).as(t + " M=" + M + " i=" + i).isCloseTo(want[i], org.assertj.core.data.Offset.offset(1e-3f));
            }
        }
    }

    private static void f16(byte[] b, int s, SplittableRandom rng) {
        short h = Float.floatToFloat16((float) (rng.nextDouble() * 0.2 - 0.1));
        b[s] = (byte) h;
        b[s + 1] = (byte) (h >> 8);
    }
}
