/*
 * Positions: helpers shared by the model files — position ids with left padding, and the final
 * norm + LM head over either every position or only the last one of each row.
 */
package dev.peft4j.model;

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

    /**
     * Final norm (RMSNorm when normBias is null, LayerNorm otherwise) and LM head.
     * x: (B*T, C). Returns logits (B*T, V), or (B, V) of each row's last position when lastOnly.
     */
    static float[] head(float[] x, int B, int T, int C, boolean lastOnly, float[] normW, float[] normBias,
                        float eps, Linear lmHead) {
        int rows = lastOnly ? B : B * T;
        float[] sel = x;
        if (lastOnly && T > 1) {
            sel = new float[B * C];
            for (int b = 0; b < B; b++) System.arraycopy(x, (b * T + T - 1) * C, sel, b * C, C);
        }
        float[] normed = new float[rows * C];
        if (normBias == null) Kernels.rmsnorm(normed, sel, normW, rows, C, eps);
        else Kernels.layernorm(normed, sel, normW, normBias, rows, C, eps);
        float[] logits = new float[rows * lmHead.out()];
        lmHead.forward(logits, normed, rows);
        return logits;
    }
}
