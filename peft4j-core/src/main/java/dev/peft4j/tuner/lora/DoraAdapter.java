/*
 * DoraAdapter: a LoRA adapter with DoRA's weight decomposition (use_dora = true on a LoRA config), as
 * HF PEFT 0.14 defines it (tuners/lora/dora.py DoraLinearLayer, lora/layer.py Linear):
 *   W' = m ⊙ (W + s·B·A) / ‖W + s·B·A‖,   m: (out) "lora_magnitude_vector", one per output row;
 *   ‖·‖ the L2 norm of each output row of the (out, in) weight (GPT-2's Conv1D is held (out, in) here,
 *   PEFT's fan_in_fan_out transpose). m starts at ‖W + s·B·A‖ (= ‖W‖ with B = 0), so a fresh adapter
 *   is the identity. The norm is a constant in the backward (PEFT detaches it, DoRA paper §4.3).
 *
 * Forward of one DoRA adapter, c = m / ‖W + s·B·A‖ (per output column of y):
 *   no dropout mask (dropout 0, or not training):  y = b + c ⊙ (x·Wᵀ + s·B·A·x)
 *     (PEFT takes base_result = the running result minus the bias, so with several active adapters
 *     the earlier adapters' contributions are rescaled by c too; this forward does the same);
 *   with a dropout mask, xd = dropout(x):           y = result + (c − 1) ⊙ (xd·Wᵀ) + c ⊙ s·B·A·xd.
 * Plain LoRA adapters active on the same layer (they share peft_type LORA) are applied in order, as
 * PEFT's loop does. Merge: W ← c ⊙ (W + s·B·A) with the norm of the current W kept for unmerge
 * (W ← W / c − s·B·A), as PEFT caches it.
 *
 * LoRA's own forward is untouched: LoraAdapter.FORWARD hands over to this one only when one of the
 * active adapters is a DoraAdapter.
 */
package dev.peft4j.tuner.lora;

import dev.peft4j.nn.AdapterLayer;
import dev.peft4j.nn.Linear;

import dev.peft4j.autograd.Ops;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.kernels.Gemm;
import dev.peft4j.kernels.Kernels;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

public final class DoraAdapter extends LoraAdapter {
    /** PEFT's key after the module name. */
    public static final String MAGNITUDE_KEY = "lora_magnitude_vector";

    public final Tensor magnitude;      // (out)
    private float[] mergedNorm;         // ‖W + s·B·A‖ at merge time, for unmerge

    public DoraAdapter(Tensor A, Tensor B, double scaling, float dropout, Tensor magnitude) {
        super(A, B, scaling, dropout);
        if (magnitude.shape.length != 1 || magnitude.dim(0) != B.dim(0))
            throw new IllegalArgumentException("DoRA lora_magnitude_vector must be (out) = (" + B.dim(0) + ") to match lora_B "
                    + Arrays.toString(B.shape) + "; got " + Arrays.toString(magnitude.shape));
        this.magnitude = magnitude;
    }

    @Override public Forward forward() { return FORWARD; }

    /** DoRA rescales the whole output by its column norms: no additive form (served through forward()). */
    @Override public boolean addToBaseOutput(Linear base, float[] x, int rows, float[] y, int yOff) { return false; }

    @Override public List<Tensor> parameters() { return List.of(A, B, magnitude); }

    @Override public Map<String, Tensor> stateDict() {
        Map<String, Tensor> m = super.stateDict();
        m.put(MAGNITUDE_KEY, magnitude);
        return m;
    }

    @Override public void checkFits(Linear base) {
        super.checkFits(base);
        if (magnitude.size() != base.out)
            throw new IllegalArgumentException(base.name + ": DoRA lora_magnitude_vector has " + magnitude.size()
                    + " values but the layer has " + base.out + " outputs");
    }

    /** ‖W + s·B·A‖ per output row of w (out, in): the DoRA norm, and the magnitude's initial value. */
    public static float[] weightNorm(float[] w, float[] A, float[] B, int out, int in, int r, double scaling) {
        float[] ba = new float[out * in];
        Gemm.matmulNN(ba, B, A, out, in, r, false);                     // (out, in) = B·A
        float s = (float) scaling;
        float[] norm = new float[out];
        for (int o = 0; o < out; o++) {
            double ss = 0;
            for (int i = o * in, e = i + in; i < e; i++) {
                float v = w[i] + s * ba[i];
                ss += (double) v * v;
            }
            norm[o] = (float) Math.sqrt(ss);
        }
        return norm;
    }

