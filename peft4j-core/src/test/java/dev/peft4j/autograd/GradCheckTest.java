package dev.peft4j.autograd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.lora.LoraAdapter;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Finite-difference gradient checks for every op with a backward. Each op's analytic gradient
 * (float, from the tape) is compared with central differences of an independent double-precision
 * reference forward written here from the formulas, for the scalar L = Σ g ∘ op(inputs) with a
 * random g. Inputs are perturbed one element at a time (h = 1e-6, double).
 */
class GradCheckTest {
    final Random rnd = new Random(7);

    float[] rand(int n, double scale) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextGaussian() * scale);
        return x;
    }

    static double[] d(float[] x) {
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = x[i];
        return out;
    }

    /** Seeds y's gradient with g through a scalar L = Σ g·y, then back-propagates. */
    static void backward(Tape tape, Tensor y, float[] g) {
        Tensor loss = Tensor.activation(new float[] {0f}, true);
        tape.record(() -> { float[] dy = y.grad(); for (int i = 0; i < g.length; i++) dy[i] += g[i] * loss.gradOrNull()[0]; });
        tape.backward(loss);
    }

    /**
     * Checks analytic against numeric gradient of Σ g·ref(inputs) w.r.t. input `which` (inputs in double).
     */
    static void check(String what, Tensor input, double[][] inputs, int which, float[] g,
                      Function<double[][], double[]> ref, double tol) {
        float[] analytic = input.grad();
        double h = 1e-6, maxErr = 0, scale = 1e-3;
        for (float a : analytic) scale = Math.max(scale, Math.abs(a));
        for (int i = 0; i < inputs[which].length; i++) {
            double keep = inputs[which][i];
            inputs[which][i] = keep + h;
            double up = dot(g, ref.apply(inputs));
            inputs[which][i] = keep - h;
            double down = dot(g, ref.apply(inputs));
            inputs[which][i] = keep;
            double numeric = (up - down) / (2 * h);
            maxErr = Math.max(maxErr, Math.abs(numeric - analytic[i]) / scale);
        }
        assertThat(maxErr).as("%s: max |numeric − analytic| / max|grad|", what).isLessThan(tol);
    }

    static double dot(float[] g, double[] y) {
        double s = 0;
        for (int i = 0; i < y.length; i++) s += g[i] * y[i];
        return s;
    }

    static final double TOL = 2e-4;

    // ---------------- double-precision references ----------------

    static double[] refRmsnorm(double[] x, double[] w, int C, double eps) {
        double[] y = new double[x.length];
        for (int r = 0; r < x.length / C; r++) {
            double ss = 0;
            for (int i = 0; i < C; i++) ss += x[r * C + i] * x[r * C + i];
            double inv = 1 / Math.sqrt(ss / C + eps);
            for (int i = 0; i < C; i++) y[r * C + i] = x[r * C + i] * inv * w[i];
        }
        return y;
    }

    static double[] refLayernorm(double[] x, double[] w, double[] b, int C, double eps) {
        double[] y = new double[x.length];
        for (int r = 0; r < x.length / C; r++) {
            double m = 0, v = 0;
            for (int i = 0; i < C; i++) m += x[r * C + i];
            m /= C;
            for (int i = 0; i < C; i++) v += (x[r * C + i] - m) * (x[r * C + i] - m);
            double rs = 1 / Math.sqrt(v / C + eps);
            for (int i = 0; i < C; i++) y[r * C + i] = (x[r * C + i] - m) * rs * w[i] + b[i];
        }
        return y;
    }

    /** y = x·Wᵀ + b. */
    static double[] refLinear(double[] x, double[] w, double[] b, int in, int out) {
        int rows = x.length / in;
        double[] y = new double[rows * out];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < out; o++) {
                double s = b == null ? 0 : b[o];
                for (int i = 0; i < in; i++) s += x[r * in + i] * w[o * in + i];
                y[r * out + o] = s;
            }
        return y;
    }

    static double[] refAttention(double[] q, double[] k, double[] v, int B, int T, int NH, int KVH, int HS, int window) {
        double[] out = new double[q.length];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++)
                for (int t = 0; t < T; t++) {
                    int kvh = h / (NH / KVH), from = window > 0 ? Math.max(0, t - window + 1) : 0;
                    double[] s = new double[T];
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int j = from; j <= t; j++) {
                        double dd = 0;
                        for (int i = 0; i < HS; i++) dd += q[((b * T + t) * NH + h) * HS + i] * k[((b * T + j) * KVH + kvh) * HS + i];
                        s[j] = dd / Math.sqrt(HS);
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

    // ---------------- the checks ----------------

    @Test
    void rmsnorm() {
        int C = 7, rows = 3;
        Tensor x = Tensor.param("x", rand(rows * C, 1), rows, C), w = Tensor.param("w", rand(C, 1), C);
        float[] g = rand(rows * C, 1);
        Tape tape = new Tape(0);
        backward(tape, Ops.rmsnorm(tape, x, w, 1e-5f), g);
        double[][] in = {d(x.data), d(w.data)};
        Function<double[][], double[]> f = a -> refRmsnorm(a[0], a[1], C, 1e-5);
        check("rmsnorm dx", x, in, 0, g, f, TOL);
        check("rmsnorm dw", w, in, 1, g, f, TOL);
    }

    @Test
    void layernorm() {
        int C = 6, rows = 3;
        Tensor x = Tensor.param("x", rand(rows * C, 1), rows, C), w = Tensor.param("w", rand(C, 1), C), b = Tensor.param("b", rand(C, 1), C);
        float[] g = rand(rows * C, 1);
        Tape tape = new Tape(0);
        backward(tape, Ops.layernorm(tape, x, w, b, 1e-5f), g);
        double[][] in = {d(x.data), d(w.data), d(b.data)};
        Function<double[][], double[]> f = a -> refLayernorm(a[0], a[1], a[2], C, 1e-5);
        check("layernorm dx", x, in, 0, g, f, TOL);
        check("layernorm dw", w, in, 1, g, f, TOL);
        check("layernorm db", b, in, 2, g, f, TOL);
    }

    @Test
    void concatAndSliceSequences() {
        int B = 2, Ta = 3, Tb = 4, C = 5, from = 2, len = 4;       // keeps rows [2, 6) of each 7-row sequence
        Tensor a = Tensor.param("a", rand(B * Ta * C, 1), B * Ta, C), b = Tensor.param("b", rand(B * Tb * C, 1), B * Tb, C);
        float[] g = rand(B * len * C, 1);
        Tape tape = new Tape(0);
        backward(tape, Ops.sliceSeq(tape, Ops.concatSeq(tape, a, Ta, b, Tb, B), B, Ta + Tb, from, len), g);
        Function<double[][], double[]> f = in -> {
            int T = Ta + Tb;
            double[] y = new double[B * len * C];
            for (int r = 0; r < B; r++)
                for (int t = 0; t < len; t++) {
                    int src = from + t;
                    for (int c = 0; c < C; c++)
                        y[(r * len + t) * C + c] = src < Ta ? in[0][(r * Ta + src) * C + c] : in[1][(r * Tb + src - Ta) * C + c];
                }
            return y;
        };
        double[][] in = {d(a.data), d(b.data)};
        check("concatSeq/sliceSeq da", a, in, 0, g, f, TOL);
        check("concatSeq/sliceSeq db", b, in, 1, g, f, TOL);
    }

    @Test
    void embeddingAddAndSplit() {
        int V = 5, C = 6;
        int[] ids = {3, 1, 3, 0};
        Tensor table = Tensor.param("wte", rand(V * C, 1), V, C);
        Tensor other = Tensor.param("o", rand(ids.length * C, 1), ids.length, C);
        float[] g = rand(ids.length * C / 3, 1);
        Tape tape = new Tape(0);
        Tensor sum = Ops.add(tape, Ops.embedding(tape, table, ids), other);
        Tensor[] parts = Ops.split3(tape, sum, C / 3);
        backward(tape, parts[1], g);
        Function<double[][], double[]> f = a -> {
            double[] y = new double[ids.length * C / 3];
            for (int r = 0; r < ids.length; r++)
                for (int i = 0; i < C / 3; i++) y[r * C / 3 + i] = a[0][ids[r] * C + C / 3 + i] + a[1][r * C + C / 3 + i];
            return y;
        };
        double[][] in = {d(table.data), d(other.data)};
        check("embedding dtable", table, in, 0, g, f, TOL);
        check("add dother", other, in, 1, g, f, TOL);
    }

    /** Phi-3: RoPE on the first R of each head's HS values (the rest pass through) after the fused-projection column split. */
    @Test
    void partialRopeAfterColumnSplit() {
        int NH = 2, HS = 40, R = 30, rows = 3, half = R / 2, W = (NH + 2) * HS;   // half 15: vector body and tail
        int[] pos = {0, 4, 9};
        float[] cos = new float[10 * half], sin = new float[10 * half];
        for (int p = 0; p < 10; p++)
            for (int i = 0; i < half; i++) { cos[p * half + i] = (float) (1.3 * Math.cos(p * Math.pow(100, -2.0 * i / R))); sin[p * half + i] = (float) (1.3 * Math.sin(p * Math.pow(100, -2.0 * i / R))); }
        for (int part : new int[] {0, 2}) {                                        // q (turned) and v (passed on)
            Tensor x = Tensor.param("x", rand(rows * W, 1), rows, W);
            int width = part == 0 ? NH * HS : HS, from = part == 0 ? 0 : (NH + 1) * HS;
            float[] g = rand(rows * width, 1);
            Tape tape = new Tape(0);
            Tensor[] parts = Ops.splitColumns(tape, x, NH * HS, HS, HS);           // q | k | v of a fused qkv_proj
            backward(tape, part == 0 ? Ops.rope(tape, parts[0], pos, cos, sin, NH, HS, R) : parts[2], g);
            check("split part " + part + (part == 0 ? " + partial rope" : "") + " dx", x, new double[][] {d(x.data)}, 0, g, a -> {
                double[] y = new double[rows * width];
                for (int r = 0; r < rows; r++) {
                    for (int i = 0; i < width; i++) y[r * width + i] = a[0][r * W + from + i];
                    if (part == 0)
                        for (int h = 0; h < NH; h++)
                            for (int i = 0; i < half; i++) {
                                int o = r * width + h * HS, src = r * W + h * HS;
                                double c = cos[pos[r] * half + i], sn = sin[pos[r] * half + i];
                                y[o + i] = a[0][src + i] * c - a[0][src + half + i] * sn;
                                y[o + half + i] = a[0][src + half + i] * c + a[0][src + i] * sn;
                            }
                }
                return y;
            }, TOL);
        }
    }

    @Test
    void ropeSwigluGelu() {
        int NH = 2, HS = 6, rows = 3, half = HS / 2;
        int[] pos = {0, 4, 9};
        float[] cos = new float[10 * half], sin = new float[10 * half];
        for (int p = 0; p < 10; p++)
            for (int i = 0; i < half; i++) { cos[p * half + i] = (float) Math.cos(p * Math.pow(100, -2.0 * i / HS)); sin[p * half + i] = (float) Math.sin(p * Math.pow(100, -2.0 * i / HS)); }
        Tensor x = Tensor.param("x", rand(rows * NH * HS, 1), rows, NH * HS);
        float[] g = rand(x.size(), 1);
        Tape tape = new Tape(0);
        backward(tape, Ops.rope(tape, x, pos, cos, sin, NH, HS), g);
        check("rope dx", x, new double[][] {d(x.data)}, 0, g, a -> {
            double[] y = a[0].clone();
            for (int r = 0; r < rows; r++)
                for (int h = 0; h < NH; h++)
                    for (int i = 0; i < half; i++) {
                        int o = (r * NH + h) * HS;
                        double c = cos[pos[r] * half + i], s = sin[pos[r] * half + i];
                        y[o + i] = a[0][o + i] * c - a[0][o + half + i] * s;
                        y[o + half + i] = a[0][o + half + i] * c + a[0][o + i] * s;
                    }
            return y;
        }, TOL);

        int n = 37;                                   // vector body and scalar tail both exercised
        Tensor gt = Tensor.param("g", rand(n, 2), n), ut = Tensor.param("u", rand(n, 1), n);
        float[] g2 = rand(n, 1);
        tape = new Tape(0);
        backward(tape, Ops.swiglu(tape, gt, ut), g2);
        Function<double[][], double[]> sw = a -> {
            double[] y = new double[n];
            for (int i = 0; i < n; i++) y[i] = a[0][i] / (1 + Math.exp(-a[0][i])) * a[1][i];
            return y;
        };
        double[][] in = {d(gt.data), d(ut.data)};
        check("swiglu dgate", gt, in, 0, g2, sw, TOL);
        check("swiglu dup", ut, in, 1, g2, sw, TOL);

        Tensor xg = Tensor.param("x", rand(n, 2), n);
        float[] g3 = rand(n, 1);
        tape = new Tape(0);
        backward(tape, Ops.geluTanh(tape, xg), g3);
        check("gelu dx", xg, new double[][] {d(xg.data)}, 0, g3, a -> {
            double[] y = new double[n];
            for (int i = 0; i < n; i++) { double v = a[0][i]; y[i] = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))); }
            return y;
        }, TOL);
    }

    @Test
    void linearWithTrainableWeightAndBias() {
        int in = 5, out = 4, rows = 3;
        Tensor x = Tensor.param("x", rand(rows * in, 1), rows, in), w = Tensor.param("w", rand(out * in, 1), out, in), b = Tensor.param("b", rand(out, 1), out);
        float[] g = rand(rows * out, 1);
        Tape tape = new Tape(0);
        backward(tape, Ops.linear(tape, x, w, b), g);
        double[][] inp = {d(x.data), d(w.data), d(b.data)};
        Function<double[][], double[]> f = a -> refLinear(a[0], a[1], a[2], in, out);
        check("linear dx", x, inp, 0, g, f, TOL);
        check("linear dW", w, inp, 1, g, f, TOL);
        check("linear db", b, inp, 2, g, f, TOL);
    }

    @Test
    void loraLinearFrozenBaseWithAndWithoutDropout() {
        int in = 6, out = 5, r = 2, rows = 4;
        Tensor w = Tensor.frozen("w", rand(out * in, 1), out, in), bias = Tensor.frozen("b", rand(out, 1), out);
        for (float p : new float[] {0f, 0.3f}) {
            Tensor x = Tensor.param("x", rand(rows * in, 1), rows, in);
            Tensor A = Tensor.param("A", rand(r * in, 1), r, in), B = Tensor.param("B", rand(out * r, 1), out, r);
            Linear lin = new Linear("m", w, bias, false);
            lin.addAdapter("default", new LoraAdapter(A, B, 1.5, p));
            lin.setActive(List.of("default"));
            float[] g = rand(rows * out, 1);
            Tape tape = new Tape(11);
            backward(tape, lin.forward(tape, x), g);
            // the dropout mask the op drew: replay the tape's generator
            float[] mask = p == 0f ? null : Ops.dropoutMask(new Tape(11), rows * in, p);
            Function<double[][], double[]> f = a -> {
                double[] xd = a[0].clone();
                if (mask != null) for (int i = 0; i < xd.length; i++) xd[i] *= mask[i];
                double[] base = refLinear(a[0], d(w.data), d(bias.data), in, out);
                double[] xa = refLinear(xd, a[1], null, in, r), lo = refLinear(xa, a[2], null, r, out);
                for (int i = 0; i < base.length; i++) base[i] += 1.5 * lo[i];
                return base;
            };
            double[][] inp = {d(x.data), d(A.data), d(B.data)};
            check("lora dx p=" + p, x, inp, 0, g, f, TOL);
            check("lora dA p=" + p, A, inp, 1, g, f, TOL);
            check("lora dB p=" + p, B, inp, 2, g, f, TOL);
            assertThat(w.hasGrad()).as("frozen base weight never gets a gradient buffer").isFalse();
            assertThat(bias.hasGrad()).isFalse();
        }
    }

    /** (IA)³: two active adapters (vectors multiply), input-side (feed-forward) and output-side (bias scaled too). */
    @Test
    void ia3LinearBothSidesTwoActiveAdapters() {
        int in = 6, out = 5, rows = 4;
        Tensor w = Tensor.frozen("w", rand(out * in, 1), out, in), bias = Tensor.frozen("b", rand(out, 1), out);
        for (boolean ff : new boolean[] {true, false}) {
            int n = ff ? in : out;
            int[] shape = ff ? new int[] {1, n} : new int[] {n, 1};
            Tensor x = Tensor.param("x", rand(rows * in, 1), rows, in);
            Tensor l1 = Tensor.param("l1", rand(n, 2), shape), l2 = Tensor.param("l2", rand(n, 3), shape);
            Linear lin = new Linear("m", w, bias, false);
            lin.addAdapter("a", new dev.peft4j.tuner.ia3.Ia3Layer(l1, ff));
            lin.addAdapter("b", new dev.peft4j.tuner.ia3.Ia3Layer(l2, ff));
            lin.setActive(List.of("a", "b"));
            float[] g = rand(rows * out, 4);
            Tape tape = new Tape(0);
            backward(tape, lin.forward(tape, x), g);
            Function<double[][], double[]> f = a -> {
                double[] s = new double[n];
                for (int j = 0; j < n; j++) s[j] = a[1][j] * a[2][j];
                if (ff) {
                    double[] xs = a[0].clone();
                    for (int r = 0; r < rows; r++) for (int j = 0; j < in; j++) xs[r * in + j] *= s[j];
                    return refLinear(xs, d(w.data), d(bias.data), in, out);
                }
                double[] y = refLinear(a[0], d(w.data), d(bias.data), in, out);
                for (int r = 0; r < rows; r++) for (int o = 0; o < out; o++) y[r * out + o] *= s[o];
                return y;
            };
            double[][] inp = {d(x.data), d(l1.data), d(l2.data)};
            check("ia3 dx ff=" + ff, x, inp, 0, g, f, TOL);
            check("ia3 dl1 ff=" + ff, l1, inp, 1, g, f, TOL);
            check("ia3 dl2 ff=" + ff, l2, inp, 2, g, f, TOL);
            assertThat(w.hasGrad()).isFalse();
        }
    }

    @Test
    void attentionCausalGqaAndWindow() {
        int B = 2, T = 5, NH = 4, KVH = 2, HS = 3;
        for (int window : new int[] {0, 3}) {
            Tensor q = Tensor.param("q", rand(B * T * NH * HS, 1), B * T, NH * HS);
            Tensor k = Tensor.param("k", rand(B * T * KVH * HS, 1), B * T, KVH * HS);
            Tensor v = Tensor.param("v", rand(B * T * KVH * HS, 1), B * T, KVH * HS);
            float[] g = rand(q.size(), 1);
            Tape tape = new Tape(0);
            backward(tape, Attention.forward(tape, q, k, v, B, T, NH, KVH, HS, window), g);
            double[][] in = {d(q.data), d(k.data), d(v.data)};
            Function<double[][], double[]> f = a -> refAttention(a[0], a[1], a[2], B, T, NH, KVH, HS, window);
            check("attention dq w=" + window, q, in, 0, g, f, TOL);
            check("attention dk w=" + window, k, in, 1, g, f, TOL);
            check("attention dv w=" + window, v, in, 2, g, f, TOL);
        }
    }

    @Test
    void crossEntropyWithIgnoreIndexAndLastRows() {
        int rows = 4, V = 7, C = V;
        Tensor x = Tensor.param("x", rand(2 * rows * C, 2), 2 * rows, C);
        int[] targets = {3, Ops.IGNORE_INDEX};
        Tape tape = new Tape(0);
        Tensor last = Ops.lastRows(tape, x, 2, rows);               // (2, V) logits
        Tensor loss = Ops.crossEntropy(tape, last, targets);
        tape.backward(loss);
        Function<double[][], double[]> f = a -> {
            int r = rows - 1;                                       // row 0's last position; row 1 ignored
            double max = Double.NEGATIVE_INFINITY, s = 0;
            for (int i = 0; i < V; i++) max = Math.max(max, a[0][r * C + i]);
            for (int i = 0; i < V; i++) s += Math.exp(a[0][r * C + i] - max);
            return new double[] {max + Math.log(s) - a[0][r * C + 3]};
        };
        check("cross-entropy dlogits", x, new double[][] {d(x.data)}, 0, new float[] {1f}, f, TOL);
        double lse = 0;
        for (int i = 0; i < V; i++) lse += Math.exp(x.data[(rows - 1) * C + i]);
        assertThat((double) loss.data[0]).isCloseTo(Math.log(lse) - x.data[(rows - 1) * C + 3], org.assertj.core.api.Assertions.within(1e-5));
    }

    @Test
    void dropoutScalesKeptElementsAndItsGradientIsTheMask() {
        Tensor x = Tensor.param("x", rand(1000, 1), 1000);
        Tape tape = new Tape(3);
        Tensor y = Ops.dropout(tape, x, 0.25f);
        float[] g = rand(1000, 1);
        backward(tape, y, g);
        int dropped = 0;
        for (int i = 0; i < 1000; i++) {
            if (y.data[i] == 0f) { dropped++; assertThat(x.grad()[i]).isEqualTo(0f); }
            else {
                assertThat(y.data[i]).isEqualTo(x.data[i] * (1f / 0.75f));
                assertThat(x.grad()[i]).isEqualTo(g[i] * (1f / 0.75f));
            }
        }
        assertThat(dropped).isBetween(200, 300);
    }
}
