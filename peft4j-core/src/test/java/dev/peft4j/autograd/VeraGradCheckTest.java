package dev.peft4j.autograd;

import static dev.peft4j.autograd.GradCheckTest.TOL;
import static dev.peft4j.autograd.GradCheckTest.backward;
import static dev.peft4j.autograd.GradCheckTest.check;
import static dev.peft4j.autograd.GradCheckTest.d;
import static dev.peft4j.autograd.GradCheckTest.refLinear;
import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.vera.VeraLayer;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * VeRA's fused forward/backward against central differences of a double-precision reference written
 * here from PEFT's formula: y = x·Wᵀ + b + Σ λb ⊙ ((λd ⊙ (x·A_sᵀ))·B_sᵀ), with A_s = vera_A[:, :in] and
 * B_s = vera_B[:out, :] sliced from projections larger than the layer (as for all but the largest layer).
 */
class VeraGradCheckTest {
    final Random rnd = new Random(11);

    float[] rand(int n, double scale) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextGaussian() * scale);
        return x;
    }

    /** λb ⊙ ((λd ⊙ (x·A[:, :in]ᵀ))·B[:out, :]ᵀ) in double, A (r, maxIn), B (maxOut, r). */
    static double[] refVera(double[] x, double[] a, double[] b, double[] ld, double[] lb, int in, int out, int r, int maxIn) {
        int rows = x.length / in;
        double[] y = new double[rows * out];
        for (int q = 0; q < rows; q++) {
            double[] h = new double[r];
            for (int k = 0; k < r; k++) {
                double s = 0;
                for (int i = 0; i < in; i++) s += x[q * in + i] * a[k * maxIn + i];
                h[k] = s * ld[k];
            }
            for (int o = 0; o < out; o++) {
                double s = 0;
                for (int k = 0; k < r; k++) s += h[k] * b[o * r + k];
                y[q * out + o] = lb[o] * s;
            }
        }
        return y;
    }

    @Test
    void veraLinearSlicedProjectionsTwoActiveAdapters() {
        int in = 6, out = 5, rows = 4, maxIn = 9, maxOut = 7, r1 = 3, r2 = 4;
        Tensor w = Tensor.frozen("w", rand(out * in, 1), out, in), bias = Tensor.frozen("b", rand(out, 1), out);
        Tensor x = Tensor.param("x", rand(rows * in, 1), rows, in);
        Tensor a1 = Tensor.frozen("A1", rand(r1 * maxIn, 1), r1, maxIn), b1 = Tensor.frozen("B1", rand(maxOut * r1, 1), maxOut, r1);
        Tensor a2 = Tensor.frozen("A2", rand(r2 * maxIn, 1), r2, maxIn), b2 = Tensor.frozen("B2", rand(maxOut * r2, 1), maxOut, r2);
        Tensor lb1 = Tensor.param("lb1", rand(out, 1), out), ld1 = Tensor.param("ld1", rand(r1, 1), r1);
        Tensor lb2 = Tensor.param("lb2", rand(out, 1), out), ld2 = Tensor.param("ld2", rand(r2, 1), r2);
        Linear lin = new Linear("m", w, bias, false);
        lin.addAdapter("a", new VeraLayer(lb1, ld1, a1, b1, 0f));
        lin.addAdapter("b", new VeraLayer(lb2, ld2, a2, b2, 0f));
        lin.setActive(List.of("a", "b"));
        float[] g = rand(rows * out, 1);
        Tape tape = new Tape(0);
        backward(tape, lin.forward(tape, x), g);
        Function<double[][], double[]> f = p -> {
            double[] y = refLinear(p[0], d(w.data), d(bias.data), in, out);
            double[] u1 = refVera(p[0], d(a1.data), d(b1.data), p[1], p[2], in, out, r1, maxIn);
            double[] u2 = refVera(p[0], d(a2.data), d(b2.data), p[3], p[4], in, out, r2, maxIn);
            for (int i = 0; i < y.length; i++) y[i] += u1[i] + u2[i];
            return y;
        };
        double[][] inp = {d(x.data), d(ld1.data), d(lb1.data), d(ld2.data), d(lb2.data)};
        check("vera dx", x, inp, 0, g, f, TOL);
        check("vera dlambda_d (a)", ld1, inp, 1, g, f, TOL);
        check("vera dlambda_b (a)", lb1, inp, 2, g, f, TOL);
        check("vera dlambda_d (b)", ld2, inp, 3, g, f, TOL);
        check("vera dlambda_b (b)", lb2, inp, 4, g, f, TOL);
        assertThat(w.hasGrad()).isFalse();
        assertThat(a1.hasGrad() || b1.hasGrad() || a2.hasGrad() || b2.hasGrad()).as("projections are frozen").isFalse();

        // the forward itself matches the reference (float vs double)
        float[] y = lin.forward(null, x).data;
        double[] ref = f.apply(new double[][] {d(x.data), d(ld1.data), d(lb1.data), d(ld2.data), d(lb2.data)});
        for (int i = 0; i < y.length; i++) assertThat((double) y[i]).isCloseTo(ref[i], org.assertj.core.data.Offset.offset(1e-5));
    }
}
