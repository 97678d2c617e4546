/*
 * Vera: attaches a VeRA adapter (Vector-based Random Matrix Adaptation) to a loaded model, as PEFT's
 * get_peft_model(model, VeraConfig) does (peft/tuners/vera/model.py):
 *   - the targets are chosen by the shared PEFT rules (PeftRules: list = exact or "." suffix with
 *     layers_to_transform / layers_pattern, string = full-match regex, all-linear);
 *   - one frozen pair vera_A (r, maxIn), vera_B (maxOut, r) is made for the adapter, sized for the
 *     largest in and out features among the targets (PEFT's _find_dim), and shared by every
 *     adapted layer, which uses vera_A's first in columns and vera_B's first out rows;
 *   - every target gets vera_lambda_b (out, zeros) and vera_lambda_d (r, d_initial) - with
 *     init_weights false, lambda_b ones and lambda_d N(0, 1) as PEFT's update_layer leaves them.
 *
 * The projections: PEFT fills them with a kaiming-uniform draw (U(-√(6/fan_in), √(6/fan_in)), fan_in
 * = the tensor's second dimension) from a CPU torch.Generator seeded with projection_prng_key, and
 * PEFT 0.14 regenerates them that way when it loads an adapter (it does not read the saved
 * base_model.vera_A / vera_B back: their keys lack the adapter name). peft4j makes the same values
 * with TorchCpuGenerator (torch's Mersenne Twister and uniform_, bit for bit), so an adapter trained
 * in peft4j works in PEFT; it saves them (save_projection true) and, loading, takes them from the
 * file. An adapter saved by PEFT without them (save_projection false) is refused (VeraConfig).
 *
 * Several VeRA adapters on one model: in PEFT all adapters of a VeraModel share one projection
 * (they must have the same projection_prng_key and fit its size). In peft4j each adapter owns its
 * pair (its AdapterModel's sharedStateDict, saved as base_model.vera_A / base_model.vera_B in its
 * own file): adapters never depend on each other's tensors, and loading one adapter fills only its
 * own projections. Two adapters made with the same key, r and targets hold equal projections.
 *
 * Defaults (peft/utils/constants.py TRANSFORMERS_MODELS_TO_VERA_TARGET_MODULES_MAPPING): q_proj,
 * v_proj for llama, mistral and qwen2; c_attn for gpt2 - the same as LoRA's.
 */
package dev.peft4j.tuner.vera;

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
import dev.peft4j.tuner.PeftMethod;
import dev.peft4j.tuner.PeftRules;
import dev.peft4j.tuner.TargetModules;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

public final class Vera {
    private Vera() {}

    /** The saved keys of the shared projections (PEFT: "base_model.vera_A.<adapter>" with the adapter name removed). */
    public static final String KEY_A = "base_model.vera_A", KEY_B = "base_model.vera_B";

    /** VeRA in the method registry. */
    public static final PeftMethod METHOD = PeftMethod.of(VeraConfig.PEFT_TYPE, "VeRA", VeraConfig.class, Vera::readConfig, Vera::apply);

    public static List<String> defaultTargetModules(ModelConfig.Family family) {
        return switch (family) {
            case LLAMA, MISTRAL, QWEN2, QWEN3, GEMMA2, GEMMA3_TEXT -> List.of("q_proj", "v_proj");
            case GPT2 -> List.of("c_attn");
            case SMOLLM3, OLMO2 -> throw PeftRules.noDefaultTargets("VeRA", family, "target_modules", "--vera.target-modules q_proj,v_proj");
            case PHI3 -> throw PeftRules.noDefaultTargets("VeRA", family, "target_modules", "--vera.target-modules qkv_proj,o_proj,gate_up_proj,down_proj (Phi-3's fused attention and MLP projections) or all-linear");
        };
    }

    /** One adapted module. */
    public record Target(String module, int in, int out) {}

    /**
     * The targets of config on a module tree (no weights needed), the projections' size, and the
     * config as PEFT resolves and saves it.
     */
    public record Plan(VeraConfig config, List<Target> targets, int maxIn, int maxOut, long baseParameterCount, List<String> warnings) {
        /** PEFT's trainable count: Σ (r + out) over the targets (vera_A / vera_B are buffers, not parameters). */
        public long trainableParameterCount() {
            long n = 0;
            for (Target t : targets) n += config.r() + t.out();
            return n;
        }

        /** The frozen projections' size: r·maxIn + maxOut·r (saved, not counted as parameters, as in PEFT). */
        public long projectionSize() { return (long) config.r() * maxIn + (long) maxOut * config.r(); }

