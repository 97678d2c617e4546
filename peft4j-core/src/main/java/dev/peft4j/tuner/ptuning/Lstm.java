/*
 * Lstm: torch.nn.LSTM(input_size, hidden_size, num_layers, dropout, bidirectional=True,
 * batch_first=True) over one sequence (batch 1, as P-tuning runs its encoder), forward and backward
 * (back-propagation through time), written from PyTorch's documented equations:
 *
 *   a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh          (4H: the gates in PyTorch's order i, f, g, o)
 *   i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)
 *   c_t = f ⊙ c_{t-1} + i ⊙ g        h_t = o ⊙ tanh(c_t)        h_{-1} = c_{-1} = 0
 *
 * Layer k, direction d (forward: t = 0..T-1; reverse: t = T-1..0) has weight_ih_l{k}[_reverse]
 * (4H, in_k), weight_hh_l{k}[_reverse] (4H, H), bias_ih_l{k}[_reverse] (4H), bias_hh_l{k}[_reverse]
 * (4H); in_0 = input_size, in_k = 2H. A layer's output at t is [h_t forward | h_t reverse] (2H); the
 * next layer reads it through dropout (training only, never after the last layer), as PyTorch does.
 * Init as PyTorch's reset_parameters: every tensor U(-1/sqrt(H), 1/sqrt(H)).
 *
 * The recurrence runs in double (a few dozen steps; the saved activations are needed for the
 * backward anyway); inputs, parameters and gradients are the float tensors of the tape.
 */
package dev.peft4j.tuner.ptuning;

import dev.peft4j.autograd.Ops;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.tuner.lora.Lora;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

public final class Lstm {
    private final int inputSize, hidden, layers;
    private final float dropout;
    /** [layer][direction] -> {weight_ih, weight_hh, bias_ih, bias_hh}. */
    private final Tensor[][][] w;

    /** A fresh LSTM with PyTorch's init drawn from rnd; parameter names prefix + "weight_ih_l0" etc. */
    public Lstm(String prefix, int inputSize, int hidden, int layers, float dropout, SplittableRandom rnd) {
        if (inputSize < 1 || hidden < 1 || layers < 1)
            throw new IllegalArgumentException("LSTM sizes must be >= 1 (input " + inputSize + ", hidden " + hidden + ", layers " + layers + ")");
        if (!(dropout >= 0f && dropout < 1f))
            throw new IllegalArgumentException("LSTM dropout must be in [0, 1) (got " + dropout + ")");
        this.inputSize = inputSize;
        this.hidden = hidden;
        this.layers = layers;
        this.dropout = dropout;
        this.w = new Tensor[layers][2][];
        double bound = 1.0 / Math.sqrt(hidden);
        for (int k = 0; k < layers; k++) {
            int in = k == 0 ? inputSize : 2 * hidden;
            for (int d = 0; d < 2; d++) {
                String sfx = "_l" + k + (d == 1 ? "_reverse" : "");
                float[] wih = new float[4 * hidden * in], whh = new float[4 * hidden * hidden], bih = new float[4 * hidden], bhh = new float[4 * hidden];
                for (float[] a : new float[][] {wih, whh, bih, bhh}) Lora.uniform(a, bound, rnd);
                w[k][d] = new Tensor[] {
                        Tensor.param(prefix + "weight_ih" + sfx, wih, 4 * hidden, in),
                        Tensor.param(prefix + "weight_hh" + sfx, whh, 4 * hidden, hidden),
                        Tensor.param(prefix + "bias_ih" + sfx, bih, 4 * hidden),
                        Tensor.param(prefix + "bias_hh" + sfx, bhh, 4 * hidden)};
            }
        }
    }

    /** Parameters in torch's named_parameters order: per layer, forward then reverse, each weight_ih, weight_hh, bias_ih, bias_hh. */
    public List<Tensor> parameters() {
        List<Tensor> out = new ArrayList<>();
        for (Tensor[][] layer : w) for (Tensor[] dir : layer) out.addAll(List.of(dir));
        return out;
    }

