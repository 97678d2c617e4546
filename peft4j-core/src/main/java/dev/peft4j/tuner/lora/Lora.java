/*
 * Lora: attaches a LoRA adapter to a loaded model, as PEFT's get_peft_model(model, LoraConfig) does
 * (peft/tuners/lora/model.py LoraModel, tuners_utils.py inject_adapter): plan the targets (LoraPlan),
 * give each targeted Linear a LoraAdapter named adapterName with freshly initialised A (r, in) and
 * B (out, r) as trainable tensors (with use_dora a DoraAdapter, whose magnitude vector starts at the
 * row norms of W + scaling·B·A), make it the module's active adapter, and replace each
 * modules_to_save module's weight and bias by trainable copies (PEFT's ModulesToSaveWrapper: a deep
 * copy is trained, the original kept frozen; with tied embeddings this unties lm_head from
 * embed_tokens, exactly as the deep copy does in PEFT).
 *
 * Random numbers: one java.util.SplittableRandom(seed), drawn in this fixed order — modules in
 * CausalLM.linears() order (= PEFT's named_modules order), for each adapted module all of A row-major
 * then all of B row-major (B only for RANDOM init; zero B draws nothing):
 *   uniform U(−b, b):  (2·u − 1)·b with u = nextDouble() ∈ [0, 1)
 *   normal  N(0, σ):   Box–Muller on pairs (u1 = 1 − nextDouble(), u2 = nextDouble()):
 *                      √(−2 ln u1)·cos(2π u2), then √(−2 ln u1)·sin(2π u2), computed with StrictMath
 * so a seed gives bit-identical adapters on every JVM and machine. (PEFT draws from torch's global RNG,
 * so values cannot match PEFT's; distributions and shapes do.) pissa / pissa_niter_K / olora take A and B
 * from the base weight and residualise it (LoraInit; pissa_niter_K draws its Gaussian test matrix here).
 *
 * Tensor names are PEFT's saved keys: base_model.model.<module>.lora_A.weight / .lora_B.weight, and
 * base_model.model.<module>.weight / .bias for modules_to_save copies (the key PEFT ≥ 0.15's
 * get_peft_model_state_dict writes). Note GPT-2's Conv1D layers hold their weight transposed in memory
 * ((out, in) here, [in, out] on disk); LoRA A/B have the same layout either way.
 */
package dev.peft4j.tuner.lora;
import dev.peft4j.tuner.TargetModules;
import java.nio.file.Path;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.peft4j.tuner.PeftMethod;
import dev.peft4j.tuner.ModelModules;
import dev.peft4j.tuner.ModulesToSave;
import dev.peft4j.tuner.AdapterModel;
import dev.peft4j.tuner.PeftAdapter;

import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tuner.lora.DoraAdapter;
import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.lora.LoraAdapter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

public final class Lora {
    /** PEFT's default adapter name. */
    public static final String DEFAULT_ADAPTER = "default";

    /** The prefix PEFT's saved keys carry for a causal LM (PeftModel.base_model.model). */
    public static final String KEY_PREFIX = "base_model.model.";

    private Lora() {}

    /** LoRA in the method registry (PeftMethods). */
    public static final PeftMethod METHOD = PeftMethod.of(LoraConfig.PEFT_TYPE, "LoRA", LoraConfig.class, Lora::readLora, Lora::apply);

    /** apply(model, config, "default", seed). */
    public static LoraModel apply(CausalLM model, LoraConfig config, long seed) {
        return apply(model, config, DEFAULT_ADAPTER, seed);
    }

