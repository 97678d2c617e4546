/*
 * LoKrConfig: a LoKr adapter's configuration, field for field HF PEFT 0.14's LoKrConfig
 * (peft/tuners/lokr/config.py, with LycorisConfig's rank_pattern / alpha_pattern) and its defaults:
 * r 8, alpha 8 (scaling alpha / r: applied since PEFT 0.14), rank_dropout 0, module_dropout 0,
 * use_effective_conv2d false (Conv2d only; kept and saved), decompose_both false (lokr_w1 stays a full
 * matrix unless true and r is small), decompose_factor -1 (Kronecker factors near the square root),
 * rank_dropout_scale false, target_modules required (no LoKr defaults per model type),
 * exclude_modules none, init_weights true (lokr_w1 zero: the identity at start; false: all random;
 * "lycoris": lokr_w2 zero instead), layers_to_transform / layers_pattern none, rank_pattern /
 * alpha_pattern empty, modules_to_save none (when set: full trainable copies, tuner.ModulesToSave).
 */
package dev.peft4j.tuner.lokr;

import dev.peft4j.tuner.AdapterConfig;
import dev.peft4j.tuner.TargetModules;
import dev.peft4j.tuner.loha.Lycoris;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

public record LoKrConfig(int r, double alpha, double rankDropout, double moduleDropout, boolean useEffectiveConv2d,
                         boolean decomposeBoth, int decomposeFactor, boolean rankDropoutScale, TargetModules targetModules,
                         TargetModules excludeModules, Init initWeights, List<Integer> layersToTransform, List<String> layersPattern,
                         Map<String, Integer> rankPattern, Map<String, Double> alphaPattern, List<String> modulesToSave)
        implements AdapterConfig {
    public static final String PEFT_TYPE = "LOKR";

    /** PEFT's init_weights: True, False or "lycoris". */
    public enum Init {
        TRUE(true), FALSE(false), LYCORIS("lycoris");

        private final Object peft;

        Init(Object peft) { this.peft = peft; }

        public Object peftValue() { return peft; }

        public static Init of(boolean b) { return b ? TRUE : FALSE; }
    }

    public LoKrConfig {
        if (initWeights == null) initWeights = Init.TRUE;
        Lycoris.Common c = new Lycoris.Common("lokr", r, alpha, rankDropout, moduleDropout, targetModules, excludeModules,
                layersToTransform, layersPattern, rankPattern, alphaPattern, modulesToSave, useEffectiveConv2d);
        layersToTransform = c.layersToTransform();
        layersPattern = c.layersPattern();
        rankPattern = c.rankPattern();
        alphaPattern = c.alphaPattern();
        modulesToSave = c.modulesToSave();
    }

    /** The fields LoKr shares with LoHa. */
    public Lycoris.Common common() {
        return new Lycoris.Common(r, alpha, rankDropout, moduleDropout, targetModules, excludeModules, layersToTransform, layersPattern,
                rankPattern, alphaPattern, modulesToSave, useEffectiveConv2d);
    }

    public static Builder builder() { return new Builder(); }

    public Builder toBuilder() {
        Builder b = new Builder();
        b.r = r; b.alpha = alpha; b.rankDropout = rankDropout; b.moduleDropout = moduleDropout; b.useEffectiveConv2d = useEffectiveConv2d;
        b.decomposeBoth = decomposeBoth; b.decomposeFactor = decomposeFactor; b.rankDropoutScale = rankDropoutScale;
        b.targetModules = targetModules; b.excludeModules = excludeModules; b.initWeights = initWeights;
        b.layersToTransform = layersToTransform; b.layersPattern = layersPattern; b.rankPattern = new LinkedHashMap<>(rankPattern);
        b.alphaPattern = new LinkedHashMap<>(alphaPattern); b.modulesToSave = modulesToSave;
        return b;
    }

    @Override public String peftType() { return PEFT_TYPE; }

    @Override public String methodName() { return "LoKr"; }

    /** adapter_config.json as PEFT 0.14's LoKrConfig.to_dict writes it (without base_model_name_or_path). */
    @Override public Map<String, Object> toPeftJson() {
        Map<String, Object> m = new TreeMap<>();
        common().putPeftJson(m);
        m.put("decompose_both", decomposeBoth);
        m.put("decompose_factor", decomposeFactor);
        m.put("init_weights", initWeights.peftValue());
        m.put("peft_type", PEFT_TYPE);
        m.put("rank_dropout_scale", rankDropoutScale);
        return m;
    }

    @Override public String describe() {
        return "LoKr, r = " + r + ", alpha = " + Lycoris.integral(alpha) + ", decompose_factor = " + decomposeFactor
                + (decomposeBoth ? ", decompose_both" : "");
    }

    public static final class Builder {
        private int r = 8, decomposeFactor = -1;
        private double alpha = 8, rankDropout, moduleDropout;
        private boolean useEffectiveConv2d, decomposeBoth, rankDropoutScale;
        private TargetModules targetModules, excludeModules;
        private Init initWeights = Init.TRUE;
        private List<Integer> layersToTransform = List.of();
        private List<String> layersPattern = List.of(), modulesToSave = List.of();
        private Map<String, Integer> rankPattern = new LinkedHashMap<>();
        private Map<String, Double> alphaPattern = new LinkedHashMap<>();

        public Builder r(int v) { r = v; return this; }
        public Builder alpha(double v) { alpha = v; return this; }
        public Builder rankDropout(double v) { rankDropout = v; return this; }
        public Builder moduleDropout(double v) { moduleDropout = v; return this; }
        public Builder useEffectiveConv2d(boolean v) { useEffectiveConv2d = v; return this; }
        public Builder decomposeBoth(boolean v) { decomposeBoth = v; return this; }
        public Builder decomposeFactor(int v) { decomposeFactor = v; return this; }
        public Builder rankDropoutScale(boolean v) { rankDropoutScale = v; return this; }
        public Builder targetModules(TargetModules v) { targetModules = v; return this; }
        public Builder targetModules(String... names) { targetModules = TargetModules.names(names); return this; }
        public Builder excludeModules(TargetModules v) { excludeModules = v; return this; }
        public Builder initWeights(Init v) { initWeights = v; return this; }
        public Builder layersToTransform(List<Integer> v) { layersToTransform = v; return this; }
        public Builder layersPattern(List<String> v) { layersPattern = v; return this; }
        public Builder rankPattern(String key, int rank) { rankPattern.put(key, rank); return this; }
        public Builder alphaPattern(String key, double a) { alphaPattern.put(key, a); return this; }
        public Builder modulesToSave(List<String> v) { modulesToSave = v; return this; }

        public LoKrConfig build() {
            return new LoKrConfig(r, alpha, rankDropout, moduleDropout, useEffectiveConv2d, decomposeBoth, decomposeFactor,
                    rankDropoutScale, targetModules, excludeModules, initWeights, layersToTransform, layersPattern, rankPattern,
                    alphaPattern, modulesToSave);
        }
    }
}
