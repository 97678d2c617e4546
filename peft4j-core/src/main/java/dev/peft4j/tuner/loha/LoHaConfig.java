/*
 * LoHaConfig: a LoHa adapter's configuration, field for field HF PEFT 0.14's LoHaConfig
 * (peft/tuners/loha/config.py, with LycorisConfig's rank_pattern / alpha_pattern) and its defaults:
 * r 8, alpha 8, rank_dropout 0, module_dropout 0, use_effective_conv2d false (Conv2d only; kept and
 * saved), target_modules required (PEFT has no LoHa defaults per model type), exclude_modules none,
 * init_weights true (hada_w2_b zero: the adapter starts as the identity), layers_to_transform /
 * layers_pattern none, rank_pattern / alpha_pattern empty, modules_to_save none (when set: full
 * trainable copies, tuner.ModulesToSave).
 */
package dev.peft4j.tuner.loha;

import dev.peft4j.tuner.AdapterConfig;
import dev.peft4j.tuner.TargetModules;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

public record LoHaConfig(int r, double alpha, double rankDropout, double moduleDropout, TargetModules targetModules,
                         TargetModules excludeModules, boolean initWeights, List<Integer> layersToTransform, List<String> layersPattern,
                         Map<String, Integer> rankPattern, Map<String, Double> alphaPattern, List<String> modulesToSave,
                         boolean useEffectiveConv2d) implements AdapterConfig {
    public static final String PEFT_TYPE = "LOHA";

    public LoHaConfig {
        Lycoris.Common c = new Lycoris.Common("loha", r, alpha, rankDropout, moduleDropout, targetModules, excludeModules,
                layersToTransform, layersPattern, rankPattern, alphaPattern, modulesToSave, useEffectiveConv2d);
        layersToTransform = c.layersToTransform();
        layersPattern = c.layersPattern();
        rankPattern = c.rankPattern();
        alphaPattern = c.alphaPattern();
        modulesToSave = c.modulesToSave();
    }

    /** The fields LoHa shares with LoKr. */
    public Lycoris.Common common() {
        return new Lycoris.Common(r, alpha, rankDropout, moduleDropout, targetModules, excludeModules, layersToTransform, layersPattern,
                rankPattern, alphaPattern, modulesToSave, useEffectiveConv2d);
    }

    public static Builder builder() { return new Builder(); }

    public Builder toBuilder() {
        Builder b = new Builder();
        b.r = r; b.alpha = alpha; b.rankDropout = rankDropout; b.moduleDropout = moduleDropout; b.targetModules = targetModules;
        b.excludeModules = excludeModules; b.initWeights = initWeights; b.layersToTransform = layersToTransform;
        b.layersPattern = layersPattern; b.rankPattern = new LinkedHashMap<>(rankPattern); b.alphaPattern = new LinkedHashMap<>(alphaPattern);
        b.modulesToSave = modulesToSave; b.useEffectiveConv2d = useEffectiveConv2d;
        return b;
    }

    @Override public String peftType() { return PEFT_TYPE; }

    @Override public String methodName() { return "LoHa"; }

    /** adapter_config.json as PEFT 0.14's LoHaConfig.to_dict writes it (without base_model_name_or_path). */
    @Override public Map<String, Object> toPeftJson() {
        Map<String, Object> m = new TreeMap<>();
        common().putPeftJson(m);
        m.put("init_weights", initWeights);
        m.put("peft_type", PEFT_TYPE);
        return m;
    }

    @Override public String describe() {
        return "LoHa, r = " + r + ", alpha = " + Lycoris.integral(alpha) + ", rank dropout = " + rankDropout + ", module dropout = " + moduleDropout;
    }

    public static final class Builder {
        private int r = 8;
        private double alpha = 8, rankDropout, moduleDropout;
        private TargetModules targetModules, excludeModules;
        private boolean initWeights = true, useEffectiveConv2d;
        private List<Integer> layersToTransform = List.of();
        private List<String> layersPattern = List.of(), modulesToSave = List.of();
        private Map<String, Integer> rankPattern = new LinkedHashMap<>();
        private Map<String, Double> alphaPattern = new LinkedHashMap<>();

        public Builder r(int v) { r = v; return this; }
        public Builder alpha(double v) { alpha = v; return this; }
        public Builder rankDropout(double v) { rankDropout = v; return this; }
        public Builder moduleDropout(double v) { moduleDropout = v; return this; }
        public Builder targetModules(TargetModules v) { targetModules = v; return this; }
        public Builder targetModules(String... names) { targetModules = TargetModules.names(names); return this; }
        public Builder excludeModules(TargetModules v) { excludeModules = v; return this; }
        public Builder initWeights(boolean v) { initWeights = v; return this; }
        public Builder layersToTransform(List<Integer> v) { layersToTransform = v; return this; }
        public Builder layersPattern(List<String> v) { layersPattern = v; return this; }
        public Builder rankPattern(String key, int rank) { rankPattern.put(key, rank); return this; }
        public Builder alphaPattern(String key, double a) { alphaPattern.put(key, a); return this; }
        public Builder modulesToSave(List<String> v) { modulesToSave = v; return this; }
        public Builder useEffectiveConv2d(boolean v) { useEffectiveConv2d = v; return this; }

        public LoHaConfig build() {
            return new LoHaConfig(r, alpha, rankDropout, moduleDropout, targetModules, excludeModules, initWeights, layersToTransform,
                    layersPattern, rankPattern, alphaPattern, modulesToSave, useEffectiveConv2d);
        }
    }
}