    public int hiddenSize() { return hidden; }

    /** One direction of one layer over the sequence: what the backward needs. */
    private static final class Run {
        double[][] x, hPrev, cPrev, gates, tanhC;    // per time step (in processing order's own t index)
    }

    /**
     * x: (T, input_size) -> (T, 2H), recorded on tape. Dropout between layers when tape is not null
     * (training) and dropout > 0, masks drawn from the tape's generator.
     */
    public Tensor forward(Tape tape, Tensor x) {
        int T = x.dim(0), H = hidden;
        if (x.dim(1) != inputSize)
            throw new IllegalArgumentException("LSTM input has width " + x.dim(1) + ", expected " + inputSize);
        double[][] in = new double[T][];
        float[] xf = x.data;
        for (int t = 0; t < T; t++) {
            in[t] = new double[inputSize];
            for (int j = 0; j < inputSize; j++) in[t][j] = xf[t * inputSize + j];
        }
        Run[][] runs = new Run[layers][2];
        float[][] masks = new float[layers][];
        double[][] out = null;
        for (int k = 0; k < layers; k++) {
            if (k > 0 && tape != null && dropout > 0f) {
                masks[k] = Ops.dropoutMask(tape, T * 2 * H, dropout);
                double[][] dropped = new double[T][2 * H];
                for (int t = 0; t < T; t++)
                    for (int j = 0; j < 2 * H; j++) dropped[t][j] = in[t][j] * masks[k][t * 2 * H + j];
                in = dropped;
            }
            out = new double[T][2 * H];
            for (int d = 0; d < 2; d++) runs[k][d] = runDirection(k, d, in, out);
            in = out;
        }
        float[] y = new float[T * 2 * H];
        for (int t = 0; t < T; t++) for (int j = 0; j < 2 * H; j++) y[t * 2 * H + j] = (float) out[t][j];
        boolean needed = Tape.needed(tape, x);
        for (Tensor p : parameters()) needed |= Tape.needed(tape, p);
        Tensor result = Tensor.activation(y, needed, T, 2 * H);
        Tensor.GradRef gx = x.gradRef(), gy = result.gradRef();
        if (needed) tape.record(() -> {
            float[] dy = gy.gradOrNull();
            if (dy == null) return;
            double[][] dOut = new double[T][2 * H];
            for (int t = 0; t < T; t++) for (int j = 0; j < 2 * H; j++) dOut[t][j] = dy[t * 2 * H + j];
            for (int k = layers - 1; k >= 0; k--) {
                int width = k == 0 ? inputSize : 2 * H;
                double[][] dIn = new double[T][width];
                for (int d = 0; d < 2; d++) backDirection(k, d, runs[k][d], dOut, dIn);
                if (masks[k] != null)
                    for (int t = 0; t < T; t++) for (int j = 0; j < width; j++) dIn[t][j] *= masks[k][t * width + j];
                dOut = dIn;
            }
            if (gx.requiresGrad()) {
                float[] dx = gx.grad();
                for (int t = 0; t < T; t++) for (int j = 0; j < inputSize; j++) dx[t * inputSize + j] += (float) dOut[t][j];
            }
        });
        return result;
    }

    private static double sigmoid(double a) { return 1.0 / (1.0 + Math.exp(-a)); }

