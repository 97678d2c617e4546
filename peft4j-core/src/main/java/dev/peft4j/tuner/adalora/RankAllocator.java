/*
 * RankAllocator: AdaLoRA's budget schedule and sensitivity-based pruning, as PEFT 0.14's
 * RankAllocator (tuners/adalora/layer.py) and AdaLoraModel.update_and_allocate (model.py):
 *
 *   budget(step)   init_bgt (the sum of all ranks) while step <= tinit; target_bgt = target_r x
 *                  #modules once step > total_step - tfinal; in between
 *                  int((init_bgt - target_bgt) (1 - (step - tinit)/(total_step - tfinal - tinit))^3 + target_bgt),
 *                  masking only when step % deltaT == 0.
 *   sensitivity    per element of every lora_A/E/B: ipt = |p * grad|, exp_avg_ipt = b1 e + (1-b1) ipt,
 *                  exp_avg_unc = b2 u + (1-b2) |ipt - exp_avg_ipt|, score = exp_avg_ipt * exp_avg_unc.
 *   triplet score  score(E_k) + mean_i score(A_k,i) + mean_o score(B_o,k).
 *   masking        the (init_bgt - budget)-th smallest triplet score over all modules is the threshold;
 *                  E entries with score <= threshold are zeroed; rank_pattern[module] = score > threshold.
 *   update(step)   step < T - tfinal: update the scores, allocate when the schedule says so;
 *                  step == T - tfinal: allocate to target_bgt with the last scores, then forget them;
 *                  step > T - tfinal: re-apply the final rank_pattern (the optimizer may move zeroed E).
 * Scores are kept in float, as PEFT's float32 tensors.
 */
package dev.peft4j.tuner.adalora;

