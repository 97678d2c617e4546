package dev.peft4j.kernels;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class GemmTest {
    interface Mm { void run(float[] c, float[] a, float[] b, int M, int N, int K, boolean acc); }

    public static float[] rand(Random r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    static void compare(Mm fast, Mm slow, int M, int N, int K, long seed) {
        Random r = new Random(seed);
        float[] a = rand(r, M * K), b = rand(r, K * N), c0 = rand(r, M * N);
        for (boolean acc : new boolean[] {false, true}) {
            float[] cf = c0.clone(), cs = c0.clone();
            fast.run(cf, a, b, M, N, K, acc);
            slow.run(cs, a, b, M, N, K, acc);
            for (int i = 0; i < M * N; i++) {
                double tol = 1e-4 * Math.sqrt(K) + 1e-5 * Math.abs(cs[i]);
                assertThat((double) cf[i]).as("M=%d N=%d K=%d acc=%s i=%d", M, N, K, acc, i).isCloseTo(cs[i], org.assertj.core.api.Assertions.within(tol));
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"1,1,1", "1,7,13", "2,33,5", "4,100,64", "5,31,17", "6,32,256", "7,33,257", "13,97,300",
                "97,13,31", "64,64,64", "101,67,519", "3,1000,40", "200,3,77", "35,800,90", "300,16,70", "129,8,33", "400,1,5", "8,32,256", "16,64,40", "24,33,300", "1024,16,576", "64,16,1024", "40,16,7", "16,8,64"})
    void matchesScalarTwinAtAwkwardSizes(int M, int N, int K) {
        for (int rows : new int[] {6, 8})                  // both register tiles, whatever this machine's default
            for (int threads : new int[] {1, 2, 3}) {
                Parallel.setThreads(threads);
                Gemm.tileRows = rows;
                try {
                    compare(Gemm::matmulNT, GemmScalar::matmulNT, M, N, K, 1);
                    compare(Gemm::matmulNN, GemmScalar::matmulNN, M, N, K, 2);
                    compare(Gemm::matmulTN, GemmScalar::matmulTN, M, N, K, 3);
                } finally {
                    Parallel.setThreads(Runtime.getRuntime().availableProcessors());
                    Gemm.tileRows = Gemm.MR;
                }
            }
    }
}
