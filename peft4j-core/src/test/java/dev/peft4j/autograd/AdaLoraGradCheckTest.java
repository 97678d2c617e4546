package dev.peft4j.autograd;

import static dev.peft4j.autograd.GradCheckTest.backward;
import static dev.peft4j.autograd.GradCheckTest.check;
import static dev.peft4j.autograd.GradCheckTest.d;
import static dev.peft4j.autograd.GradCheckTest.refLinear;
import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.adalora.AdaLoraLayer;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** AdaLoRA's SVDLinear forward/backward against finite differences of a double reimplementation (GradCheckTest style). */
class AdaLoraGradCheckTest {
    final Random rnd = new Random(11);

    float[] rand(int n, double scale) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextGaussian() * scale);
        return x;
    }

    /** y = x W^T + b + Σ_adapters (x (A ⊙ E)^T B^T) · s / (ranknum + 1e-5), in double. */
    static double[] ref(double[] x, double[] w, double[] b, int in, int out, int rows, double[][] a, int[] ranks, double[] c) {
        double[] y = refLinear(x, w, b, in, out);
        for (int k = 0; k < ranks.length; k++) {
            double[] A = a[3 * k], E = a[3 * k + 1], B = a[3 * k + 2];
            int r = ranks[k];
            for (int row = 0; row < rows; row++)
                for (int j = 0; j < r; j++) {
                    double xa = 0;
                    for (int i = 0; i < in; i++) xa += x[row * in + i] * A[j * in + i] * E[j];
                    for (int o = 0; o < out; o++) y[row * out + o] += xa * B[o * r + j] * c[k];
                }
        }
        return y;
    }

    @Test
    void svdLinearTwoActiveAdaptersAllGradients() {
        int in = 6, out = 5, rows = 4;
        int[] ranks = {3, 2};
        Tensor w = Tensor.frozen("w", rand(out * in, 1), out, in), bias = Tensor.frozen("b", rand(out, 1), out);
        Tensor x = Tensor.param("x", rand(rows * in, 1), rows, in);
        Linear lin = new Linear("m", w, bias, false);
        AdaLoraLayer[] ls = new AdaLoraLayer[2];
        for (int k = 0; k < 2; k++) {
            int r = ranks[k];
            ls[k] = new AdaLoraLayer(Tensor.param("A" + k, rand(r * in, 0.5), r, in), Tensor.param("E" + k, rand(r, 1), r, 1),
                    Tensor.param("B" + k, rand(out * r, 0.5), out, r), 12 + k, 8 + 4 * k, 0f);
            lin.addAdapter("a" + k, ls[k]);
        }
        lin.setActive(List.of("a0", "a1"));
        float[] g = rand(rows * out, 1);
        Tape tape = new Tape(0);
        backward(tape, lin.forward(tape, x), g);
        double[] c = {ls[0].factor(), ls[1].factor()};
        assertThat(c[0]).isCloseTo(8 / (12 + 1e-5), org.assertj.core.data.Offset.offset(1e-6));
        // inputs: x, then A0, E0, B0, A1, E1, B1
        double[][] inp = {d(x.data), d(ls[0].A.data), d(ls[0].E.data), d(ls[0].B.data), d(ls[1].A.data), d(ls[1].E.data), d(ls[1].B.data)};
        Function<double[][], double[]> f = a -> ref(a[0], d(w.data), d(bias.data), in, out, rows,
                new double[][] {a[1], a[2], a[3], a[4], a[5], a[6]}, ranks, c);
        check("adalora dx", x, inp, 0, g, f, GradCheckTest.TOL);
        String[] names = {"A", "E", "B"};
        for (int k = 0; k < 2; k++)
            for (int t = 0; t < 3; t++) {
                Tensor p = ls[k].parameters().get(t == 0 ? 0 : t == 1 ? 2 : 1);          // parameters(): A, B, E
                check("adalora d" + names[t] + k, p, inp, 1 + 3 * k + t, g, f, GradCheckTest.TOL);
            }
        assertThat(w.hasGrad()).isFalse();
    }

    @Test
    void dropoutMasksTheAdapterInputOnlyAndItsGradients() {
        int in = 5, out = 4, rows = 3, r = 2;
        Tensor w = Tensor.frozen("w", rand(out * in, 1), out, in);
        Tensor x = Tensor.param("x", rand(rows * in, 1), rows, in);
        AdaLoraLayer l = new AdaLoraLayer(Tensor.param("A", rand(r * in, 0.5), r, in), Tensor.param("E", rand(r, 1), r, 1),
                Tensor.param("B", rand(out * r, 0.5), out, r), 4, 8, 0.4f);
        Linear lin = new Linear("m", w, null, false);
        lin.addAdapter("a", l);
        lin.setActive(List.of("a"));
        float[] g = rand(rows * out, 1);
        Tape tape = new Tape(123);
        backward(tape, lin.forward(tape, x), g);
        float[] mask = Ops.dropoutMask(new Tape(123), rows * in, 0.4f);      // the same seed draws the same mask
        double c = l.factor();
        double[][] inp = {d(x.data), d(l.A.data), d(l.E.data), d(l.B.data)};
        Function<double[][], double[]> f = a -> {
            double[] y = refLinear(a[0], d(w.data), null, in, out);
            double[] xd = a[0].clone();
            for (int i = 0; i < xd.length; i++) xd[i] *= mask[i];
            double[] delta = ref(xd, new double[out * in], null, in, out, rows, new double[][] {a[1], a[2], a[3]}, new int[] {r}, new double[] {c});
            for (int i = 0; i < y.length; i++) y[i] += delta[i];
            return y;
        };
        check("adalora dropout dx", x, inp, 0, g, f, GradCheckTest.TOL);
        check("adalora dropout dA", l.A, inp, 1, g, f, GradCheckTest.TOL);
        check("adalora dropout dE", l.E, inp, 2, g, f, GradCheckTest.TOL);
        check("adalora dropout dB", l.B, inp, 3, g, f, GradCheckTest.TOL);
    }
}
