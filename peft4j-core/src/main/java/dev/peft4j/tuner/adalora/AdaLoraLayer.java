/*
 * AdaLoraLayer: one AdaLoRA adapter on one Linear layer, PEFT 0.14's SVDLinear: the update is kept
 * in SVD form, P·Λ·Q with right singular vectors lora_A [r, in], singular values lora_E [r, 1] and
 * left singular vectors lora_B [out, r]:
 *
 *   y = x·Wᵀ + b + (dropout(x)·(A ⊙ E)ᵀ·Bᵀ) · scaling / (ranknum + 1e-5)
 *
 * scaling is lora_alpha itself (not alpha / r); ranknum is a frozen scalar, init_r for a fresh
 * adapter and kept at init_r when PEFT resizes a pruned adapter on load, so a triplet's weight does
 * not change with pruning. It is not saved (its key has no "lora_"). Pruning zeroes entries of E
 * (RankAllocator); a layer whose module has a rank pattern saves only the kept triplets: rows of A
 * and E, columns of B (PEFT's resize_state_dict_by_rank_pattern).
 *
 * Forward and backward, with c = scaling / (ranknum + 1e-5), xd = dropout(x), xa = xd·Aᵀ (rows, r),
 * h = c · xa ⊙ E (per column):  y += h·Bᵀ;  dB += dyᵀ·h;  dh = dy·B;  dE_k += c Σ_rows dh_k xa_k;
 * dxa = c · dh ⊙ E;  dA += dxaᵀ·xd;  dx += (dxa·A) ⊙ mask.
 * Merge: W ± c · B·(A ⊙ E) (held as (out, in) also for GPT-2's Conv1D, so no transpose is needed).
 */
package dev.peft4j.tuner.adalora;

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

public final class AdaLoraLayer implements AdapterLayer {
    /** PEFT's epsilon added to ranknum in the forward and the delta weight. */
    static final float RANKNUM_EPS = 1e-5f;

    public final Tensor A, E, B;             // (r, in), (r, 1), (out, r)
    public final int r;
    public final float ranknum;
    public final double scaling;
    public final float dropout;
    private boolean[] keep;                  // rank pattern of this module (length r), null = none
    private boolean merged;

    public AdaLoraLayer(Tensor A, Tensor E, Tensor B, float ranknum, double scaling, float dropout) {
        if (A.dim(0) != E.dim(0) || B.dim(1) != A.dim(0) || E.dim(1) != 1)
            throw new IllegalArgumentException("AdaLoRA needs lora_A [r, in], lora_E [r, 1], lora_B [out, r]; got " + Arrays.toString(A.shape)
                    + ", " + Arrays.toString(E.shape) + ", " + Arrays.toString(B.shape));
        this.A = A;
        this.E = E;
        this.B = B;
        this.r = A.dim(0);
        this.ranknum = ranknum;
        this.scaling = scaling;
        this.dropout = dropout;
    }

    /** c = scaling / (ranknum + 1e-5), in float as PEFT's float32 ranknum. */
    public float factor() { return (float) (scaling / (double) (ranknum + RANKNUM_EPS)); }

    /** The module's rank pattern (true = triplet kept), or null; saving keeps only those triplets. */
    public boolean[] keep() { return keep == null ? null : keep.clone(); }

    void setKeep(boolean[] k) {
        if (k != null && k.length != r)
            throw new IllegalArgumentException("rank pattern of length " + k.length + " for an AdaLoRA layer of rank " + r);
        keep = k == null ? null : k.clone();
    }

    /** Number of kept triplets: the pattern's true entries, or r without a pattern. */
    public int keptRank() {
        if (keep == null) return r;
        int n = 0;
        for (boolean b : keep) if (b) n++;
        return n;
    }

    @Override public String peftType() { return AdaLoraConfig.PEFT_TYPE; }

    @Override public Forward forward() { return FORWARD; }

    /** PEFT's named_parameters order: lora_A, lora_B, lora_E. */
    @Override public List<Tensor> parameters() { return List.of(A, B, E); }

