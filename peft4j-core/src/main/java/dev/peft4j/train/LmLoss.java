/*
 * LmLoss: the causal-LM loss as transformers computes it — logits at position t predict the label
 * at t+1 (labels are aligned with input ids; the shift happens here), cross-entropy averaged over
 * the targets that are not -100 (padding, prompt tokens when training on completions only).
 * With a virtual-token prompt (prompt tuning, P-tuning) PEFT's PeftModelForCausalLM prepends -100
 * labels over the virtual tokens, so the last virtual token's logits predict labels[b, 0] too: the
 * loss here does the same (CausalLM.hiddenForLoss keeps that row).
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

    /** Number of positions that contribute to the loss of a model without a virtual-token prompt. */
    public static int countTargets(int[] labels, int B, int T) {
        return countTargets(labels, B, T, 0);
    }

    /** Number of positions that contribute to {@link #loss} of this model (its prompt adapter included). */
    public static int countTargets(CausalLM model, int[] labels, int B, int T) {
        return countTargets(labels, B, T, model.lossRowsBeforeInput());
    }

    private static int countTargets(int[] labels, int B, int T, int lead) {
        int n = 0;
        for (int b = 0; b < B; b++) for (int t = 1 - lead; t < T; t++) if (labels[b * T + t] != Ops.IGNORE_INDEX) n++;
        return n;
    }

    /** The targets of hiddenForLoss's rows: lead rows before the input predict labels[b, 0] (lead is 0 or 1). */
    static int[] targets(int[] labels, int B, int T, int lead) {
        if (lead == 0) return shiftedTargets(labels, B, T);
        int[] ext = new int[B * (T + 1)];
        for (int b = 0; b < B; b++) {
            ext[b * (T + 1)] = Ops.IGNORE_INDEX;                                       // the virtual row's own label
            System.arraycopy(labels, b * T, ext, b * (T + 1) + 1, T);
        }
        return shiftedTargets(ext, B, T + 1);
    }

    /**
     * Mean next-token cross-entropy of the model on (B, T) inputs with aligned labels; differentiable
     * with a tape. The LM head and the loss run fused in row chunks (LinearCrossEntropy), so the
     * (B*T, V) logits are never held; a head carrying its own LoRA adapter takes the plain path.
     */
    public static Tensor loss(Tape tape, CausalLM model, int[] inputIds, int[] labels, int B, int T) {
        int[] targets = targets(labels, B, T, model.lossRowsBeforeInput());
        Linear head = model.lmHead();
        Tensor h = model.hiddenForLoss(tape, inputIds, B, T);                          // (B*(T+lead), C)
        float cap = model.config().finalLogitSoftcap();                                // Gemma 2: cap·tanh(logits/cap)
        if (cap > 0) return Ops.crossEntropy(tape, Ops.softcap(tape, head.forward(tape, h), cap), targets);
        if (!head.active().isEmpty()) return Ops.crossEntropy(tape, head.forward(tape, h), targets);
        return LinearCrossEntropy.forward(tape, h, head.weight(), head.bias(), targets);
    }
}
