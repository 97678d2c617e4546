/*
 * Global-norm gradient clipping as torch.nn.utils.clip_grad_norm_: the 2-norm of all gradients
 * (the norm of the per-tensor norms), and, with max_norm > 0, every gradient multiplied by
 * min(1, max_norm / (norm + 1e-6)). Returns the norm before clipping (what trainers log).
 */
package dev.peft4j.train;

import dev.peft4j.autograd.Tensor;
import java.util.List;

public final class GradClip {
    private GradClip() {}

    public static double clip(List<Tensor> params, double maxNorm) {
        double sumSq = 0;
        for (Tensor p : params) {
            float[] g = p.gradOrNull();
            if (g == null) continue;
            double s = 0;
            for (float x : g) s += (double) x * x;
            sumSq += s;
        }
        double norm = Math.sqrt(sumSq);
        if (maxNorm > 0) {
            double coef = Math.min(1.0, maxNorm / (norm + 1e-6));
            if (coef < 1.0) {
                float c = (float) coef;
                for (Tensor p : params) {
                    float[] g = p.gradOrNull();
                    if (g != null) for (int i = 0; i < g.length; i++) g[i] *= c;
                }
            }
        }
        return norm;
    }
}
