package dev.peft4j.kernels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.peft4j.Golden;
import dev.peft4j.model.CausalLM;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/** bf16 weight storage: the GEMMs that decode while packing equal the f32 GEMMs on the rounded values. */
class WeightMatrixTest {
    @ParameterizedTest
    @CsvSource({"1,7,13", "3,33,70", "5,100,64", "37,97,300", "130,64,257"})
    void bf16GemmsEqualF32GemmsOnTheDecodedValues(int M, int N, int K) {
        Random r = new Random(M * 31 + N);
        float[] a = GemmTest.rand(r, M * K), w = GemmTest.rand(r, N * K), dy = GemmTest.rand(r, M * N);
        WeightMatrix.Bf16 wb = WeightMatrix.Bf16.encode(w, N, K);
        float[] wd = wb.toFloats();
        for (int threads : new int[] {1, 2}) {
            Parallel.setThreads(threads);
            try {
                float[] c1 = new float[M * N], c2 = new float[M * N];
                Gemm.matmulNT(c1, a, wb, M, false);
                Gemm.matmulNT(c2, a, wd, M, N, K, false);
                assertThat(c1).containsExactly(c2);                      // same packed data, same kernel
                float[] d1 = new float[M * K], d2 = new float[M * K];
                Gemm.matmulNN(d1, dy, wb, M, false);                     // dx = dy·W with W (N, K)
                Gemm.matmulNN(d2, dy, wd, M, K, N, false);
                assertThat(d1).containsExactly(d2);
            } finally {
                Parallel.setThreads(Runtime.getRuntime().availableProcessors());
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"0,1", "3,16", "5,37", "0,64", "17,100", "1,128"})
    void bf16RowsDecodeAndDotLikeTheirScalarTwin(int col0, int len) {
        Random r = new Random(col0 * 7 + len);
        int rows = 3, cols = 129;
        float[] w = GemmTest.rand(r, rows * cols), x = GemmTest.rand(r, 2 * cols);
        WeightMatrix.Bf16 wb = WeightMatrix.Bf16.encode(w, rows, cols);
        float[] got = new float[len + 2];
        wb.decodeRow(2, col0, len, got, 1);
        for (int j = 0; j < len; j++)
            assertThat(got[1 + j]).isEqualTo(Float.intBitsToFloat(wb.data()[2 * cols + col0 + j] << 16));
        assertThat(got[0]).isZero();
        assertThat(got[len + 1]).isZero();                          // nothing written outside [dstOff, dstOff + len)
        float[] row = new float[cols];
        wb.decodeRow(1, 0, cols, row, 0);
        assertThat(wb.dotRow(1, x, cols)).isEqualTo(Gemm.dot(x, cols, row, 0, cols));   // bit-identical to decode + dot
    }

    @Test
    void prepackedWeightsGiveBitIdenticalResultsAndFollowMerges() {
        int[] ids = {5, 17, 3, 22, 9, 41, 7, 30};
        CausalLM m = CausalLM.load(Golden.model("llama"));
        float[] plain = m.forward(null, ids, 1, 8, null, null, false).data;
        assertThat(m.prepackWeights()).isPositive();
        assertThat(m.forward(null, ids, 1, 8, null, null, false).data).containsExactly(plain);
        var pm = new dev.peft4j.tuner.PeftModel(m);
        var a = pm.addAdapter(dev.peft4j.tuner.lora.LoraConfig.builder().r(2).alpha(4).targetModules("q_proj").build(), "a", 1);
        for (var t : a.trainableParameters()) for (int i = 0; i < t.size(); i++) t.data[i] += 0.05f * (float) Math.sin(i);
        float[] adapted = m.forward(null, ids, 1, 8, null, null, false).data;
        pm.merge("a");
        float[] merged = m.forward(null, ids, 1, 8, null, null, false).data;
        for (int i = 0; i < adapted.length; i++) assertThat((double) merged[i]).isCloseTo(adapted[i], within(1e-4));
    }

    @Test
    void bf16RoundsToNearestEven() {
        assertThat(WeightMatrix.Bf16.toBf16(1.0f)).isEqualTo((short) 0x3f80);
        assertThat(WeightMatrix.Bf16.toBf16(Float.intBitsToFloat(0x3f808000))).isEqualTo((short) 0x3f80);   // tie -> even
        assertThat(WeightMatrix.Bf16.toBf16(Float.intBitsToFloat(0x3f818000))).isEqualTo((short) 0x3f82);   // tie -> even
        assertThat(WeightMatrix.Bf16.toBf16(Float.intBitsToFloat(0x3f808001))).isEqualTo((short) 0x3f81);
        assertThat(Float.isNaN(Float.intBitsToFloat(WeightMatrix.Bf16.toBf16(Float.NaN) << 16))).isTrue();
    }

    @Test
    void aModelWithBf16WeightsStaysCloseToF32AndHalvesWeightMemory() {
        int[] ids = {5, 17, 3, 22, 9, 41, 7, 30};
        CausalLM m = CausalLM.load(Golden.model("llama"));
        float[] f32 = m.forward(null, ids, 1, 8, null, null, false).data;
        long saved = m.compactWeightsToBf16();
        assertThat(saved).isPositive();
        float[] bf16 = m.forward(null, ids, 1, 8, null, null, false).data;
        for (int i = 0; i < f32.length; i++) assertThat((double) bf16[i]).isCloseTo(f32[i], within(0.05));
        // generation over the cache and the bf16 small-M path agree with the full forward
        float[] step = m.forward(ids, 1, 8, m.newCache(1, 8), null, true);
        for (int v = 0; v < step.length; v++) assertThat((double) step[v]).isCloseTo(bf16[7 * step.length + v], within(1e-4));
    }
}
