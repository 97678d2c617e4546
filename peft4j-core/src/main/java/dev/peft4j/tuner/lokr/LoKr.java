/*
 * LoKr: attaches a LoKr adapter to a loaded model, as PEFT's get_peft_model(model, LoKrConfig) does
 * (peft/tuners/lokr/model.py, lycoris_utils.py). Targets, r / alpha per module and the Linear-only
 * rule are LoHa's (Lycoris). Each target's Kronecker shapes are update_layer's:
 *   (out_l, out_k) = factorization(out, decompose_factor), (in_m, in_n) = factorization(in, decompose_factor)
 *   lokr_w1 (out_l, in_m) full unless decompose_both and r < max(out_l, in_m) / 2 (then lokr_w1_a / _b),
 *   lokr_w2 (out_k, in_n) full unless r < max(out_k, in_n) / 2 (then lokr_w2_a / _b).
 * Init (reset_adapter_parameters): lokr_w1 / lokr_w1_a zero, lokr_w1_b and lokr_w2 / lokr_w2_a / _b
 * kaiming_uniform_(a=√5); init_weights false: all kaiming; "lycoris": w1 kaiming, lokr_w2 / lokr_w2_b
 * zero. Drawn from the seed in module order (torch's stream cannot be reproduced; the distribution is
 * the same).
 */
package dev.peft4j.tuner.lokr;

import com.fasterxml.jackson.databind.JsonNode;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.AdapterModel;
import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.ModelModules;
import dev.peft4j.tuner.PeftMethod;
import dev.peft4j.tuner.loha.Lycoris;
import dev.peft4j.tuner.loha.LycorisModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

public final class LoKr {
    private LoKr() {}

    /** LoKr in the method registry. */
    public static final PeftMethod METHOD = PeftMethod.of(LoKrConfig.PEFT_TYPE, "LoKr", LoKrConfig.class, LoKr::readConfig, LoKr::apply);

    /**
     * PEFT's factorization(dimension, factor): (m, n) with m·n = dimension. A positive factor dividing
     * dimension gives (factor, dimension / factor); otherwise m grows through the divisors while m + n
     * shrinks and m stays within factor (-1: no limit), and the pair is returned with m <= n.
     */
    public static int[] factorization(int dimension, int factor) {
        if (factor > 0 && dimension % factor == 0) return new int[] {factor, dimension / factor};
        if (factor == -1) factor = dimension;
        int m = 1, n = dimension, length = m + n;
        while (m < n) {
            int newM = m + 1;
            while (dimension % newM != 0) newM++;
            int newN = dimension / newM;
            if (newM + newN > length || newM > factor) break;
            m = newM;
            n = newN;
        }
        return m > n ? new int[] {n, m} : new int[] {m, n};
    }

    /** One module's Kronecker shapes and which factors are full matrices. */
    public record Shapes(int outL, int outK, int inM, int inN, boolean fullW1, boolean fullW2) {
        public long parameterCount(int r) {
            long p1 = fullW1 ? (long) outL * inM : (long) r * (outL + inM);
            long p2 = fullW2 ? (long) outK * inN : (long) r * (outK + inN);
            return p1 + p2;
        }
    }

    /** update_layer's shapes for a Linear (out, in) with rank r. */
    public static Shapes shapes(int out, int in, int r, boolean decomposeBoth, int decomposeFactor) {
        int[] o = factorization(out, decomposeFactor), i = factorization(in, decomposeFactor);
        boolean fullW1 = !(decomposeBoth && r < Math.max(o[0], i[0]) / 2.0);
        boolean fullW2 = !(r < Math.max(o[1], i[1]) / 2.0);
        return new Shapes(o[0], o[1], i[0], i[1], fullW1, fullW2);
    }

    public static LycorisModel.Plan<LoKrConfig> plan(ModelModules mm, LoKrConfig cfg) {
        Lycoris.Common c = cfg.common();
        List<ModelModules.Module> targeted = Lycoris.targets("lokr", mm, c);
        List<LycorisModel.Target> out = new ArrayList<>();
        for (ModelModules.Module m : targeted) {
            int r = c.rank(m.name());
            Shapes s = shapes(m.out(), m.in(), r, cfg.decomposeBoth(), cfg.decomposeFactor());
            out.add(new LycorisModel.Target(m.name(), m.in(), m.out(), r, c.alpha(m.name()), s.parameterCount(r)));
        }
        LoKrConfig resolved = cfg.toBuilder().targetModules(c.resolvedTargets(targeted)).build();
        return new LycorisModel.Plan<>(resolved, out, mm.baseParameterCount(), List.of());
    }

