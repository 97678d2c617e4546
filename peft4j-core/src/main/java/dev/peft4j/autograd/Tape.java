/*
 * Tape: reverse-mode automatic differentiation as a list. Each op, when given a tape and an input
 * that requires a gradient, appends a closure that reads its output's gradient and accumulates
 * (+=) into its inputs' gradients. backward() seeds d(loss)/d(loss) = 1 and runs the closures in
 * reverse order. Ops given a null tape only compute (inference, evaluation).
 */
package dev.peft4j.autograd;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import dev.peft4j.kernels.Kernels;

public final class Tape {
    private final List<Runnable> backward = new ArrayList<>();
    private final SplittableRandom rng;
    private final boolean recording;

    /** A tape whose dropout masks come from a generator seeded with seed (one tape per training step). */
    public Tape(long seed) { this(seed, true); }

    private Tape(long seed, boolean recording) {
        this.rng = new SplittableRandom(seed);
        this.recording = recording;
    }

    /**
     * A training-mode pass that records nothing: dropout still draws its masks from seed, but no op
     * keeps activations for a backward (the forward half of gradient checkpointing).
     */
    public static Tape nonRecording(long seed) { return new Tape(seed, false); }

    public boolean recording() { return recording; }

    /** The random stream dropout draws from, in op order (so the same seed gives the same masks). */
    public SplittableRandom rng() { return rng; }

    /** Records a backward step; called by ops. */
    public void record(Runnable step) { backward.add(dev.peft4j.Profile.backward(step)); }

    public int size() { return backward.size(); }

    /** Back-propagates from a scalar loss; the tape is consumed. */
    public void backward(Tensor loss) { backward(loss, 1f); }

    /** Back-propagates seed · d(loss) (e.g. a micro-batch's share of an accumulated batch). */
    public void backward(Tensor loss, float seed) {
        if (loss.size() != 1) throw new IllegalArgumentException("backward needs a scalar loss, got shape " + java.util.Arrays.toString(loss.shape));
        if (!loss.requiresGrad) throw new IllegalStateException("the loss does not depend on any trainable parameter");
        loss.grad()[0] += seed;
        for (int i = backward.size() - 1; i >= 0; i--) {
            backward.get(i).run();
            backward.set(i, null);     // let the activations it holds be collected
        }
        backward.clear();
    }

    /** Back-propagates dy from y (not a loss: the gradient of an intermediate output), e.g. through a recomputed block. */
    public void backwardFrom(Tensor y, float[] dy) {
        if (!y.requiresGrad) return;
        Kernels.add(y.grad(), dy, dy.length);
        for (int i = backward.size() - 1; i >= 0; i--) {
            backward.get(i).run();
            backward.set(i, null);
        }
        backward.clear();
    }

    /** True if an op with these inputs must record a backward step. */
    public static boolean needed(Tape tape, Tensor... inputs) {
        if (tape == null || !tape.recording) return false;
        for (Tensor t : inputs) if (t != null && t.requiresGrad) return true;
        return false;
    }
}