import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public final class RankAllocator {
    /** The schedule's answer for one step. */
    public record Budget(int budget, boolean mask) {}

    private final AdaLoraConfig cfg;
    private final Map<String, AdaLoraLayer> layers;          // module -> layer, module order
    private final int initBudget, targetBudget;
    private final Map<String, float[]> expAvgIpt = new LinkedHashMap<>(), expAvgUnc = new LinkedHashMap<>();

    /** cfg must carry total_step. */
    public RankAllocator(AdaLoraConfig cfg, Map<String, AdaLoraLayer> layers) {
        if (cfg.totalStep() == null)
            throw new Peft4jException("adalora total_step is not set; the rank budget schedule needs the number of optimizer steps "
                    + "(PEFT: total_step \"should be specified before training\"). Set total_step (--adalora.total-step N), or let "
                    + "peft4j train fill it from the planned steps");
        if (!(cfg.beta1() > 0 && cfg.beta1() < 1) || !(cfg.beta2() > 0 && cfg.beta2() < 1))
            throw new Peft4jException("adalora beta1 and beta2 must be in (0, 1) (got " + cfg.beta1() + ", " + cfg.beta2() + "); e.g. 0.85");
        this.cfg = cfg;
        this.layers = layers;
        int init = 0;
        for (AdaLoraLayer l : layers.values()) init += l.r;
        this.initBudget = init;
        this.targetBudget = cfg.targetR() * layers.size();
        if (targetBudget >= initBudget)
            throw new Peft4jException("adalora target_r (" + cfg.targetR() + ") must be smaller than the rank the modules start with (init_r "
                    + cfg.initR() + "): pruning " + initBudget + " triplets to a budget of " + targetBudget + " is not possible (PEFT "
                    + "fails in torch.kthvalue). Lower target_r or raise init_r");
        int T = cfg.totalStep();
        if (T - cfg.tfinal() <= cfg.tinit())
            throw new Peft4jException("adalora needs tinit < total_step - tfinal (got tinit " + cfg.tinit() + ", tfinal " + cfg.tfinal()
                    + ", total_step " + T + "): the budget has no steps to shrink in. Lower tinit/tfinal or train longer");
    }

    public int initBudget() { return initBudget; }

    public int targetBudget() { return targetBudget; }

    /** PEFT's budget_schedule(step). */
    public Budget schedule(int step) {
        int tinit = cfg.tinit(), tfinal = cfg.tfinal(), T = cfg.totalStep();
        if (step <= tinit) return new Budget(initBudget, false);
        if (step > T - tfinal) return new Budget(targetBudget, true);
        double mul = 1 - (double) (step - tinit) / (T - tfinal - tinit);
        int budget = (int) ((initBudget - targetBudget) * (mul * mul * mul) + targetBudget);
        return new Budget(budget, step % cfg.deltaT() == 0);
    }

    /**
     * PEFT's AdaLoraModel.update_and_allocate(step) with the gradients of the step present. Returns the
     * new rank pattern when this step masked to a budget, the current one (unchanged) otherwise.
     */
    public Map<String, boolean[]> update(int step, Map<String, boolean[]> current) {
        int T = cfg.totalStep(), end = T - cfg.tfinal();
        if (step < end) {
            updateScores();
            Budget b = schedule(step);
            return b.mask() ? maskToBudget(b.budget()) : current;
        }
        if (step == end) {
            Map<String, boolean[]> p = maskToBudget(schedule(step).budget());
            expAvgIpt.clear();
            expAvgUnc.clear();
            return p;
        }
        if (current != null) apply(current);
        return current;
    }

    private void updateScores() {
        for (Map.Entry<String, AdaLoraLayer> e : layers.entrySet())
            for (Map.Entry<String, Tensor> t : tensors(e.getValue()).entrySet()) {
                String key = e.getKey() + "." + t.getKey();
                Tensor p = t.getValue();
                float[] g = p.gradOrNull(), ea = expAvgIpt.computeIfAbsent(key, k -> new float[p.size()]),
                        eu = expAvgUnc.computeIfAbsent(key, k -> new float[p.size()]);
                float b1 = (float) cfg.beta1(), b2 = (float) cfg.beta2();
                for (int i = 0; i < p.size(); i++) {
                    float ipt = g == null ? 0f : Math.abs(p.data[i] * g[i]);
                    ea[i] = b1 * ea[i] + (1 - b1) * ipt;
                    eu[i] = b2 * eu[i] + (1 - b2) * Math.abs(ipt - ea[i]);
                }
            }
    }

    private static Map<String, Tensor> tensors(AdaLoraLayer l) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("lora_A", l.A);
        m.put("lora_B", l.B);
        m.put("lora_E", l.E);
        return m;
    }

    /** Triplet scores of one module (length r). */
    float[] tripletScores(String module, AdaLoraLayer l) {
        int r = l.r, in = l.A.dim(1), out = l.B.dim(0);
        float[] s = new float[r];
        float[] aI = expAvgIpt.get(module + ".lora_A"), aU = expAvgUnc.get(module + ".lora_A");
        float[] bI = expAvgIpt.get(module + ".lora_B"), bU = expAvgUnc.get(module + ".lora_B");
        float[] eI = expAvgIpt.get(module + ".lora_E"), eU = expAvgUnc.get(module + ".lora_E");
        if (aI == null) return s;                               // no scores yet: all zero, as torch.zeros_like
        for (int k = 0; k < r; k++) {
            float sa = 0, sb = 0;
            for (int i = 0; i < in; i++) sa += aI[k * in + i] * aU[k * in + i];
            for (int o = 0; o < out; o++) sb += bI[o * r + k] * bU[o * r + k];
            s[k] = eI[k] * eU[k] + (sa / in + sb / out);
        }
        return s;
    }

    /** PEFT's mask_to_budget: zero the E entries of the (initBudget - budget) lowest-scored triplets (ties included). */
    Map<String, boolean[]> maskToBudget(int budget) {
        int k = initBudget - budget;
        if (k <= 0)
            throw new Peft4jException("adalora budget " + budget + " is not below the initial budget " + initBudget
                    + "; nothing to prune (PEFT fails in torch.kthvalue here). Check target_r < init_r and tinit/tfinal/total_step");
        Map<String, float[]> scores = new LinkedHashMap<>();
        List<Float> all = new ArrayList<>();
        for (Map.Entry<String, AdaLoraLayer> e : layers.entrySet()) {
            float[] s = tripletScores(e.getKey(), e.getValue());
            scores.put(e.getKey(), s);
            for (float v : s) all.add(v);
        }
        float[] sorted = new float[all.size()];
        for (int i = 0; i < sorted.length; i++) sorted[i] = all.get(i);
        Arrays.sort(sorted);
        float threshold = sorted[k - 1];                        // torch.kthvalue(k): the k-th smallest
        Map<String, boolean[]> pattern = new LinkedHashMap<>();
        for (Map.Entry<String, AdaLoraLayer> e : layers.entrySet()) {
            float[] s = scores.get(e.getKey());
            boolean[] keep = new boolean[s.length];
            for (int i = 0; i < s.length; i++) keep[i] = !(s[i] <= threshold);
            pattern.put(e.getKey(), keep);
        }
        apply(pattern);
        return pattern;
    }

    /** Zeroes the E entries a pattern drops (PEFT's mask_using_rank_pattern). */
    void apply(Map<String, boolean[]> pattern) {
        for (Map.Entry<String, AdaLoraLayer> e : layers.entrySet()) {
            boolean[] keep = pattern.get(e.getKey());
            if (keep == null) continue;
            float[] E = e.getValue().E.data;
            for (int i = 0; i < keep.length; i++) if (!keep[i]) E[i] = 0f;
        }
    }

    // ---- checkpoint state ----

    Map<String, float[]> stateTensors() {
        Map<String, float[]> m = new LinkedHashMap<>();
        for (Map.Entry<String, float[]> e : expAvgIpt.entrySet()) m.put("exp_avg_ipt." + e.getKey(), e.getValue().clone());
        for (Map.Entry<String, float[]> e : expAvgUnc.entrySet()) m.put("exp_avg_unc." + e.getKey(), e.getValue().clone());
        return m;
    }

    void restore(Map<String, float[]> tensors) {
        expAvgIpt.clear();
        expAvgUnc.clear();
        for (Map.Entry<String, float[]> e : tensors.entrySet()) {
            if (e.getKey().startsWith("exp_avg_ipt.")) expAvgIpt.put(e.getKey().substring(12), e.getValue().clone());
            else if (e.getKey().startsWith("exp_avg_unc.")) expAvgUnc.put(e.getKey().substring(12), e.getValue().clone());
        }
    }
}
