/*
 * Sampler: turns one row of logits into a token id according to a SamplingConfig.
 * Top-k keeps every token whose logit is >= the k-th largest (ties kept, as transformers'
 * TopKLogitsWarper does); top-p keeps the smallest set of most probable tokens whose probability
 * mass reaches top_p (always at least one), as TopPLogitsWarper does.
 */
package dev.peft4j.generate;

import java.util.Arrays;
import java.util.SplittableRandom;

public final class Sampler {
    private final SamplingConfig cfg;
    private final SplittableRandom rng;

    public Sampler(SamplingConfig cfg) {
        this.cfg = cfg;
        this.rng = new SplittableRandom(cfg.seed());
    }

    /** Picks a token from logits[off, off+V). */
    public int next(float[] logits, int off, int V) {
        if (cfg.isGreedy()) return argmax(logits, off, V);
        double[] p = new double[V];
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < V; i++) { p[i] = logits[off + i] / (double) cfg.temperature(); max = Math.max(max, p[i]); }
        if (cfg.topK() > 0 && cfg.topK() < V) {
            double[] sorted = p.clone();
            Arrays.sort(sorted);
            double kth = sorted[V - cfg.topK()];
            for (int i = 0; i < V; i++) if (p[i] < kth) p[i] = Double.NEGATIVE_INFINITY;
        }
        double sum = 0;
        for (int i = 0; i < V; i++) { p[i] = Math.exp(p[i] - max); sum += p[i]; }
        for (int i = 0; i < V; i++) p[i] /= sum;
        if (cfg.topP() < 1f) {
            Integer[] order = new Integer[V];
            for (int i = 0; i < V; i++) order[i] = i;
            Arrays.sort(order, (a, b) -> Double.compare(p[b], p[a]));
            double cum = 0, kept = 0;
            boolean cut = false;
            for (int r = 0; r < V; r++) {
                int i = order[r];
                if (cut) { p[i] = 0; continue; }
                cum += p[i];
                kept += p[i];
                if (cum >= cfg.topP()) cut = true;
            }
            for (int i = 0; i < V; i++) p[i] /= kept;
        }
        double u = rng.nextDouble(), acc = 0;
        int last = -1;
        for (int i = 0; i < V; i++) {
            if (p[i] <= 0) continue;
            acc += p[i];
            last = i;
            if (u < acc) return i;
        }
        return last;   // rounding left u just above the total
    }

    public static int argmax(float[] x, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (x[off + i] > x[off + best]) best = i;
        return best;
    }
}
