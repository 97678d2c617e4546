/*
 * Checkpoint: activation recomputation ("gradient checkpointing") for one block of a model. The
 * forward runs the block without recording (dropout still applied, from a seed drawn here), so
 * only the block's input and output stay alive; the backward runs the block again with a real tape
 * and the same seed — the same dropout masks, the same activations — and back-propagates the
 * incoming gradient through it. Memory per block drops from everything the block saves to its
 * input; the price is one more forward of the block.
 */
package dev.peft4j.autograd;

import dev.peft4j.kernels.Kernels;
import java.util.function.BiFunction;

public final class Checkpoint {
    private Checkpoint() {}

    public static Tensor apply(Tape tape, Tensor x, BiFunction<Tape, Tensor, Tensor> block) {
        if (tape == null || !tape.recording()) return block.apply(tape, x);
        long seed = tape.rng().nextLong();
        Tensor y = block.apply(Tape.nonRecording(seed), x);
        Tensor out = Tensor.activation(y.data, true, y.shape);
        tape.record(() -> {
            float[] dy = out.gradOrNull();
            if (dy == null) return;
            Tape sub = tape.child(seed);
            Tensor xr = Tensor.activation(x.data, x.requiresGrad, x.shape);   // same values, its own gradient
            Tensor yr = block.apply(sub, xr);
            sub.backwardFrom(yr, dy);
            if (x.requiresGrad && xr.hasGrad()) Kernels.add(x.grad(), xr.grad(), x.size());
        });
        return out;
    }
}
