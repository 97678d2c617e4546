/*
 * Positions: pieces shared by the model files — position ids with left padding (and a prompt
 * adapter's virtual positions), and attention either over whole sequences (differentiable, with an
 * optional key/value prefix) or over a KV cache (generation).
 */
package dev.peft4j.model;

import dev.peft4j.autograd.Attention;
import dev.peft4j.autograd.Ops;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.kernels.Kernels;

final class Positions {
    private Positions() {}

    /** Position id of each new row: its cache slot minus the row's left padding (pad slots get 0). */
    static int[] of(int B, int T, int start, int[] pad) { return of(B, T, start, pad, 0); }

    /**
     * Row b's slots are [virt virtual | pad[b] padding | tokens]: a virtual slot's position is the slot,
     * a token's is its slot minus the padding (so every row counts 0, 1, 2, ... over what it really holds).
     */
    static int[] of(int B, int T, int start, int[] pad, int virt) {
        int[] pos = new int[B * T];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                int slot = start + t;
                pos[b * T + t] = slot < virt ? slot : Math.max(0, slot - (pad == null ? 0 : pad[b]));
            }
        return pos;
    }

    /**
     * Causal attention of q (B*T, NH*HS) over k, v (B*T, KVH*HS): whole sequences, or appended to the cache.
     * prefix: {keys, values} (B*P, KVH*HS) that every query sees before the sequence's own keys (prefix
     * tuning), or null. With a cache: the new keys go to slots [start, start+T), the prefix (first forward
     * only) to [0, P). Without one, the prefix joins the sequence: attention over P+T positions whose first
     * P queries are zeros and dropped — the same math as transformers' past_key_values.
     */
    static Tensor attention(Tape tape, Tensor q, Tensor k, Tensor v, Tensor[] prefix, KvCache cache, int start, int layer,
                            int[] pad, int B, int T, int NH, int KVH, int HS, int window) {
        return attention(tape, q, k, v, prefix, cache, start, layer, pad, B, T, NH, KVH, HS, window, (float) (1.0 / Math.sqrt(HS)), 0f);
    }

    /** The same with an explicit score scale and soft-capping of the scores (Gemma; softcap 0 = none). */
    static Tensor attention(Tape tape, Tensor q, Tensor k, Tensor v, Tensor[] prefix, KvCache cache, int start, int layer,
                            int[] pad, int B, int T, int NH, int KVH, int HS, int window, float scale, float softcap) {
        int P = prefix == null ? 0 : prefix[0].size() / (B * KVH * HS);
        if (cache == null) {
            if (prefix == null) return Attention.forward(tape, q, k, v, B, T, NH, KVH, HS, window, scale, softcap);
            Tensor kk = Ops.concatSeq(tape, prefix[0], P, k, T, B), vv = Ops.concatSeq(tape, prefix[1], P, v, T, B);
            Tensor qq = Ops.concatSeq(tape, Tensor.activation(new float[B * P * NH * HS], false, B * P, NH * HS), P, q, T, B);
            Tensor att = Attention.forward(tape, qq, kk, vv, B, P + T, NH, KVH, HS, window, scale, softcap);
            return Ops.sliceSeq(tape, att, B, P + T, P, T);                       // (B*T, NH*HS)
        }
        if (Tape.needed(tape, q, k, v))
            throw new IllegalStateException("the KV cache is for generation; train on whole sequences (cache = null)");
        if (prefix != null) cache.store(layer, prefix[0].data, prefix[1].data, P, 0);
        cache.store(layer, k.data, v.data, T, start);
        float[] out = new float[q.size()];
        if (cache.isRagged()) {                       // continuous batching: each member attends over its own slots
            int[] vpad = cache.pad();
            int row = T * NH * HS;
            float[] qb = new float[row], ob = new float[row];
            for (int b = 0; b < B; b++) {
                KvCache m = cache.member(b);
                System.arraycopy(q.data, b * row, qb, 0, row);
                Kernels.attention(ob, qb, m.k[layer], m.v[layer], null, m.virtualTokens(), 1, T, NH, KVH, HS,
                        m.capacity, start - vpad[b], window, scale, softcap);
                System.arraycopy(ob, 0, out, b * row, row);
            }
            return Tensor.activation(out, false, q.shape);
        }
        Kernels.attention(out, q.data, cache.k[layer], cache.v[layer], pad, cache.virtualTokens(), B, T, NH, KVH, HS,
                cache.capacity, start, window, scale, softcap);
        return Tensor.activation(out, false, q.shape);
    }
}
