package dev.peft4j.autograd;

import static dev.peft4j.autograd.GradCheckTest.TOL;
import static dev.peft4j.autograd.GradCheckTest.backward;
import static dev.peft4j.autograd.GradCheckTest.check;
import static dev.peft4j.autograd.GradCheckTest.d;
import static dev.peft4j.autograd.GradCheckTest.refLinear;
import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.tuner.lora.DoraAdapter;
import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.lora.LoraAdapter;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * DoRA's backward against central differences of a double-precision reference written here in PEFT's
 * own form (lora/layer.py Linear.forward + dora.py DoraLinearLayer.forward):
 *   no dropout: result += (c − 1)·(result − bias) + c·s·B·A·x;  dropout: result += (c − 1)·(xd·Wᵀ) + c·s·B·A·xd,
 * c = m / ‖W + s·B·A‖ with the norm a constant (PEFT detaches it): the reference takes it from the
 * unperturbed A, B, so the numeric gradient is the one of the detached graph.
 */
class DoraGradCheckTest {
    final Random rnd = new Random(11);

    float[] rand(int n, double scale) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextGaussian() * scale);
        return x;
    }

    /** ‖W + s·B·A‖ per output row, double. */
    static double[] norm(float[] w, float[] A, float[] B, int out, int in, int r, double s) {
        double[] n = new double[out];
        for (int o = 0; o < out; o++) {
            double ss = 0;
            for (int i = 0; i < in; i++) {
                double v = w[o * in + i];
                for (int j = 0; j < r; j++) v += s * B[o * r + j] * A[j * in + i];
                ss += v * v;
            }
            n[o] = Math.sqrt(ss);
        }
        return n;
    }

    /** One DoRA adapter, with and without dropout: dx, dA, dB, dm; the frozen W and bias get no gradient. */
    @Test
    void doraLinearFrozenBaseWithAndWithoutDropout() {
        int in = 6, out = 5, r = 2, rows = 4;
        double s = 1.5;
        Tensor w = Tensor.frozen("w", rand(out * in, 1), out, in), bias = Tensor.frozen("b", rand(out, 1), out);
        for (float p : new float[] {0f, 0.3f}) {
            Tensor x = Tensor.param("x", rand(rows * in, 1), rows, in);
            Tensor A = Tensor.param("A", rand(r * in, 1), r, in), B = Tensor.param("B", rand(out * r, 1), out, r);
            Tensor m = Tensor.param("m", rand(out, 2), out);
            Linear lin = new Linear("m", w, bias, false);
            lin.addAdapter("default", new DoraAdapter(A, B, s, p, m));
            lin.setActive(List.of("default"));
            float[] g = rand(rows * out, 1);
            Tape tape = new Tape(5);
            backward(tape, lin.forward(tape, x), g);
            float[] mask = p == 0f ? null : Ops.dropoutMask(new Tape(5), rows * in, p);     // the mask the op drew
            double[] nrm = norm(w.data, A.data, B.data, out, in, r, s);                       // detached: a constant
            Function<double[][], double[]> f = a -> {
                double[] result = refLinear(a[0], d(w.data), d(bias.data), in, out);
                double[] xd = a[0].clone();
                if (mask != null) for (int i = 0; i < xd.length; i++) xd[i] *= mask[i];
                double[] lora = refLinear(refLinear(xd, a[1], null, in, r), a[2], null, r, out);
                double[] baseResult = mask == null ? result.clone() : refLinear(xd, d(w.data), null, in, out);
                for (int row = 0; row < rows; row++)
                    for (int o = 0; o < out; o++) {
                        int i = row * out + o;
                        if (mask == null) baseResult[i] -= bias.data[o];
                        double c = a[3][o] / nrm[o];
                        result[i] += (c - 1) * baseResult[i] + c * lora[i] * s;
                    }
                return result;
            };
            double[][] inp = {d(x.data), d(A.data), d(B.data), d(m.data)};
            check("dora dx p=" + p, x, inp, 0, g, f, TOL);
            check("dora dA p=" + p, A, inp, 1, g, f, TOL);
            check("dora dB p=" + p, B, inp, 2, g, f, TOL);
            check("dora dm p=" + p, m, inp, 3, g, f, TOL);
            assertThat(w.hasGrad()).as("frozen base weight never gets a gradient buffer").isFalse();
            assertThat(bias.hasGrad()).isFalse();
        }
    }

    /**
     * A plain LoRA adapter then a DoRA adapter active on one layer (one peft_type, as in PEFT): LoRA's
     * forward hands over, and DoRA rescales the running result, LoRA's share included, as PEFT's loop does.
     */
    @Test
    void loraThenDoraActiveTogether() {
        int in = 5, out = 4, r1 = 2, r2 = 3, rows = 3;
        double s1 = 0.5, s2 = 2.0;
        Tensor w = Tensor.frozen("w", rand(out * in, 1), out, in), bias = Tensor.frozen("b", rand(out, 1), out);
        Tensor x = Tensor.param("x", rand(rows * in, 1), rows, in);
        Tensor A1 = Tensor.param("A1", rand(r1 * in, 1), r1, in), B1 = Tensor.param("B1", rand(out * r1, 1), out, r1);
        Tensor A2 = Tensor.param("A2", rand(r2 * in, 1), r2, in), B2 = Tensor.param("B2", rand(out * r2, 1), out, r2);
        Tensor m = Tensor.param("m", rand(out, 2), out);
        Linear lin = new Linear("m", w, bias, false);
        lin.addAdapter("a", new LoraAdapter(A1, B1, s1, 0f));
        lin.addAdapter("b", new DoraAdapter(A2, B2, s2, 0f, m));
        lin.setActive(List.of("a", "b"));
        float[] g = rand(rows * out, 1);
        Tape tape = new Tape(0);
        backward(tape, lin.forward(tape, x), g);
        double[] nrm = norm(w.data, A2.data, B2.data, out, in, r2, s2);
        Function<double[][], double[]> f = a -> {
            double[] result = refLinear(a[0], d(w.data), d(bias.data), in, out);
            double[] l1 = refLinear(refLinear(a[0], a[1], null, in, r1), a[2], null, r1, out);
            for (int i = 0; i < result.length; i++) result[i] += s1 * l1[i];
            double[] l2 = refLinear(refLinear(a[0], a[3], null, in, r2), a[4], null, r2, out);
            for (int row = 0; row < rows; row++)
                for (int o = 0; o < out; o++) {
                    int i = row * out + o;
                    double c = a[5][o] / nrm[o], baseResult = result[i] - bias.data[o];
                    result[i] += (c - 1) * baseResult + c * l2[i] * s2;
                }
            return result;
        };
        double[][] inp = {d(x.data), d(A1.data), d(B1.data), d(A2.data), d(B2.data), d(m.data)};
        check("lora+dora dx", x, inp, 0, g, f, TOL);
        check("lora+dora dA1", A1, inp, 1, g, f, TOL);
        check("lora+dora dB1", B1, inp, 2, g, f, TOL);
        check("lora+dora dA2", A2, inp, 3, g, f, TOL);
        check("lora+dora dB2", B2, inp, 4, g, f, TOL);
        check("lora+dora dm", m, inp, 5, g, f, TOL);
    }
}
