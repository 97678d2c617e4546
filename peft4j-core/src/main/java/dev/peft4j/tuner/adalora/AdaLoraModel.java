/*
 * AdaLoraModel: the handle AdaLora.apply returns - one AdaLoRA adapter on one model. Besides what
 * every layer adapter has (LayerAdapterModel), it owns the rank pattern (what PEFT keeps in
 * config.rank_pattern: saving prunes to it, see AdaLoraLayer.stateDict) and provides the training
 * hook PEFT's AdaLoraModel gives a training loop:
 *   orthogonal regulariser  added to every micro-batch's loss (PEFT's AdaLoraModel.forward):
 *                           orth_reg_weight x mean over every lora_A and lora_B of ||P Pᵀ - I||_F
 *                           (P = A, r x r) and ||Bᵀ B - I||_F; the Frobenius norm itself, not its square;
 *   update_and_allocate     after the optimizer step (RankAllocator), step = optimizer steps done;
 *   metrics                 "rank_budget" (the schedule's budget at the step) and "rank" (kept triplets);
 *   checkpoint state        the rank pattern and the allocator's score averages.
 * modules_to_save copies (if any) are trainable parameters after the layers' (LayerAdapterModel); the
 * regulariser and the allocator see only the SVD triplets, as PEFT's filter on "lora_A"/"lora_B"/"lora_E".
 */
package dev.peft4j.tuner.adalora;

