/*
 * Ia3Layer: one (IA)³ adapter on one linear layer, as HF PEFT's IA3Layer / ia3.Linear
 * (peft/tuners/ia3/layer.py): a learned vector l that rescales activations.
 *   feed-forward module:  y = (x ⊙ l) · Wᵀ + b          l: (1, in)   "ia3_l"
 *   any other module:     y = (x · Wᵀ + b) ⊙ l          l: (out, 1)  "ia3_l"  (the bias is scaled too)
 * Several active adapters multiply their vectors (PEFT: ia3_scaling *= ia3_l.flatten()). l starts at
 * ones (init_ia3_weights), so a fresh adapter is the identity.
 *
 * Merge (PEFT's merge): W's columns (feed-forward) or rows (and the bias) times l; unmerge divides by
 * l + 1e-8, as PEFT does (so unmerging is exact only up to that epsilon, as PEFT warns).
 *
 * Backward, with s = Π l over the active adapters (shapes rows x in / rows x out):
 *   feed-forward: xs = x ⊙ s, dxs = dy·W;  dx += dxs ⊙ s;  dl_i = Σ_rows (dxs ⊙ x) · Π_{k≠i} l_k
 *   output:       y0 = x·Wᵀ + b, dy0 = dy ⊙ s;  dx += dy0·W;  dl_i = Σ_rows (dy ⊙ y0) · Π_{k≠i} l_k
 */
package dev.peft4j.tuner.ia3;

import dev.peft4j.autograd.Ops;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.kernels.Gemm;
import dev.peft4j.kernels.Kernels;
import dev.peft4j.nn.AdapterLayer;
import dev.peft4j.nn.Linear;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

public final class Ia3Layer implements AdapterLayer {
    /** PEFT's unmerge epsilon: W / (l + 1e-8). */
    static final float UNMERGE_EPS = 1e-8f;

    public final Tensor l;               // (1, in) feed-forward, (out, 1) otherwise
    public final boolean feedforward;
    private boolean merged;

    public Ia3Layer(Tensor l, boolean feedforward) {
        this.l = l;
        this.feedforward = feedforward;
    }

    @Override public String peftType() { return Ia3Config.PEFT_TYPE; }

    @Override public Forward forward() { return FORWARD; }

    @Override public List<Tensor> parameters() { return List.of(l); }

    @Override public Map<String, Tensor> stateDict() { return Map.of("ia3_l", l); }

    @Override public void checkFits(Linear base) {
        int[] want = feedforward ? new int[] {1, base.in} : new int[] {base.out, 1};
        if (!Arrays.equals(l.shape, want))
            throw new IllegalArgumentException(base.name + ": (IA)³ vector ia3_l has shape " + Arrays.toString(l.shape) + " but this "
                    + (feedforward ? "feed-forward" : "") + " layer (" + base.out + "x" + base.in + ") needs " + Arrays.toString(want));
    }

    @Override public boolean merged() { return merged; }

    @Override public void setMerged(boolean merged) { this.merged = merged; }

    @Override public void merge(Linear base, boolean merge) {
        float[] v = l.data;
        int in = base.in, out = base.out;
        base.updateWeight(w -> {
            for (int o = 0; o < out; o++)
                for (int i = 0; i < in; i++) {
                    float f = feedforward ? v[i] : v[o];
                    w[o * in + i] = merge ? w[o * in + i] * f : w[o * in + i] / (f + UNMERGE_EPS);
                }
        });
        if (!feedforward && base.bias() != null) {
            float[] b = base.bias().data;
            for (int o = 0; o < out; o++) b[o] = merge ? b[o] * v[o] : b[o] / (v[o] + UNMERGE_EPS);
        }
    }

    /** The product of the active vectors without the one at index skip (-1: all of them). */
    private static float[] product(List<Ia3Layer> ls, int n, int skip) {
        float[] s = new float[n];
        Arrays.fill(s, 1f);
        for (int k = 0; k < ls.size(); k++) {
            if (k == skip) continue;
            float[] v = ls.get(k).l.data;
            for (int j = 0; j < n; j++) s[j] *= v[j];
        }
        return s;
    }