    /** Attaches adapter adapterName to every module config selects, active there; returns the handle to train it. */
    public static LycorisModel<LoKrLayer> apply(CausalLM model, LoKrConfig config, String adapterName, long seed) {
        if (adapterName == null || adapterName.isEmpty() || adapterName.contains("."))
            throw new Peft4jException("adapter name must be non-empty and contain no '.' (got '" + adapterName + "'); e.g. default");
        ModelModules mm = ModelModules.of(model);
        LycorisModel.Plan<LoKrConfig> plan = plan(mm, config);
        Map<String, LycorisModel.Target> byModule = new LinkedHashMap<>();
        for (LycorisModel.Target t : plan.targets()) byModule.put(t.module(), t);
        List<dev.peft4j.tuner.ModulesToSave.Module> toSave = dev.peft4j.tuner.ModulesToSave.select(mm, config.modulesToSave(), byModule.keySet(), "lokr", config.methodName());
        dev.peft4j.tuner.ModulesToSave.checkFree(model, toSave);
        for (Linear lin : model.linears())
            if (byModule.containsKey(lin.name) && lin.adapters().containsKey(adapterName))
                throw new Peft4jException("module " + lin.name + " already has an adapter named '" + adapterName
                        + "'; choose another adapter name or unload the existing adapter first");
        SplittableRandom rnd = new SplittableRandom(seed);
        Map<String, LoKrLayer> layers = new LinkedHashMap<>();
        Map<String, Linear> linears = new LinkedHashMap<>();
        LoKrConfig.Init init = config.initWeights();
        for (Linear lin : model.linears()) {                    // module order: PEFT's named_modules order
            LycorisModel.Target t = byModule.get(lin.name);
            if (t == null) continue;
            int r = t.r();
            Shapes s = shapes(lin.out, lin.in, r, config.decomposeBoth(), config.decomposeFactor());
            String k = Lora.KEY_PREFIX + lin.name + ".";
            Tensor w1 = null, w1a = null, w1b = null, w2 = null, w2a = null, w2b = null;
            boolean zeroW1 = init == LoKrConfig.Init.TRUE, zeroW2 = init == LoKrConfig.Init.LYCORIS;
            if (s.fullW1()) {
                w1 = Tensor.param(k + "lokr_w1", zeroW1 ? new float[s.outL() * s.inM()] : Lycoris.kaimingUniform(s.outL(), s.inM(), rnd), s.outL(), s.inM());
            } else {
                w1a = Tensor.param(k + "lokr_w1_a", zeroW1 ? new float[s.outL() * r] : Lycoris.kaimingUniform(s.outL(), r, rnd), s.outL(), r);
                w1b = Tensor.param(k + "lokr_w1_b", Lycoris.kaimingUniform(r, s.inM(), rnd), r, s.inM());
            }
            if (s.fullW2()) {
                w2 = Tensor.param(k + "lokr_w2", zeroW2 ? new float[s.outK() * s.inN()] : Lycoris.kaimingUniform(s.outK(), s.inN(), rnd), s.outK(), s.inN());
            } else {                                    // PEFT's lycoris init zeroes w2_b and draws w2_a after it: same values
                w2a = Tensor.param(k + "lokr_w2_a", Lycoris.kaimingUniform(s.outK(), r, rnd), s.outK(), r);
                w2b = Tensor.param(k + "lokr_w2_b", zeroW2 ? new float[r * s.inN()] : Lycoris.kaimingUniform(r, s.inN(), rnd), r, s.inN());
            }
            LoKrLayer layer = new LoKrLayer(r, t.alpha(), config.rankDropout(), config.moduleDropout(), config.rankDropoutScale(),
                    s.outL(), s.outK(), s.inM(), s.inN(), w1, w1a, w1b, w2, w2a, w2b);
            lin.addAdapter(adapterName, layer);
            lin.setActive(List.of(adapterName));
            layers.put(lin.name, layer);
            linears.put(lin.name, lin);
        }
        return new LycorisModel<>(model, adapterName, plan, layers, linears, dev.peft4j.tuner.ModulesToSave.apply(model, toSave));
    }

    /** A LOKR adapter_config.json (already parsed) -> LoKrConfig; errors name the file and the field. */
    static LoKrConfig readConfig(JsonNode c, Path file) {
        Lycoris.Common k = Lycoris.readCommon("lokr", c, file);
        LoKrConfig.Init init = LoKrConfig.Init.TRUE;
        if (c.hasNonNull("init_weights")) {
            JsonNode v = c.get("init_weights");
            if (v.isBoolean()) init = LoKrConfig.Init.of(v.asBoolean());
            else if (v.isTextual() && v.asText().equals("lycoris")) init = LoKrConfig.Init.LYCORIS;
            else throw new Peft4jException(file + ": \"init_weights\" must be true, false or \"lycoris\" (got " + v + ")");
        }
        int factor = c.hasNonNull("decompose_factor") ? Lycoris.intOf(c.get("decompose_factor"), "decompose_factor", file) : -1;
        try {
            return new LoKrConfig(k.r(), k.alpha(), k.rankDropout(), k.moduleDropout(), k.useEffectiveConv2d(),
                    Lycoris.bool(c, "decompose_both", false, file), factor, Lycoris.bool(c, "rank_dropout_scale", false, file),
                    k.targetModules(), k.excludeModules(), init, k.layersToTransform(), k.layersPattern(), k.rankPattern(), k.alphaPattern(),
                    k.modulesToSave());
        } catch (Peft4jException e) {
            throw new Peft4jException(file + ": " + e.getMessage());
        }
    }
}
