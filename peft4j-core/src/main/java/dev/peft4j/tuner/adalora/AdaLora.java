/*
 * AdaLora: attaches an AdaLoRA adapter to a loaded model, as PEFT 0.14's get_peft_model(model,
 * AdaLoraConfig) does (peft/tuners/adalora/model.py): targets by the shared PEFT rules (list =
 * exact or "." suffix, string = full-match regex, all-linear, exclude_modules, layers_to_transform);
 * modules_to_save trained in full as for every method (tuner.ModulesToSave, never a target);
 * every target gets an SVDLinear of rank init_r: lora_A, lora_B ~ N(0, 0.02), lora_E = 0 (the
 * adapter starts as the identity; init_lora_weights false: all three N(0, 1)), ranknum = init_r.
 *
 * A config with a rank_pattern (a pruned adapter being loaded) sizes each listed module to its kept
 * triplets, with ranknum kept at init_r, as PEFT's resize_modules_by_rank_pattern; its keys are
 * "<module>.lora_E" as PEFT saves them ("<module>.lora_E.<adapter>" is accepted too).
 *
 * Default targets (utils/constants.py TRANSFORMERS_MODELS_TO_ADALORA_TARGET_MODULES_MAPPING):
 * q_proj,v_proj for llama and qwen2, c_attn for gpt2; mistral has none (PEFT: "Please specify
 * `target_modules` in `peft_config`").
 */
package dev.peft4j.tuner.adalora;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.ModelConfig;
import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.AdapterModel;
import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraPlan;
import dev.peft4j.tuner.ModelModules;
import dev.peft4j.tuner.ModulesToSave;
import dev.peft4j.tuner.PeftMethod;
import dev.peft4j.tuner.PeftRules;
import dev.peft4j.tuner.TargetModules;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

public final class AdaLora {
    private AdaLora() {}

    /** AdaLoRA in the method registry. */
    public static final PeftMethod METHOD = PeftMethod.of(AdaLoraConfig.PEFT_TYPE, "AdaLoRA", AdaLoraConfig.class, AdaLora::readConfig, AdaLora::apply);

    public static List<String> defaultTargetModules(ModelConfig.Family family) {
        return switch (family) {
            case LLAMA, QWEN2, QWEN3, GEMMA2, GEMMA3_TEXT -> List.of("q_proj", "v_proj");
            case GPT2 -> List.of("c_attn");
            case PHI3 -> throw PeftRules.noDefaultTargets("AdaLoRA", family, "target_modules", "--adalora.target-modules qkv_proj,o_proj,gate_up_proj,down_proj (Phi-3's fused attention and MLP projections) or all-linear");
            case MISTRAL -> throw new Peft4jException("AdaLoRA has no default target modules for model type mistral (PEFT: Please "
                    + "specify `target_modules` in `peft_config`); give them, e.g. --adalora.target-modules q_proj,v_proj");
            case SMOLLM3, OLMO2 -> throw PeftRules.noDefaultTargets("AdaLoRA", family, "target_modules", "--adalora.target-modules q_proj,v_proj");
        };
    }

    /** One adapted module and its rank (init_r, or its kept triplets when a rank_pattern sizes it). */
    public record Target(String module, int in, int out, int rank) {
        public long parameterCount() { return (long) rank * (in + out + 1); }
    }

    /** The targets of config on a module tree, with the config as PEFT resolves and saves it. */
    public record Plan(AdaLoraConfig config, List<Target> targets, long baseParameterCount, List<String> warnings) {
        public long trainableParameterCount() {
            long n = 0;
            for (Target t : targets) n += t.parameterCount();
            return n;
        }

        /** As PEFT prints it: all params include one frozen ranknum scalar per adapted module. */
        public String trainableSummary() {
            long t = trainableParameterCount();
            return LoraPlan.formatTrainable(t, baseParameterCount + t + targets.size());
        }
    }