    static final Forward FORWARD = (tape, base, x, adapters) -> {
        List<Ia3Layer> ls = new ArrayList<>(adapters.size());
        for (AdapterLayer a : adapters) ls.add((Ia3Layer) a);
        boolean ff = ls.getFirst().feedforward;
        int in = base.in, out = base.out, rows = x.size() / in, n = ff ? in : out;
        Tensor w = base.weight(), b = base.bias();
        float[] s = product(ls, n, -1);
        boolean grad = Tape.needed(tape, x, w, b);
        for (Ia3Layer a : ls) grad |= Tape.needed(tape, a.l);

        float[] xIn = x.data;                                   // what the base product sees
        if (ff) {
            xIn = new float[x.size()];
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < in; j++) xIn[r * in + j] = x.data[r * in + j] * s[j];       // x ⊙ l
        }
        float[] y = new float[rows * out];
        Gemm.matmulNT(y, xIn, w.matrix(), rows, false);          // (rows, out) = xIn·Wᵀ
        if (b != null) Kernels.addBias(y, b.data, rows, out);
        float[] y0 = null;
        if (!ff) {
            y0 = grad ? y.clone() : null;                        // the unscaled output, for dl
            for (int r = 0; r < rows; r++)
                for (int o = 0; o < out; o++) y[r * out + o] *= s[o];                              // (x·Wᵀ + b) ⊙ l
        }
        Tensor t = Tensor.activation(y, grad, rows, out);
        if (!grad) return t;
        Tensor.GradRef gx = x.gradRef(), gt = t.gradRef();
        float[] xData = x.data, xScaled = xIn, yBase = y0;
        tape.record(() -> {
            float[] dy = gt.gradOrNull();
            if (dy == null) return;
            float[] dx = gx.requiresGrad() ? gx.grad() : null;
            if (ff) {
                if (w.requiresGrad) Gemm.matmulTN(w.grad(), dy, xScaled, out, in, rows, true);
                if (b != null && b.requiresGrad) Ops.biasGrad(b.grad(), dy, rows, out);
                float[] dxs = new float[rows * in];
                Gemm.matmulNN(dxs, dy, w.matrix(), rows, false);                                  // (rows, in) = dy·W
                if (dx != null)
                    for (int r = 0; r < rows; r++)
                        for (int j = 0; j < in; j++) dx[r * in + j] += dxs[r * in + j] * s[j];
                float[] ds = new float[in];
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < in; j++) ds[j] += dxs[r * in + j] * xData[r * in + j];
                accumulate(ls, ds, in);
            } else {
                float[] dy0 = new float[rows * out], ds = new float[out];
                for (int r = 0; r < rows; r++)
                    for (int o = 0; o < out; o++) {
                        dy0[r * out + o] = dy[r * out + o] * s[o];
                        ds[o] += dy[r * out + o] * yBase[r * out + o];
                    }
                if (w.requiresGrad) Gemm.matmulTN(w.grad(), dy0, xData, out, in, rows, true);
                if (b != null && b.requiresGrad) Ops.biasGrad(b.grad(), dy0, rows, out);
                if (dx != null) Gemm.matmulNN(dx, dy0, w.matrix(), rows, true);                    // dx += dy0·W
                accumulate(ls, ds, out);
            }
        });
        return t;
    };

    /** dl_i += ds ⊙ Π_{k≠i} l_k for every trainable vector. */
    private static void accumulate(List<Ia3Layer> ls, float[] ds, int n) {
        for (int i = 0; i < ls.size(); i++) {
            Tensor li = ls.get(i).l;
            if (!li.requiresGrad) continue;
            float[] others = product(ls, n, i), g = li.grad();
            for (int j = 0; j < n; j++) g[j] += ds[j] * others[j];
        }
    }
}