import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.nn.Linear;
import dev.peft4j.train.TrainingHook;
import dev.peft4j.tuner.LayerAdapterModel;
import dev.peft4j.tuner.ModulesToSave;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public final class AdaLoraModel extends LayerAdapterModel<AdaLoraLayer> {
    /** The suffix PEFT's saved rank_pattern keys carry after the module name. */
    public static final String PATTERN_SUFFIX = ".lora_E";

    private final AdaLora.Plan plan;
    private Map<String, boolean[]> rankPattern;           // module -> kept triplets; null until the allocator masks
    private AdaLoraConfig config;

    AdaLoraModel(CausalLM model, String adapterName, AdaLora.Plan plan, Map<String, AdaLoraLayer> layers, Map<String, Linear> linears,
                 ModulesToSave saved) {
        super(model, adapterName, layers, linears, saved);
        this.plan = plan;
        this.config = plan.config();
    }

    /** The resolved configuration with the current rank_pattern: what PEFT saves. */
    @Override public AdaLoraConfig config() { return config; }

    public AdaLora.Plan plan() { return plan; }

    @Override public List<String> warnings() { return plan.warnings(); }

    /** PEFT's line: the SVD triplets plus any modules_to_save copies; all params count one frozen ranknum per adapted module. */
    @Override public String trainableSummary() {
        return trainableSummary(plan.trainableParameterCount(), plan.baseParameterCount() + plan.targets().size());
    }

    /** Sets total_step (the budget schedule's horizon) when the config has none; the CLI fills it from the planned steps. */
    public void setTotalStep(int totalStep) { config = config.withTotalStep(totalStep); }

    /** The current rank pattern by module (copies), or null before any allocation. */
    public Map<String, boolean[]> rankPattern() {
        if (rankPattern == null) return null;
        Map<String, boolean[]> m = new LinkedHashMap<>();
        rankPattern.forEach((k, v) -> m.put(k, v.clone()));
        return m;
    }

    /** Adopts a rank pattern (module -> kept triplets): masks E, and saving keeps only those triplets. */
    public void setRankPattern(Map<String, boolean[]> pattern) { adopt(pattern, true); }

    /** Records the pattern (layers' keep, config.rank_pattern); zeroes the dropped E entries when mask. */
    private void adopt(Map<String, boolean[]> pattern, boolean mask) {
        Map<String, List<Boolean>> json = new LinkedHashMap<>();
        for (Map.Entry<String, boolean[]> e : pattern.entrySet()) {
            AdaLoraLayer l = layers().get(e.getKey());
            if (l == null) throw new Peft4jException("rank pattern names module " + e.getKey() + ", which has no AdaLoRA adapter; "
                    + "adapted modules: " + layers().keySet());
            l.setKeep(e.getValue());
            List<Boolean> b = new ArrayList<>(e.getValue().length);
            for (boolean v : e.getValue()) b.add(v);
            json.put(e.getKey() + PATTERN_SUFFIX, b);
        }
        if (mask) for (Map.Entry<String, boolean[]> e : pattern.entrySet()) {
            float[] E = layers().get(e.getKey()).E.data;
            for (int i = 0; i < e.getValue().length; i++) if (!e.getValue()[i]) E[i] = 0f;
        }
        Map<String, boolean[]> copy = new LinkedHashMap<>();
        pattern.forEach((k, v) -> copy.put(k, v.clone()));
        rankPattern = copy;
        config = config.withRankPattern(json);
    }

    /** Sum over modules of the kept triplets (r where no pattern applies). */
    public int keptRank() {
        int n = 0;
        for (AdaLoraLayer l : layers().values()) n += l.keptRank();
        return n;
    }

    /**
     * PEFT's regulariser: orth_reg_weight · (Σ over lora_A, lora_B of ||M||_F) / count with M = A·Aᵀ − I
     * or Bᵀ·B − I; shape [1], its backward (dA += w/N · 2 M A / ||M||, dB += w/N · 2 B M / ||M||) on tape.
     */
    public Tensor orthogonalRegularizer(Tape tape) { return orthogonalRegularizer(tape, layers().values(), config.orthRegWeight()); }

    /** The regulariser over the given layers (their lora_A and lora_B, in that order) with weight w. */
    public static Tensor orthogonalRegularizer(Tape tape, java.util.Collection<AdaLoraLayer> layers, double w) {
        if (w <= 0) throw new Peft4jException("adalora orth_reg_weight should be greater than 0 (got " + w + "), as in PEFT; e.g. 0.5");
        List<double[]> ms = new ArrayList<>();
        List<Double> norms = new ArrayList<>();
        List<Tensor> ps = new ArrayList<>();
        List<Boolean> isA = new ArrayList<>();
        double sum = 0;
        for (AdaLoraLayer l : layers)
            for (Tensor p : List.of(l.A, l.B)) {
                boolean a = p == l.A;
                double[] m = gramMinusIdentity(p, a);
                double s = 0;
                for (double v : m) s += v * v;
                double norm = Math.sqrt(s);
                sum += norm;
                ms.add(m);
                norms.add(norm);
                ps.add(p);
                isA.add(a);
            }
        int count = ps.size();
        double value = count == 0 ? 0 : w * sum / count;
        boolean grad = false;
        for (Tensor p : ps) grad |= Tape.needed(tape, p);
        Tensor out = Tensor.activation(new float[] {(float) value}, grad, 1);
        if (!grad) return out;
        Tensor.GradRef go = out.gradRef();
        tape.record(() -> {
            float[] dy = go.gradOrNull();
            if (dy == null) return;
            double scale = dy[0] * w / count;
            for (int j = 0; j < count; j++) {
                Tensor p = ps.get(j);
                if (!p.requiresGrad || norms.get(j) == 0) continue;       // torch's norm backward: 0 at a zero norm
                addGramGrad(p, ms.get(j), isA.get(j), 2 * scale / norms.get(j));
            }
        });
        return out;
    }

    /** A·Aᵀ − I (r×r) for A (r, in); Bᵀ·B − I (r×r) for B (out, r). */
    static double[] gramMinusIdentity(Tensor p, boolean rowsAreVectors) {
        int n0 = p.dim(0), n1 = p.dim(1);
        int r = rowsAreVectors ? n0 : n1, len = rowsAreVectors ? n1 : n0;
        double[] m = new double[r * r];
        float[] d = p.data;
        for (int i = 0; i < r; i++)
            for (int j = i; j < r; j++) {
                double s = 0;
                if (rowsAreVectors) for (int t = 0; t < len; t++) s += (double) d[i * n1 + t] * d[j * n1 + t];
                else for (int t = 0; t < len; t++) s += (double) d[t * n1 + i] * d[t * n1 + j];
                if (i == j) s -= 1;
                m[i * r + j] = s;
                m[j * r + i] = s;
            }
        return m;
    }

    /** p.grad += f · M·A (A rows) or f · B·M (B columns); M symmetric. */
    private static void addGramGrad(Tensor p, double[] m, boolean rowsAreVectors, double f) {
        int n0 = p.dim(0), n1 = p.dim(1);
        float[] d = p.data, g = p.grad();
        if (rowsAreVectors) {                                 // A (r, in): (M·A)[i, t] = Σ_j M[i,j] A[j,t]
            int r = n0;
            for (int i = 0; i < r; i++)
                for (int t = 0; t < n1; t++) {
                    double s = 0;
                    for (int j = 0; j < r; j++) s += m[i * r + j] * d[j * n1 + t];
                    g[i * n1 + t] += (float) (f * s);
                }
        } else {                                              // B (out, r): (B·M)[o, i] = Σ_j B[o,j] M[j,i]
            int r = n1;
            for (int o = 0; o < n0; o++)
                for (int i = 0; i < r; i++) {
                    double s = 0;
                    for (int j = 0; j < r; j++) s += d[o * r + j] * m[j * r + i];
                    g[o * r + i] += (float) (f * s);
                }
        }
    }

    /** PEFT's update_and_allocate loop contract as a Trainer hook (see the class comment). */
    @Override public TrainingHook trainingHook() {
        for (Map.Entry<String, AdaLoraLayer> e : layers().entrySet())
            if (e.getValue().r != config.initR())
                throw new Peft4jException("this AdaLoRA adapter was already pruned (" + e.getKey() + " has " + e.getValue().r + " of init_r "
                        + config.initR() + " triplets, from its rank_pattern); the rank allocator cannot run again on it (PEFT fails in "
                        + "torch.kthvalue). Train a fresh AdaLoRA adapter, or merge this one into the base and train on top of it");
        RankAllocator alloc = new RankAllocator(config, layers());
        return new TrainingHook() {
            private int lastStep;

            @Override public Tensor extraLoss(Tape tape) { return orthogonalRegularizer(tape); }

            @Override public void afterOptimizerStep(int step, int totalSteps) {
                lastStep = step;
                Map<String, boolean[]> before = rankPattern;
                Map<String, boolean[]> after = alloc.update(step, before);
                if (after != null && after != before) adopt(after, false);          // the allocator has masked E
            }

            @Override public Map<String, Object> metrics() {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("rank_budget", alloc.schedule(lastStep).budget());
                m.put("rank", keptRank());
                return m;
            }

            @Override public Map<String, float[]> stateTensors() { return alloc.stateTensors(); }

            @Override public Map<String, Object> state() {
                Map<String, Object> s = new LinkedHashMap<>();
                s.put("rank_pattern", config.rankPattern());
                return s;
            }

            @Override public void restore(Map<String, Object> state, Map<String, float[]> tensors) {
                alloc.restore(tensors);
                // E as saved: between allocations the optimizer may have moved dropped entries (PEFT masks only when it allocates)
                if (state.get("rank_pattern") instanceof Map<?, ?> p) adopt(AdaLora.patternByModule(p, layers().keySet(), "checkpoint"), false);
            }
        };
    }
}