    public static Plan plan(ModelModules mm, AdaLoraConfig cfg) {
        ModelConfig.Family family = mm.config().family();
        TargetModules targets = cfg.targetModules() != null ? cfg.targetModules() : TargetModules.names(defaultTargetModules(family));
        List<String> warnings = new ArrayList<>();
        if (cfg.r() != 8)
            warnings.add("Note that `r` is not used in AdaLora and will be ignored. If you intended to set the initial rank, use `init_r` instead.");
        Map<String, boolean[]> pattern = cfg.rankPattern() == null ? Map.of() : patternByModule(cfg.rankPattern(), null, "rank_pattern");
        boolean fanInFanOut = cfg.fanInFanOut();
        List<Target> out = new ArrayList<>();
        List<String> targeted = new ArrayList<>();
        for (ModelModules.Module m : mm.modules()) {
            if (PeftRules.check(cfg.excludeModules(), cfg.modulesToSave(), cfg.layersToTransform(), cfg.layersPattern(), targets, m)
                    != PeftRules.Match.TARGETED) continue;
            if (!m.linear())
                throw new Peft4jException("adalora target_modules '" + targets + "' matches " + m.name() + " (" + m.type() + "); AdaLoRA "
                        + "applies to linear layers (Linear, Conv1D) only. Narrow the targets; " + LoraPlan.available(mm));
            if (m.conv1d() != fanInFanOut) {                   // adalora/model.py _create_new_module corrects the config
                warnings.add("fan_in_fan_out is set to " + (fanInFanOut ? "True" : "False") + " but the target module is `"
                        + m.type() + "`. Setting fan_in_fan_out to " + (m.conv1d() ? "True" : "False") + ".");
                fanInFanOut = m.conv1d();
            }
            int rank = cfg.initR();
            boolean[] keep = pattern.get(m.name());
            if (keep != null) {
                if (keep.length != cfg.initR())
                    throw new Peft4jException("adalora rank_pattern for " + m.name() + " has " + keep.length + " entries but init_r is "
                            + cfg.initR() + "; the pattern must list one true/false per initial triplet");
                rank = 0;
                for (boolean b : keep) if (b) rank++;
            }
            out.add(new Target(m.name(), m.in(), m.out(), rank));
            targeted.add(m.name());
        }
        if (out.isEmpty())
            throw new Peft4jException("Target modules " + targets + " not found in the base model (" + family.modelType + "). Please check "
                    + "the target modules and try again. " + LoraPlan.available(mm));
        for (String k : pattern.keySet())
            if (!targeted.contains(k))
                throw new Peft4jException("adalora rank_pattern names " + k + ", which is not an adapted module (adapted: "
                        + (targeted.size() > 4 ? targeted.subList(0, 4) + " ..." : targeted) + "); the adapter was saved for another model");
        TargetModules resolved = targets;
        if (targets instanceof TargetModules.AllLinear) {
            LinkedHashSet<String> baseNames = new LinkedHashSet<>();
            for (String t : targeted) baseNames.add(t.substring(t.lastIndexOf('.') + 1));
            resolved = TargetModules.names(baseNames);
        }
        AdaLoraConfig c = cfg.toBuilder().targetModules(resolved).fanInFanOut(fanInFanOut).build();
        return new Plan(c, out, mm.baseParameterCount(), warnings);
    }

