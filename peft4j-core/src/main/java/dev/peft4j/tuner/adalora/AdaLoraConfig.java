/*
 * AdaLoraConfig: an AdaLoRA adapter's configuration, field for field HF PEFT 0.14's AdaLoraConfig
 * (peft/tuners/adalora/config.py, a LoraConfig subclass) with its defaults:
 *   init_r 12 (the rank every adapted module starts with), target_r 8 (the average rank the budget
 *   shrinks to), tinit 0 / tfinal 0 (warm-up steps without pruning / final steps with the pattern
 *   frozen), deltaT 1 (steps between allocations), beta1 0.85 / beta2 0.85 (EMA of sensitivity and
 *   of its uncertainty), orth_reg_weight 0.5, total_step None (needed before training: the budget
 *   schedule is a function of it), rank_pattern None (set by the rank allocator: per module a list
 *   of booleans, true = triplet kept, keyed "<module>.lora_E" as PEFT saves it).
 * From LoraConfig it keeps r 8 (unused by AdaLoRA; PEFT warns when it is changed), lora_alpha 8 (the
 * scaling is lora_alpha itself, divided by ranknum + 1e-5 in the forward), lora_dropout,
 * target_modules (None: q_proj,v_proj for llama/mistral/qwen2, c_attn for gpt2 -
 * TRANSFORMERS_MODELS_TO_ADALORA_TARGET_MODULES_MAPPING), exclude_modules, fan_in_fan_out,
 * init_lora_weights, layers_to_transform / layers_pattern, use_rslora (written back; AdaLoRA's layer
 * ignores it as PEFT's does), modules_to_save (modules trained in full, tuner.ModulesToSave; none by default).
 */
package dev.peft4j.tuner.adalora;

import dev.peft4j.Peft4jException;
import dev.peft4j.tuner.AdapterConfig;
import dev.peft4j.tuner.TargetModules;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

