/*
 * AdamW with PyTorch's semantics (torch.optim.AdamW, non-fused, amsgrad off):
 *   p ← p · (1 − lr·wd)                         decoupled weight decay, applied first
 *   m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²
 *   p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
 * computed per element in double, stored in float as PyTorch does. The state (m, v, step) is
 * exposed for checkpoints so a resumed run continues bit for bit.
 *
 * Parameter groups (PyTorch's param_groups, as LoRA+ uses them): each tensor may have its own learning
 * rate factor (its lr = the scheduled lr × factor, as a scheduler scales every group's lr) and its own
 * weight decay.
 */
package dev.peft4j.train;

import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import java.util.List;

public final class AdamW {
    public record Hyper(double beta1, double beta2, double eps, double weightDecay) {
        public Hyper {
            if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
                throw new Peft4jException("AdamW betas must be in [0, 1) (got " + beta1 + ", " + beta2 + ")");
            if (!(eps > 0)) throw new Peft4jException("AdamW eps must be > 0 (got " + eps + ")");
            if (!(weightDecay >= 0)) throw new Peft4jException("weight decay must be >= 0 (got " + weightDecay + ")");
        }

        /** transformers' TrainingArguments defaults: betas (0.9, 0.999), eps 1e-8, weight decay 0. */
        public static Hyper defaults() { return new Hyper(0.9, 0.999, 1e-8, 0.0); }
    }

    /** One tensor's group settings: lr = scheduled lr × lrFactor; decoupled weight decay weightDecay. */
    public record Group(double lrFactor, double weightDecay) {
        public Group {
            if (!(lrFactor > 0) || Double.isInfinite(lrFactor)) throw new Peft4jException("lr factor must be > 0 (got " + lrFactor + ")");
            if (!(weightDecay >= 0)) throw new Peft4jException("weight decay must be >= 0 (got " + weightDecay + ")");
        }
    }

    private final List<Tensor> params;
    private final Hyper hyper;
    private final Group[] groups;
    private final float[][] m, v;
    private long step;

    public AdamW(List<Tensor> params, Hyper hyper) {
        this(params, hyper, null);
    }

    /** groups[i] applies to params.get(i); null = one group (lr factor 1, hyper's weight decay) for all. */
    public AdamW(List<Tensor> params, Hyper hyper, List<Group> groups) {
        if (groups != null && groups.size() != params.size())
            throw new IllegalArgumentException(groups.size() + " parameter groups for " + params.size() + " tensors");
        this.params = List.copyOf(params);
        this.hyper = hyper;
        this.groups = new Group[params.size()];
        for (int i = 0; i < params.size(); i++) this.groups[i] = groups == null ? new Group(1, hyper.weightDecay()) : groups.get(i);
        this.m = new float[params.size()][];
        this.v = new float[params.size()][];
        for (int i = 0; i < params.size(); i++) {
            if (!params.get(i).requiresGrad) throw new IllegalArgumentException(params.get(i) + " is frozen; AdamW takes trainable tensors");
            m[i] = new float[params.get(i).size()];
            v[i] = new float[params.get(i).size()];
        }
    }

    /** One update with learning rate lr; parameters without a gradient this step are skipped (as PyTorch does for grad None). */
    public void step(double lr) {
        try (var _ = dev.peft4j.Profile.span(dev.peft4j.Profile.Kind.OPTIMIZER)) { update(lr); }
    }

    private void update(double lr) {
        step++;
        double b1 = hyper.beta1(), b2 = hyper.beta2(), eps = hyper.eps();
        double bc1 = 1 - Math.pow(b1, step), bc2 = 1 - Math.pow(b2, step);
        double sqrtBc2 = Math.sqrt(bc2);
        for (int i = 0; i < params.size(); i++) {
            Tensor p = params.get(i);
            float[] g = p.gradOrNull();
            if (g == null) continue;
            double lrI = lr * groups[i].lrFactor(), wd = groups[i].weightDecay(), stepSize = lrI / bc1;
            float decay = (float) (1 - lrI * wd);
            float[] w = p.data, mi = m[i], vi = v[i];
            for (int j = 0; j < w.length; j++) {
                if (wd != 0) w[j] *= decay;
                mi[j] = (float) (b1 * mi[j] + (1 - b1) * g[j]);
                vi[j] = (float) (b2 * vi[j] + (1 - b2) * (double) g[j] * g[j]);
                double denom = Math.sqrt(vi[j]) / sqrtBc2 + eps;
                w[j] = (float) (w[j] - stepSize * mi[j] / denom);
            }
        }
    }

    public long stepCount() { return step; }
    public List<Group> groups() { return List.of(groups); }
    public List<Tensor> params() { return params; }
    public float[][] firstMoments() { return m; }
    public float[][] secondMoments() { return v; }

    /** Restores m, v and the step count saved by a checkpoint. */
    public void restore(long stepCount, float[][] firstMoments, float[][] secondMoments) {
        if (firstMoments.length != m.length || secondMoments.length != v.length)
            throw new Peft4jException("optimizer state holds " + firstMoments.length + " tensors but the adapter has " + m.length
                    + "; the checkpoint belongs to a different LoRA configuration");
        for (int i = 0; i < m.length; i++) {
            if (firstMoments[i].length != m[i].length || secondMoments[i].length != v[i].length)
                throw new Peft4jException("optimizer state for " + params.get(i).name + " has the wrong size; "
                        + "the checkpoint belongs to a different LoRA configuration");
            System.arraycopy(firstMoments[i], 0, m[i], 0, m[i].length);
            System.arraycopy(secondMoments[i], 0, v[i], 0, v[i].length);
        }
        this.step = stepCount;
    }
}