    /**
     * rank_pattern as PEFT keeps it (key "<module>.lora_E" or "<module>.lora_E.<adapter>", value a list
     * of booleans) -> module -> kept triplets. modules (may be null) restricts the accepted names.
     */
    public static Map<String, boolean[]> patternByModule(Map<?, ?> pattern, Collection<String> modules, String where) {
        Map<String, boolean[]> m = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : pattern.entrySet()) {
            String key = String.valueOf(e.getKey());
            int at = key.lastIndexOf(".lora_E");
            String rest = at < 0 ? null : key.substring(at + 7);          // "" or ".<adapter>"
            if (rest == null || !(rest.isEmpty() || rest.startsWith(".") && rest.indexOf('.', 1) < 0 && rest.length() > 1))
                throw new Peft4jException(where + ": rank_pattern key '" + key + "' is not of PEFT's form <module>.lora_E "
                        + "(e.g. model.layers.0.self_attn.q_proj.lora_E)");
            String module = key.substring(0, at);
            if (modules != null && !modules.contains(module))
                throw new Peft4jException(where + ": rank_pattern names " + module + ", which has no AdaLoRA adapter");
            if (!(e.getValue() instanceof List<?> l))
                throw new Peft4jException(where + ": rank_pattern['" + key + "'] must be a list of true/false (got " + e.getValue() + ")");
            boolean[] keep = new boolean[l.size()];
            for (int i = 0; i < keep.length; i++) {
                if (!(l.get(i) instanceof Boolean b))
                    throw new Peft4jException(where + ": rank_pattern['" + key + "'] must hold only true/false (got " + l.get(i) + ")");
                keep[i] = b;
            }
            m.put(module, keep);
        }
        return m;
    }

    /** Attaches adapter adapterName to every module config selects, active there; returns the handle to train it. */
    public static AdaLoraModel apply(CausalLM model, AdaLoraConfig config, String adapterName, long seed) {
        if (adapterName == null || adapterName.isEmpty() || adapterName.contains("."))
            throw new Peft4jException("adapter name must be non-empty and contain no '.' (got '" + adapterName + "'); e.g. default");
        ModelModules mm = ModelModules.of(model);
        Plan plan = plan(mm, config);
        Map<String, Target> byModule = new LinkedHashMap<>();
        for (Target t : plan.targets()) byModule.put(t.module(), t);
        List<ModulesToSave.Module> toSave = ModulesToSave.select(mm, config.modulesToSave(), byModule.keySet(), "adalora", config.methodName());
        ModulesToSave.checkFree(model, toSave);
        for (Linear lin : model.linears())
            if (byModule.containsKey(lin.name) && lin.adapters().containsKey(adapterName))
                throw new Peft4jException("module " + lin.name + " already has an adapter named '" + adapterName
                        + "'; choose another adapter name or unload the existing adapter first");
        SplittableRandom rnd = new SplittableRandom(seed);
        AdaLoraConfig cfg = plan.config();
        Map<String, AdaLoraLayer> layers = new LinkedHashMap<>();
        Map<String, Linear> linears = new LinkedHashMap<>();
        for (Linear lin : model.linears()) {                    // module order: PEFT's named_modules order
            Target t = byModule.get(lin.name);
            if (t == null) continue;
            int r = t.rank();
            float[] a = new float[r * lin.in], e = new float[r], b = new float[lin.out * r];
            if (cfg.initLoraWeights()) {
                Lora.normal(a, 0.02, rnd);
                Lora.normal(b, 0.02, rnd);
            } else {
                Lora.normal(a, 1.0, rnd);
                Lora.normal(e, 1.0, rnd);
                Lora.normal(b, 1.0, rnd);
            }
            String key = Lora.KEY_PREFIX + lin.name;
            AdaLoraLayer layer = new AdaLoraLayer(Tensor.param(key + ".lora_A", a, r, lin.in), Tensor.param(key + ".lora_E", e, r, 1),
                    Tensor.param(key + ".lora_B", b, lin.out, r), r == 0 ? 0f : cfg.initR(), cfg.scaling(), cfg.loraDropout());
            layer.checkFits(lin);
            lin.addAdapter(adapterName, layer);
            lin.setActive(List.of(adapterName));
            layers.put(lin.name, layer);
            linears.put(lin.name, lin);
        }
        return new AdaLoraModel(model, adapterName, plan, layers, linears, ModulesToSave.apply(model, toSave));
    }

    /** An ADALORA adapter_config.json (already parsed) -> AdaLoraConfig; errors name the file and the field. */
    static AdaLoraConfig readConfig(JsonNode c, Path file) {
        ObjectMapper om = new ObjectMapper();
        AdaLoraConfig.Builder b = AdaLoraConfig.builder();
        if (c.hasNonNull("init_r")) b.initR(integer(c, "init_r", file));
        if (c.hasNonNull("target_r")) b.targetR(integer(c, "target_r", file));
        if (c.hasNonNull("tinit")) b.tinit(integer(c, "tinit", file));
        if (c.hasNonNull("tfinal")) b.tfinal(integer(c, "tfinal", file));
        if (c.hasNonNull("deltaT")) b.deltaT(integer(c, "deltaT", file));
        if (c.hasNonNull("beta1")) b.beta1(number(c, "beta1", file));
        if (c.hasNonNull("beta2")) b.beta2(number(c, "beta2", file));
        if (c.hasNonNull("orth_reg_weight")) b.orthRegWeight(number(c, "orth_reg_weight", file));
        if (c.hasNonNull("total_step")) b.totalStep(integer(c, "total_step", file));
        if (c.hasNonNull("r")) b.r(integer(c, "r", file));
        if (c.hasNonNull("lora_alpha")) b.alpha(number(c, "lora_alpha", file));
        if (c.hasNonNull("lora_dropout")) b.dropout((float) number(c, "lora_dropout", file));
        if (c.hasNonNull("target_modules")) b.targetModules(TargetModules.fromPeft(om.convertValue(c.get("target_modules"), Object.class)));
        if (c.hasNonNull("exclude_modules")) b.excludeModules(TargetModules.fromPeft(om.convertValue(c.get("exclude_modules"), Object.class)));
        if (c.hasNonNull("fan_in_fan_out")) b.fanInFanOut(c.get("fan_in_fan_out").asBoolean());
        if (c.hasNonNull("init_lora_weights")) {
            if (!c.get("init_lora_weights").isBoolean())
                throw new Peft4jException(file + ": \"init_lora_weights\" must be true or false for AdaLoRA (got " + c.get("init_lora_weights") + ")");
            b.initLoraWeights(c.get("init_lora_weights").asBoolean());
        }
        if (c.hasNonNull("use_rslora")) b.useRslora(c.get("use_rslora").asBoolean());
        if (c.hasNonNull("layers_to_transform")) {
            JsonNode l = c.get("layers_to_transform");
            List<Integer> layers = new ArrayList<>();
            if (l.isArray()) l.forEach(x -> layers.add(x.asInt())); else layers.add(l.asInt());
            b.layersToTransform(layers);
        }
        if (c.hasNonNull("layers_pattern")) {
            JsonNode l = c.get("layers_pattern");
            List<String> pats = new ArrayList<>();
            if (l.isArray()) l.forEach(x -> pats.add(x.asText())); else pats.add(l.asText());
            b.layersPattern(pats);
        }
        if (c.hasNonNull("use_dora") && c.get("use_dora").asBoolean())
            throw new Peft4jException(file + ": ADALORA does not support DoRA (PEFT raises the same); set \"use_dora\": false");
        if (c.hasNonNull("bias") && !"none".equals(c.get("bias").asText()))
            throw new Peft4jException(file + ": \"bias\" = " + c.get("bias") + " is not supported; peft4j trains the AdaLoRA "
                    + "tensors only (bias \"none\")");
        if (c.hasNonNull("modules_to_save")) {
            if (!c.get("modules_to_save").isArray())
                throw new Peft4jException(file + ": \"modules_to_save\" must be a list of module names (got " + c.get("modules_to_save")
                        + "); e.g. [\"lm_head\"]");
            List<String> m = new ArrayList<>();
            c.get("modules_to_save").forEach(x -> m.add(x.asText()));
            b.modulesToSave(m);
        }
        if (c.hasNonNull("rank_pattern")) {
            if (!c.get("rank_pattern").isObject())
                throw new Peft4jException(file + ": \"rank_pattern\" must be an object of module -> list of true/false (got "
                        + c.get("rank_pattern") + ")");
            Map<?, ?> raw = om.convertValue(c.get("rank_pattern"), Map.class);
            Map<String, boolean[]> byModule = patternByModule(raw, null, file.toString());
            Map<String, List<Boolean>> p = new LinkedHashMap<>();
            byModule.forEach((k, v) -> {
                List<Boolean> l = new ArrayList<>();
                for (boolean x : v) l.add(x);
                p.put(k + AdaLoraModel.PATTERN_SUFFIX, l);
            });
            b.rankPattern(p);
        }
        return b.build();
    }

    private static int integer(JsonNode c, String key, Path file) {
        if (!c.get(key).isIntegralNumber() || !c.get(key).canConvertToInt())
            throw new Peft4jException(file + ": \"" + key + "\" must be an integer (got " + c.get(key) + ")");
        return c.get(key).asInt();
    }

    private static double number(JsonNode c, String key, Path file) {
        if (!c.get(key).isNumber()) throw new Peft4jException(file + ": \"" + key + "\" must be a number (got " + c.get(key) + ")");
        return c.get(key).asDouble();
    }
}