public record AdaLoraConfig(int initR, int targetR, int tinit, int tfinal, int deltaT, double beta1, double beta2,
                            double orthRegWeight, Integer totalStep, Map<String, List<Boolean>> rankPattern,
                            int r, double loraAlpha, float loraDropout, TargetModules targetModules, TargetModules excludeModules,
                            boolean fanInFanOut, boolean initLoraWeights, List<Integer> layersToTransform,
                            List<String> layersPattern, boolean useRslora, List<String> modulesToSave) implements AdapterConfig {
    public static final String PEFT_TYPE = "ADALORA";

    public AdaLoraConfig {
        modulesToSave = dev.peft4j.tuner.ModulesToSave.validate(modulesToSave, "adalora");
        if (initR < 0) throw new Peft4jException("adalora init_r must be >= 0 (got " + initR + "); e.g. 12");
        if (targetR < 0) throw new Peft4jException("adalora target_r must be >= 0 (got " + targetR + "); e.g. 8");
        if (tinit < 0 || tfinal < 0) throw new Peft4jException("adalora tinit and tfinal must be >= 0 (got " + tinit + ", " + tfinal + ")");
        if (deltaT <= 0) throw new Peft4jException("adalora deltaT must be >= 1 (got " + deltaT + "); e.g. 1 (allocate every step)");
        if (totalStep != null && totalStep <= 0) throw new Peft4jException("adalora total_step must be > 0 (got " + totalStep + ")");
        if (!(loraDropout >= 0f && loraDropout < 1f)) throw new Peft4jException("adalora lora_dropout must be in [0, 1) (got " + loraDropout + ")");
        if (!Double.isFinite(loraAlpha)) throw new Peft4jException("adalora lora_alpha must be a finite number (got " + loraAlpha + ")");
        if (targetModules instanceof TargetModules.Regex rx && rx.pattern().equalsIgnoreCase(TargetModules.ALL_LINEAR_SHORTHAND))
            targetModules = TargetModules.ALL_LINEAR;
        if (excludeModules instanceof TargetModules.AllLinear)
            throw new Peft4jException("adalora exclude_modules cannot be all-linear; list module names or give a regex");
        layersToTransform = layersToTransform == null ? List.of() : List.copyOf(layersToTransform);
        layersPattern = layersPattern == null ? List.of() : List.copyOf(layersPattern);
        if ((targetModules instanceof TargetModules.Regex || targetModules instanceof TargetModules.AllLinear) && !layersToTransform.isEmpty())
            throw new Peft4jException("adalora layers_to_transform cannot be used when target_modules is a str (PEFT: `layers_to_transform` "
                    + "cannot be used when `target_modules` is a str); list module names instead");
        if (!layersPattern.isEmpty() && layersToTransform.isEmpty())
            throw new Peft4jException("adalora layers_pattern needs layers_to_transform (PEFT: When `layers_pattern` is specified, "
                    + "`layers_to_transform` must also be specified); give both or neither");
        if (rankPattern != null) {
            Map<String, List<Boolean>> copy = new LinkedHashMap<>();
            for (Map.Entry<String, List<Boolean>> e : rankPattern.entrySet()) {
                if (e.getValue() == null || e.getValue().stream().anyMatch(java.util.Objects::isNull))
                    throw new Peft4jException("adalora rank_pattern[\"" + e.getKey() + "\"] must be a list of true/false (got " + e.getValue() + ")");
                copy.put(e.getKey(), List.copyOf(e.getValue()));
            }
            rankPattern = Collections.unmodifiableMap(copy);
        }
    }

    public static Builder builder() { return new Builder(); }

    public Builder toBuilder() {
        return new Builder().initR(initR).targetR(targetR).tinit(tinit).tfinal(tfinal).deltaT(deltaT).beta1(beta1).beta2(beta2)
                .orthRegWeight(orthRegWeight).totalStep(totalStep).rankPattern(rankPattern).r(r).alpha(loraAlpha).dropout(loraDropout)
                .targetModules(targetModules).excludeModules(excludeModules).fanInFanOut(fanInFanOut).initLoraWeights(initLoraWeights)
                .layersToTransform(layersToTransform).layersPattern(layersPattern).useRslora(useRslora).modulesToSave(modulesToSave);
    }

    public AdaLoraConfig withTotalStep(Integer v) { return toBuilder().totalStep(v).build(); }

    public AdaLoraConfig withRankPattern(Map<String, List<Boolean>> v) { return toBuilder().rankPattern(v).build(); }

    /** PEFT's scaling: lora_alpha if > 0, else init_r (the forward divides it by ranknum + 1e-5). */
    public double scaling() { return loraAlpha > 0 ? loraAlpha : initR; }

    @Override public String peftType() { return PEFT_TYPE; }

    @Override public String methodName() { return "AdaLoRA"; }

    /** adapter_config.json as PEFT 0.14's AdaLoraConfig.to_dict writes it (without base_model_name_or_path). */
    @Override public Map<String, Object> toPeftJson() {
        Map<String, Object> m = new TreeMap<>();
        m.put("alpha_pattern", Map.of());
        m.put("auto_mapping", null);
        m.put("beta1", beta1);
        m.put("beta2", beta2);
        m.put("bias", "none");
        m.put("deltaT", deltaT);
        m.put("eva_config", null);
        m.put("exclude_modules", excludeModules == null ? null : excludeModules.toPeft());
        m.put("fan_in_fan_out", fanInFanOut);
        m.put("inference_mode", true);
        m.put("init_lora_weights", initLoraWeights);
        m.put("init_r", initR);
        m.put("layer_replication", null);
        m.put("layers_pattern", layersPattern.isEmpty() ? null : layersPattern.size() == 1 ? layersPattern.get(0) : layersPattern);
        m.put("layers_to_transform", layersToTransform.isEmpty() ? null : layersToTransform);
        m.put("loftq_config", Map.of());
        m.put("lora_alpha", loraAlpha == Math.rint(loraAlpha) && Math.abs(loraAlpha) < 1e15 ? (Object) (long) loraAlpha : (Object) loraAlpha);
        m.put("lora_bias", false);
        m.put("lora_dropout", (double) loraDropout);
        m.put("megatron_config", null);
        m.put("megatron_core", "megatron.core");
        m.put("modules_to_save", modulesToSave.isEmpty() ? null : modulesToSave);
        m.put("orth_reg_weight", orthRegWeight);
        m.put("peft_type", PEFT_TYPE);
        m.put("r", r);
        m.put("rank_pattern", rankPattern);
        m.put("revision", null);
        m.put("target_modules", targetModules == null ? null : targetModules.toPeft());
        m.put("target_r", targetR);
        m.put("task_type", "CAUSAL_LM");
        m.put("tfinal", tfinal);
        m.put("tinit", tinit);
        m.put("total_step", totalStep);
        m.put("use_dora", false);
        m.put("use_rslora", useRslora);
        return m;
    }

    @Override public String describe() {
        return "AdaLoRA, init_r = " + initR + " -> target_r = " + targetR + ", alpha = " + toPeftJson().get("lora_alpha")
                + ", dropout = " + loraDropout + (rankPattern == null ? "" : ", pruned (rank_pattern)");
    }

    public static final class Builder {
        private int initR = 12, targetR = 8, tinit = 0, tfinal = 0, deltaT = 1, r = 8;
        private double beta1 = 0.85, beta2 = 0.85, orthRegWeight = 0.5, loraAlpha = 8;
        private Integer totalStep;
        private Map<String, List<Boolean>> rankPattern;
        private float loraDropout;
        private TargetModules targetModules, excludeModules;
        private boolean fanInFanOut, initLoraWeights = true, useRslora;
        private List<Integer> layersToTransform = List.of();
        private List<String> layersPattern = List.of();
        private List<String> modulesToSave = List.of();

        public Builder initR(int v) { initR = v; return this; }
        public Builder targetR(int v) { targetR = v; return this; }
        public Builder tinit(int v) { tinit = v; return this; }
        public Builder tfinal(int v) { tfinal = v; return this; }
        public Builder deltaT(int v) { deltaT = v; return this; }
        public Builder beta1(double v) { beta1 = v; return this; }
        public Builder beta2(double v) { beta2 = v; return this; }
        public Builder orthRegWeight(double v) { orthRegWeight = v; return this; }
        public Builder totalStep(Integer v) { totalStep = v; return this; }
        public Builder rankPattern(Map<String, List<Boolean>> v) { rankPattern = v; return this; }
        public Builder r(int v) { r = v; return this; }
        public Builder alpha(double v) { loraAlpha = v; return this; }
        public Builder dropout(float v) { loraDropout = v; return this; }
        public Builder targetModules(TargetModules v) { targetModules = v; return this; }
        public Builder targetModules(String... names) { targetModules = TargetModules.names(names); return this; }
        public Builder excludeModules(TargetModules v) { excludeModules = v; return this; }
        public Builder fanInFanOut(boolean v) { fanInFanOut = v; return this; }
        public Builder initLoraWeights(boolean v) { initLoraWeights = v; return this; }
        public Builder layersToTransform(List<Integer> v) { layersToTransform = v == null ? List.of() : new ArrayList<>(v); return this; }
        public Builder layersPattern(List<String> v) { layersPattern = v == null ? List.of() : new ArrayList<>(v); return this; }
        public Builder useRslora(boolean v) { useRslora = v; return this; }
        public Builder modulesToSave(List<String> v) { modulesToSave = v; return this; }

        public AdaLoraConfig build() {
            return new AdaLoraConfig(initR, targetR, tinit, tfinal, deltaT, beta1, beta2, orthRegWeight, totalStep, rankPattern, r,
                    loraAlpha, loraDropout, targetModules, excludeModules, fanInFanOut, initLoraWeights, layersToTransform,
                    layersPattern, useRslora, modulesToSave);
        }
    }
}
