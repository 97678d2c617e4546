/*
 * LmLoss: the causal-LM loss as transformers computes it — logits at position t predict the label
 * at t+1 (labels are aligned with input ids; the shift happens here), cross-entropy averaged over
 * the targets that are not -100 (padding, prompt tokens when training on completions only).
 */
package dev.peft4j.train;

import dev.peft4j.autograd.LinearCrossEntropy;
import dev.peft4j.autograd.Ops;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.nn.Linear;

public final class LmLoss {
    private LmLoss() {}

    /** targets[b, t] = labels[b, t+1]; the last position of each row has no target. (B, T) row-major. */
    public static int[] shiftedTargets(int[] labels, int B, int T) {
        int[] targets = new int[B * T];
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T - 1; t++) targets[b * T + t] = labels[b * T + t + 1];
            targets[b * T + T - 1] = Ops.IGNORE_INDEX;
        }
        return targets;
    }

    /** Number of positions that contribute to the loss. */
    public static int countTargets(int[] labels, int B, int T) {
        int n = 0;
        for (int b = 0; b < B; b++) for (int t = 1; t < T; t++) if (labels[b * T + t] != Ops.IGNORE_INDEX) n++;
        return n;
    }

    /**
     * Mean next-token cross-entropy of the model on (B, T) inputs with aligned labels; differentiable
     * with a tape. The LM head and the loss run fused in row chunks (LinearCrossEntropy), so the
     * (B*T, V) logits are never held; a head carrying its own LoRA adapter takes the plain path.
     */
    public static Tensor loss(Tape tape, CausalLM model, int[] inputIds, int[] labels, int B, int T) {
        int[] targets = shiftedTargets(labels, B, T);
        Linear head = model.lmHead();
        if (!head.active().isEmpty()) {
            Tensor logits = model.forward(tape, inputIds, B, T, null, null, false);     // (B*T, V)
            return Ops.crossEntropy(tape, logits, targets);
        }
        Tensor h = model.hidden(tape, inputIds, B, T, null, null, false);              // (B*T, C)
        return LinearCrossEntropy.forward(tape, h, head.weight(), head.bias(), targets);
    }
}
