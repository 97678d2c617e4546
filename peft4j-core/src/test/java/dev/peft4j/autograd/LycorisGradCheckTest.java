package dev.peft4j.autograd;

import static dev.peft4j.autograd.GradCheckTest.TOL;
import static dev.peft4j.autograd.GradCheckTest.backward;
import static dev.peft4j.autograd.GradCheckTest.check;
import static dev.peft4j.autograd.GradCheckTest.d;
import static dev.peft4j.autograd.GradCheckTest.refLinear;
import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.loha.LoHaLayer;
import dev.peft4j.tuner.lokr.LoKrLayer;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * LoHa / LoKr forward and backward (tuner/loha/LycorisLayer) against central differences of a
 * double-precision reference written here from PEFT's formulas: y = x·Wᵀ + b + Σ x·(mask ⊙ ΔW_i)ᵀ,
 *   LoHa ΔW = (w1a·w1b) ⊙ (w2a·w2b) · alpha/r,   LoKr ΔW = kron(w1, w2) · alpha/r,
 * with rank_dropout's row mask replayed from the tape's random stream (1 where a draw is > p, divided
 * by the mask's mean for LoHa).
 */
class LycorisGradCheckTest {
    final Random rnd = new Random(13);

    float[] rand(int n, double scale) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextGaussian() * scale);
        return x;
    }

    /** a (m, k) · b (k, n) in double. */
    static double[] mm(double[] a, double[] b, int m, int k, int n) {
        double[] c = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int t = 0; t < k; t++) s += a[i * k + t] * b[t * n + j];
                c[i * n + j] = s;
            }
        return c;
    }

    /** y += x · dᵀ, d (out, in). */
    static void addDelta(double[] y, double[] x, double[] d, int in, int out) {
        int rows = x.length / in;
        for (int q = 0; q < rows; q++)
            for (int o = 0; o < out; o++) {
                double s = 0;
                for (int i = 0; i < in; i++) s += x[q * in + i] * d[o * in + i];
                y[q * out + o] += s;
            }
    }

    /** rank_dropout's row mask as the tape draws it (seeded like Tape(seed)). */
    static double[] replayMask(SplittableRandom rng, double p, int out, boolean scale) {
        double[] m = new double[out];
        int kept = 0;
        for (int o = 0; o < out; o++) if (rng.nextDouble() > p) { m[o] = 1; kept++; }
        if (scale && kept > 0) for (int o = 0; o < out; o++) m[o] *= (double) out / kept;
        return m;
    }

    /** LoHa: two active adapters, the first with rank_dropout 0.4 (row mask divided by its mean). */
    @Test
    void lohaTwoActiveAdaptersWithRankDropout() {
        int in = 6, out = 5, rows = 4, r = 2;
        Tensor w = Tensor.frozen("w", rand(out * in, 1), out, in), bias = Tensor.frozen("b", rand(out, 1), out);
        Tensor x = Tensor.param("x", rand(rows * in, 1), rows, in);
        Tensor[] f = new Tensor[8];
        for (int k = 0; k < 8; k++) f[k] = k % 2 == 0 ? Tensor.param("f" + k, rand(out * r, 0.7), out, r) : Tensor.param("f" + k, rand(r * in, 0.7), r, in);
        double alphaA = 3, alphaB = 5;
        Linear lin = new Linear("m", w, bias, false);
        lin.addAdapter("a", new LoHaLayer(f[0], f[1], f[2], f[3], alphaA, 0.4, 0));
        lin.addAdapter("b", new LoHaLayer(f[4], f[5], f[6], f[7], alphaB, 0, 0));
        lin.setActive(List.of("a", "b"));
        float[] g = rand(rows * out, 1);
        long seed = 5;
        Tape tape = new Tape(seed);
        backward(tape, lin.forward(tape, x), g);
        double[] mask = replayMask(new SplittableRandom(seed), 0.4, out, true);
        assertThat(mask).as("the check needs some rows dropped and some kept").contains(0.0).contains(5.0 / java.util.Arrays.stream(mask).filter(v -> v > 0).count());
        Function<double[][], double[]> ref = a -> {
            double[] y = refLinear(a[0], d(w.data), d(bias.data), in, out);
            for (int ad = 0; ad < 2; ad++) {
                int o0 = 1 + 4 * ad;
                double s = (ad == 0 ? alphaA : alphaB) / r;
                double[] p1 = mm(a[o0], a[o0 + 1], out, r, in), p2 = mm(a[o0 + 2], a[o0 + 3], out, r, in);
                double[] dw = new double[out * in];
                for (int i = 0; i < dw.length; i++) dw[i] = p1[i] * p2[i] * s * (ad == 0 ? mask[i / in] : 1);
                addDelta(y, a[0], dw, in, out);
            }
            return y;
        };
        double[][] inp = new double[9][];
        inp[0] = d(x.data);
        for (int k = 0; k < 8; k++) inp[k + 1] = d(f[k].data);
        check("loha dx", x, inp, 0, g, ref, TOL);
        for (int k = 0; k < 8; k++) check("loha factor " + k, f[k], inp, k + 1, g, ref, TOL);
        assertThat(w.hasGrad()).isFalse();
    }

    /** module_dropout 1 skips the adapter while training (PEFT: torch.rand(1) > 1 never holds); eval always applies it. */
    @Test
    void moduleDropoutSkipsTheAdapterOnlyWhileTraining() {
        int in = 4, out = 3, rows = 2, r = 2;
        Tensor w = Tensor.frozen("w", rand(out * in, 1), out, in);
        Tensor x = Tensor.frozen("x", rand(rows * in, 1), rows, in);
        Linear lin = new Linear("m", w, null, false);
        LoHaLayer l = new LoHaLayer(Tensor.param("a", rand(out * r, 1), out, r), Tensor.param("b", rand(r * in, 1), r, in),
                Tensor.param("c", rand(out * r, 1), out, r), Tensor.param("d", rand(r * in, 1), r, in), 2, 0, 1.0);
        float[] base = lin.forward(null, x).data.clone();
        lin.addAdapter("a", l);
        lin.setActive(List.of("a"));
        assertThat(lin.forward(new Tape(1), x).data).containsExactly(base);
        assertThat(lin.forward(null, x).data).isNotEqualTo(base);
    }
    /** kron(a (m, n), b (p, q)) in double: (m·p, n·q). */
    static double[] kron(double[] a, double[] b, int m, int n, int p, int q) {
        double[] c = new double[m * p * n * q];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                for (int k = 0; k < p; k++)
                    for (int l = 0; l < q; l++) c[(i * p + k) * (n * q) + j * q + l] = a[i * n + j] * b[k * q + l];
        return c;
    }

    /**
     * LoKr, both factor layouts on one layer (out 6 = 2·3, in 8 = 2·4, r 2): adapter a has a full w1 and
     * w2 = w2_a·w2_b with rank_dropout 0.5 (mask not rescaled: rank_dropout_scale false), adapter b
     * w1 = w1_a·w1_b (decompose_both) and a full w2.
     */
    @Test
    void lokrFullAndLowRankFactorsWithRankDropout() {
        int in = 8, out = 6, rows = 3, r = 2, oL = 2, oK = 3, iM = 2, iN = 4;
        Tensor w = Tensor.frozen("w", rand(out * in, 1), out, in), bias = Tensor.frozen("b", rand(out, 1), out);
        Tensor x = Tensor.param("x", rand(rows * in, 1), rows, in);
        Tensor aW1 = Tensor.param("aw1", rand(oL * iM, 0.7), oL, iM), aW2a = Tensor.param("aw2a", rand(oK * r, 0.7), oK, r),
                aW2b = Tensor.param("aw2b", rand(r * iN, 0.7), r, iN);
        Tensor bW1a = Tensor.param("bw1a", rand(oL * r, 0.7), oL, r), bW1b = Tensor.param("bw1b", rand(r * iM, 0.7), r, iM),
                bW2 = Tensor.param("bw2", rand(oK * iN, 0.7), oK, iN);
        double alphaA = 3, alphaB = 5;
        Linear lin = new Linear("m", w, bias, false);
        lin.addAdapter("a", new LoKrLayer(r, alphaA, 0.5, 0, false, oL, oK, iM, iN, aW1, null, null, null, aW2a, aW2b));
        lin.addAdapter("b", new LoKrLayer(r, alphaB, 0, 0, false, oL, oK, iM, iN, null, bW1a, bW1b, bW2, null, null));
        lin.setActive(List.of("a", "b"));
        float[] g = rand(rows * out, 1);
        long seed = 2;
        Tape tape = new Tape(seed);
        backward(tape, lin.forward(tape, x), g);
        double[] mask = replayMask(new SplittableRandom(seed), 0.5, out, false);
        assertThat(mask).as("the check needs some rows dropped and some kept").contains(0.0, 1.0);
        Function<double[][], double[]> ref = a -> {
            double[] y = refLinear(a[0], d(w.data), d(bias.data), in, out);
            double[] da = kron(a[1], mm(a[2], a[3], oK, r, iN), oL, iM, oK, iN);
            double[] db = kron(mm(a[4], a[5], oL, r, iM), a[6], oL, iM, oK, iN);
            for (int i = 0; i < da.length; i++) {
                da[i] *= alphaA / r * mask[i / in];
                db[i] *= alphaB / r;
            }
            addDelta(y, a[0], da, in, out);
            addDelta(y, a[0], db, in, out);
            return y;
        };
        Tensor[] ts = {x, aW1, aW2a, aW2b, bW1a, bW1b, bW2};
        double[][] inp = new double[ts.length][];
        for (int k = 0; k < ts.length; k++) inp[k] = d(ts[k].data);
        for (int k = 0; k < ts.length; k++) check("lokr " + ts[k].name, ts[k], inp, k, g, ref, TOL);
        assertThat(w.hasGrad()).isFalse();
    }
}
