package dev.peft4j.kernels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Each vectorised kernel against its scalar twin at awkward sizes (tails, 1, primes). */
class KernelsTest {
    static float[] rand(Random r, int n, double scale) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (r.nextGaussian() * scale);
        return x;
    }

    static void close(float[] fast, float[] slow, double tol, String what) {
        for (int i = 0; i < slow.length; i++)
            assertThat((double) fast[i]).as("%s [%d]", what, i).isCloseTo(slow[i], within(tol * (1 + Math.abs(slow[i]))));
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 7, 16, 17, 31, 64, 100, 257})
    void normsAndActivations(int C) {
        Random r = new Random(C);
        int rows = 3;
        float[] x = rand(r, rows * C, 2), w = rand(r, C, 1), b = rand(r, C, 1);
        float[] f = new float[rows * C], s = new float[rows * C];
        Kernels.rmsnorm(f, x, w, rows, C, 1e-5f); KernelsScalar.rmsnorm(s, x, w, rows, C, 1e-5f); close(f, s, 1e-5, "rmsnorm");
        Kernels.layernorm(f, x, w, b, rows, C, 1e-5f); KernelsScalar.layernorm(s, x, w, b, rows, C, 1e-5f); close(f, s, 1e-5, "layernorm");
        float[] g = rand(r, rows * C, 3), u = rand(r, rows * C, 1);
        Kernels.swiglu(f, g, u, rows * C); KernelsScalar.swiglu(s, g, u, rows * C); close(f, s, 1e-5, "swiglu");
        Kernels.geluTanh(f, g, rows * C); KernelsScalar.geluTanh(s, g, rows * C); close(f, s, 1e-5, "gelu");
        float[] sf = x.clone(), ss = x.clone();
        Kernels.softmax(sf, 1, rows * C - 1); KernelsScalar.softmax(ss, 1, rows * C - 1); close(sf, ss, 1e-5, "softmax");
        assertThat(sf[0]).isEqualTo(x[0]);
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 4, 6, 16, 34, 64, 128})
    void ropeMatchesScalar(int HS) {
        Random r = new Random(HS);
        int rows = 5, NH = 3, maxPos = 20, half = HS / 2;
        float[] cos = new float[maxPos * half], sin = new float[maxPos * half];
        for (int p = 0; p < maxPos; p++)
            for (int i = 0; i < half; i++) {
                double ang = p * Math.pow(10000, -2.0 * i / HS);
                cos[p * half + i] = (float) Math.cos(ang);
                sin[p * half + i] = (float) Math.sin(ang);
            }
        int[] pos = {0, 3, 7, 19, 1};
        float[] x = rand(r, rows * NH * HS, 1), f = x.clone(), s = x.clone();
        Kernels.rope(f, pos, cos, sin, rows, NH, HS);
        KernelsScalar.rope(s, pos, cos, sin, rows, NH, HS);
        close(f, s, 1e-6, "rope");
        // the backward: the scalar twin, and the inverse rotation (rope is orthogonal), accumulating into dx
        for (int R : new int[] {HS, Math.max(2, HS / 2 / 2 * 2)}) {
            int h2 = R / 2;
            float[] c2 = new float[maxPos * h2], s2 = new float[maxPos * h2];
            for (int p = 0; p < maxPos; p++)
                for (int i = 0; i < h2; i++) { c2[p * h2 + i] = cos[p * half + i]; s2[p * h2 + i] = sin[p * half + i]; }
            float[] dy = rand(r, x.length, 1), base = rand(r, x.length, 1), dxF = base.clone(), dxS = base.clone();
            Kernels.ropeBackwardAdd(dxF, dy, pos, c2, s2, rows, NH, HS, R);
            KernelsScalar.ropeBackwardAdd(dxS, dy, pos, c2, s2, rows, NH, HS, R);
            close(dxF, dxS, 1e-5, "rope backward R=" + R);
            float[] rotated = x.clone(), back = new float[x.length];
            Kernels.rope(rotated, pos, c2, s2, rows, NH, HS, R);
            Kernels.ropeBackwardAdd(back, rotated, pos, c2, s2, rows, NH, HS, R);
            close(back, x, 1e-5, "rope backward undoes rope, R=" + R);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 3, 8, 17})
    void attentionMatchesScalarWithGqaCacheAndPadding(int T) {
        Random r = new Random(T);
        int B = 2, NH = 6, KVH = 2, HS = 20, maxT = 32, start = 5;
        float[] q = rand(r, B * T * NH * HS, 1), k = rand(r, B * KVH * maxT * HS, 1), v = rand(r, B * KVH * maxT * HS, 1);
        int[] pad = {0, 3};
        float[] f = new float[q.length], s = new float[q.length];
        for (int window : new int[] {0, 4}) {
            Kernels.attention(f, q, k, v, pad, B, T, NH, KVH, HS, maxT, start, window);
            KernelsScalar.attention(s, q, k, v, pad, B, T, NH, KVH, HS, maxT, start, window);
            close(f, s, 1e-5, "attention window " + window);
        }
        // a prompt adapter's 2 virtual slots before the padding: row 1's padding is [2, 5)
        for (int window : new int[] {0, 4}) {
            Kernels.attention(f, q, k, v, pad, 2, B, T, NH, KVH, HS, maxT, 0, window);
            KernelsScalar.attention(s, q, k, v, pad, 2, B, T, NH, KVH, HS, maxT, 0, window);
            close(f, s, 1e-5, "attention with virtual slots, window " + window);
        }
    }
}
