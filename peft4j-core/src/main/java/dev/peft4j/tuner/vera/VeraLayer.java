/*
 * VeraLayer: one VeRA adapter on one linear layer, as HF PEFT's VeraLayer / vera.Linear
 * (peft/tuners/vera/layer.py). The adapter's model holds ONE frozen random pair shared by every
 * adapted layer, sized for the largest layer:
 *   vera_A (r, maxIn), vera_B (maxOut, r)
 * and each layer uses its top-left corner, as PEFT slices them: A_s = vera_A[:, :in] (the first in
 * columns), B_s = vera_B[:out, :] (the first out rows). Per layer, two trainable vectors:
 *   vera_lambda_d (r)    scales the rank dimension, starts at d_initial
 *   vera_lambda_b (out)  scales the output, starts at zero (so a fresh adapter is the identity)
 * Forward (PEFT's order: dropout on the input, lambda_d inside, lambda_b outside):
 *   y = x·Wᵀ + b + λb ⊙ ( (λd ⊙ (dropout(x)·A_sᵀ)) · B_sᵀ )
 * Merge adds ΔW = (λb ⊙ B_s) · (λd ⊙ A_s)  (out, in) to W (PEFT's get_delta_weight; the (out, in) rows
 * Linear.updateWeight hands over are already un-transposed for GPT-2's Conv1D), unmerge subtracts it.
 *
 * Backward, with h = xd·A_sᵀ (rows, r), u = (h ⊙ λd)·B_sᵀ (rows, out):
 *   dλb = Σ_rows dy ⊙ u;   du = dy ⊙ λb;   dg = du·B_s (rows, r);   dλd = Σ_rows dg ⊙ h;
 *   dx += dy·W + ((dg ⊙ λd)·A_s) ⊙ mask   (vera_A / vera_B are frozen buffers: no gradient).
 */
package dev.peft4j.tuner.vera;