    /** Runs layer k direction d over in (T, in_k), writing h into out[t][d*H ..]. */
    private Run runDirection(int k, int d, double[][] in, double[][] out) {
        int T = in.length, H = hidden, width = in[0].length;
        float[] wih = w[k][d][0].data, whh = w[k][d][1].data, bih = w[k][d][2].data, bhh = w[k][d][3].data;
        Run r = new Run();
        r.x = in;
        r.hPrev = new double[T][];
        r.cPrev = new double[T][];
        r.gates = new double[T][];
        r.tanhC = new double[T][];
        double[] h = new double[H], c = new double[H];
        for (int s = 0; s < T; s++) {
            int t = d == 0 ? s : T - 1 - s;
            double[] a = new double[4 * H];
            for (int row = 0; row < 4 * H; row++) {
                double acc = (double) bih[row] + bhh[row];
                int wi = row * width, wh = row * H;
                for (int j = 0; j < width; j++) acc += wih[wi + j] * in[t][j];
                for (int j = 0; j < H; j++) acc += whh[wh + j] * h[j];
                a[row] = acc;
            }
            double[] gates = new double[4 * H], cNew = new double[H], tc = new double[H], hNew = new double[H];
            for (int j = 0; j < H; j++) {
                double i = sigmoid(a[j]), f = sigmoid(a[H + j]), g = Math.tanh(a[2 * H + j]), o = sigmoid(a[3 * H + j]);
                gates[j] = i;
                gates[H + j] = f;
                gates[2 * H + j] = g;
                gates[3 * H + j] = o;
                cNew[j] = f * c[j] + i * g;
                tc[j] = Math.tanh(cNew[j]);
                hNew[j] = o * tc[j];
                out[t][d * H + j] = hNew[j];
            }
            r.hPrev[t] = h;
            r.cPrev[t] = c;
            r.gates[t] = gates;
            r.tanhC[t] = tc;
            h = hNew;
            c = cNew;
        }
        return r;
    }

    /** BPTT of layer k direction d: dOut (T, 2H) -> accumulates dIn (T, in_k) and the parameter gradients. */
    private void backDirection(int k, int d, Run r, double[][] dOut, double[][] dIn) {
        int T = dOut.length, H = hidden, width = dIn[0].length;
        Tensor[] p = w[k][d];
        float[] wih = p[0].data, whh = p[1].data;
        double[] dWih = new double[4 * H * width], dWhh = new double[4 * H * H], db = new double[4 * H];
        double[] dhNext = new double[H], dcNext = new double[H];
        for (int s = T - 1; s >= 0; s--) {
            int t = d == 0 ? s : T - 1 - s;
            double[] gates = r.gates[t], tc = r.tanhC[t], cPrev = r.cPrev[t], hPrev = r.hPrev[t];
            double[] da = new double[4 * H], dc = new double[H];
            for (int j = 0; j < H; j++) {
                double i = gates[j], f = gates[H + j], g = gates[2 * H + j], o = gates[3 * H + j];
                double dh = dOut[t][d * H + j] + dhNext[j];
                double dcj = dh * o * (1 - tc[j] * tc[j]) + dcNext[j];
                da[j] = dcj * g * i * (1 - i);
                da[H + j] = dcj * cPrev[j] * f * (1 - f);
                da[2 * H + j] = dcj * i * (1 - g * g);
                da[3 * H + j] = dh * tc[j] * o * (1 - o);
                dc[j] = dcj * f;
            }
            double[] dh = new double[H];
            for (int row = 0; row < 4 * H; row++) {
                double g = da[row];
                if (g == 0) continue;
                db[row] += g;
                int wi = row * width, wh = row * H;
                for (int j = 0; j < width; j++) {
                    dWih[wi + j] += g * r.x[t][j];
                    dIn[t][j] += g * wih[wi + j];
                }
                for (int j = 0; j < H; j++) {
                    dWhh[wh + j] += g * hPrev[j];
                    dh[j] += g * whh[wh + j];
                }
            }
            dhNext = dh;
            dcNext = dc;
        }
        accumulate(p[0], dWih);
        accumulate(p[1], dWhh);
        accumulate(p[2], db);
        accumulate(p[3], db);
    }

    private static void accumulate(Tensor t, double[] g) {
        if (!t.requiresGrad) return;
        float[] dst = t.grad();
        for (int i = 0; i < g.length; i++) dst[i] += (float) g[i];
    }
}
