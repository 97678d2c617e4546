package dev.peft4j.autograd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.kernels.Parallel;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * The flash-attention op (Attention / kernels.FlashAttention) against straightforward
 * double-precision attention: forward values, finite-difference gradients at small sizes, the
 * exact gradients (the old P-matrix math, in double) at T = 300, bit-for-bit determinism across
 * runs and thread counts, and memory linear in T.
 */
class AttentionTest {
    final Random rnd = new Random(11);

    float[] rand(int n, double scale) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextGaussian() * scale);
        return x;
    }

    record Shape(int B, int T, int NH, int KVH, int HS, int window) {
        int qSize() { return B * T * NH * HS; }
        int kvSize() { return B * T * KVH * HS; }
    }

    /** Forward + backward through the op with upstream gradient g; returns {out, dq, dk, dv}. */
    static float[][] run(Shape s, float[] q0, float[] k0, float[] v0, float[] g) {
        Tensor q = Tensor.param("q", q0.clone(), s.B * s.T, s.NH * s.HS);
        Tensor k = Tensor.param("k", k0.clone(), s.B * s.T, s.KVH * s.HS);
        Tensor v = Tensor.param("v", v0.clone(), s.B * s.T, s.KVH * s.HS);
        Tape tape = new Tape(0);
        Tensor y = Attention.forward(tape, q, k, v, s.B, s.T, s.NH, s.KVH, s.HS, s.window);
        GradCheckTest.backward(tape, y, g);
        return new float[][] {y.data, q.grad(), k.grad(), v.grad()};
    }

    /** Exact gradients of Σ g ∘ attention(q, k, v) in double, from the full probability matrix. Returns {dq, dk, dv}. */
    static double[][] refBackward(Shape s, float[] q, float[] k, float[] v, float[] g) {
        int B = s.B, T = s.T, NH = s.NH, KVH = s.KVH, HS = s.HS, W = s.window;
        double[] dq = new double[q.length], dk = new double[k.length], dv = new double[v.length];
        double scale = 1 / Math.sqrt(HS);
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++)
                for (int t = 0; t < T; t++) {
                    int kvh = h / (NH / KVH), from = W > 0 ? Math.max(0, t - W + 1) : 0, qo = ((b * T + t) * NH + h) * HS;
                    double[] p = new double[T], dp = new double[T];
                    double max = Double.NEGATIVE_INFINITY, sum = 0, dsum = 0;
                    for (int j = from; j <= t; j++) {
                        double dd = 0;
                        for (int i = 0; i < HS; i++) dd += (double) q[qo + i] * k[((b * T + j) * KVH + kvh) * HS + i];
                        p[j] = dd * scale;
                        max = Math.max(max, p[j]);
                    }
                    for (int j = from; j <= t; j++) { p[j] = Math.exp(p[j] - max); sum += p[j]; }
                    for (int j = from; j <= t; j++) {
                        p[j] /= sum;
                        int ko = ((b * T + j) * KVH + kvh) * HS;
                        for (int i = 0; i < HS; i++) { dp[j] += (double) g[qo + i] * v[ko + i]; dv[ko + i] += p[j] * g[qo + i]; }
                        dsum += p[j] * dp[j];
                    }
                    for (int j = from; j <= t; j++) {
                        double ds = p[j] * (dp[j] - dsum) * scale;
                        int ko = ((b * T + j) * KVH + kvh) * HS;
                        for (int i = 0; i < HS; i++) { dq[qo + i] += ds * k[ko + i]; dk[ko + i] += ds * q[qo + i]; }
                    }
                }
        return new double[][] {dq, dk, dv};
    }

    @Test
    void forwardMatchesDoubleReference() {
        for (int T : new int[] {1, 3, 17, 64, 130, 300})
            for (int window : new int[] {0, 5, 100})
                for (int HS : new int[] {16, 20}) {
                    Shape s = new Shape(2, T, 4, 2, HS, window);
                    float[] q = rand(s.qSize(), 1.5), k = rand(s.kvSize(), 1.5), v = rand(s.kvSize(), 1);
                    Tensor y = Attention.forward(null, Tensor.frozen("q", q, s.B * T, s.NH * HS), Tensor.frozen("k", k, s.B * T, s.KVH * HS),
                            Tensor.frozen("v", v, s.B * T, s.KVH * HS), s.B, T, s.NH, s.KVH, HS, window);
                    double[] ref = GradCheckTest.refAttention(GradCheckTest.d(q), GradCheckTest.d(k), GradCheckTest.d(v), s.B, T, s.NH, s.KVH, HS, window);
                    double worst = 0;
                    for (int i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(y.data[i] - ref[i]));
                    assertThat(worst).as("%s: max |out − ref|", s).isLessThan(1e-5);
                    // with a tape the forward computes the same bits (it only also keeps the log-sum-exp)
                    float[][] r = run(s, q, k, v, rand(s.qSize(), 1));
                    assertThat(r[0]).as("%s: forward with and without a tape", s).isEqualTo(y.data);
                }
    }

    @Test
    void gradientsMatchFiniteDifferencesAcrossBlockBoundaries() {
        // T = 70 spans two 64-row blocks (a full one and a diagonal one); window 5 crosses block edges
        for (int window : new int[] {0, 5, 66}) {
            Shape s = new Shape(1, 70, 2, 1, 3, window);
            Tensor q = Tensor.param("q", rand(s.qSize(), 1), s.T, s.NH * s.HS);
            Tensor k = Tensor.param("k", rand(s.kvSize(), 1), s.T, s.KVH * s.HS);
            Tensor v = Tensor.param("v", rand(s.kvSize(), 1), s.T, s.KVH * s.HS);
            float[] g = rand(q.size(), 1);
            Tape tape = new Tape(0);
            GradCheckTest.backward(tape, Attention.forward(tape, q, k, v, s.B, s.T, s.NH, s.KVH, s.HS, window), g);
            double[][] in = {GradCheckTest.d(q.data), GradCheckTest.d(k.data), GradCheckTest.d(v.data)};
            Function<double[][], double[]> f = a -> GradCheckTest.refAttention(a[0], a[1], a[2], s.B, s.T, s.NH, s.KVH, s.HS, window);
            GradCheckTest.check("flash dq w=" + window, q, in, 0, g, f, GradCheckTest.TOL);
            GradCheckTest.check("flash dk w=" + window, k, in, 1, g, f, GradCheckTest.TOL);
            GradCheckTest.check("flash dv w=" + window, v, in, 2, g, f, GradCheckTest.TOL);
        }
    }

    @Test
    void gradientsMatchTheExactMathAtT300() {
        for (int window : new int[] {0, 5, 100}) {
            Shape s = new Shape(2, 300, 6, 2, 20, window);
            float[] q = rand(s.qSize(), 1.5), k = rand(s.kvSize(), 1.5), v = rand(s.kvSize(), 1), g = rand(s.qSize(), 1);
            float[][] got = run(s, q, k, v, g);
            double[][] ref = refBackward(s, q, k, v, g);
            String[] names = {"dq", "dk", "dv"};
            for (int n = 0; n < 3; n++) {
                double maxRef = 0, maxErr = 0;
                for (int i = 0; i < ref[n].length; i++) {
                    maxRef = Math.max(maxRef, Math.abs(ref[n][i]));
                    maxErr = Math.max(maxErr, Math.abs(ref[n][i] - got[n + 1][i]));
                }
                assertThat(maxErr / maxRef).as("%s %s: max |err| / max |ref|", s, names[n]).isLessThan(1e-4);
            }
        }
    }

    @Test
    void onlyTheInputsThatNeedAGradientGetOne() {
        Shape s = new Shape(1, 40, 2, 1, 8, 0);
        float[] q0 = rand(s.qSize(), 1), k0 = rand(s.kvSize(), 1), v0 = rand(s.kvSize(), 1), g = rand(s.qSize(), 1);
        float[][] all = run(s, q0, k0, v0, g);
        Tensor q = Tensor.frozen("q", q0.clone(), s.T, s.NH * s.HS);
        Tensor k = Tensor.param("k", k0.clone(), s.T, s.KVH * s.HS);
        Tensor v = Tensor.frozen("v", v0.clone(), s.T, s.KVH * s.HS);
        Tape tape = new Tape(0);
        GradCheckTest.backward(tape, Attention.forward(tape, q, k, v, s.B, s.T, s.NH, s.KVH, s.HS, 0), g);
        assertThat(q.hasGrad()).isFalse();
        assertThat(v.hasGrad()).isFalse();
        assertThat(k.grad()).isEqualTo(all[2]);
    }

    @Test
    void bitIdenticalAcrossRunsAndThreadCounts() {
        // the work is split over (batch, KV head) and every sum has a fixed order, so neither the
        // scheduling nor the number of threads can change a bit
        Shape s = new Shape(2, 130, 6, 3, 20, 0);
        Shape sw = new Shape(2, 130, 6, 3, 20, 37);
        int before = Parallel.threads();
        try {
            for (Shape sh : new Shape[] {s, sw}) {
                float[] q = rand(sh.qSize(), 1.5), k = rand(sh.kvSize(), 1.5), v = rand(sh.kvSize(), 1), g = rand(sh.qSize(), 1);
                Parallel.setThreads(2);
                float[][] a = run(sh, q, k, v, g), b = run(sh, q, k, v, g);
                Parallel.setThreads(1);
                float[][] c = run(sh, q, k, v, g);
                Parallel.setThreads(3);
                float[][] d = run(sh, q, k, v, g);
                for (int i = 0; i < 4; i++) {
                    assertThat(b[i]).as("%s part %d: run twice", sh, i).isEqualTo(a[i]);
                    assertThat(c[i]).as("%s part %d: 1 thread vs 2", sh, i).isEqualTo(a[i]);
                    assertThat(d[i]).as("%s part %d: 3 threads vs 2", sh, i).isEqualTo(a[i]);
                }
            }
        } finally {
            Parallel.setThreads(before);
        }
    }

    /** Forward + backward at T = 4096 (B = 1, NH = 2, KVH = 1, HS = 16); run by memoryIsLinearInT in a small-heap JVM. */
    static final class LongSequence {
        public static void main(String[] args) {
            int B = 1, T = 4096, NH = 2, KVH = 1, HS = 16;
            Random r = new Random(5);
            float[] q0 = new float[B * T * NH * HS], k0 = new float[B * T * KVH * HS], v0 = new float[B * T * KVH * HS];
            for (float[] x : new float[][] {q0, k0, v0}) for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            float[] g = new float[q0.length];
            for (int i = 0; i < g.length; i++) g[i] = (float) r.nextGaussian();
            Tensor q = Tensor.param("q", q0, B * T, NH * HS), k = Tensor.param("k", k0, B * T, KVH * HS), v = Tensor.param("v", v0, B * T, KVH * HS);
            Tape tape = new Tape(0);
            GradCheckTest.backward(tape, Attention.forward(tape, q, k, v, B, T, NH, KVH, HS, 0), g);
            double sum = 0;
            for (float[] x : new float[][] {q.grad(), k.grad(), v.grad()}) for (float f : x) sum += f;
            System.out.println(Double.isFinite(sum) ? "ok" : "not finite");
        }
    }

    @Test
    void memoryIsLinearInT() throws Exception {
        // At T = 4096, B = 1, NH = 2 the probability matrix alone would be 2·4096²·4 B = 134 MB (and
        // the old op also held (T, T) scores, P and dP per worker: 3·64 MB more). The flash op keeps
        // the output plus one log-sum-exp per row and the backward works on (T, HS) head slices and
        // 64 x 64 blocks, a few MB in all, so forward + backward run in a JVM with a 48 MB heap.
        List<String> cmd = List.of(ProcessHandle.current().info().command().orElse("java"),
                "-Xmx48m", "-XX:+UseSerialGC", "-Dpeft4j.threads=2", "--add-modules", "jdk.incubator.vector",
                "-cp", System.getProperty("java.class.path"), LongSequence.class.getName());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("T=4096 forward + backward with -Xmx48m; output:%n%s", log).isEqualTo(0);
        assertThat(log).contains("ok");
    }
}
