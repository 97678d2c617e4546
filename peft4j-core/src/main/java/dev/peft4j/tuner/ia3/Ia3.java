/*
 * Ia3: attaches an (IA)³ adapter to a loaded model, as PEFT's get_peft_model(model, IA3Config)
 * does (peft/tuners/ia3/model.py): the targets are chosen by the shared PEFT rules (PeftRules: list
 * = exact or "." suffix, string = full-match regex, all-linear, exclude_modules); a target is
 * feed-forward when it matches feedforward_modules (PEFT's _check_target_module_feedforward: a
 * regex full match for a string, a plain endswith for a list); each target gets a trainable vector
 * of ones (init_ia3_weights) or of N(0, 1) values (init_ia3_weights false, torch.randn's
 * distribution, drawn from the seed).
 *
 * Defaults (peft/utils/constants.py): TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING and
 * TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING for llama, mistral, qwen2 and gpt2.
 */
package dev.peft4j.tuner.ia3;

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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.regex.Pattern;

public final class Ia3 {
    private Ia3() {}

    /** (IA)³ in the method registry. */
    public static final PeftMethod METHOD = PeftMethod.of(Ia3Config.PEFT_TYPE, "(IA)³", Ia3Config.class, Ia3::readConfig, Ia3::apply);

    public static List<String> defaultTargetModules(ModelConfig.Family family) {
        return switch (family) {
            case LLAMA, MISTRAL -> List.of("k_proj", "v_proj", "down_proj");
            case QWEN2, QWEN3, GEMMA2, GEMMA3_TEXT -> List.of("q_proj", "v_proj", "down_proj");
            case GPT2 -> List.of("c_attn", "mlp.c_proj");
            case SMOLLM3, OLMO2 -> throw PeftRules.noDefaultTargets("(IA)³", family, "target_modules", "--ia3.target-modules k_proj,v_proj,down_proj");
            case PHI3 -> throw PeftRules.noDefaultTargets("(IA)³", family, "target_modules", "--ia3.target-modules qkv_proj,down_proj (Phi-3's fused projections)");
        };
    }

    public static List<String> defaultFeedforwardModules(ModelConfig.Family family) {
        return switch (family) {
            case LLAMA, MISTRAL, QWEN2, QWEN3, GEMMA2, GEMMA3_TEXT -> List.of("down_proj");
            case GPT2 -> List.of("mlp.c_proj");
            case SMOLLM3, OLMO2 -> throw PeftRules.noDefaultTargets("(IA)³", family, "feedforward_modules", "--ia3.feedforward-modules down_proj");
            case PHI3 -> throw PeftRules.noDefaultTargets("(IA)³", family, "feedforward_modules", "--ia3.feedforward-modules down_proj (a subset of --ia3.target-modules)");
        };
    }

    /** One adapted module and whether its vector scales the input (feed-forward) or the output. */
    public record Target(String module, int in, int out, boolean feedforward) {
        public long parameterCount() { return feedforward ? in : out; }
    }

    /** The targets of config on a module tree (no weights needed), with the config as PEFT resolves and saves it. */
    public record Plan(Ia3Config config, List<Target> targets, long baseParameterCount, List<String> warnings) {
        public long trainableParameterCount() {
            long n = 0;
            for (Target t : targets) n += t.parameterCount();
            return n;
        }

        public String trainableSummary() {
            return LoraPlan.formatTrainable(trainableParameterCount(), baseParameterCount + trainableParameterCount());
        }
    }

    public static Plan plan(ModelModules mm, Ia3Config cfg) {
        ModelConfig.Family family = mm.config().family();
        TargetModules targets = cfg.targetModules() != null ? cfg.targetModules() : TargetModules.names(defaultTargetModules(family));
        TargetModules ff = cfg.feedforwardModules() != null ? cfg.feedforwardModules()
                : TargetModules.names(defaultFeedforwardModules(family));
        List<String> warnings = new ArrayList<>();
        List<Target> out = new ArrayList<>();
        List<String> targeted = new ArrayList<>();
        boolean fanInFanOut = cfg.fanInFanOut();
        for (ModelModules.Module m : mm.modules()) {
            if (PeftRules.check(cfg.excludeModules(), cfg.modulesToSave(), List.of(), List.of(), targets, m) != PeftRules.Match.TARGETED) continue;
            if (!m.linear())
                throw new Peft4jException("ia3 target_modules '" + targets + "' matches " + m.name() + " (" + m.type() + "); (IA)³ "
                        + "applies to linear layers (Linear, Conv1D) only. Narrow the targets; " + LoraPlan.available(mm));
            if (m.conv1d() != fanInFanOut) {            // ia3/model.py _create_new_module corrects the config
                warnings.add("fan_in_fan_out is set to " + (fanInFanOut ? "True" : "False") + " but the target module " + m.name()
                        + " is `" + m.type() + "`. Setting fan_in_fan_out to " + (m.conv1d() ? "True" : "False") + ".");
                fanInFanOut = m.conv1d();
            }
            out.add(new Target(m.name(), m.in(), m.out(), isFeedforward(ff, m.name())));
            targeted.add(m.name());
        }
        if (out.isEmpty())
            throw new Peft4jException("Target modules " + targets + " not found in the base model (" + family.modelType + "). Please check "
                    + "the target modules and try again. " + LoraPlan.available(mm));
        // PEFT's _maybe_include_all_linear_layers stores the expanded set of module base names
        TargetModules resolved = targets;
        if (targets instanceof TargetModules.AllLinear) {
            java.util.LinkedHashSet<String> baseNames = new java.util.LinkedHashSet<>();
            for (String t : targeted) baseNames.add(t.substring(t.lastIndexOf('.') + 1));
            resolved = TargetModules.names(baseNames);
        }
        Ia3Config c = new Ia3Config(resolved, cfg.excludeModules(), ff, fanInFanOut, cfg.modulesToSave(), cfg.initIa3Weights());
        return new Plan(c, out, mm.baseParameterCount(), warnings);
    }

