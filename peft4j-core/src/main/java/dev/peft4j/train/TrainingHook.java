/*
 * TrainingHook: what a PEFT method can add to the training loop without the Trainer knowing the
 * method (AdaLoRA's orthogonal regulariser and rank allocator are the first user):
 *   extraLoss            a scalar added to every micro-batch's loss, recorded on that micro-batch's
 *                        tape so its gradient flows (PEFT adds it to outputs.loss in the forward);
 *   afterOptimizerStep   called after the optimizer step with the step's gradients still present and
 *                        before they are zeroed (where PEFT's update_and_allocate(global_step) runs);
 *                        step is the number of optimizer steps done (HF Trainer's state.global_step);
 *   metrics              fields added to that step's metrics.jsonl row;
 *   state / restore      what a checkpoint must hold for a resumed run to replay the steps exactly.
 * Every method has a default that does nothing, so a hook implements only what it needs.
 */
package dev.peft4j.train;

import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import java.util.Map;

public interface TrainingHook {
    /** A scalar (shape [1]) added to one micro-batch's loss, its backward recorded on tape; null for none. */
    default Tensor extraLoss(Tape tape) { return null; }

    /** After optimizer step number step (1-based) of totalSteps, before the gradients are zeroed. */
    default void afterOptimizerStep(int step, int totalSteps) {}

    /** Fields for the metrics.jsonl row of the step just done (numbers or strings). */
    default Map<String, Object> metrics() { return Map.of(); }

    /** Checkpoint state: named float arrays (saved as F32) and a JSON-serialisable map. */
    default Map<String, float[]> stateTensors() { return Map.of(); }

    default Map<String, Object> state() { return Map.of(); }

    /** Restores what state() and stateTensors() returned at the checkpoint (called before the resumed steps). */
    default void restore(Map<String, Object> state, Map<String, float[]> tensors) {}
}