    /** ‖W + s·B·A‖ per output row for this adapter on base's current weight. */
    public float[] weightNorm(Linear base) {
        return weightNorm(base.weight().floats(), A.data, B.data, base.out, base.in, r, scaling);
    }

    @Override public void merge(Linear base, boolean merge) {
        int in = base.in, out = base.out;
        float[] delta = deltaWeight(), m = magnitude.data;
        if (merge) {
            float[] norm = new float[out];
            base.updateWeight(w -> {
                for (int o = 0; o < out; o++) {
                    double ss = 0;
                    for (int i = o * in, e = i + in; i < e; i++) {
                        float v = w[i] + delta[i];
                        ss += (double) v * v;
                    }
                    norm[o] = (float) Math.sqrt(ss);
                    float c = m[o] / norm[o];
                    for (int i = o * in, e = i + in; i < e; i++) w[i] = c * (w[i] + delta[i]);
                }
            });
            mergedNorm = norm;
        } else {
            float[] norm = mergedNorm;
            if (norm == null)
                throw new IllegalStateException(base.name + ": this DoRA adapter was not merged here, so the norm to unmerge with is unknown; "
                        + "merge it first");
            base.updateWeight(w -> {
                for (int o = 0; o < out; o++) {
                    float c = m[o] / norm[o];
                    for (int i = o * in, e = i + in; i < e; i++) w[i] = w[i] / c - delta[i];
                }
            });
            mergedNorm = null;
        }
    }

