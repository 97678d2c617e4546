/*
 * Nf4Matrix and Int8Matrix as GEMM operands: decodeRow equals the full dequantisation for every
 * segment (including ones that straddle blocks, rows and odd nibbles), the memory held, and the
 * packed GEMMs give exactly the GEMM on the dequantised f32 weight.
 */
package dev.peft4j.quant;

import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.kernels.Gemm;
import dev.peft4j.kernels.Int8Matrix;
import dev.peft4j.kernels.Nf4Matrix;
import dev.peft4j.kernels.Parallel;
import dev.peft4j.kernels.WeightMatrix;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class QuantizedMatrixTest {
    static float[] rand(Random r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    /** Every (row, col0, len) segment decodes to the same floats as the whole matrix. */
    static void assertEverySegmentMatches(WeightMatrix m, float[] full) {
        int rows = m.rows(), cols = m.cols();
        float[] dst = new float[cols + 2];
        for (int row = 0; row < rows; row++)
            for (int col0 = 0; col0 <= cols; col0++)
                for (int len = 0; col0 + len <= cols; len++) {
                    Arrays.fill(dst, Float.NaN);
                    m.decodeRow(row, col0, len, dst, 1);
                    assertThat(Float.isNaN(dst[0]) && Float.isNaN(dst[len + 1])).as("writes only its range").isTrue();
                    for (int j = 0; j < len; j++)
                        if (Float.floatToRawIntBits(dst[1 + j]) != Float.floatToRawIntBits(full[row * cols + col0 + j]))
                            throw new AssertionError("row " + row + " col0 " + col0 + " len " + len + " j " + j + ": "
                                    + dst[1 + j] + " != " + full[row * cols + col0 + j]);
                }
    }

    @ParameterizedTest
    @CsvSource({"5,13,32,false", "5,13,32,true", "3,70,64,true", "4,64,64,false", "7,33,32,true", "2,45,128,false", "3,200,128,true", "2,301,256,false"})
    void nf4DecodeRowEqualsFullDequantisationForEverySegment(int rows, int cols, int bs, boolean dq) {
        float[] w = rand(new Random(rows * 100 + cols), rows * cols);
        Nf4Matrix m = Quantize.nf4(w, rows, cols, bs, dq);
        Nf4.Quantized plain = Nf4.quantize(w, bs);
        assertThat(m.packed()).isEqualTo(plain.packed());
        float[] scales = dq ? DoubleQuant.of(plain.absmax()).dequantize() : plain.absmax();
        assertThat(m.scales()).containsExactly(scales);
        float[] full = Nf4.dequantize(plain.packed(), scales, rows * cols, bs);
        assertThat(m.toFloats()).containsExactly(full);
        assertEverySegmentMatches(m, full);
    }

    @Test
    void int8DecodeRowEqualsFullDequantisationForEverySegment() {
        float[] w = rand(new Random(9), 6 * 29);
        Int8Matrix m = Quantize.int8(w, 6, 29);
        float[] full = new float[w.length];
        for (int i = 0; i < w.length; i++) full[i] = (m.codes()[i] * m.rowAbsmax()[i / 29]) * 7.874015718698502e-3f;
        assertThat(m.toFloats()).containsExactly(full);
        assertEverySegmentMatches(m, full);
    }

    @Test
    void int8IsBnbsVectorwiseQuantisation() {
        float[] w = {0.5f, -1f, 0.25f, 0.00394f, 0.0f, 0f, 0f, 0f, 3f, 1.5f, -3f, 0.01181102f};
        Int8Matrix m = Quantize.int8(w, 3, 4);
        assertThat(m.rowAbsmax()).containsExactly(1f, 0f, 3f);
        // 0.5 * 127 = 63.5 -> 64 (half to even); 0.25 * 127 = 31.75 -> 32; 0.00394 * 127 = 0.50038 -> 1
        assertThat(m.codes()).containsExactly(64, -127, 32, 1, 0, 0, 0, 0, 127, 64, -127, 0);
        assertThat(m.toFloats()[4]).isZero();
        float[] back = m.toFloats();
        for (int i = 0; i < w.length; i++) assertThat(Math.abs(back[i] - w[i])).isLessThanOrEqualTo(m.rowAbsmax()[i / 4] / 254 * 1.0001f);
    }

    @Test
    void nf4WithDoubleQuantHoldsUnder053BytesPerParameter() {
        int rows = 576, cols = 1536;
        float[] w = rand(new Random(7), rows * cols);
        for (int i = 0; i < w.length; i++) w[i] *= 0.02f;
        Nf4Matrix dq = Quantize.nf4(w, rows, cols);
        double perParam = dq.bytes() / (double) (rows * cols);
        assertThat(perParam).isLessThanOrEqualTo(0.53).isGreaterThan(0.5156);
        // codes, one byte of scale per 64, 54 nested f32, the offset, the 16- and 256-value maps
        assertThat(dq.bytes()).isEqualTo(rows * cols / 2 + rows * cols / 64 + 4L * 54 + 4 + 4 * 16 + 4 * 256);
        Nf4Matrix plain = Quantize.nf4(w, rows, cols, 64, false);
        assertThat(plain.bytes()).isEqualTo(rows * cols / 2 + 4L * rows * cols / 64 + 4 * 16);
        Int8Matrix i8 = Quantize.int8(w, rows, cols);
        assertThat(i8.bytes()).isEqualTo((long) rows * cols + 4L * rows);
    }

    @ParameterizedTest
    @CsvSource({"1,7,64", "3,33,70", "5,100,64", "37,97,300", "130,64,257", "20,96,640"})
    void gemmsThroughQuantisedWeightsEqualTheGemmsOnTheDequantisedWeights(int M, int N, int K) {
        Random r = new Random(M * 31 + N);
        float[] a = rand(r, M * K), w = rand(r, N * K), dy = rand(r, M * N);
        WeightMatrix[] ms = {Quantize.nf4(w, N, K), Quantize.nf4(w, N, K, 32, false), Quantize.int8(w, N, K)};
        for (WeightMatrix m : ms) {
            float[] wd = m.toFloats();
            for (int threads : new int[] {1, 2}) {
                Parallel.setThreads(threads);
                try {
                    float[] c1 = new float[M * N], c2 = new float[M * N];
                    Gemm.matmulNT(c1, a, m, M, false);
                    Gemm.matmulNT(c2, a, wd, M, N, K, false);
                    assertThat(c1).as("%s NT threads %d", m, threads).containsExactly(c2);
                    float[] d1 = new float[M * K], d2 = new float[M * K];
                    Gemm.matmulNN(d1, dy, m, M, false);                  // dx = dy·W with W (N, K)
                    Gemm.matmulNN(d2, dy, wd, M, K, N, false);
                    assertThat(d1).as("%s NN threads %d", m, threads).containsExactly(d2);
                } finally {
                    Parallel.setThreads(Runtime.getRuntime().availableProcessors());
                }
            }
        }
    }

    @Test
    void frozenTensorsCanBeStoredAsNf4() {
        float[] w = rand(new Random(8), 48 * 64);
        var t = dev.peft4j.autograd.Tensor.frozen("w", w, 48, 64);
        Nf4Matrix m = Quantize.nf4(w, 48, 64);
        t.compactTo(m);
        assertThat(t.bytes()).isEqualTo(m.bytes());
        assertThat(t.floats()).containsExactly(m.toFloats());
    }
}
