package dev.peft4j.autograd;

import static dev.peft4j.autograd.GradCheckTest.backward;
import static dev.peft4j.autograd.GradCheckTest.check;
import static dev.peft4j.autograd.GradCheckTest.d;
import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.tuner.ptuning.PTuningConfig.EncoderType;
import dev.peft4j.tuner.ptuning.PromptEncoder;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * P-tuning's prompt encoder (MLP; bidirectional multi-layer LSTM + MLP head, with and without dropout
 * between LSTM layers) against finite differences of a double-precision reimplementation written
 * here from the equations (GradCheckTest style): every encoder tensor, for L = Σ g · encoder().
 */
class PTuningGradCheckTest {
    final Random rnd = new Random(12);

    float[] rand(int n, double scale) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextGaussian() * scale);
        return x;
    }

    /** x (rows, in) -> x W^T + b with W (out, in). */
    static double[] lin(double[] x, double[] w, double[] b, int rows, int in, int out) {
        double[] y = new double[rows * out];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < out; o++) {
                double s = b[o];
                for (int i = 0; i < in; i++) s += x[r * in + i] * w[o * in + i];
                y[r * out + o] = s;
            }
        return y;
    }

    static double[] relu(double[] x) {
        double[] y = x.clone();
        for (int i = 0; i < y.length; i++) y[i] = Math.max(0, y[i]);
        return y;
    }

    static double sig(double a) { return 1 / (1 + Math.exp(-a)); }

    /** One LSTM direction: x (T, in) -> h (T, H) written at column offset off of out (T, 2H). */
    static void lstmDir(double[] x, int T, int in, int H, double[] wih, double[] whh, double[] bih, double[] bhh,
                        boolean reverse, double[] out, int off) {
        double[] h = new double[H], c = new double[H];
        for (int s = 0; s < T; s++) {
            int t = reverse ? T - 1 - s : s;
            double[] a = new double[4 * H];
            for (int r = 0; r < 4 * H; r++) {
                a[r] = bih[r] + bhh[r];
                for (int j = 0; j < in; j++) a[r] += wih[r * in + j] * x[t * in + j];
                for (int j = 0; j < H; j++) a[r] += whh[r * H + j] * h[j];
            }
            double[] hn = new double[H];
            for (int j = 0; j < H; j++) {
                double i = sig(a[j]), f = sig(a[H + j]), g = Math.tanh(a[2 * H + j]), o = sig(a[3 * H + j]);
                c[j] = f * c[j] + i * g;
                hn[j] = o * Math.tanh(c[j]);
                out[t * 2 * H + off + j] = hn[j];
            }
            h = hn;
        }
    }

    /** The encoder in double: a = tensors in PromptEncoder.parameters() order; masks[k] the dropout mask before layer k (or null). */
    static double[] ref(double[][] a, EncoderType type, int P, int D, int H, int layers, double[][] masks) {
        double[] x = a[0];
        int k = 1;
        if (type == EncoderType.LSTM) {
            int in = D;
            for (int l = 0; l < layers; l++) {
                if (masks != null && masks[l] != null) {
                    x = x.clone();
                    for (int i = 0; i < x.length; i++) x[i] *= masks[l][i];
                }
                double[] out = new double[P * 2 * H];
                lstmDir(x, P, in, H, a[k], a[k + 1], a[k + 2], a[k + 3], false, out, 0);
                lstmDir(x, P, in, H, a[k + 4], a[k + 5], a[k + 6], a[k + 7], true, out, H);
                k += 8;
                x = out;
                in = 2 * H;
            }
            x = relu(lin(x, a[k], a[k + 1], P, 2 * H, 2 * H));
            return lin(x, a[k + 2], a[k + 3], P, 2 * H, D);
        }
        x = relu(lin(x, a[k], a[k + 1], P, D, H));
        x = relu(lin(x, a[k + 2], a[k + 3], P, H, H));
        return lin(x, a[k + 4], a[k + 5], P, H, D);
    }

    void checkEncoder(EncoderType type, int P, int D, int H, int layers, float dropout) {
        PromptEncoder enc = new PromptEncoder("a", type, P, D, H, layers, dropout, 3);
        List<Tensor> params = enc.parameters();
        // the init is small; spread the values so that ReLUs and gates take both sides
        for (Tensor t : params) {
            float[] r = rand(t.size(), 0.6);
            System.arraycopy(r, 0, t.data, 0, r.length);
        }
        long seed = 41;
        double[][] masks = null;
        if (dropout > 0) {
            masks = new double[layers][];
            Tape probe = new Tape(seed);
            for (int l = 1; l < layers; l++) masks[l] = d(Ops.dropoutMask(probe, P * 2 * H, dropout));
        }
        Tape tape = new Tape(seed);
        Tensor y = enc.forward(tape);
        assertThat(y.shape).containsExactly(P, D);
        double[][] inp = new double[params.size()][];
        for (int i = 0; i < inp.length; i++) inp[i] = d(params.get(i).data);
        double[][] m = masks;
        Function<double[][], double[]> f = a -> ref(a, type, P, D, H, layers, m);
        double[] want = f.apply(inp);
        for (int i = 0; i < want.length; i++) assertThat((double) y.data[i]).isCloseTo(want[i], org.assertj.core.data.Offset.offset(1e-5 * (1 + Math.abs(want[i]))));
        float[] g = rand(P * D, 1);
        backward(tape, y, g);
        for (int i = 0; i < params.size(); i++)
            check(type + " d" + params.get(i).name + " dropout " + dropout, params.get(i), inp, i, g, f, 2e-4);
    }

    @Test
    void mlpEncoder() {
        checkEncoder(EncoderType.MLP, 4, 5, 6, 2, 0f);
    }

    @Test
    void lstmEncoderOneLayer() {
        checkEncoder(EncoderType.LSTM, 4, 5, 3, 1, 0f);
    }

    @Test
    void lstmEncoderThreeLayersWithDropoutBetweenLayers() {
        checkEncoder(EncoderType.LSTM, 5, 4, 3, 3, 0.3f);
    }

    @Test
    void inferenceHasNoDropoutAndNamesFollowTorch() {
        PromptEncoder enc = new PromptEncoder("x", EncoderType.LSTM, 3, 4, 2, 2, 0.5f, 1);
        assertThat(enc.parameters()).extracting(t -> t.name).containsExactly("x.embedding.weight",
                "x.lstm_head.weight_ih_l0", "x.lstm_head.weight_hh_l0", "x.lstm_head.bias_ih_l0", "x.lstm_head.bias_hh_l0",
                "x.lstm_head.weight_ih_l0_reverse", "x.lstm_head.weight_hh_l0_reverse", "x.lstm_head.bias_ih_l0_reverse", "x.lstm_head.bias_hh_l0_reverse",
                "x.lstm_head.weight_ih_l1", "x.lstm_head.weight_hh_l1", "x.lstm_head.bias_ih_l1", "x.lstm_head.bias_hh_l1",
                "x.lstm_head.weight_ih_l1_reverse", "x.lstm_head.weight_hh_l1_reverse", "x.lstm_head.bias_ih_l1_reverse", "x.lstm_head.bias_hh_l1_reverse",
                "x.mlp_head.0.weight", "x.mlp_head.0.bias", "x.mlp_head.2.weight", "x.mlp_head.2.bias");
        assertThat(enc.parameters().get(9).shape).containsExactly(8, 4);   // weight_ih_l1: (4H, 2H)
        double[][] inp = enc.parameters().stream().map(t -> d(t.data)).toArray(double[][]::new);
        double[] want = ref(inp, EncoderType.LSTM, 3, 4, 2, 2, null);
        float[] a = enc.forward(null).data, b = enc.forward(null).data;
        assertThat(a).containsExactly(b);
        for (int i = 0; i < want.length; i++) assertThat((double) a[i]).isCloseTo(want[i], org.assertj.core.data.Offset.offset(1e-5));
        // training mode draws a dropout mask: the output changes
        float[] t = enc.forward(new Tape(5)).data;
        assertThat(t).isNotEqualTo(a);
    }
}