    /** The forward of a layer whose active adapters include a DoRA adapter (plain LoRA ones may be among them). */
    static final Forward FORWARD = (tape, base, x, adapters) -> {
        int n = adapters.size();
        List<LoraAdapter> ls = new ArrayList<>(n);
        for (AdapterLayer a : adapters) ls.add((LoraAdapter) a);
        int in = base.in, out = base.out, rows = x.size() / in;
        Tensor w = base.weight(), b = base.bias();
        boolean grad = Tape.needed(tape, x, w, b);
        for (LoraAdapter a : ls) {
            grad |= Tape.needed(tape, a.A, a.B);
            if (a instanceof DoraAdapter d) grad |= Tape.needed(tape, d.magnitude);
        }
        float[] z = new float[rows * out];                                          // the result without the bias
        Gemm.matmulNT(z, x.data, w.matrix(), rows, false);                            // x·Wᵀ
        float[][] xd = new float[n][], masks = new float[n][], xas = new float[n][], cs = new float[n][], norms = new float[n][],
                vs = new float[n][];
        for (int k = 0; k < n; k++) {
            LoraAdapter a = ls.get(k);
            xd[k] = x.data;
            if (tape != null && a.dropout > 0f) {                                    // dropout only while training
                masks[k] = Ops.dropoutMask(tape, x.size(), a.dropout);
                xd[k] = new float[x.size()];
                for (int j = 0; j < xd[k].length; j++) xd[k][j] = x.data[j] * masks[k][j];
            }
            xas[k] = new float[rows * a.r];
            Gemm.matmulNT(xas[k], xd[k], a.A.data, rows, a.r, in, false);            // (rows, r) = xd·Aᵀ
            for (int j = 0; j < xas[k].length; j++) xas[k][j] *= (float) a.scaling;
            if (!(a instanceof DoraAdapter d)) {
                Gemm.matmulNT(z, xas[k], a.B.data, rows, out, a.r, true);            // z += s·B·A·xd
                continue;
            }
            float[] norm = d.weightNorm(base), m = d.magnitude.data, c = new float[out];
            for (int o = 0; o < out; o++) c[o] = m[o] / norm[o];
            norms[k] = norm;
            cs[k] = c;
            if (masks[k] == null) {                                                  // z = c ⊙ (z + s·B·A·x)
                Gemm.matmulNT(z, xas[k], a.B.data, rows, out, a.r, true);
                if (grad) vs[k] = z.clone();
                for (int row = 0; row < rows; row++)
                    for (int o = 0, i = row * out; o < out; o++, i++) z[i] *= c[o];
            } else {                                                                 // z += (c − 1) ⊙ xd·Wᵀ + c ⊙ s·B·A·xd
                float[] u = new float[rows * out], q = new float[rows * out];
                Gemm.matmulNT(u, xas[k], a.B.data, rows, out, a.r, false);
                Gemm.matmulNT(q, xd[k], w.matrix(), rows, false);
                for (int row = 0; row < rows; row++)
                    for (int o = 0, i = row * out; o < out; o++, i++) {
                        z[i] += (c[o] - 1f) * q[i] + c[o] * u[i];
                        u[i] += q[i];                                                // q + u, for dm
                    }
                if (grad) vs[k] = u;
            }
        }
        if (b != null) Kernels.addBias(z, b.data, rows, out);
        Tensor t = Tensor.activation(z, grad, rows, out);
        if (!grad) return t;
        Tensor.GradRef gx = x.gradRef(), gt = t.gradRef();
        float[] xData = x.data;
        tape.record(() -> {
            float[] dy = gt.gradOrNull();
            if (dy == null) return;
            if (b != null && b.requiresGrad) Ops.biasGrad(b.grad(), dy, rows, out);
            float[] dx = gx.requiresGrad() ? gx.grad() : null;
            float[] g = dy;                                                          // dL/dz_k, walking back
            for (int k = n - 1; k >= 0; k--) {
                LoraAdapter a = ls.get(k);
                float[] du = g, dxd = null;
                if (a instanceof DoraAdapter d) {
                    float[] c = cs[k], v = vs[k], dc = new float[out];
                    for (int row = 0; row < rows; row++)
                        for (int o = 0, i = row * out; o < out; o++, i++) dc[o] += g[i] * v[i];
                    if (d.magnitude.requiresGrad) {
                        float[] dm = d.magnitude.grad();
                        for (int o = 0; o < out; o++) dm[o] += dc[o] / norms[k][o];  // the norm is a constant
                    }
                    du = new float[rows * out];
                    for (int row = 0; row < rows; row++)
                        for (int o = 0, i = row * out; o < out; o++, i++) du[i] = g[i] * c[o];
                    if (masks[k] == null) {
                        g = du;                                                      // z_{k-1} was scaled by c too
                    } else {
                        float[] dq = new float[rows * out];
                        for (int row = 0; row < rows; row++)
                            for (int o = 0, i = row * out; o < out; o++, i++) dq[i] = g[i] * (c[o] - 1f);
                        if (w.requiresGrad) Gemm.matmulTN(w.grad(), dq, xd[k], out, in, rows, true);
                        if (dx != null) {
                            dxd = new float[rows * in];
                            Gemm.matmulNN(dxd, dq, w.matrix(), rows, false);         // (rows, in) = dq·W
                        }
                    }
                }
                if (a.B.requiresGrad) Gemm.matmulTN(a.B.grad(), du, xas[k], out, a.r, rows, true);   // dB += duᵀ·(s·xa)
                float[] dxa = new float[rows * a.r];
                Gemm.matmulNN(dxa, du, a.B.data, rows, a.r, out, false);            // (rows, r) = du·B
                for (int j = 0; j < dxa.length; j++) dxa[j] *= (float) a.scaling;
                if (a.A.requiresGrad) Gemm.matmulTN(a.A.grad(), dxa, xd[k], a.r, in, rows, true);    // dA += dxaᵀ·xd
                if (dx != null) {
                    if (masks[k] == null) {
                        Gemm.matmulNN(dx, dxa, a.A.data, rows, in, a.r, true);        // dx += dxa·A
                    } else {
                        if (dxd == null) dxd = new float[rows * in];
                        Gemm.matmulNN(dxd, dxa, a.A.data, rows, in, a.r, true);
                        float[] mk = masks[k];
                        for (int j = 0; j < dxd.length; j++) dx[j] += dxd[j] * mk[j];
                    }
                }
            }
            if (w.requiresGrad) Gemm.matmulTN(w.grad(), g, xData, out, in, rows, true);
            if (dx != null) Gemm.matmulNN(dx, g, w.matrix(), rows, true);            // dx += dz_0·W
        });
        return t;
    };
}