    /** PEFT's _check_target_module_feedforward: a string is a full-match regex, a list entry a plain suffix. */
    static boolean isFeedforward(TargetModules ff, String key) {
        return switch (ff) {
            case TargetModules.Regex rx -> Pattern.compile(rx.pattern()).matcher(key).matches();
            case TargetModules.Names n -> n.names().stream().anyMatch(key::endsWith);
            case TargetModules.AllLinear a -> true;
        };
    }

    /** Attaches adapter adapterName to every module config selects, active there; returns the handle to train it. */
    public static Ia3Model apply(CausalLM model, Ia3Config config, String adapterName, long seed) {
        if (adapterName == null || adapterName.isEmpty() || adapterName.contains("."))
            throw new Peft4jException("adapter name must be non-empty and contain no '.' (got '" + adapterName + "'); e.g. default");
        ModelModules mm = ModelModules.of(model);
        Plan plan = plan(mm, config);
        Map<String, Target> byModule = new LinkedHashMap<>();
        for (Target t : plan.targets()) byModule.put(t.module(), t);
        List<ModulesToSave.Module> toSave = ModulesToSave.select(mm, config.modulesToSave(), byModule.keySet(), "ia3", config.methodName());
        ModulesToSave.checkFree(model, toSave);
        for (Linear lin : model.linears())
            if (byModule.containsKey(lin.name) && lin.adapters().containsKey(adapterName))
                throw new Peft4jException("module " + lin.name + " already has an adapter named '" + adapterName
                        + "'; choose another adapter name or unload the existing adapter first");
        SplittableRandom rnd = new SplittableRandom(seed);
        Map<String, Ia3Layer> layers = new LinkedHashMap<>();
        Map<String, Linear> linears = new LinkedHashMap<>();
        for (Linear lin : model.linears()) {                    // module order: PEFT's named_modules order
            Target t = byModule.get(lin.name);
            if (t == null) continue;
            int n = t.feedforward() ? lin.in : lin.out;
            float[] v = new float[n];
            if (config.initIa3Weights()) java.util.Arrays.fill(v, 1f);
            else Lora.normal(v, 1.0, rnd);
            Tensor l = t.feedforward() ? Tensor.param(Lora.KEY_PREFIX + lin.name + ".ia3_l", v, 1, n)
                    : Tensor.param(Lora.KEY_PREFIX + lin.name + ".ia3_l", v, n, 1);
            Ia3Layer layer = new Ia3Layer(l, t.feedforward());
            lin.addAdapter(adapterName, layer);
            lin.setActive(List.of(adapterName));
            layers.put(lin.name, layer);
            linears.put(lin.name, lin);
        }
        return new Ia3Model(model, adapterName, plan, layers, linears, ModulesToSave.apply(model, toSave));
    }

    /** An IA3 adapter_config.json (already parsed) -> Ia3Config; errors name the file and the field. */
    static Ia3Config readConfig(JsonNode c, Path file) {
        ObjectMapper om = new ObjectMapper();
        Ia3Config.Builder b = Ia3Config.builder();
        if (c.hasNonNull("target_modules")) b.targetModules(TargetModules.fromPeft(om.convertValue(c.get("target_modules"), Object.class)));
        if (c.hasNonNull("exclude_modules")) b.excludeModules(TargetModules.fromPeft(om.convertValue(c.get("exclude_modules"), Object.class)));
        if (c.hasNonNull("feedforward_modules"))
            b.feedforwardModules(TargetModules.fromPeft(om.convertValue(c.get("feedforward_modules"), Object.class)));
        b.fanInFanOut(bool(c, "fan_in_fan_out", false, file));
        b.initIa3Weights(bool(c, "init_ia3_weights", true, file));
        if (c.hasNonNull("modules_to_save")) {
            List<String> m = new ArrayList<>();
            c.get("modules_to_save").forEach(x -> m.add(x.asText()));
            b.modulesToSave(m);
        }
        return b.build();
    }

    private static boolean bool(JsonNode c, String key, boolean dflt, Path file) {
        if (!c.hasNonNull(key)) return dflt;
        if (!c.get(key).isBoolean()) throw new Peft4jException(file + ": \"" + key + "\" must be true or false (got " + c.get(key) + ")");
        return c.get(key).asBoolean();
    }
}
