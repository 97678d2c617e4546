/*
 * LoKrLayer: one LoKr adapter on one Linear layer, as HF PEFT 0.14's lokr.Linear
 * (peft/tuners/lokr/layer.py): a Kronecker product of two small matrices
 *   ΔW = kron(w1, w2) · alpha / r,   w1 (out_l, in_m), w2 (out_k, in_n), out = out_l·out_k, in = in_m·in_n
 * where w1 is "lokr_w1" or the low-rank product lokr_w1_a (out_l, r) · lokr_w1_b (r, in_m), and w2 is
 * "lokr_w2" or lokr_w2_a (out_k, r) · lokr_w2_b (r, in_n) (LoKr.shapes decides, as PEFT's update_layer).
 * y = x·Wᵀ + b + x·ΔWᵀ (LycorisLayer: forward, dropouts, merge).
 *
 * kron: ΔW[i·out_k + p, j·in_n + q] = w1[i, j] · w2[p, q] · s, so with G = dL/dΔW
 *   dw1[i, j] = s · Σ_pq G[i·out_k + p, j·in_n + q] · w2[p, q],   dw2[p, q] = s · Σ_ij G[…] · w1[i, j]
 * and through a product w = a·b: da += dw·bᵀ, db += aᵀ·dw.
 */
package dev.peft4j.tuner.lokr;

import dev.peft4j.autograd.Tensor;
import dev.peft4j.kernels.Gemm;
import dev.peft4j.tuner.loha.LycorisLayer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public final class LoKrLayer extends LycorisLayer {
    /** Full factor, or null with the low-rank pair set (and the other way round). */
    public final Tensor w1, w1a, w1b, w2, w2a, w2b;
    public final int outL, outK, inM, inN;
    public final boolean rankDropoutScale;

    public LoKrLayer(int r, double alpha, double rankDropout, double moduleDropout, boolean rankDropoutScale,
                     int outL, int outK, int inM, int inN, Tensor w1, Tensor w1a, Tensor w1b, Tensor w2, Tensor w2a, Tensor w2b) {
        super(r, alpha, rankDropout, moduleDropout, outL * outK, inM * inN);
        this.outL = outL;
        this.outK = outK;
        this.inM = inM;
        this.inN = inN;
        this.rankDropoutScale = rankDropoutScale;
        this.w1 = w1;
        this.w1a = w1a;
        this.w1b = w1b;
        this.w2 = w2;
        this.w2a = w2a;
        this.w2b = w2b;
        check("lokr_w1", w1, w1a, w1b, outL, inM);
        check("lokr_w2", w2, w2a, w2b, outK, inN);
    }

    private void check(String name, Tensor full, Tensor a, Tensor b, int rows, int cols) {
        boolean ok = full != null ? a == null && b == null && Arrays.equals(full.shape, new int[] {rows, cols})
                : a != null && b != null && Arrays.equals(a.shape, new int[] {rows, r}) && Arrays.equals(b.shape, new int[] {r, cols});
        if (!ok)
            throw new IllegalArgumentException("LoKr " + name + " must be either " + name + " (" + rows + ", " + cols + ") or " + name
                    + "_a (" + rows + ", " + r + ") and " + name + "_b (" + r + ", " + cols + "); got "
                    + (full != null ? Arrays.toString(full.shape) : "") + (a != null ? " a " + Arrays.toString(a.shape) : "")
                    + (b != null ? " b " + Arrays.toString(b.shape) : ""));
    }

    @Override public String peftType() { return LoKrConfig.PEFT_TYPE; }

    /** PEFT's named_parameters order: lokr_w1 | lokr_w1_a, lokr_w1_b, then lokr_w2 | lokr_w2_a, lokr_w2_b. */
    @Override public List<Tensor> parameters() {
        List<Tensor> p = new ArrayList<>(4);
        for (Tensor t : new Tensor[] {w1, w1a, w1b, w2, w2a, w2b}) if (t != null) p.add(t);
        return p;
    }

    @Override public Map<String, Tensor> stateDict() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        String[] names = {"lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b"};
        Tensor[] ts = {w1, w1a, w1b, w2, w2a, w2b};
        for (int i = 0; i < ts.length; i++) if (ts[i] != null) m.put(names[i], ts[i]);
        return m;
    }

    @Override protected boolean rankDropoutScale() { return rankDropoutScale; }

    private float[] factor(Tensor full, Tensor a, Tensor b, int rows, int cols) {
        if (full != null) return full.data;
        float[] p = new float[rows * cols];
        Gemm.matmulNN(p, a.data, b.data, rows, cols, r, false);
        return p;
    }

    @Override public float[] deltaWeight() {
        float[] f1 = factor(w1, w1a, w1b, outL, inM), f2 = factor(w2, w2a, w2b, outK, inN);
        float s = (float) scaling;
        float[] d = new float[out * in];
        for (int i = 0; i < outL; i++)
            for (int j = 0; j < inM; j++) {
                float c = f1[i * inM + j] * s;
                for (int p = 0; p < outK; p++) {
                    int row = (i * outK + p) * in + j * inN;
                    for (int q = 0; q < inN; q++) d[row + q] = c * f2[p * inN + q];
                }
            }
        return d;
    }

    @Override protected void backwardDelta(float[] g) {
        float s = (float) scaling;
        boolean need1 = w1 != null ? w1.requiresGrad : w1a.requiresGrad || w1b.requiresGrad;
        boolean need2 = w2 != null ? w2.requiresGrad : w2a.requiresGrad || w2b.requiresGrad;
        float[] f1 = factor(w1, w1a, w1b, outL, inM), f2 = factor(w2, w2a, w2b, outK, inN);
        float[] d1 = need1 ? new float[outL * inM] : null, d2 = need2 ? new float[outK * inN] : null;
        for (int i = 0; i < outL; i++)
            for (int j = 0; j < inM; j++) {
                float c = f1[i * inM + j] * s, acc = 0;
                for (int p = 0; p < outK; p++) {
                    int row = (i * outK + p) * in + j * inN;
                    for (int q = 0; q < inN; q++) {
                        float gv = g[row + q];
                        if (need1) acc += gv * f2[p * inN + q];
                        if (need2) d2[p * inN + q] += gv * c;
                    }
                }
                if (need1) d1[i * inM + j] = acc * s;
            }
        if (need1) chain(d1, w1, w1a, w1b, outL, inM);
        if (need2) chain(d2, w2, w2a, w2b, outK, inN);
    }

    /** dL/d(factor) into the full matrix, or through the product a·b into a and b. */
    private void chain(float[] d, Tensor full, Tensor a, Tensor b, int rows, int cols) {
        if (full != null) {
            if (full.requiresGrad) {
                float[] gr = full.grad();
                for (int i = 0; i < d.length; i++) gr[i] += d[i];
            }
            return;
        }
        if (a.requiresGrad) Gemm.matmulNT(a.grad(), d, b.data, rows, r, cols, true);       // da += d·bᵀ
        if (b.requiresGrad) Gemm.matmulTN(b.grad(), a.data, d, r, cols, rows, true);       // db += aᵀ·d
    }
}
