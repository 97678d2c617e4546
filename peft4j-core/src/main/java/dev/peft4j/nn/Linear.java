/*
 * Linear: a dense layer y = x · Wᵀ + b with W: (out, in), plus the LoRA adapters attached to it.
 * name is the module path transformers uses ("model.layers.0.self_attn.q_proj",
 * "transformer.h.0.attn.c_attn"), which is what PEFT's target_modules match and what adapter
 * files are keyed by. GPT-2's Conv1D layers are stored [in, out] on disk (conv1d = true, PEFT's
 * fan_in_fan_out) but are transposed at load, so every Linear computes the same way.
 *
 * Weight storage. Checkpoints may hold F32, F16 or BF16; peft4j converts to f32 once, at load,
 * because every kernel computes in f32 and the packed GEMM reads each weight element many times
 * per call (once per block of rows), so converting on the fly inside the GEMM would redo the
 * conversion many times per step. The cost is memory: a BF16 model takes twice its file size.
 *
 * The forward is one fused op: the base product and every active adapter's low-rank path share the
 * input, and one backward produces dx = dy·W + Σ scaling·(dy·B)·A and the adapters' dA, dB. A
 * frozen W only ever contributes to dx; it never gets a gradient buffer.
 */
package dev.peft4j.nn;

import dev.peft4j.autograd.Ops;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.kernels.Gemm;
import dev.peft4j.kernels.Kernels;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public final class Linear {
    public final String name;
    public final int in, out;
    public final boolean conv1d;
    private Tensor weight;          // (out, in)
    private Tensor bias;            // (out) or null
    private final Map<String, LoraAdapter> adapters = new LinkedHashMap<>();
    private List<String> active = List.of();

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

    public Map<String, LoraAdapter> adapters() { return Collections.unmodifiableMap(adapters); }

    public void addAdapter(String adapterName, LoraAdapter a) {
        if (a.A.dim(1) != in || a.B.dim(0) != out)
            throw new IllegalArgumentException(name + ": adapter '" + adapterName + "' has A " + java.util.Arrays.toString(a.A.shape)
                    + " and B " + java.util.Arrays.toString(a.B.shape) + " but the layer is " + out + "x" + in);
        adapters.put(adapterName, a);
    }

    public LoraAdapter removeAdapter(String adapterName) {
        LoraAdapter a = adapters.remove(adapterName);
        if (a != null && a.merged) throw new IllegalStateException(name + ": unmerge adapter '" + adapterName + "' before deleting it");
        List<String> act = new ArrayList<>(active);
        act.remove(adapterName);
        active = List.copyOf(act);
        return a;
    }

    /** Chooses which adapters the forward applies (names not attached here are ignored). */
    public void setActive(List<String> names) {
        List<String> act = new ArrayList<>();
        for (String n : names) if (adapters.containsKey(n)) act.add(n);
        active = List.copyOf(act);
    }

    public List<String> active() { return active; }

    public long parameterCount() { return (long) out * in + (bias == null ? 0 : out); }

    /** W += sign · scaling · B·A for the named adapter (merge with +1, unmerge with −1). */
    public void mergeAdapter(String adapterName, boolean merge) {
        LoraAdapter a = adapters.get(adapterName);
        if (a == null) throw new IllegalArgumentException(name + " has no adapter '" + adapterName + "'");
        if (a.merged == merge) return;
        float[] delta = new float[out * in];
        Gemm.matmulNN(delta, a.B.data, a.A.data, out, in, a.r, false);     // (out, in) = B·A
        float s = (float) (merge ? a.scaling : -a.scaling);
        var m = weight.compact() ? weight.matrix() : null;
        if (m instanceof dev.peft4j.kernels.Nf4Matrix || m instanceof dev.peft4j.kernels.Int8Matrix) {
            // a quantised base: dequantise and merge in f32 (re-quantising would change the outputs, as PEFT warns)
            System.err.println("warning: merging into a quantised base weight (" + name + "): it is dequantised to f32 first; "
                    + "re-quantising the merged weight would change the model's outputs");
            weight.decompact();
            m = null;
        }
        float[] w = m instanceof dev.peft4j.kernels.WeightMatrix.Bf16 ? weight.floats() : weight.data;   // f32 rows, live
        Kernels.axpy(w, 0, s, delta, 0, delta.length);
        if (m instanceof dev.peft4j.kernels.WeightMatrix.Bf16) {           // re-encode: rounding, as merging into a bf16 model
            weight.data = w;
            weight.compactTo(dev.peft4j.kernels.WeightMatrix.Bf16.encode(w, out, in));
        } else if (m instanceof dev.peft4j.kernels.WeightMatrix.F32Prepacked) {
            weight.compactTo(Gemm.prepackNT(w, out, in));                  // the packed copy must follow
        }
        a.merged = merge;
    }

    /** Marks a merged adapter as unmerged without touching W (its delta stays folded in: merge-and-unload). */
    public void markUnmerged(String adapterName) {
        LoraAdapter a = adapters.get(adapterName);
        if (a != null) a.merged = false;
    }

    /** y: (rows, out) = x · Wᵀ + b + Σ_active scaling · (dropout(x) · Aᵀ) · Bᵀ, x: (rows, in). */
    public Tensor forward(Tape tape, Tensor x) {
        List<LoraAdapter> lora = new ArrayList<>();
        for (String n : active) if (!adapters.get(n).merged) lora.add(adapters.get(n));
        if (lora.isEmpty()) return Ops.linear(tape, x, weight, bias);

        int rows = x.size() / in;
        float[] y = new float[rows * out];
        Gemm.matmulNT(y, x.data, weight.matrix(), rows, false);                        // base: x·Wᵀ
        if (bias != null) Kernels.addBias(y, bias.data, rows, out);
        boolean grad = Tape.needed(tape, x, weight, bias);
        for (LoraAdapter a : lora) grad |= Tape.needed(tape, a.A, a.B);
        float[][] xd = new float[lora.size()][], masks = new float[lora.size()][], xas = new float[lora.size()][];
        for (int i = 0; i < lora.size(); i++) {
            LoraAdapter a = lora.get(i);
            xd[i] = x.data;
            if (tape != null && a.dropout > 0f) {                                    // dropout only while training
                masks[i] = Ops.dropoutMask(tape, x.size(), a.dropout);
                xd[i] = new float[x.size()];
                for (int j = 0; j < xd[i].length; j++) xd[i][j] = x.data[j] * masks[i][j];
            }
            xas[i] = new float[rows * a.r];
            Gemm.matmulNT(xas[i], xd[i], a.A.data, rows, a.r, in, false);              // (rows, r) = xd·Aᵀ
            for (int j = 0; j < xas[i].length; j++) xas[i][j] *= (float) a.scaling;
            Gemm.matmulNT(y, xas[i], a.B.data, rows, out, a.r, true);                  // y += (s·xd·Aᵀ)·Bᵀ
        }
        Tensor t = Tensor.activation(y, grad, rows, out);
        Tensor.GradRef gx = x.gradRef(), gt = t.gradRef();
        Tensor w = weight, b = bias;
        float[] xData = w.requiresGrad ? x.data : null;           // kept only when W itself is trained
        if (grad) tape.record(() -> {
            float[] dy = gt.gradOrNull();
            if (dy == null) return;
            if (w.requiresGrad) Gemm.matmulTN(w.grad(), dy, xData, out, in, rows, true);
            if (b != null && b.requiresGrad) Ops.biasGrad(b.grad(), dy, rows, out);
            float[] dx = gx.requiresGrad() ? gx.grad() : null;
            if (dx != null) Gemm.matmulNN(dx, dy, w.matrix(), rows, true);             // dx += dy·W
            for (int i = 0; i < lora.size(); i++) {
                LoraAdapter a = lora.get(i);
                if (a.B.requiresGrad) Gemm.matmulTN(a.B.grad(), dy, xas[i], out, a.r, rows, true);   // dB += dyᵀ·(s·xa)
                float[] dxa = new float[rows * a.r];
                Gemm.matmulNN(dxa, dy, a.B.data, rows, a.r, out, false);               // (rows, r) = dy·B
                for (int j = 0; j < dxa.length; j++) dxa[j] *= (float) a.scaling;
                if (a.A.requiresGrad) Gemm.matmulTN(a.A.grad(), dxa, xd[i], a.r, in, rows, true);    // dA += dxaᵀ·xd
                if (dx != null) {
                    if (masks[i] == null) {
                        Gemm.matmulNN(dx, dxa, a.A.data, rows, in, a.r, true);           // dx += dxa·A
                    } else {
                        float[] tmp = new float[rows * in];
                        Gemm.matmulNN(tmp, dxa, a.A.data, rows, in, a.r, false);
                        for (int j = 0; j < tmp.length; j++) dx[j] += tmp[j] * masks[i][j];
                    }
                }
            }
        });
        return t;
    }

    @Override public String toString() {
        return name + " Linear(" + in + " -> " + out + (bias != null ? ", bias" : "") + (adapters.isEmpty() ? "" : ", lora " + adapters.keySet()) + ")";
    }
}
