/*
 * Linear: a frozen dense layer y = x · Wᵀ + b with W stored [out, in] row-major in f32.
 *
 * Weight storage. Checkpoints may hold F32, F16 or BF16; peft4j converts to f32 once, at load,
 * because every kernel computes in f32 and the packed GEMM reads each weight element many times
 * per call (once per block of rows), so converting on the fly inside the GEMM would redo the
 * conversion M/96 times. The cost is memory: a BF16 model takes twice its file size on the heap.
 * (Later work stores frozen weights in bf16/NF4 and converts while packing, where it is done once
 * per (panel, k-block) and amortised.) GPT-2's Conv1D weights ([in, out] on disk) are transposed
 * at load so every linear in every model has the same layout.
 */
package dev.peft4j.model;

import dev.peft4j.kernels.Gemm;
import dev.peft4j.kernels.Kernels;

public record Linear(String name, float[] weight, float[] bias, int out, int in) {
    public Linear {
        if (weight.length != (long) out * in)
            throw new IllegalArgumentException(name + ": weight has " + weight.length + " values, expected " + out + "x" + in);
        if (bias != null && bias.length != out)
            throw new IllegalArgumentException(name + ": bias has " + bias.length + " values, expected " + out);
    }

    /** y[rows, out] = x[rows, in] · Wᵀ (+ b). */
    public void forward(float[] y, float[] x, int rows) {
        Gemm.matmulNT(y, x, weight, rows, out, in, false);
        if (bias != null) Kernels.addBias(y, bias, rows, out);
    }

    public long parameterCount() { return (long) out * in + (bias == null ? 0 : out); }
}