        public String trainableSummary() {
            return LoraPlan.formatTrainable(trainableParameterCount(), baseParameterCount + trainableParameterCount());
        }
    }

    public static Plan plan(ModelModules mm, VeraConfig cfg) {
        ModelConfig.Family family = mm.config().family();
        TargetModules targets = cfg.targetModules() != null ? cfg.targetModules() : TargetModules.names(defaultTargetModules(family));
        List<String> warnings = new ArrayList<>();
        List<Target> out = new ArrayList<>();
        List<String> targeted = new ArrayList<>();
        boolean fanInFanOut = cfg.fanInFanOut();
        int maxIn = 0, maxOut = 0;
        for (ModelModules.Module m : mm.modules()) {
            if (PeftRules.check(null, cfg.modulesToSave(), cfg.layersToTransform(), cfg.layersPattern(), targets, m) != PeftRules.Match.TARGETED)
                continue;
            if (!m.linear())
                throw new Peft4jException("vera target_modules '" + targets + "' matches " + m.name() + " (" + m.type() + "); VeRA "
                        + "applies to linear layers (Linear, Conv1D) only. Narrow the targets; " + LoraPlan.available(mm));
            if (m.conv1d() != fanInFanOut) {            // vera/model.py _create_new_module corrects the config
                warnings.add("fan_in_fan_out is set to " + (fanInFanOut ? "True" : "False") + " but the target module " + m.name()
                        + " is `" + m.type() + "`. Setting fan_in_fan_out to " + (m.conv1d() ? "True" : "False") + ".");
                fanInFanOut = m.conv1d();
            }
            out.add(new Target(m.name(), m.in(), m.out()));
            targeted.add(m.name());
            maxIn = Math.max(maxIn, m.in());
            maxOut = Math.max(maxOut, m.out());
        }
        if (out.isEmpty())
            throw new Peft4jException("Target modules " + targets + " not found in the base model (" + family.modelType + "). Please check "
                    + "the target modules and try again. " + LoraPlan.available(mm));
        TargetModules resolved = targets;               // _maybe_include_all_linear_layers stores the expanded base names
        if (targets instanceof TargetModules.AllLinear) {
            LinkedHashSet<String> baseNames = new LinkedHashSet<>();
            for (String t : targeted) baseNames.add(t.substring(t.lastIndexOf('.') + 1));
            resolved = TargetModules.names(baseNames);
        }
        VeraConfig c = cfg.toBuilder().targetModules(resolved).fanInFanOut(fanInFanOut).build();
        return new Plan(c, out, maxIn, maxOut, mm.baseParameterCount(), warnings);
    }

    /** Attaches adapter adapterName to every module config selects, active there; returns the handle to train it. */
    public static VeraModel apply(CausalLM model, VeraConfig config, String adapterName, long seed) {
        if (adapterName == null || adapterName.isEmpty() || adapterName.contains("."))
            throw new Peft4jException("adapter name must be non-empty and contain no '.' (got '" + adapterName + "'); e.g. default");
        ModelModules mm = ModelModules.of(model);
        Plan plan = plan(mm, config);
        Map<String, Target> byModule = new LinkedHashMap<>();
        for (Target t : plan.targets()) byModule.put(t.module(), t);
        List<dev.peft4j.tuner.ModulesToSave.Module> toSave = dev.peft4j.tuner.ModulesToSave.select(mm, config.modulesToSave(), byModule.keySet(), "vera", config.methodName());
        dev.peft4j.tuner.ModulesToSave.checkFree(model, toSave);
        for (Linear lin : model.linears())
            if (byModule.containsKey(lin.name) && lin.adapters().containsKey(adapterName))
                throw new Peft4jException("module " + lin.name + " already has an adapter named '" + adapterName
                        + "'; choose another adapter name or unload the existing adapter first");
        int r = config.r();
        float[][] ab = projections(config.projectionPrngKey(), r, plan.maxIn(), plan.maxOut());
        Tensor veraA = Tensor.frozen(KEY_A, ab[0], r, plan.maxIn());
        Tensor veraB = Tensor.frozen(KEY_B, ab[1], plan.maxOut(), r);
        SplittableRandom rnd = new SplittableRandom(seed);
        Map<String, VeraLayer> layers = new LinkedHashMap<>();
        Map<String, Linear> linears = new LinkedHashMap<>();
        for (Linear lin : model.linears()) {                    // module order: PEFT's named_modules order
            if (!byModule.containsKey(lin.name)) continue;
            float[] b = new float[lin.out], d = new float[r];
            if (config.initWeights()) {
                Arrays.fill(d, (float) config.dInitial());      // reset_vera_parameters: lambda_b zeros, lambda_d d_initial
            } else {
                Arrays.fill(b, 1f);                              // update_layer: torch.ones(out), torch.randn(r)
                Lora.normal(d, 1.0, rnd);
            }
            VeraLayer layer = new VeraLayer(Tensor.param(Lora.KEY_PREFIX + lin.name + ".vera_lambda_b", b, lin.out),
                    Tensor.param(Lora.KEY_PREFIX + lin.name + ".vera_lambda_d", d, r), veraA, veraB, config.veraDropout());
            layer.checkFits(lin);
            lin.addAdapter(adapterName, layer);
            lin.setActive(List.of(adapterName));
            layers.put(lin.name, layer);
            linears.put(lin.name, lin);
        }
        return new VeraModel(model, adapterName, plan, layers, linears, veraA, veraB, dev.peft4j.tuner.ModulesToSave.apply(model, toSave));
    }