    /** Attaches adapter adapterName to every module config selects; returns the handle to train it. */
    public static LoraModel apply(CausalLM model, LoraConfig config, String adapterName, long seed) {
        if (adapterName == null || adapterName.isEmpty() || adapterName.contains("."))
            throw new Peft4jException("adapter name must be non-empty and contain no '.' (got '" + adapterName + "'); e.g. default");
        LoraPlan plan = LoraPlan.of(ModelModules.of(model), config);

        Map<String, Linear> byName = new LinkedHashMap<>();
        for (Linear lin : model.linears()) byName.put(lin.name, lin);
        Map<String, LoraPlan.Target> targets = new LinkedHashMap<>();
        for (LoraPlan.Target t : plan.targets()) targets.put(t.module(), t);
        Map<String, LoraPlan.ModuleToSave> toSave = new LinkedHashMap<>();
        for (LoraPlan.ModuleToSave m : plan.modulesToSave()) toSave.put(m.module(), m);
        for (String name : targets.keySet())
            if (byName.get(name).adapters().containsKey(adapterName))
                throw new Peft4jException("module " + name + " already has an adapter named '" + adapterName
                        + "'; choose another adapter name or unload the existing adapter first");
        for (String name : toSave.keySet())
            if (byName.get(name).weight().requiresGrad)
                throw new Peft4jException("module " + name + " is already trained in full (modules_to_save of another adapter); "
                        + "modules_to_save for several adapters on one model is not supported yet");

        SplittableRandom rnd = new SplittableRandom(seed);
        List<LoraModel.Entry> entries = new ArrayList<>();
        for (Linear lin : model.linears()) {                        // the documented draw order
            LoraPlan.Target t = targets.get(lin.name);
            if (t != null) {
                LoraAdapter a = newAdapter(lin, t, config, rnd);
                lin.addAdapter(adapterName, a);
                lin.setActive(List.of(adapterName));                    // this adapter alone is active here
                entries.add(new LoraModel.Entry(lin, t, a, null, null, null, null));
                continue;
            }
            LoraPlan.ModuleToSave m = toSave.get(lin.name);
            if (m != null) {                                        // the trainable copy every method makes (ModulesToSave)
                ModulesToSave.Copy c = ModulesToSave.copy(lin);
                entries.add(new LoraModel.Entry(lin, null, null, c.originalWeight(), c.originalBias(), c.weight(), c.bias()));
            }
        }
        return new LoraModel(model, adapterName, plan, entries);
    }

    /** A (r, in) and B (out, r) for one module, drawn from rnd in the documented order. */
    static LoraAdapter newAdapter(Linear lin, LoraPlan.Target t, LoraConfig config, SplittableRandom rnd) {
        int r = t.r();
        float[] a = new float[r * lin.in], b = new float[lin.out * r];
        switch (config.initLoraWeights().kind()) {
            case DEFAULT -> uniform(a, 1.0 / Math.sqrt(lin.in), rnd);          // kaiming_uniform_(a=√5): bound 1/√fan_in
            case GAUSSIAN -> normal(a, 1.0 / r, rnd);                          // normal_(std=1/r)
            case RANDOM -> {                                                    // torch.nn.Linear's own init for both
                uniform(a, 1.0 / Math.sqrt(lin.in), rnd);
                uniform(b, 1.0 / Math.sqrt(r), rnd);
            }
            case PISSA, PISSA_NITER, OLORA -> {                                 // from W; W <- W - s.B.A (LoraInit)
                LoraInit.Factors f = LoraInit.factors(lin, r, t.scaling(), config.initLoraWeights(), rnd);
                a = f.a(); b = f.b();
                LoraInit.residualise(lin, f, r, t.scaling());
            }
        }
        Tensor A = Tensor.param(KEY_PREFIX + lin.name + ".lora_A.weight", a, r, lin.in);
        Tensor B = Tensor.param(KEY_PREFIX + lin.name + ".lora_B.weight", b, lin.out, r);
        if (config.useDora()) {                                              // DoRA: m = ‖W + s·B·A‖ per output row
            float[] m = DoraAdapter.weightNorm(lin.weight().floats(), a, b, lin.out, lin.in, r, t.scaling());
            Tensor M = Tensor.param(KEY_PREFIX + lin.name + "." + DoraAdapter.MAGNITUDE_KEY, m, lin.out);
            return new DoraAdapter(A, B, t.scaling(), config.loraDropout(), M);
        }
        return new LoraAdapter(A, B, t.scaling(), config.loraDropout());
    }

    /** x[i] = (2u − 1)·bound, u = nextDouble(): U(−bound, bound), as torch's uniform_. */
    public static void uniform(float[] x, double bound, SplittableRandom rnd) {
        for (int i = 0; i < x.length; i++) x[i] = (float) ((2.0 * rnd.nextDouble() - 1.0) * bound);
    }

    /** x[i] ~ N(0, std) by Box–Muller over pairs of uniforms (StrictMath: reproducible everywhere). */
    public static void normal(float[] x, double std, SplittableRandom rnd) {
        for (int i = 0; i < x.length; i += 2) {
            double u1 = 1.0 - rnd.nextDouble(), u2 = rnd.nextDouble();    // u1 ∈ (0, 1]: log is finite
            double rad = StrictMath.sqrt(-2.0 * StrictMath.log(u1)), th = 2.0 * StrictMath.PI * u2;
            x[i] = (float) (std * rad * StrictMath.cos(th));
            if (i + 1 < x.length) x[i + 1] = (float) (std * rad * StrictMath.sin(th));
        }
    }

