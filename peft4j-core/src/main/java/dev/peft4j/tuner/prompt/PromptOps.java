/*
 * PromptOps: the few differentiable operations the prompt-learning adapters need beyond
 * dev.peft4j.autograd.Ops, with the same contract (compute; when a tape is given and an input
 * requires a gradient, record a backward that accumulates into the input's gradient).
 */
package dev.peft4j.tuner.prompt;

import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;

public final class PromptOps {
    private PromptOps() {}

    /** y = tanh(x), elementwise. Backward: dx += dy · (1 − y²). */
    public static Tensor tanh(Tape tape, Tensor x) {
        float[] y = new float[x.size()];
        for (int i = 0; i < y.length; i++) y[i] = (float) Math.tanh(x.data[i]);
        Tensor t = Tensor.activation(y, Tape.needed(tape, x), x.shape);
        Tensor.GradRef gx = x.gradRef(), gt = t.gradRef();
        if (t.requiresGrad) tape.record(() -> {
            float[] dy = gt.gradOrNull();
            if (dy == null) return;
            float[] dx = gx.grad();
            for (int i = 0; i < y.length; i++) dx[i] += dy[i] * (1f - y[i] * y[i]);
        });
        return t;
    }

    /**
     * Columns [from, from+len) of x (P, W), repeated for B rows: (B*P, len), row b*P + p = x[p, from..].
     * Backward: dx[p, from+j] += Σ_b dy[b*P + p, j].
     */
    public static Tensor columnsRepeated(Tape tape, Tensor x, int from, int len, int B) {
        int P = x.dim(0), W = x.dim(1);
        if (from < 0 || len < 0 || from + len > W)
            throw new IllegalArgumentException("columns [" + from + ", " + (from + len) + ") outside a width of " + W);
        float[] src = x.floats(), out = new float[B * P * len];
        for (int b = 0; b < B; b++)
            for (int p = 0; p < P; p++) System.arraycopy(src, p * W + from, out, (b * P + p) * len, len);
        Tensor y = Tensor.activation(out, Tape.needed(tape, x), B * P, len);
        Tensor.GradRef gx = x.gradRef(), gy = y.gradRef();
        if (y.requiresGrad) tape.record(() -> {
            float[] dy = gy.gradOrNull();
            if (dy == null) return;
            float[] dx = gx.grad();
            for (int b = 0; b < B; b++)
                for (int p = 0; p < P; p++) {
                    int s = (b * P + p) * len, d = p * W + from;
                    for (int j = 0; j < len; j++) dx[d + j] += dy[s + j];
                }
        });
        return y;
    }
}
