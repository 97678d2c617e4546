/*
 * AdapterLayer: one adapter of one PEFT method on one Linear layer - the per-layer half of HF PEFT's
 * tuner layers (BaseTunerLayer: LoraLayer, IA3Layer, ...). Linear knows no method: it keeps its
 * adapters by name, knows which are active and merged, and hands the forward of its active,
 * unmerged adapters to their method's Forward (all active adapters of one layer share a method).
 *
 * A method contributes:
 *   forward     the layer's output with its adapters applied, and the backward that accumulates the
 *               adapters' gradients and dx (base W is frozen: only its dx share is computed);
 *   merge       folding the adapter into the base weight and back out (Linear.updateWeight gives the
 *               f32 rows whatever the storage format);
 *   parameters  its trainable tensors in PEFT's named_parameters order;
 *   stateDict   its saved tensors keyed as PEFT saves them after the module name ("lora_A.weight").
 */
package dev.peft4j.nn;

import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import java.util.List;
import java.util.Map;

public interface AdapterLayer {
    /** PEFT's peft_type of the method: "LORA", "IA3", ... */
    String peftType();

    /** The forward shared by every adapter of this method (one object per method). */
    Forward forward();

    /** Trainable tensors, in PEFT's named_parameters order. */
    List<Tensor> parameters();

    /** Saved tensors keyed by what follows the module name in PEFT's keys, e.g. "lora_A.weight", "ia3_l". */
    Map<String, Tensor> stateDict();

    /** Throws IllegalArgumentException when this adapter does not fit base (shapes). */
    void checkFits(Linear base);

    /** Adds this adapter into base's weight (merge) or takes it out again (!merge). */
    void merge(Linear base, boolean merge);

    /** Whether the adapter is folded into the base weight (the forward then skips it). */
    boolean merged();

    void setMerged(boolean merged);

    /** Parameters this adapter adds (PEFT's count). */
    default long parameterCount() {
        long n = 0;
        for (Tensor t : parameters()) n += t.size();
        return n;
    }

    /**
     * Serving fast path (inference, no tape), used when one batch mixes rows of different adapters: adds
     * this adapter's change to y[yOff, yOff + rows*out), which already holds the base layer's output
     * x·Wᵀ + b for x (rows, in). Returns false when the method has no such additive form; the caller then
     * recomputes those rows with forward(). Only the low-rank work is done here: the base GEMM ran once,
     * over every row of the batch (segmented multi-adapter batching, as Punica / S-LoRA do).
     */
    default boolean addToBaseOutput(Linear base, float[] x, int rows, float[] y, int yOff) { return false; }

    /** A method's forward over the active, unmerged adapters of one layer. */
    @FunctionalInterface
    interface Forward {
        /** y (rows, out) = the base layer with adapters applied to x (rows, in); records the backward on tape. */
        Tensor apply(Tape tape, Linear base, Tensor x, List<AdapterLayer> adapters);
    }
}
