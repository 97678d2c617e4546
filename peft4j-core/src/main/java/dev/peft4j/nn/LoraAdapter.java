/*
 * LoraAdapter: one LoRA adapter on one linear layer, as HF PEFT defines it (tuners/lora/layer.py):
 *   y = base(x) + B · A · dropout(x) · scaling,   A: (r, in) "lora_A", B: (out, r) "lora_B",
 *   scaling = lora_alpha / r, or lora_alpha / √r with use_rslora.
 * B starts at zero, so an adapter changes nothing until it is trained. merged says whether
 * scaling·B·A has been added into the base weight (then the forward skips the low-rank path).
 */
package dev.peft4j.nn;

import dev.peft4j.autograd.Tensor;

public final class LoraAdapter {
    public final Tensor A;          // (r, in)
    public final Tensor B;          // (out, r)
    public final int r;
    public final double scaling;
    public final float dropout;
    boolean merged;

    public LoraAdapter(Tensor A, Tensor B, double scaling, float dropout) {
        if (A.shape.length != 2 || B.shape.length != 2 || A.dim(0) != B.dim(1))
            throw new IllegalArgumentException("LoRA A must be (r, in) and B (out, r); got A " + java.util.Arrays.toString(A.shape)
                    + ", B " + java.util.Arrays.toString(B.shape));
        if (!(dropout >= 0f && dropout < 1f)) throw new IllegalArgumentException("lora dropout must be in [0, 1) (got " + dropout + ")");
        this.A = A;
        this.B = B;
        this.r = A.dim(0);
        this.scaling = scaling;
        this.dropout = dropout;
    }

    public boolean merged() { return merged; }
}