    /** A LoRA adapter_config.json (already parsed) -> LoraConfig; PEFT loads lora_alpha <= 0 silently, peft4j warns. */
    static LoraConfig readLora(com.fasterxml.jackson.databind.JsonNode c, Path file) {
        LoraConfig cfg = readConfig(c, file);
        if (cfg.loraAlpha() <= 0)      // PEFT loads it silently; the adapter is a no-op (0) or subtracted (< 0)
            System.err.println("warning: " + file + ": \"lora_alpha\" is " + cfg.loraAlpha() + ", so the LoRA "
                    + "scaling (lora_alpha / r) is " + (cfg.loraAlpha() == 0 ? "0 and this adapter changes nothing"
                    : "negative and this adapter's update is subtracted") + "; expected a positive number such as 2 x r");
        return cfg;
    }

    private static LoraConfig readConfig(com.fasterxml.jackson.databind.JsonNode c, Path file) {
        ObjectMapper om = new ObjectMapper();
        LoraConfig.Builder b = LoraConfig.builder();
        if (c.hasNonNull("r")) {
            if (!c.get("r").isIntegralNumber() || !c.get("r").canConvertToInt())
                throw new Peft4jException(file + ": \"r\" must be an integer (got " + c.get("r") + "); e.g. \"r\": 8");
            b.r(c.get("r").asInt());
        }
        if (c.hasNonNull("lora_alpha")) b.alpha(number(c, "lora_alpha", file));
        if (c.hasNonNull("lora_dropout")) b.dropout((float) number(c, "lora_dropout", file));
        if (c.hasNonNull("target_modules")) b.targetModules(TargetModules.fromPeft(om.convertValue(c.get("target_modules"), Object.class)));
        if (c.hasNonNull("exclude_modules")) b.excludeModules(TargetModules.fromPeft(om.convertValue(c.get("exclude_modules"), Object.class)));
        if (c.hasNonNull("use_rslora")) b.useRslora(c.get("use_rslora").asBoolean());
        if (c.has("init_lora_weights")) b.init(InitLoraWeights.fromPeft(om.convertValue(c.get("init_lora_weights"), Object.class)));
        if (c.hasNonNull("bias")) b.bias(c.get("bias").asText());
        if (c.hasNonNull("layers_to_transform")) {
            com.fasterxml.jackson.databind.JsonNode l = c.get("layers_to_transform");
            List<Integer> layers = new ArrayList<>();
            if (l.isArray()) l.forEach(x -> layers.add(x.asInt())); else layers.add(l.asInt());
            b.layersToTransform(layers);
        }
        if (c.hasNonNull("layers_pattern")) {
            com.fasterxml.jackson.databind.JsonNode l = c.get("layers_pattern");
            List<String> pats = new ArrayList<>();
            if (l.isArray()) l.forEach(x -> pats.add(x.asText())); else pats.add(l.asText());
            b.layersPattern(pats);
        }
        if (c.hasNonNull("rank_pattern")) {
            Map<String, Integer> m = new java.util.LinkedHashMap<>();
            c.get("rank_pattern").fields().forEachRemaining(e -> m.put(e.getKey(), e.getValue().asInt()));
            b.rankPattern(m);
        }
        if (c.hasNonNull("alpha_pattern")) {
            Map<String, Double> m = new java.util.LinkedHashMap<>();
            c.get("alpha_pattern").fields().forEachRemaining(e -> m.put(e.getKey(), e.getValue().asDouble()));
            b.alphaPattern(m);
        }
        if (c.hasNonNull("modules_to_save")) {
            List<String> m = new ArrayList<>();
            c.get("modules_to_save").forEach(x -> m.add(x.asText()));
            b.modulesToSave(m);
        }
        if (c.hasNonNull("fan_in_fan_out")) b.fanInFanOut(c.get("fan_in_fan_out").asBoolean());
        if (c.hasNonNull("use_dora")) b.useDora(c.get("use_dora").asBoolean());
        if (c.hasNonNull("lora_bias")) b.loraBias(c.get("lora_bias").asBoolean());
        return b.build();
    }

    private static double number(com.fasterxml.jackson.databind.JsonNode c, String key, Path file) {
        com.fasterxml.jackson.databind.JsonNode n = c.get(key);
        if (!n.isNumber())
            throw new Peft4jException(file + ": \"" + key + "\" must be a number (got " + n + ")");
        return n.asDouble();
    }

}
