/*
 * Evaluator: what the Trainer calls at its evaluation steps besides the validation loss — the
 * trainer knows no task, an evaluator scores the model as it is at that step (e.g. the CLI's
 * multiple-choice accuracy on a file, or forgetting on reference text) and returns named scores,
 * each with the direction in which it improves. The trainer logs them in metrics.jsonl as
 * "eval/NAME", and can keep the best checkpoint / stop early on one of them (Trainer.keepBest,
 * Trainer.earlyStopping).
 */
package dev.peft4j.train;

import dev.peft4j.Peft4jException;
import java.util.List;

@FunctionalInterface
public interface Evaluator {
    /** One named score, e.g. ("mc:acc", 0.75, true). */
    record Score(String name, double value, boolean higherIsBetter) {
        public Score {
            if (name == null || name.isBlank() || name.equals(Trainer.VAL_LOSS))
                throw new Peft4jException("an evaluator score needs a name other than '" + Trainer.VAL_LOSS + "' (got '" + name + "')");
        }

        /** Whether value is strictly better than best (NaN is never better; anything beats a NaN best). */
        public static boolean improves(double value, double best, boolean higherIsBetter) {
            if (Double.isNaN(value)) return false;
            if (Double.isNaN(best)) return true;
            return higherIsBetter ? value > best : value < best;
        }
    }

    /** Scores the model as it is after optimizer step `step` (the model is left as it was found). */
    List<Score> evaluate(int step);
}
