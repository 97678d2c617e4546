/*
 * LossPoint: one row of a trainer's metrics.jsonl ({"step","loss","lr","grad_norm",
 * "tokens_per_s","epoch", optional "val_loss", and "rank_budget" where the method prunes ranks,
 * AdaLoRA). Every field but step may be null; the trainer writes a {"step":0,"val_loss":x} row
 * before the first update.
 */
package dev.peft4j.report;

public record LossPoint(long step, Double loss, Double valLoss, Double lr, Double gradNorm,
                        Double tokensPerS, Double epoch, Double rankBudget) {
    public LossPoint(long step, Double loss, Double valLoss, Double lr, Double gradNorm, Double tokensPerS, Double epoch) {
        this(step, loss, valLoss, lr, gradNorm, tokensPerS, epoch, null);
    }

    public static LossPoint train(long step, double loss) {
        return new LossPoint(step, loss, null, null, null, null, null);
    }

    public static LossPoint validation(long step, double valLoss) {
        return new LossPoint(step, null, valLoss, null, null, null, null);
    }
}
