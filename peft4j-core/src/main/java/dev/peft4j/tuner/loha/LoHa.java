/*
 * LoHa: attaches a LoHa adapter to a loaded model, as PEFT's get_peft_model(model, LoHaConfig) does
 * (peft/tuners/loha/model.py, lycoris_utils.py): target_modules is required (no per-model defaults);
 * the targets are chosen by the shared PEFT rules (PeftRules: list = exact or "." suffix, string =
 * full-match regex, all-linear, exclude_modules, layers_to_transform / layers_pattern) and must be
 * torch.nn.Linear layers; each gets r and alpha from rank_pattern / alpha_pattern (Lycoris.Common)
 * and four factors drawn as PEFT's reset_adapter_parameters does: kaiming_uniform_(a=√5), i.e.
 * U(−1/√fan_in, 1/√fan_in) with fan_in the factor's second dimension, for hada_w1_a, hada_w1_b and
 * hada_w2_a, and hada_w2_b zero (init_weights false: hada_w2_b drawn too). torch's RNG stream cannot
 * be reproduced; the distribution is the same, drawn from the seed in module order.
 */
package dev.peft4j.tuner.loha;

import com.fasterxml.jackson.databind.JsonNode;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.AdapterModel;
import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.ModelModules;
import dev.peft4j.tuner.PeftMethod;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

public final class LoHa {
    private LoHa() {}

    /** LoHa in the method registry. */
    public static final PeftMethod METHOD = PeftMethod.of(LoHaConfig.PEFT_TYPE, "LoHa", LoHaConfig.class, LoHa::readConfig, LoHa::apply);

    public static LycorisModel.Plan<LoHaConfig> plan(ModelModules mm, LoHaConfig cfg) {
        Lycoris.Common c = cfg.common();
        List<ModelModules.Module> targeted = Lycoris.targets("loha", mm, c);
        List<LycorisModel.Target> out = new ArrayList<>();
        for (ModelModules.Module m : targeted) {
            int r = c.rank(m.name());
            out.add(new LycorisModel.Target(m.name(), m.in(), m.out(), r, c.alpha(m.name()), 2L * r * (m.out() + m.in())));
        }
        LoHaConfig resolved = cfg.toBuilder().targetModules(c.resolvedTargets(targeted)).build();
        return new LycorisModel.Plan<>(resolved, out, mm.baseParameterCount(), List.of());
    }

    /** Attaches adapter adapterName to every module config selects, active there; returns the handle to train it. */
    public static LycorisModel<LoHaLayer> apply(CausalLM model, LoHaConfig config, String adapterName, long seed) {
        if (adapterName == null || adapterName.isEmpty() || adapterName.contains("."))
            throw new Peft4jException("adapter name must be non-empty and contain no '.' (got '" + adapterName + "'); e.g. default");
        ModelModules mm = ModelModules.of(model);
        LycorisModel.Plan<LoHaConfig> plan = plan(mm, config);
        Map<String, LycorisModel.Target> byModule = new LinkedHashMap<>();
        for (LycorisModel.Target t : plan.targets()) byModule.put(t.module(), t);
        List<dev.peft4j.tuner.ModulesToSave.Module> toSave = dev.peft4j.tuner.ModulesToSave.select(mm, config.modulesToSave(), byModule.keySet(), "loha", config.methodName());
        dev.peft4j.tuner.ModulesToSave.checkFree(model, toSave);
        for (Linear lin : model.linears())
            if (byModule.containsKey(lin.name) && lin.adapters().containsKey(adapterName))
                throw new Peft4jException("module " + lin.name + " already has an adapter named '" + adapterName
                        + "'; choose another adapter name or unload the existing adapter first");
        SplittableRandom rnd = new SplittableRandom(seed);
        Map<String, LoHaLayer> layers = new LinkedHashMap<>();
        Map<String, Linear> linears = new LinkedHashMap<>();
        for (Linear lin : model.linears()) {                    // module order: PEFT's named_modules order
            LycorisModel.Target t = byModule.get(lin.name);
            if (t == null) continue;
            int r = t.r(), out = lin.out, in = lin.in;
            String k = Lora.KEY_PREFIX + lin.name + ".";
            Tensor w1a = Tensor.param(k + "hada_w1_a", Lycoris.kaimingUniform(out, r, rnd), out, r);
            Tensor w1b = Tensor.param(k + "hada_w1_b", Lycoris.kaimingUniform(r, in, rnd), r, in);
            Tensor w2a = Tensor.param(k + "hada_w2_a", Lycoris.kaimingUniform(out, r, rnd), out, r);
            Tensor w2b = Tensor.param(k + "hada_w2_b", config.initWeights() ? new float[r * in] : Lycoris.kaimingUniform(r, in, rnd), r, in);
            LoHaLayer layer = new LoHaLayer(w1a, w1b, w2a, w2b, t.alpha(), config.rankDropout(), config.moduleDropout());
            lin.addAdapter(adapterName, layer);
            lin.setActive(List.of(adapterName));
            layers.put(lin.name, layer);
            linears.put(lin.name, lin);
        }
        return new LycorisModel<>(model, adapterName, plan, layers, linears, dev.peft4j.tuner.ModulesToSave.apply(model, toSave));
    }

    /** A LOHA adapter_config.json (already parsed) -> LoHaConfig; errors name the file and the field. */
    static LoHaConfig readConfig(JsonNode c, Path file) {
        Lycoris.Common k = Lycoris.readCommon("loha", c, file);
        return new LoHaConfig(k.r(), k.alpha(), k.rankDropout(), k.moduleDropout(), k.targetModules(), k.excludeModules(),
                Lycoris.bool(c, "init_weights", true, file), k.layersToTransform(), k.layersPattern(), k.rankPattern(), k.alphaPattern(),
                k.modulesToSave(), k.useEffectiveConv2d());
    }
}
