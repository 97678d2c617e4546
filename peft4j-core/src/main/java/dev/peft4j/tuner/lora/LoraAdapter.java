/*
 * LoraAdapter: one LoRA adapter on one linear layer, as HF PEFT defines it (tuners/lora/layer.py):
 *   y = base(x) + B · A · dropout(x) · scaling,   A: (r, in) "lora_A", B: (out, r) "lora_B",
 *   scaling = lora_alpha / r, or lora_alpha / √r with use_rslora.
 * B starts at zero, so an adapter changes nothing until it is trained. merged says whether
 * scaling·B·A has been added into the base weight (then the forward skips the low-rank path).
 *
 * The forward (FORWARD, shared by all LoRA adapters) is one fused op: the base product and every
 * active adapter's low-rank path share the input, and one backward produces
 * dx = dy·W + Σ scaling·(dy·B)·A and the adapters' dA, dB.
 * DoraAdapter (use_dora) extends this class with its magnitude vector and its own forward.
 */
package dev.peft4j.tuner.lora;

import dev.peft4j.nn.AdapterLayer;
import dev.peft4j.nn.Linear;

import dev.peft4j.Profile;
import dev.peft4j.autograd.Ops;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.kernels.Gemm;
import dev.peft4j.kernels.Kernels;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public class LoraAdapter implements AdapterLayer {
    public static final String PEFT_TYPE = "LORA";

    public final Tensor A;          // (r, in)
    public final Tensor B;          // (out, r)
    public final int r;
    public final double scaling;
    public final float dropout;
    private boolean merged;

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

    @Override public String peftType() { return PEFT_TYPE; }

    @Override public Forward forward() { return FORWARD; }

    @Override public List<Tensor> parameters() { return List.of(A, B); }

    @Override public Map<String, Tensor> stateDict() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("lora_A.weight", A);
        m.put("lora_B.weight", B);
        return m;
    }

    @Override public void checkFits(Linear base) {
        if (A.dim(1) != base.in || B.dim(0) != base.out)
            throw new IllegalArgumentException(base.name + ": LoRA adapter has A " + java.util.Arrays.toString(A.shape)
                    + " and B " + java.util.Arrays.toString(B.shape) + " but the layer is " + base.out + "x" + base.in);
    }

    @Override public boolean merged() { return merged; }

    @Override public void setMerged(boolean merged) { this.merged = merged; }

    /** B·A as (out, in) rows (unscaled). */
    private float[] product() {
        int out = B.dim(0), in = A.dim(1);
        float[] ba = new float[out * in];
        Gemm.matmulNN(ba, B.data, A.data, out, in, r, false);          // (out, in) = B·A
        return ba;
    }

    /** scaling · B·A as (out, in) rows: what merging adds to W. */
    public float[] deltaWeight() {
        float[] d = product();
        for (int i = 0; i < d.length; i++) d[i] *= (float) scaling;
        return d;
    }

    /** W ± scaling·B·A. */
    @Override public void merge(Linear base, boolean merge) {
        float[] ba = product();
        float s = (float) (merge ? scaling : -scaling);
        base.updateWeight(w -> Kernels.axpy(w, 0, s, ba, 0, ba.length));
    }

    /** y += scaling · (x·Aᵀ)·Bᵀ over rows (serving; the base output is already in y). */
    @Override public boolean addToBaseOutput(Linear base, float[] x, int rows, float[] y, int yOff) {
        int in = base.in, out = base.out;
        float[] xa = new float[rows * r], d = new float[rows * out];
        Gemm.matmulNT(xa, x, A.data, rows, r, in, false);                               // (rows, r)
        for (int j = 0; j < xa.length; j++) xa[j] *= (float) scaling;
        Gemm.matmulNT(d, xa, B.data, rows, out, r, false);                              // (rows, out)
        for (int j = 0; j < d.length; j++) y[yOff + j] += d[j];
        return true;
    }

    /** y: (rows, out) = x · Wᵀ + b + Σ scaling · (dropout(x) · Aᵀ) · Bᵀ over the given adapters. */
    static final Forward FORWARD = (tape, base, x, adapters) -> {
        List<LoraAdapter> lora = new ArrayList<>(adapters.size());
        for (AdapterLayer a : adapters) {
            if (a instanceof DoraAdapter) return DoraAdapter.FORWARD.apply(tape, base, x, adapters);   // DoRA among them
            lora.add((LoraAdapter) a);
        }
        int in = base.in, out = base.out;
        Tensor weight = base.weight(), bias = base.bias();
        int rows = x.size() / in;
        boolean grad = Tape.needed(tape, x, weight, bias);
        for (LoraAdapter a : lora) grad |= Tape.needed(tape, a.A, a.B);
        float[] y = grad ? tape.alloc(rows * out) : new float[rows * out];
        try (var _ = Profile.span(Profile.Kind.LINEAR)) {
            Gemm.matmulNT(y, x.data, weight.matrix(), rows, false);                    // base: x·Wᵀ
            if (bias != null) Kernels.addBias(y, bias.data, rows, out);
        }
        float[][] xd = new float[lora.size()][], masks = new float[lora.size()][], xas = new float[lora.size()][];
        for (int i = 0; i < lora.size(); i++) {
            LoraAdapter a = lora.get(i);
            xd[i] = x.data;
            if (tape != null && a.dropout > 0f) {                                    // dropout only while training
                masks[i] = Ops.dropoutMask(tape, x.size(), a.dropout);
                xd[i] = new float[x.size()];
                for (int j = 0; j < xd[i].length; j++) xd[i][j] = x.data[j] * masks[i][j];
            }
            xas[i] = grad ? tape.alloc(rows * a.r) : new float[rows * a.r];
            Gemm.matmulNT(xas[i], xd[i], a.A.data, rows, a.r, in, false);              // (rows, r) = xd·Aᵀ
            for (int j = 0; j < xas[i].length; j++) xas[i][j] *= (float) a.scaling;
            Gemm.matmulNT(y, xas[i], a.B.data, rows, out, a.r, true);                  // y += (s·xd·Aᵀ)·Bᵀ
        }
        Tensor t = Tensor.activation(y, grad, rows, out);
        Tensor.GradRef gx = x.gradRef(), gt = t.gradRef();
        Tensor w = weight, b = bias;
        float[] xData = w.requiresGrad ? x.data : null;           // kept only when W itself is trained
        if (grad) tape.record(t, () -> {
            float[] dy = gt.gradOrNull();
            if (dy == null) return;
            if (w.requiresGrad) Gemm.matmulTN(w.grad(), dy, xData, out, in, rows, true);
            if (b != null && b.requiresGrad) Ops.biasGrad(b.grad(), dy, rows, out);
            float[] dx = gx.requiresGrad() ? gx.grad() : null;
            if (dx != null) try (var _ = Profile.span(Profile.Kind.LINEAR)) {
                Gemm.matmulNN(dx, dy, w.matrix(), rows, true);                          // dx += dy·W
            }
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
        }, xas);
        return t;
    };
}
