/*
 * Attention: causal (optionally sliding-window) scaled dot-product attention with grouped-query
 * heads, as a differentiable op for training and evaluation over whole sequences (no KV cache;
 * generation uses Kernels.attention over the cache).
 *
 * q: (B*T, NH*HS), k, v: (B*T, KVH*HS), out: (B*T, NH*HS). Per (batch, head) it runs GEMMs on the
 * head's contiguous (T, HS) slices: S = Q·Kᵀ·scale (masked), P = softmax(S), O = P·V.
 * Backward (P kept from the forward, (B, NH, T, T)):
 *   dP = dO·Vᵀ,  dS = P ∘ (dP − rowsum(dP ∘ P)),  dQ = dS·K·scale,  dK = dSᵀ·Q·scale,  dV = Pᵀ·dO.
 * Work is split over (batch, KV head) so the query heads sharing a KV head never race on dK, dV.
 */
package dev.peft4j.autograd;

import dev.peft4j.kernels.Gemm;
import dev.peft4j.kernels.Kernels;
import dev.peft4j.kernels.Parallel;
import java.util.Arrays;

public final class Attention {
    private Attention() {}

    public static Tensor forward(Tape tape, Tensor q, Tensor k, Tensor v, int B, int T, int NH, int KVH, int HS, int window) {
        boolean grad = Tape.needed(tape, q, k, v);
        float[] out = new float[B * T * NH * HS];
        float[] probs = grad ? new float[B * NH * T * T] : null;   // (B, NH, T, T) for the backward
        float scale = (float) (1.0 / Math.sqrt(HS));
        int group = NH / KVH;
        Parallel.forEachChunk(B * KVH, bk -> {
            int b = bk / KVH, kvh = bk % KVH;
            float[] Kh = slice(k.data, b, T, KVH, kvh, HS), Vh = slice(v.data, b, T, KVH, kvh, HS);
            float[] s = new float[T * T], Oh = new float[T * HS];
            for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                float[] Qh = slice(q.data, b, T, NH, h, HS);
                Gemm.matmulNT(s, Qh, Kh, T, T, HS, false);                 // (T, T) = Q·Kᵀ
                for (int t = 0; t < T; t++) {                               // causal (+ window) softmax
                    int from = window > 0 ? Math.max(0, t - window + 1) : 0, o = t * T;
                    for (int j = from; j <= t; j++) s[o + j] *= scale;
                    Kernels.softmax(s, o + from, t - from + 1);
                    Arrays.fill(s, o, o + from, 0f);
                    Arrays.fill(s, o + t + 1, o + T, 0f);
                }
                Gemm.matmulNN(Oh, s, Vh, T, HS, T, false);                  // (T, HS) = P·V
                unslice(out, Oh, b, T, NH, h, HS, false);
                if (probs != null) System.arraycopy(s, 0, probs, (b * NH + h) * T * T, T * T);
            }
        });
        Tensor y = Tensor.activation(out, grad, B * T, NH * HS);
        if (grad) tape.record(() -> {
            float[] dOut = y.gradOrNull();
            if (dOut == null) return;
            // allocate the input gradients here, once: grad() is lazy and must not race between workers
            float[] dq = q.requiresGrad ? q.grad() : null, dk = k.requiresGrad ? k.grad() : null, dv = v.requiresGrad ? v.grad() : null;
            Parallel.forEachChunk(B * KVH, bk -> {
                int b = bk / KVH, kvh = bk % KVH;
                float[] Kh = slice(k.data, b, T, KVH, kvh, HS), Vh = slice(v.data, b, T, KVH, kvh, HS);
                float[] dK = new float[T * HS], dV = new float[T * HS];
                float[] dP = new float[T * T], P = new float[T * T], dQ = new float[T * HS];
                for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                    float[] Qh = slice(q.data, b, T, NH, h, HS), dO = slice(dOut, b, T, NH, h, HS);
                    System.arraycopy(probs, (b * NH + h) * T * T, P, 0, T * T);
                    Gemm.matmulTN(dV, P, dO, T, HS, T, true);                 // dV += Pᵀ·dO
                    Gemm.matmulNT(dP, dO, Vh, T, T, HS, false);               // dP = dO·Vᵀ
                    for (int t = 0; t < T; t++) {                             // dS = P ∘ (dP − Σ_j dP∘P), times scale
                        int o = t * T;
                        double d = 0;
                        for (int j = 0; j <= t; j++) d += (double) dP[o + j] * P[o + j];
                        for (int j = 0; j < T; j++) dP[o + j] = P[o + j] == 0f ? 0f : (float) (P[o + j] * (dP[o + j] - d)) * scale;
                    }
                    Gemm.matmulNN(dQ, dP, Kh, T, HS, T, false);               // dQ = dS·K
                    Gemm.matmulTN(dK, dP, Qh, T, HS, T, true);                // dK += dSᵀ·Q
                    if (dq != null) unslice(dq, dQ, b, T, NH, h, HS, true);
                }
                if (dk != null) unslice(dk, dK, b, T, KVH, kvh, HS, true);
                if (dv != null) unslice(dv, dV, b, T, KVH, kvh, HS, true);
            });
        });
        return y;
    }

    /** Copies head h of batch b out of x: (B*T, H*HS) into a contiguous (T, HS). */
    static float[] slice(float[] x, int b, int T, int H, int h, int HS) {
        float[] out = new float[T * HS];
        for (int t = 0; t < T; t++) System.arraycopy(x, ((b * T + t) * H + h) * HS, out, t * HS, HS);
        return out;
    }

    /** Writes (or adds) a contiguous (T, HS) back into head h of batch b of x: (B*T, H*HS). */
    static void unslice(float[] x, float[] part, int b, int T, int H, int h, int HS, boolean add) {
        for (int t = 0; t < T; t++) {
            int o = ((b * T + t) * H + h) * HS;
            if (add) Kernels.axpy(x, o, 1f, part, t * HS, HS);
            else System.arraycopy(part, t * HS, x, o, HS);
        }
    }
}
