/*
 * LycorisLayer: the per-layer half of HF PEFT's LycorisLayer (peft/tuners/lycoris_utils.py) for
 * Linear layers, shared by LoHa and LoKr. A method supplies its delta weight ΔW (out, in) - scaling
 * included - and the chain rule from dL/dΔW to its factors; this class does the rest as PEFT does:
 *   forward   y = x·Wᵀ + b + Σ_active x·ΔW_iᵀ   (PEFT: base_layer(x) + F.linear(x, get_delta_weight()))
 *             while training, module_dropout skips adapter i for the step and rank_dropout multiplies
 *             ΔW_i's rows by a keep mask (Lycoris.skipModule / rankDropoutMask);
 *   backward  dx += dy·W + Σ dy·(mask ⊙ ΔW_i),  dL/dΔW_i = mask ⊙ (dyᵀ·x), then the method's factors;
 *   merge     W ± ΔW_i (no dropout: merging happens outside training).
 * ΔW is recomputed in the backward instead of being kept (it is out × in per adapter and layer).
 */
package dev.peft4j.tuner.loha;

import dev.peft4j.autograd.Ops;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.kernels.Gemm;
import dev.peft4j.kernels.Kernels;
import dev.peft4j.nn.AdapterLayer;
import dev.peft4j.nn.Linear;
import java.util.ArrayList;
import java.util.List;

public abstract class LycorisLayer implements AdapterLayer {
    public final int r, out, in;
    public final double alpha, scaling;
    public final double rankDropout, moduleDropout;
    private boolean merged;

    protected LycorisLayer(int r, double alpha, double rankDropout, double moduleDropout, int out, int in) {
        this.r = r;
        this.alpha = alpha;
        this.scaling = alpha / r;                    // PEFT: self.scaling[adapter] = alpha / r
        this.rankDropout = rankDropout;
        this.moduleDropout = moduleDropout;
        this.out = out;
        this.in = in;
    }

    /** ΔW (out, in) row-major, scaling included, no dropout: PEFT's get_delta_weight outside training. */
    public abstract float[] deltaWeight();

    /** Accumulates the factors' gradients from g = dL/dΔW (out, in). */
    protected abstract void backwardDelta(float[] g);

    /** Whether rank_dropout divides the keep mask by its mean (LoHa: always; LoKr: rank_dropout_scale). */
    protected abstract boolean rankDropoutScale();

    @Override public final Forward forward() { return FORWARD; }

    @Override public void checkFits(Linear base) {
        if (base.in != in || base.out != out)
            throw new IllegalArgumentException(base.name + ": " + peftType() + " adapter was made for a " + out + "x" + in
                    + " layer but this layer is " + base.out + "x" + base.in + "; load it onto the model it was trained on");
    }

    @Override public boolean merged() { return merged; }

    @Override public void setMerged(boolean merged) { this.merged = merged; }

    @Override public void merge(Linear base, boolean merge) {
        float[] d = deltaWeight();
        base.updateWeight(w -> Kernels.axpy(w, 0, merge ? 1f : -1f, d, 0, d.length));
    }

    private boolean anyTrainable() {
        for (Tensor t : parameters()) if (t.requiresGrad) return true;
        return false;
    }

    static final Forward FORWARD = (tape, base, x, adapters) -> {
        int in = base.in, out = base.out, rows = x.size() / in;
        Tensor w = base.weight(), b = base.bias();
        float[] y = new float[rows * out];
        Gemm.matmulNT(y, x.data, w.matrix(), rows, false);                              // base: x·Wᵀ
        if (b != null) Kernels.addBias(y, b.data, rows, out);
        boolean grad = Tape.needed(tape, x, w, b);
        List<LycorisLayer> used = new ArrayList<>(adapters.size());
        List<float[]> masks = new ArrayList<>(adapters.size());
        for (AdapterLayer a : adapters) {
            LycorisLayer l = (LycorisLayer) a;
            if (Lycoris.skipModule(tape, l.moduleDropout)) continue;                     // module_dropout (training only)
            float[] mask = Lycoris.rankDropoutMask(tape, l.rankDropout, out, l.rankDropoutScale());
            float[] d = masked(l.deltaWeight(), mask, in);
            Gemm.matmulNT(y, x.data, d, rows, out, in, true);                           // y += x·ΔWᵀ
            used.add(l);
            masks.add(mask);
            grad |= Tape.needed(tape, l.parameters().toArray(Tensor[]::new));
        }
        Tensor t = Tensor.activation(y, grad, rows, out);
        if (!grad) return t;
        Tensor.GradRef gx = x.gradRef(), gt = t.gradRef();
        float[] xData = x.data;
        tape.record(() -> {
            float[] dy = gt.gradOrNull();
            if (dy == null) return;
            if (w.requiresGrad) Gemm.matmulTN(w.grad(), dy, xData, out, in, rows, true);
            if (b != null && b.requiresGrad) Ops.biasGrad(b.grad(), dy, rows, out);
            float[] dx = gx.requiresGrad() ? gx.grad() : null;
            if (dx != null) Gemm.matmulNN(dx, dy, w.matrix(), rows, true);               // dx += dy·W
            float[] dyx = null;
            for (int i = 0; i < used.size(); i++) {
                LycorisLayer l = used.get(i);
                float[] mask = masks.get(i);
                if (dx != null) Gemm.matmulNN(dx, dy, masked(l.deltaWeight(), mask, in), rows, in, out, true);   // dx += dy·ΔW
                if (!l.anyTrainable()) continue;
                if (dyx == null) {
                    dyx = new float[out * in];
                    Gemm.matmulTN(dyx, dy, xData, out, in, rows, false);                // dL/dΔW = dyᵀ·x
                }
                l.backwardDelta(masked(mask == null ? dyx : dyx.clone(), mask, in));
            }
        });
        return t;
    };

    /** d with row o multiplied by mask[o] (in place; mask null: d unchanged). */
    private static float[] masked(float[] d, float[] mask, int in) {
        if (mask == null) return d;
        for (int o = 0; o < mask.length; o++)
            for (int j = 0; j < in; j++) d[o * in + j] *= mask[o];
        return d;
    }
}
