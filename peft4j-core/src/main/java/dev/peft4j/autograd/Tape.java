/*
 * Tape: reverse-mode automatic differentiation as a list. Each op, when given a tape and an input
 * that requires a gradient, appends a closure that reads its output's gradient and accumulates
 * (+=) into its inputs' gradients. backward() seeds d(loss)/d(loss) = 1 and runs the closures in
 * reverse order. Ops given a null tape only compute (inference, evaluation).
 *
 * With a Workspace (training), ops take their output arrays from it (alloc) and record the output
 * with the closure; once the closure has run, the output's array and its gradient go back to the
 * workspace (see Workspace for why that is safe), and so do the scratch arrays the op declared.
 */
package dev.peft4j.autograd;

import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.WeakHashMap;
import dev.peft4j.kernels.Kernels;

public final class Tape {
    /**
     * A backward step: the closure, the op output it differentiates — held weakly: its tensor, its values and
     * (strongly, it has no values) its gradient slot — and the op's scratch arrays.
     */
    private record Entry(Runnable step, WeakReference<Tensor> output, WeakReference<float[]> outputData, Tensor.GradRef outputGrad,
                         float[][] scratch) {}

    private final List<Entry> backward = new ArrayList<>();
    private final SplittableRandom rng;
    private final boolean recording;
    private final Workspace workspace;                              // null: plain allocation
    // arrays alloc() handed out, held weakly (arrays hash and compare by identity); see record(output, ...)
    private final WeakHashMap<float[], Boolean> taken = new WeakHashMap<>();

    /** A tape whose dropout masks come from a generator seeded with seed (one tape per training step). */
    public Tape(long seed) { this(seed, true, null); }

    /** A training step's tape whose ops take their arrays from workspace (and give them back in the backward). */
    public Tape(long seed, Workspace workspace) {
        this(seed, true, workspace);
        if (workspace != null) workspace.newStep();
    }

    private Tape(long seed, boolean recording, Workspace workspace) {
        this.rng = new SplittableRandom(seed);
        this.recording = recording;
        this.workspace = workspace;
    }

    /**
     * A training-mode pass that records nothing: dropout still draws its masks from seed, but no op
     * keeps activations for a backward (the forward half of gradient checkpointing).
     */
    public static Tape nonRecording(long seed) { return new Tape(seed, false, null); }

    /** A recording tape for a part of this step (a recomputed block), sharing this tape's workspace. */
    public Tape child(long seed) { return new Tape(seed, true, workspace); }

    public boolean recording() { return recording; }

    /** The random stream dropout draws from, in op order (so the same seed gives the same masks). */
    public SplittableRandom rng() { return rng; }

    /**
     * n zeroed floats for an op's output or scratch: from the workspace when this tape has one (give the
     * array back by recording it as the output or a scratch of the op's closure), else a new array.
     */
    public float[] alloc(int n) {
        if (workspace == null || !recording || n < Workspace.MIN_FLOATS) return new float[n];
        float[] a = workspace.take(n);
        taken.put(a, Boolean.TRUE);
        return a;
    }

    /**
     * n zeroed floats for the output of an op on these inputs: from the tape's workspace when the op will
     * record its backward (the output is given back after it), else a new array.
     */
    public static float[] alloc(Tape tape, int n, Tensor... inputs) { return needed(tape, inputs) ? tape.alloc(n) : new float[n]; }

    /** Gives back an array from alloc that nothing reads any more (an op's forward-only scratch). */
    public void free(float[] a) {
        if (a != null && taken.remove(a) != null) workspace.give(a);
    }

    /** Records a backward step; called by ops. Nothing is recycled after it (see the overload). */
    public void record(Runnable step) { record(null, step); }

    /**
     * Records the backward step of the op that produced output: after it has run, output's array (when it
     * came from alloc) and its gradient go back to the workspace, and so do the scratch arrays (from alloc)
     * that only this step reads.
     *
     * The tape holds output and its array only weakly. An output no backward closure captured (a frozen
     * layer's output fed to an addition, an activation fed to a frozen layer, q before RoPE) is therefore
     * garbage as soon as the forward drops it, long before this step's backward would give it back: the
     * forward's peak memory is what the backward needs, not everything the forward made (GPT-2 B4 T256:
     * 864 -> 504 MB of activations). Such an array is simply not recycled (the next step allocates it anew);
     * one a closure captured is still reachable, and goes back to the workspace after the closure has run.
     */
    public void record(Tensor output, Runnable step, float[]... scratch) {
        Entry e = output == null
                ? new Entry(dev.peft4j.Profile.backward(step), null, null, null, scratch.length == 0 ? null : scratch)
                : new Entry(dev.peft4j.Profile.backward(step), new WeakReference<>(output), new WeakReference<>(output.data),
                            output.gradRef(), scratch.length == 0 ? null : scratch);
        backward.add(e);
    }

    public int size() { return backward.size(); }

    /** Back-propagates from a scalar loss; the tape is consumed. */
    public void backward(Tensor loss) { backward(loss, 1f); }

    /** Back-propagates seed · d(loss) (e.g. a micro-batch's share of an accumulated batch). */
    public void backward(Tensor loss, float seed) {
        if (loss.size() != 1) throw new IllegalArgumentException("backward needs a scalar loss, got shape " + java.util.Arrays.toString(loss.shape));
        if (!loss.requiresGrad) throw new IllegalStateException("the loss does not depend on any trainable parameter");
        loss.grad()[0] += seed;
        run();
    }

    /** Back-propagates dy from y (not a loss: the gradient of an intermediate output), e.g. through a recomputed block. */
    public void backwardFrom(Tensor y, float[] dy) {
        if (!y.requiresGrad) return;
        Kernels.add(y.grad(), dy, dy.length);
        run();
    }

    private void run() {
        Workspace before = workspace == null ? null : Workspace.enter(workspace);
        try {
            for (int i = backward.size() - 1; i >= 0; i--) {
                Entry e = backward.get(i);
                e.step().run();
                backward.set(i, null);     // let the activations it holds be collected
                if (workspace != null) release(e);
            }
        } finally {
            if (workspace != null) Workspace.exit(before);
        }
        backward.clear();
        taken.clear();
    }

    private void release(Entry e) {
        if (e.output() != null) {
            float[] data = e.outputData().get();
            if (data != null && taken.remove(data) != null) {
                workspace.give(data);
                Tensor out = e.output().get();
                if (out != null && out.data == data) out.data = null;   // a later read fails loudly instead of seeing another op's values
            }
            e.outputGrad().releaseTo(workspace);
        }
        if (e.scratch() != null)
            for (float[] a : e.scratch()) if (a != null && taken.remove(a) != null) workspace.give(a);
    }

    /** True if an op with these inputs must record a backward step. */
    public static boolean needed(Tape tape, Tensor... inputs) {
        if (tape == null || !tape.recording) return false;
        for (Tensor t : inputs) if (t != null && t.requiresGrad) return true;
        return false;
    }
}
