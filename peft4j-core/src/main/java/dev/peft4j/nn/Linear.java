/*
 * Linear: a dense layer y = x · Wᵀ + b with W: (out, in), plus the PEFT adapters attached to it.
 * name is the module path transformers uses ("model.layers.0.self_attn.q_proj",
 * "transformer.h.0.attn.c_attn"), which is what PEFT's target_modules match and what adapter
 * files are keyed by. GPT-2's Conv1D layers are stored [in, out] on disk (conv1d = true, PEFT's
 * fan_in_fan_out) but are transposed at load, so every Linear computes the same way.
 *
 * Weight storage. Checkpoints may hold F32, F16 or BF16; peft4j converts to f32 once, at load,
 * because every kernel computes in f32 and the packed GEMM reads each weight element many times
 * per call (once per block of rows), so converting on the fly inside the GEMM would redo the
 * conversion many times per step. The cost is memory: a BF16 model takes twice its file size.
 * Frozen weights may be held compactly (bf16, prepacked, NF4, int8: kernels.WeightMatrix).
 *
 * Adapters. Linear knows no PEFT method: it holds AdapterLayers by name (LoRA, IA³, ...), which
 * of them are active, and delegates the forward of the active unmerged ones to their method
 * (AdapterLayer.Forward: one fused op that also records the backward). The active adapters of one
 * layer share a method, as in PEFT, where a layer is one tuner type. A frozen W only ever
 * contributes to dx; it never gets a gradient buffer.
 */
package dev.peft4j.nn;

import dev.peft4j.autograd.Ops;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.kernels.WeightMatrix;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

public final class Linear {
    public final String name;
    public final int in, out;
    public final boolean conv1d;
    private Tensor weight;          // (out, in)
    private Tensor bias;            // (out) or null
    private final Map<String, AdapterLayer> adapters = new LinkedHashMap<>();
    private List<String> active = List.of();
    private String[] routing;       // serving: the adapter of each sequence of the batch (null entry: base), or null

    public Linear(String name, Tensor weight, Tensor bias, boolean conv1d) {
        if (weight.shape.length != 2) throw new IllegalArgumentException(name + ": weight must be 2-D (out, in)");
        this.name = name;
        this.weight = weight;
        this.bias = bias;
        this.out = weight.dim(0);
        this.in = weight.dim(1);
        this.conv1d = conv1d;
        if (bias != null && bias.size() != out)
            throw new IllegalArgumentException(name + ": bias has " + bias.size() + " values, expected " + out);
    }

    public Tensor weight() { return weight; }
    public Tensor bias() { return bias; }

    /** Replaces the base weight and bias (e.g. by a trainable copy for modules_to_save). */
    public void setBase(Tensor weight, Tensor bias) {
        if (weight.dim(0) != out || weight.dim(1) != in) throw new IllegalArgumentException(name + ": new weight has the wrong shape");
        this.weight = weight;
        this.bias = bias;
    }

    public Map<String, AdapterLayer> adapters() { return Collections.unmodifiableMap(adapters); }

    public void addAdapter(String adapterName, AdapterLayer a) {
        a.checkFits(this);
        adapters.put(adapterName, a);
    }

    public AdapterLayer removeAdapter(String adapterName) {
        AdapterLayer a = adapters.remove(adapterName);
        if (a != null && a.merged()) throw new IllegalStateException(name + ": unmerge adapter '" + adapterName + "' before deleting it");
        List<String> act = new ArrayList<>(active);
        act.remove(adapterName);
        active = List.copyOf(act);
        return a;
    }

    /** Chooses which adapters the forward applies (names not attached here are ignored). */
    public void setActive(List<String> names) {
        List<String> act = new ArrayList<>();
        String method = null;
        for (String n : names) {
            AdapterLayer a = adapters.get(n);
            if (a == null) continue;
            if (method != null && !method.equals(a.peftType()))
                throw new IllegalArgumentException(name + ": adapters " + act + " (" + method + ") and '" + n + "' (" + a.peftType()
                        + ") cannot be active together on one layer; activate adapters of one method at a time");
            method = a.peftType();
            act.add(n);
        }
        active = List.copyOf(act);
    }

    public List<String> active() { return active; }

    public long parameterCount() { return (long) out * in + (bias == null ? 0 : out); }

