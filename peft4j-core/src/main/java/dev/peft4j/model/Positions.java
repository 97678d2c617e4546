/*
 * Positions: pieces shared by the model files — position ids with left padding, and attention
 * either over whole sequences (differentiable) or over a KV cache (generation).
 */
package dev.peft4j.model;

import dev.peft4j.autograd.Attention;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.kernels.Kernels;

final class Positions {
    private Positions() {}

    /** Position id of each new row: its cache slot minus the row's left padding (pad slots get 0). */
    static int[] of(int B, int T, int start, int[] pad) {
        int[] pos = new int[B * T];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) pos[b * T + t] = Math.max(0, start + t - (pad == null ? 0 : pad[b]));
        return pos;
    }

    /** Causal attention of q (B*T, NH*HS) over k, v (B*T, KVH*HS): whole sequences, or appended to the cache. */
    static Tensor attention(Tape tape, Tensor q, Tensor k, Tensor v, KvCache cache, int layer, int[] pad,
                            int B, int T, int NH, int KVH, int HS, int window) {
        if (cache == null) return Attention.forward(tape, q, k, v, B, T, NH, KVH, HS, window);
        if (Tape.needed(tape, q, k, v))
            throw new IllegalStateException("the KV cache is for generation; train on whole sequences (cache = null)");
        int start = cache.length();
        cache.store(layer, k.data, v.data, T);
        float[] out = new float[q.size()];
        Kernels.attention(out, q.data, cache.k[layer], cache.v[layer], pad, B, T, NH, KVH, HS, cache.capacity, start, window);
        return Tensor.activation(out, false, q.shape);
    }
}
