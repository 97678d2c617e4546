/*
 * Ia3Config: an (IA)³ adapter's configuration, field for field HF PEFT's IA3Config
 * (peft/tuners/ia3/config.py) with its defaults: target_modules None (the model type's default,
 * utils/constants.py TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING: k_proj,v_proj,down_proj for
 * llama/mistral, q_proj,v_proj,down_proj for qwen2, c_attn,mlp.c_proj for gpt2), feedforward_modules
 * None (the default feed-forward subset: down_proj, mlp.c_proj), init_ia3_weights True (vectors of
 * ones: the adapter starts as the identity), fan_in_fan_out False (corrected per module, as PEFT does).
 *
 * A feed-forward module scales its input (x · l), any other its output ((x·Wᵀ + b) · l). As in PEFT's
 * __post_init__, build() checks that feedforward_modules is a subset of target_modules when both are
 * lists (a config resolved from all-linear is not re-checked, as in PEFT).
 */
package dev.peft4j.tuner.ia3;

import dev.peft4j.Peft4jException;
import dev.peft4j.tuner.AdapterConfig;
import dev.peft4j.tuner.TargetModules;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

public record Ia3Config(TargetModules targetModules, TargetModules excludeModules, TargetModules feedforwardModules,
                        boolean fanInFanOut, List<String> modulesToSave, boolean initIa3Weights) implements AdapterConfig {
    public static final String PEFT_TYPE = "IA3";

    public Ia3Config {
        modulesToSave = dev.peft4j.tuner.ModulesToSave.validate(modulesToSave, "ia3");
        if (excludeModules instanceof TargetModules.AllLinear)
            throw new Peft4jException("ia3 exclude_modules cannot be all-linear; list module names or give a regex");
        if (feedforwardModules instanceof TargetModules.AllLinear)
            throw new Peft4jException("ia3 feedforward_modules cannot be all-linear; list module names (e.g. down_proj) or give a regex");
    }

    public static Builder builder() { return new Builder(); }

    public Builder toBuilder() {
        return new Builder().targetModules(targetModules).excludeModules(excludeModules).feedforwardModules(feedforwardModules)
                .fanInFanOut(fanInFanOut).initIa3Weights(initIa3Weights).modulesToSave(modulesToSave);
    }

    @Override public String peftType() { return PEFT_TYPE; }

    @Override public String methodName() { return "(IA)³"; }

    /** adapter_config.json as PEFT 0.14's IA3Config.to_dict writes it (without base_model_name_or_path). */
    @Override public Map<String, Object> toPeftJson() {
        Map<String, Object> m = new TreeMap<>();
        m.put("auto_mapping", null);
        m.put("exclude_modules", excludeModules == null ? null : excludeModules.toPeft());
        m.put("fan_in_fan_out", fanInFanOut);
        m.put("feedforward_modules", feedforwardModules == null ? null : feedforwardModules.toPeft());
        m.put("inference_mode", true);
        m.put("init_ia3_weights", initIa3Weights);
        m.put("modules_to_save", modulesToSave.isEmpty() ? null : modulesToSave);
        m.put("peft_type", PEFT_TYPE);
        m.put("revision", null);
        m.put("target_modules", targetModules == null ? null : targetModules.toPeft());
        m.put("task_type", "CAUSAL_LM");
        return m;
    }

    @Override public String describe() {
        return "(IA)³, feed-forward (input-scaled) modules " + (feedforwardModules == null ? "default" : feedforwardModules);
    }

    public static final class Builder {
        private TargetModules targetModules, excludeModules, feedforwardModules;
        private boolean fanInFanOut, initIa3Weights = true;
        private List<String> modulesToSave = List.of();

        public Builder targetModules(TargetModules v) { targetModules = v; return this; }
        public Builder targetModules(String... names) { targetModules = TargetModules.names(names); return this; }
        public Builder excludeModules(TargetModules v) { excludeModules = v; return this; }
        public Builder feedforwardModules(TargetModules v) { feedforwardModules = v; return this; }
        public Builder feedforwardModules(String... names) { feedforwardModules = TargetModules.names(names); return this; }
        public Builder fanInFanOut(boolean v) { fanInFanOut = v; return this; }
        public Builder modulesToSave(List<String> v) { modulesToSave = v; return this; }
        public Builder initIa3Weights(boolean v) { initIa3Weights = v; return this; }

        /** Checks as PEFT's IA3Config.__post_init__ does: feedforward_modules a subset of target_modules (both lists). */
        public Ia3Config build() {
            if (feedforwardModules instanceof TargetModules.Names ff && targetModules instanceof TargetModules.Names t
                    && !t.names().containsAll(ff.names()))
                throw new Peft4jException("ia3 feedforward_modules " + ff.names() + " must be a subset of target_modules " + t.names()
                        + " (PEFT: `feedforward_modules` should be a subset of `target_modules`); add them to target_modules");
            return new Ia3Config(targetModules, excludeModules, feedforwardModules, fanInFanOut, modulesToSave, initIa3Weights);
        }
    }
}