    /** Folds the named adapter into the base weight (merge) or takes it out again (!merge); no-op when already so. */
    public void mergeAdapter(String adapterName, boolean merge) {
        AdapterLayer a = adapters.get(adapterName);
        if (a == null) throw new IllegalArgumentException(name + " has no adapter '" + adapterName + "'");
        if (a.merged() == merge) return;
        a.merge(this, merge);
        a.setMerged(merge);
    }

    /** Marks a merged adapter as unmerged without touching W (its delta stays folded in: merge-and-unload). */
    public void markUnmerged(String adapterName) {
        AdapterLayer a = adapters.get(adapterName);
        if (a != null) a.setMerged(false);
    }

    /**
     * Edits the base weight as f32 rows (out, in), whatever its storage: compact formats are decoded,
     * edited and stored again in their format (bf16 re-rounded, prepacked re-packed); a quantised
     * weight stays f32 afterwards, with a warning, since re-quantising would change the outputs (as PEFT warns).
     */
    public void updateWeight(Consumer<float[]> edit) {
        if (!weight.compact()) {
            edit.accept(weight.data);
            return;
        }
        WeightMatrix m = weight.matrix();
        float[] w = m.toFloats();
        edit.accept(w);
        WeightMatrix again = m.withValues(w);
        if (again == null) {
            System.err.println("warning: merging into a quantised base weight (" + name + "): it is dequantised to f32 first; "
                    + "re-quantising the merged weight would change the model's outputs");
            weight.decompact();
            System.arraycopy(w, 0, weight.data, 0, w.length);
        } else {
            weight.compactTo(again);
        }
    }

    /**
     * Serving several adapters in one batch: from now on sequence b of each forward (its rows/B
     * consecutive rows) gets adapter adapterOfSequence[b] (null: the base layer), instead of the active
     * adapters. null turns routing off. Inference only.
     */
    public void setRouting(String[] adapterOfSequence) { this.routing = adapterOfSequence; }

    /** y: (rows, out) = x · Wᵀ + b, with the active unmerged adapters applied by their method; x: (rows, in). */
    public Tensor forward(Tape tape, Tensor x) {
        if (routing != null) return routedForward(tape, x);
        List<AdapterLayer> on = new ArrayList<>(active.size());
        for (String n : active) if (!adapters.get(n).merged()) on.add(adapters.get(n));
        if (on.isEmpty()) return Ops.linear(tape, x, weight, bias);
        try (var _ = dev.peft4j.Profile.span(dev.peft4j.Profile.Kind.ADAPTER)) {   // the method's own spans (its base GEMM) nest inside
            return on.getFirst().forward().apply(tape, this, x, on);
        }
    }

    /**
     * The base product once over every row, then each run of consecutive sequences that share an adapter
     * gets that adapter over its rows only: its additive low-rank path (AdapterLayer.addToBaseOutput) or,
     * for a method without one, its forward over those rows.
     */
    private Tensor routedForward(Tape tape, Tensor x) {
        if (tape != null) throw new IllegalStateException(name + ": per-sequence adapter routing is for inference; train without it");
        Tensor y = Ops.linear(null, x, weight, bias);                       // (rows, out), every row
        int B = routing.length, rows = x.dim(0);
        if (B == 0 || rows % B != 0)
            throw new IllegalArgumentException(name + ": " + rows + " rows cannot be split over " + B + " routed sequences");
        int T = rows / B;
        for (int b0 = 0; b0 < B; ) {
            int b1 = b0 + 1;
            while (b1 < B && java.util.Objects.equals(routing[b1], routing[b0])) b1++;
            AdapterLayer a = routing[b0] == null ? null : adapters.get(routing[b0]);
            if (a != null && !a.merged()) {
                int r0 = b0 * T, n = (b1 - b0) * T;
                float[] xs = java.util.Arrays.copyOfRange(x.data, r0 * in, (r0 + n) * in);
                if (!a.addToBaseOutput(this, xs, n, y.data, r0 * out)) {
                    Tensor ys = a.forward().apply(null, this, Tensor.activation(xs, false, n, in), List.of(a));
                    System.arraycopy(ys.data, 0, y.data, r0 * out, n * out);
                }
            }
            b0 = b1;
        }
        return y;
    }

    @Override public String toString() {
        return name + " Linear(" + in + " -> " + out + (bias != null ? ", bias" : "") + (adapters.isEmpty() ? "" : ", adapters " + adapters.keySet()) + ")";
    }
}
