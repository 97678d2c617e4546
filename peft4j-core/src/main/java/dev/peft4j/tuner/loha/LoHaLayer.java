/*
 * LoHaLayer: one LoHa adapter on one Linear layer, as HF PEFT 0.14's loha.Linear
 * (peft/tuners/loha/layer.py, LyCORIS's HadaWeight): a Hadamard product of two low-rank matrices
 *   ΔW = (w1_a · w1_b) ⊙ (w2_a · w2_b) · alpha / r
 *   hada_w1_a (out, r), hada_w1_b (r, in), hada_w2_a (out, r), hada_w2_b (r, in)
 * y = x·Wᵀ + b + x·ΔWᵀ (LycorisLayer: forward, dropouts, merge). With init_weights hada_w2_b starts at
 * zero, so a fresh adapter is the identity.
 *
 * Backward (HadaWeight.backward), with g = dL/dΔW · scaling, P1 = w1_a·w1_b, P2 = w2_a·w2_b:
 *   dw1_a += (g ⊙ P2)·w1_bᵀ   dw1_b += w1_aᵀ·(g ⊙ P2)   dw2_a += (g ⊙ P1)·w2_bᵀ   dw2_b += w2_aᵀ·(g ⊙ P1)
 */
package dev.peft4j.tuner.loha;

import dev.peft4j.autograd.Tensor;
import dev.peft4j.kernels.Gemm;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public final class LoHaLayer extends LycorisLayer {
    public final Tensor w1a, w1b, w2a, w2b;

    public LoHaLayer(Tensor w1a, Tensor w1b, Tensor w2a, Tensor w2b, double alpha, double rankDropout, double moduleDropout) {
        super(w1a.dim(1), alpha, rankDropout, moduleDropout, w1a.dim(0), w1b.dim(1));
        int r = w1a.dim(1);
        if (!Arrays.equals(w1b.shape, new int[] {r, in}) || !Arrays.equals(w2a.shape, new int[] {out, r})
                || !Arrays.equals(w2b.shape, new int[] {r, in}))
            throw new IllegalArgumentException("LoHa factors must be hada_w1_a (out, r), hada_w1_b (r, in), hada_w2_a (out, r), "
                    + "hada_w2_b (r, in); got " + Arrays.toString(w1a.shape) + ", " + Arrays.toString(w1b.shape) + ", "
                    + Arrays.toString(w2a.shape) + ", " + Arrays.toString(w2b.shape));
        this.w1a = w1a;
        this.w1b = w1b;
        this.w2a = w2a;
        this.w2b = w2b;
    }

    @Override public String peftType() { return LoHaConfig.PEFT_TYPE; }

    /** PEFT's named_parameters order: hada_w1_a, hada_w1_b, hada_w2_a, hada_w2_b. */
    @Override public List<Tensor> parameters() { return List.of(w1a, w1b, w2a, w2b); }

    @Override public Map<String, Tensor> stateDict() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("hada_w1_a", w1a);
        m.put("hada_w1_b", w1b);
        m.put("hada_w2_a", w2a);
        m.put("hada_w2_b", w2b);
        return m;
    }

    @Override protected boolean rankDropoutScale() { return true; }        // LoHa: drop /= drop.mean() always

    private float[] product(Tensor a, Tensor b) {
        float[] p = new float[out * in];
        Gemm.matmulNN(p, a.data, b.data, out, in, r, false);                   // (out, in) = a·b
        return p;
    }

    @Override public float[] deltaWeight() {
        float[] p1 = product(w1a, w1b), p2 = product(w2a, w2b);
        float s = (float) scaling;
        for (int i = 0; i < p1.length; i++) p1[i] = p1[i] * p2[i] * s;
        return p1;
    }

    @Override protected void backwardDelta(float[] g) {
        float s = (float) scaling;
        if (w1a.requiresGrad || w1b.requiresGrad) {
            float[] t = product(w2a, w2b);
            for (int i = 0; i < t.length; i++) t[i] *= g[i] * s;                 // g ⊙ P2
            if (w1a.requiresGrad) Gemm.matmulNT(w1a.grad(), t, w1b.data, out, r, in, true);
            if (w1b.requiresGrad) Gemm.matmulTN(w1b.grad(), w1a.data, t, r, in, out, true);
        }
        if (w2a.requiresGrad || w2b.requiresGrad) {
            float[] t = product(w1a, w1b);
            for (int i = 0; i < t.length; i++) t[i] *= g[i] * s;                 // g ⊙ P1
            if (w2a.requiresGrad) Gemm.matmulNT(w2a.grad(), t, w2b.data, out, r, in, true);
            if (w2b.requiresGrad) Gemm.matmulTN(w2b.grad(), w2a.data, t, r, in, out, true);
        }
    }
}
