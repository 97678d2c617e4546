/*
 * Attention: causal (optionally sliding-window) scaled dot-product attention with grouped-query
 * heads, as a differentiable op for training and evaluation over whole sequences (no KV cache;
 * generation uses Kernels.attention over the cache).
 *
 * q: (B*T, NH*HS), k, v: (B*T, KVH*HS), out: (B*T, NH*HS); query head h reads KV head h / (NH/KVH);
 * query t sees keys [t − window + 1, t] (window > 0) or [0, t] (window = 0). Scores are q·k·scale with
 * scale = 1/√HS unless given (Gemma: query_pre_attn_scalar^-0.5), optionally soft-capped to cap·tanh(s/cap)
 * before the mask (Gemma 2's attn_logit_softcapping).
 *
 * The math is FlashAttention-2 (kernels.FlashAttention): memory linear in T. The forward keeps,
 * besides the output, one float per (batch, head, query) — the row's log-sum-exp — and never the
 * (T x T) probabilities; the backward recomputes them block by block from q, k and that
 * log-sum-exp: D = rowsum(dO ∘ O), P = e^(Q·Kᵀ·scale − lse), dV += Pᵀ·dO, dP = dO·Vᵀ,
 * dS = P ∘ (dP − D), dQ += dS·K·scale, dK += dSᵀ·Q·scale. Fully masked blocks are skipped.
 * Work is split over (batch, KV head) so the query heads sharing a KV head never race on dK, dV,
 * and results are bit-identical for any thread count.
 */
package dev.peft4j.autograd;

import dev.peft4j.Profile;
import dev.peft4j.kernels.FlashAttention;

public final class Attention {
    private Attention() {}

    public static Tensor forward(Tape tape, Tensor q, Tensor k, Tensor v, int B, int T, int NH, int KVH, int HS, int window) {
        return forward(tape, q, k, v, B, T, NH, KVH, HS, window, (float) (1.0 / Math.sqrt(HS)), 0f);
    }

    /**
     * With an explicit score scale (Gemma: query_pre_attn_scalar^-0.5) and soft-capping of the scores
     * (Gemma 2: softcap·tanh(s / softcap) before the mask; 0 = none; its backward multiplies dS by 1 − tanh²).
     */
    public static Tensor forward(Tape tape, Tensor q, Tensor k, Tensor v, int B, int T, int NH, int KVH, int HS, int window,
                                 float scale, float softcap) {
        try (var _ = Profile.span(Profile.Kind.ATTENTION)) {
            boolean grad = Tape.needed(tape, q, k, v);
            float[] out = Tape.alloc(tape, B * T * NH * HS, q, k, v);
            float[] lse = grad ? tape.alloc(B * NH * T) : null;          // (B, NH, T): all the backward keeps
            FlashAttention.forward(out, lse, q.data, k.data, v.data, B, T, NH, KVH, HS, window, scale, softcap);
            Tensor y = Tensor.activation(out, grad, B * T, NH * HS);
            // the backward needs the inputs' values, the output and lse; of the tensors only their gradient slots
            float[] qd = q.data, kd = k.data, vd = v.data;
            Tensor.GradRef gq = q.gradRef(), gk = k.gradRef(), gv = v.gradRef(), gy = y.gradRef();
            if (grad) tape.record(y, () -> {
                float[] dOut = gy.gradOrNull();
                if (dOut == null) return;
                // allocate the input gradients here, once: grad() is lazy and must not race between workers
                float[] dq = gq.requiresGrad() ? gq.grad() : null, dk = gk.requiresGrad() ? gk.grad() : null, dv = gv.requiresGrad() ? gv.grad() : null;
                FlashAttention.backward(dq, dk, dv, dOut, out, lse, qd, kd, vd, B, T, NH, KVH, HS, window, scale, softcap);
            }, lse);
            return y;
        }
    }
}