    /** lora_A, lora_B, lora_E (no ".weight": ParameterDicts in PEFT), only the kept triplets when pruned. */
    @Override public Map<String, Tensor> stateDict() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        int k = keptRank();
        if (k == r) {
            m.put("lora_A", A);
            m.put("lora_B", B);
            m.put("lora_E", E);
            return m;
        }
        int in = A.dim(1), out = B.dim(0);
        float[] a = new float[k * in], e = new float[k], b = new float[out * k];
        int j = 0;
        for (int i = 0; i < r; i++) {
            if (!keep[i]) continue;
            System.arraycopy(A.data, i * in, a, j * in, in);
            e[j] = E.data[i];
            for (int o = 0; o < out; o++) b[o * k + j] = B.data[o * r + i];
            j++;
        }
        m.put("lora_A", Tensor.frozen(A.name, a, k, in));
        m.put("lora_B", Tensor.frozen(B.name, b, out, k));
        m.put("lora_E", Tensor.frozen(E.name, e, k, 1));
        return m;
    }

    @Override public void checkFits(Linear base) {
        if (A.dim(1) != base.in || B.dim(0) != base.out)
            throw new IllegalArgumentException(base.name + ": AdaLoRA adapter has lora_A " + Arrays.toString(A.shape) + " and lora_B "
                    + Arrays.toString(B.shape) + " but the layer is " + base.out + "x" + base.in);
    }

    @Override public boolean merged() { return merged; }

    @Override public void setMerged(boolean merged) { this.merged = merged; }

    /** c · B·(A ⊙ E) as (out, in) rows: what merging adds to W. */
    public float[] deltaWeight() {
        int in = A.dim(1), out = B.dim(0);
        float[] ae = new float[r * in];
        for (int k = 0; k < r; k++)
            for (int i = 0; i < in; i++) ae[k * in + i] = A.data[k * in + i] * E.data[k];
        float[] d = new float[out * in];
        if (r > 0) Gemm.matmulNN(d, B.data, ae, out, in, r, false);
        float c = factor();
        for (int i = 0; i < d.length; i++) d[i] *= c;
        return d;
    }

    @Override public void merge(Linear base, boolean merge) {
        float[] d = deltaWeight();
        base.updateWeight(w -> Kernels.axpy(w, 0, merge ? 1f : -1f, d, 0, d.length));
    }

    static final Forward FORWARD = (tape, base, x, adapters) -> {
        List<AdaLoraLayer> ls = new ArrayList<>(adapters.size());
        for (AdapterLayer a : adapters) ls.add((AdaLoraLayer) a);
        int in = base.in, out = base.out, rows = x.size() / in;
        Tensor weight = base.weight(), bias = base.bias();
        float[] y = new float[rows * out];
        Gemm.matmulNT(y, x.data, weight.matrix(), rows, false);                    // base: x·Wᵀ
        if (bias != null) Kernels.addBias(y, bias.data, rows, out);
        boolean grad = Tape.needed(tape, x, weight, bias);
        for (AdaLoraLayer a : ls) grad |= Tape.needed(tape, a.A, a.E, a.B);
        int n = ls.size();
        float[][] xd = new float[n][], masks = new float[n][], xas = new float[n][], hs = new float[n][];
        for (int i = 0; i < n; i++) {
            AdaLoraLayer a = ls.get(i);
            if (a.r == 0) continue;
            xd[i] = x.data;
            if (tape != null && a.dropout > 0f) {                                  // dropout only while training
                masks[i] = Ops.dropoutMask(tape, x.size(), a.dropout);
                xd[i] = new float[x.size()];
                for (int j = 0; j < xd[i].length; j++) xd[i][j] = x.data[j] * masks[i][j];
            }
            int r = a.r;
            float c = a.factor();
            float[] xa = new float[rows * r], h = new float[rows * r];
            Gemm.matmulNT(xa, xd[i], a.A.data, rows, r, in, false);                  // (rows, r) = xd·Aᵀ
            for (int row = 0; row < rows; row++)
                for (int k = 0; k < r; k++) h[row * r + k] = xa[row * r + k] * a.E.data[k] * c;
            Gemm.matmulNT(y, h, a.B.data, rows, out, r, true);                       // y += h·Bᵀ
            xas[i] = xa;
            hs[i] = h;
        }
        Tensor t = Tensor.activation(y, grad, rows, out);
        if (!grad) return t;
        Tensor.GradRef gx = x.gradRef(), gt = t.gradRef();
        Tensor w = weight, b = bias;
        float[] xData = w.requiresGrad ? x.data : null;
        tape.record(() -> {
            float[] dy = gt.gradOrNull();
            if (dy == null) return;
            if (w.requiresGrad) Gemm.matmulTN(w.grad(), dy, xData, out, in, rows, true);
            if (b != null && b.requiresGrad) Ops.biasGrad(b.grad(), dy, rows, out);
            float[] dx = gx.requiresGrad() ? gx.grad() : null;
            if (dx != null) Gemm.matmulNN(dx, dy, w.matrix(), rows, true);           // dx += dy·W
            for (int i = 0; i < n; i++) {
                AdaLoraLayer a = ls.get(i);
                int r = a.r;
                if (r == 0) continue;
                float c = a.factor();
                if (a.B.requiresGrad) Gemm.matmulTN(a.B.grad(), dy, hs[i], out, r, rows, true);      // dB += dyᵀ·h
                float[] dh = new float[rows * r];
                Gemm.matmulNN(dh, dy, a.B.data, rows, r, out, false);                // (rows, r) = dy·B
                if (a.E.requiresGrad) {
                    float[] dE = a.E.grad();
                    for (int k = 0; k < r; k++) {
                        double s = 0;
                        for (int row = 0; row < rows; row++) s += (double) dh[row * r + k] * xas[i][row * r + k];
                        dE[k] += (float) (s * c);
                    }
                }
                float[] dxa = dh;                                                    // in place: dh no longer needed
                for (int row = 0; row < rows; row++)
                    for (int k = 0; k < r; k++) dxa[row * r + k] *= a.E.data[k] * c;
                if (a.A.requiresGrad) Gemm.matmulTN(a.A.grad(), dxa, xd[i], r, in, rows, true);    // dA += dxaᵀ·xd
                if (dx != null) {
                    if (masks[i] == null) {
                        Gemm.matmulNN(dx, dxa, a.A.data, rows, in, r, true);          // dx += dxa·A
                    } else {
                        float[] tmp = new float[rows * in];
                        Gemm.matmulNN(tmp, dxa, a.A.data, rows, in, r, false);
                        for (int j = 0; j < tmp.length; j++) dx[j] += tmp[j] * masks[i][j];
                    }
                }
            }
        });
        return t;
    };
}
