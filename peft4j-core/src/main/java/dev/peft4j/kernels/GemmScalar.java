/*
 * GemmScalar: the scalar twin of Gemm — plain triple loops with the same contracts, the oracle
 * for the vectorised kernel's tests. Accumulates in double so it is the more accurate of the two.
 */
package dev.peft4j.kernels;

public final class GemmScalar {
    private GemmScalar() {}

    /** C[M,N] (+)= A[M,K] · W[N,K]ᵀ. */
    public static void matmulNT(float[] c, float[] a, float[] w, int M, int N, int K, boolean accumulate) {
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double s = accumulate ? c[m * N + n] : 0;
                for (int k = 0; k < K; k++) s += (double) a[m * K + k] * w[n * K + k];
                c[m * N + n] = (float) s;
            }
    }

    /** C[M,N] (+)= A[M,K] · B[K,N]. */
    public static void matmulNN(float[] c, float[] a, float[] b, int M, int N, int K, boolean accumulate) {
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double s = accumulate ? c[m * N + n] : 0;
                for (int k = 0; k < K; k++) s += (double) a[m * K + k] * b[k * N + n];
                c[m * N + n] = (float) s;
            }
    }

    /** C[M,N] (+)= A[K,M]ᵀ · B[K,N]. */
    public static void matmulTN(float[] c, float[] a, float[] b, int M, int N, int K, boolean accumulate) {
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double s = accumulate ? c[m * N + n] : 0;
                for (int k = 0; k < K; k++) s += (double) a[k * M + m] * b[k * N + n];
                c[m * N + n] = (float) s;
            }
    }
}