    /**
     * vera_A (r, maxIn) and vera_B (maxOut, r) exactly as PEFT's _init_vera_A_vera_B makes them: one CPU
     * torch generator seeded with key, then _kaiming_init of A and of B from it (uniform in ±bound,
     * bound = √3 · (√2 / √fan_in), fan_in = the tensor's second dimension). Equal to torch's values.
     */
    public static float[][] projections(long key, int r, int maxIn, int maxOut) {
        TorchCpuGenerator g = new TorchCpuGenerator(key);
        float[] a = new float[r * maxIn], b = new float[maxOut * r];
        double boundA = kaimingBound(maxIn), boundB = kaimingBound(r);
        g.uniform(a, -boundA, boundA);
        g.uniform(b, -boundB, boundB);
        return new float[][] {a, b};
    }

    /** _kaiming_init's bound, in PEFT's order of operations: gain √2, std = gain / √fan, bound = √3 · std. */
    static double kaimingBound(int fanIn) {
        double std = Math.sqrt(2) / Math.sqrt(fanIn);
        return Math.sqrt(3.0) * std;
    }

    /** A VERA adapter_config.json (already parsed) -> VeraConfig; errors name the file and the field. */
    static VeraConfig readConfig(JsonNode c, Path file) {
        ObjectMapper om = new ObjectMapper();
        VeraConfig.Builder b = VeraConfig.builder();
        if (c.hasNonNull("r")) {
            if (!c.get("r").isIntegralNumber() || !c.get("r").canConvertToInt())
                throw new Peft4jException(file + ": \"r\" must be an integer (got " + c.get("r") + "); e.g. \"r\": 256");
            b.r(c.get("r").asInt());
        }
        if (c.hasNonNull("target_modules")) b.targetModules(TargetModules.fromPeft(om.convertValue(c.get("target_modules"), Object.class)));
        if (c.hasNonNull("projection_prng_key")) {
            if (!c.get("projection_prng_key").isIntegralNumber() || !c.get("projection_prng_key").canConvertToLong())
                throw new Peft4jException(file + ": \"projection_prng_key\" must be an integer (got " + c.get("projection_prng_key") + ")");
            b.projectionPrngKey(c.get("projection_prng_key").asLong());
        }
        b.saveProjection(bool(c, "save_projection", true, file));
        if (c.hasNonNull("vera_dropout")) b.veraDropout((float) number(c, "vera_dropout", file));
        if (c.hasNonNull("d_initial")) b.dInitial(number(c, "d_initial", file));
        b.fanInFanOut(bool(c, "fan_in_fan_out", false, file));
        if (c.hasNonNull("bias")) b.bias(c.get("bias").asText());
        b.initWeights(bool(c, "init_weights", true, file));
        if (c.hasNonNull("modules_to_save")) {
            List<String> m = new ArrayList<>();
            c.get("modules_to_save").forEach(x -> m.add(x.asText()));
            b.modulesToSave(m);
        }
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
        return b.build();
    }

    private static boolean bool(JsonNode c, String key, boolean dflt, Path file) {
        if (!c.hasNonNull(key)) return dflt;
        if (!c.get(key).isBoolean()) throw new Peft4jException(file + ": \"" + key + "\" must be true or false (got " + c.get(key) + ")");
        return c.get(key).asBoolean();
    }

    private static double number(JsonNode c, String key, Path file) {
        if (!c.get(key).isNumber()) throw new Peft4jException(file + ": \"" + key + "\" must be a number (got " + c.get(key) + ")");
        return c.get(key).asDouble();
    }
}
