package dev.peft4j.autograd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.kernels.Kernels;
import dev.peft4j.kernels.KernelsScalar;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * The pieces Gemma adds: attention with an explicit scale and soft-capped scores (FlashAttention forward and
 * backward across 64-row blocks and window edges, the KV-cache kernel against its scalar twin), and the
 * element-wise ops geglu, softcap, scale and shift — each against double references / finite differences.
 */
class GemmaOpsTest {
    final Random rnd = new Random(14);

    float[] rand(int n, double s) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextGaussian() * s);
        return x;
    }

    /** Attention in double with scores cap·tanh(q·k·scale / cap) (cap 0: none) before the causal / window mask. */
    static double[] ref(double[] q, double[] k, double[] v, int B, int T, int NH, int KVH, int HS, int window, double scale, double cap) {
        double[] out = new double[q.length];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++)
                for (int t = 0; t < T; t++) {
                    int kvh = h / (NH / KVH), from = window > 0 ? Math.max(0, t - window + 1) : 0;
                    double[] s = new double[T];
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int j = from; j <= t; j++) {
                        double d = 0;
                        for (int i = 0; i < HS; i++) d += q[((b * T + t) * NH + h) * HS + i] * k[((b * T + j) * KVH + kvh) * HS + i];
                        s[j] = cap > 0 ? cap * Math.tanh(d * scale / cap) : d * scale;
                        max = Math.max(max, s[j]);
                    }
                    for (int j = from; j <= t; j++) { s[j] = Math.exp(s[j] - max); sum += s[j]; }
                    for (int i = 0; i < HS; i++) {
                        double acc = 0;
                        for (int j = from; j <= t; j++) acc += s[j] / sum * v[((b * T + j) * KVH + kvh) * HS + i];
                        out[((b * T + t) * NH + h) * HS + i] = acc;
                    }
                }
        return out;
    }

    @Test
    void softcappedAttentionForwardAcrossBlocks() {
        int B = 2, NH = 4, KVH = 2, HS = 16;
        for (int T : new int[] {7, 150})
            for (int window : new int[] {0, 5}) {
                float[] q = rand(B * T * NH * HS, 1.5), k = rand(B * T * KVH * HS, 1.5), v = rand(B * T * KVH * HS, 1);
                Tensor y = Attention.forward(null, Tensor.frozen("q", q, B * T, NH * HS), Tensor.frozen("k", k, B * T, KVH * HS),
                        Tensor.frozen("v", v, B * T, KVH * HS), B, T, NH, KVH, HS, window, 0.4f, 2.0f);
                double[] r = ref(GradCheckTest.d(q), GradCheckTest.d(k), GradCheckTest.d(v), B, T, NH, KVH, HS, window, 0.4, 2.0);
                double[] plain = ref(GradCheckTest.d(q), GradCheckTest.d(k), GradCheckTest.d(v), B, T, NH, KVH, HS, window, 0.4, 0);
                double worst = 0, capEffect = 0;
                for (int i = 0; i < r.length; i++) { worst = Math.max(worst, Math.abs(y.data[i] - r[i])); capEffect = Math.max(capEffect, Math.abs(plain[i] - r[i])); }
                assertThat(worst).as("T=%d window=%d max |out - ref|", T, window).isLessThan(1e-5);
                assertThat(capEffect).as("the cap changes the output").isGreaterThan(1e-2);
            }
    }

    @Test
    void softcappedAttentionGradientsMatchFiniteDifferences() {
        // T = 70: two 64-row blocks; window 5 crosses block edges
        for (int window : new int[] {0, 5}) {
            int B = 1, T = 70, NH = 2, KVH = 1, HS = 3;
            Tensor q = Tensor.param("q", rand(T * NH * HS, 1.5), T, NH * HS);
            Tensor k = Tensor.param("k", rand(T * KVH * HS, 1.5), T, KVH * HS);
            Tensor v = Tensor.param("v", rand(T * KVH * HS, 1), T, KVH * HS);
            float[] g = rand(q.size(), 1);
            Tape tape = new Tape(0);
            GradCheckTest.backward(tape, Attention.forward(tape, q, k, v, B, T, NH, KVH, HS, window, 0.9f, 1.0f), g);
            double[][] in = {GradCheckTest.d(q.data), GradCheckTest.d(k.data), GradCheckTest.d(v.data)};
            Function<double[][], double[]> f = a -> ref(a[0], a[1], a[2], B, T, NH, KVH, HS, window, 0.9, 1.0);
            GradCheckTest.check("softcap dq w=" + window, q, in, 0, g, f, GradCheckTest.TOL);
            GradCheckTest.check("softcap dk w=" + window, k, in, 1, g, f, GradCheckTest.TOL);
            GradCheckTest.check("softcap dv w=" + window, v, in, 2, g, f, GradCheckTest.TOL);
        }
    }

    @Test
    void cacheKernelMatchesScalarTwinWithScaleAndCap() {
        int B = 2, T = 9, NH = 6, KVH = 2, HS = 20, maxT = 32, start = 5;
        float[] q = rand(B * T * NH * HS, 1.5), k = rand(B * KVH * maxT * HS, 1.5), v = rand(B * KVH * maxT * HS, 1);
        int[] pad = {0, 3};
        float[] f = new float[q.length], s = new float[q.length], plain = new float[q.length];
        for (int window : new int[] {0, 4}) {
            Kernels.attention(f, q, k, v, pad, 0, B, T, NH, KVH, HS, maxT, start, window, 0.3f, 1.5f);
            KernelsScalar.attention(s, q, k, v, pad, 0, B, T, NH, KVH, HS, maxT, start, window, 0.3, 1.5);
            KernelsScalar.attention(plain, q, k, v, pad, 0, B, T, NH, KVH, HS, maxT, start, window, 0.3, 0);
            double worst = 0, effect = 0;
            for (int i = 0; i < f.length; i++) { worst = Math.max(worst, Math.abs(f[i] - s[i])); effect = Math.max(effect, Math.abs(plain[i] - s[i])); }
            assertThat(worst).as("window %d", window).isLessThan(1e-5);
            assertThat(effect).isGreaterThan(1e-2);
        }
    }

    @Test
    void elementwiseOpsGradients() {
        int n = 40;
        Tensor g = Tensor.param("g", rand(n, 2), 4, 10), u = Tensor.param("u", rand(n, 1), 4, 10);
        float[] dy = rand(n, 1);
        Tape tape = new Tape(0);
        GradCheckTest.backward(tape, Ops.geglu(tape, g, u), dy);
        double[][] in = {GradCheckTest.d(g.data), GradCheckTest.d(u.data)};
        Function<double[][], double[]> geglu = a -> {
            double[] y = new double[n];
            for (int i = 0; i < n; i++) {
                double x = a[0][i];
                y[i] = 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))) * a[1][i];
            }
            return y;
        };
        GradCheckTest.check("geglu dg", g, in, 0, dy, geglu, GradCheckTest.TOL);
        GradCheckTest.check("geglu du", u, in, 1, dy, geglu, GradCheckTest.TOL);

        Tensor x = Tensor.param("x", rand(n, 3), n);
        tape = new Tape(0);
        Tensor y = Ops.shift(tape, Ops.scale(tape, Ops.softcap(tape, x, 2f), 1.5f), 1f);
        GradCheckTest.backward(tape, y, dy);
        double[][] xin = {GradCheckTest.d(x.data)};
        Function<double[][], double[]> f = a -> {
            double[] o = new double[n];
            for (int i = 0; i < n; i++) o[i] = 1.5 * 2 * Math.tanh(a[0][i] / 2) + 1;
            return o;
        };
        double[] want = f.apply(xin);
        for (int i = 0; i < n; i++) assertThat((double) y.data[i]).isCloseTo(want[i], org.assertj.core.api.Assertions.within(1e-5));
        GradCheckTest.check("softcap/scale/shift dx", x, xin, 0, dy, f, GradCheckTest.TOL);
    }
}