import dev.peft4j.autograd.Ops;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.kernels.Gemm;
import dev.peft4j.kernels.Kernels;
import dev.peft4j.nn.AdapterLayer;
import dev.peft4j.nn.Linear;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public final class VeraLayer implements AdapterLayer {
    public final Tensor lambdaB;        // (out)  vera_lambda_b, trainable
    public final Tensor lambdaD;        // (r)    vera_lambda_d, trainable
    public final Tensor veraA;          // (r, maxIn)  shared, frozen
    public final Tensor veraB;          // (maxOut, r) shared, frozen
    public final int r;
    public final float dropout;
    private boolean merged;

    public VeraLayer(Tensor lambdaB, Tensor lambdaD, Tensor veraA, Tensor veraB, float dropout) {
        if (veraA.shape.length != 2 || veraB.shape.length != 2 || veraA.dim(0) != veraB.dim(1) || lambdaD.size() != veraA.dim(0))
            throw new IllegalArgumentException("VeRA needs vera_A (r, in), vera_B (out, r) and vera_lambda_d (r); got vera_A "
                    + Arrays.toString(veraA.shape) + ", vera_B " + Arrays.toString(veraB.shape) + ", vera_lambda_d "
                    + Arrays.toString(lambdaD.shape));
        if (!(dropout >= 0f && dropout < 1f)) throw new IllegalArgumentException("vera dropout must be in [0, 1) (got " + dropout + ")");
        this.lambdaB = lambdaB;
        this.lambdaD = lambdaD;
        this.veraA = veraA;
        this.veraB = veraB;
        this.r = veraA.dim(0);
        this.dropout = dropout;
    }

    @Override public String peftType() { return VeraConfig.PEFT_TYPE; }

    @Override public Forward forward() { return FORWARD; }

    /** PEFT's named_parameters order: vera_lambda_b, then vera_lambda_d. */
    @Override public List<Tensor> parameters() { return List.of(lambdaB, lambdaD); }

    @Override public Map<String, Tensor> stateDict() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("vera_lambda_b", lambdaB);
        m.put("vera_lambda_d", lambdaD);
        return m;
    }

    @Override public void checkFits(Linear base) {
        if (lambdaB.size() != base.out || veraA.dim(1) < base.in || veraB.dim(0) < base.out)
            throw new IllegalArgumentException(base.name + ": VeRA adapter has vera_lambda_b " + Arrays.toString(lambdaB.shape)
                    + ", vera_A " + Arrays.toString(veraA.shape) + ", vera_B " + Arrays.toString(veraB.shape) + " but the layer is "
                    + base.out + "x" + base.in + " (needs vera_lambda_b [" + base.out + "], vera_A [r, >= " + base.in
                    + "], vera_B [>= " + base.out + ", r])");
    }

    @Override public boolean merged() { return merged; }

    @Override public void setMerged(boolean merged) { this.merged = merged; }

    /** A_s = vera_A[:, :in] as a contiguous (r, in) array (vera_A itself when in is its full width). */
    float[] slicedA(int in) {
        int maxIn = veraA.dim(1);
        if (in == maxIn) return veraA.data;
        float[] a = new float[r * in];
        for (int k = 0; k < r; k++) System.arraycopy(veraA.data, k * maxIn, a, k * in, in);
        return a;
    }

    /** ΔW = (λb ⊙ B_s)·(λd ⊙ A_s) as (out, in) rows: what merging adds to W. */
    public float[] deltaWeight(int in, int out) {
        float[] bd = new float[out * r], lb = lambdaB.data, ld = lambdaD.data, b = veraB.data;
        for (int o = 0; o < out; o++)
            for (int k = 0; k < r; k++) bd[o * r + k] = lb[o] * b[o * r + k] * ld[k];    // B_s is vera_B's first out rows
        float[] delta = new float[out * in];
        Gemm.matmulNN(delta, bd, slicedA(in), out, in, r, false);
        return delta;
    }

    /** W ± ΔW. */
    @Override public void merge(Linear base, boolean merge) {
        float[] delta = deltaWeight(base.in, base.out);
        base.updateWeight(w -> Kernels.axpy(w, 0, merge ? 1f : -1f, delta, 0, delta.length));
    }

    /** y: (rows, out) = x·Wᵀ + b + Σ λb ⊙ ((λd ⊙ (dropout(x)·A_sᵀ))·B_sᵀ) over the given adapters. */
    static final Forward FORWARD = (tape, base, x, adapters) -> {
        List<VeraLayer> vs = new ArrayList<>(adapters.size());
        for (AdapterLayer a : adapters) vs.add((VeraLayer) a);
        int in = base.in, out = base.out, rows = x.size() / in, n = vs.size();
        Tensor w = base.weight(), b = base.bias();
        float[] y = new float[rows * out];
        Gemm.matmulNT(y, x.data, w.matrix(), rows, false);                              // base: x·Wᵀ
        if (b != null) Kernels.addBias(y, b.data, rows, out);
        boolean grad = Tape.needed(tape, x, w, b);
        for (VeraLayer v : vs) grad |= Tape.needed(tape, v.lambdaB, v.lambdaD);
        float[][] as = new float[n][], masks = new float[n][], hs = new float[n][], us = new float[n][];
        for (int i = 0; i < n; i++) {
            VeraLayer v = vs.get(i);
            int r = v.r;
            float[] ld = v.lambdaD.data, lb = v.lambdaB.data;
            as[i] = v.slicedA(in);
            float[] xd = x.data;
            if (tape != null && v.dropout > 0f) {                                      // dropout only while training
                masks[i] = Ops.dropoutMask(tape, x.size(), v.dropout);
                xd = new float[x.size()];
                for (int j = 0; j < xd.length; j++) xd[j] = x.data[j] * masks[i][j];
            }
            float[] h = new float[rows * r];
            Gemm.matmulNT(h, xd, as[i], rows, r, in, false);                           // (rows, r) = xd·A_sᵀ
            float[] hd = new float[rows * r];
            for (int q = 0; q < rows; q++)
                for (int k = 0; k < r; k++) hd[q * r + k] = h[q * r + k] * ld[k];      // λd ⊙ h
            float[] u = new float[rows * out];
            Gemm.matmulNT(u, hd, v.veraB.data, rows, out, r, false);                   // (rows, out) = hd·B_sᵀ (first out rows of vera_B)
            for (int q = 0; q < rows; q++)
                for (int o = 0; o < out; o++) y[q * out + o] += lb[o] * u[q * out + o];   // y += λb ⊙ u
            if (grad) { hs[i] = h; us[i] = u; }
        }
        Tensor t = Tensor.activation(y, grad, rows, out);
        if (!grad) return t;
        Tensor.GradRef gx = x.gradRef(), gt = t.gradRef();
        float[] xData = w.requiresGrad ? x.data : null;                               // kept only when W itself is trained
        tape.record(() -> {
            float[] dy = gt.gradOrNull();
            if (dy == null) return;
            if (w.requiresGrad) Gemm.matmulTN(w.grad(), dy, xData, out, in, rows, true);
            if (b != null && b.requiresGrad) Ops.biasGrad(b.grad(), dy, rows, out);
            float[] dx = gx.requiresGrad() ? gx.grad() : null;
            if (dx != null) Gemm.matmulNN(dx, dy, w.matrix(), rows, true);             // dx += dy·W
            for (int i = 0; i < n; i++) {
                VeraLayer v = vs.get(i);
                int r = v.r;
                float[] lb = v.lambdaB.data, ld = v.lambdaD.data, u = us[i], h = hs[i];
                if (v.lambdaB.requiresGrad) {
                    float[] g = v.lambdaB.grad();
                    for (int q = 0; q < rows; q++)
                        for (int o = 0; o < out; o++) g[o] += dy[q * out + o] * u[q * out + o];
                }
                if (!v.lambdaD.requiresGrad && dx == null) continue;
                float[] du = new float[rows * out];
                for (int q = 0; q < rows; q++)
                    for (int o = 0; o < out; o++) du[q * out + o] = dy[q * out + o] * lb[o];
                float[] dg = new float[rows * r];
                Gemm.matmulNN(dg, du, v.veraB.data, rows, r, out, false);              // (rows, r) = du·B_s
                if (v.lambdaD.requiresGrad) {
                    float[] g = v.lambdaD.grad();
                    for (int q = 0; q < rows; q++)
                        for (int k = 0; k < r; k++) g[k] += dg[q * r + k] * h[q * r + k];
                }
                if (dx == null) continue;
                for (int q = 0; q < rows; q++)
                    for (int k = 0; k < r; k++) dg[q * r + k] *= ld[k];                // dh = dg ⊙ λd
                if (masks[i] == null) {
                    Gemm.matmulNN(dx, dg, as[i], rows, in, r, true);                   // dx += dh·A_s
                } else {
                    float[] tmp = new float[rows * in];
                    Gemm.matmulNN(tmp, dg, as[i], rows, in, r, false);
                    for (int j = 0; j < tmp.length; j++) dx[j] += tmp[j] * masks[i][j];
                }
            }
        });
        return t;
    };
}
