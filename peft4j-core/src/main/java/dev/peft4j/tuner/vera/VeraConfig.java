/*
 * VeraConfig: a VeRA adapter's configuration, field for field HF PEFT's VeraConfig
 * (peft/tuners/vera/config.py) with its defaults: r 256 (the shared projections' rank; VeRA wants
 * ranks far above LoRA's, its trainable count does not grow with in/out), target_modules None (the
 * model type's default, TRANSFORMERS_MODELS_TO_VERA_TARGET_MODULES_MAPPING: q_proj,v_proj for
 * llama/mistral/qwen2, c_attn for gpt2), projection_prng_key 0, save_projection True, vera_dropout 0,
 * d_initial 0.1 (vera_lambda_d's initial value), fan_in_fan_out False (corrected per module, as
 * PEFT does), bias "none", modules_to_save None, init_weights True (lambda_b zeros, lambda_d
 * d_initial: the adapter starts as the identity), layers_to_transform / layers_pattern None.
 *
 * Refused, with what to do instead:
 *   save_projection false  the file then has no vera_A / vera_B: PEFT regenerates them at load time
 *                          from torch.Generator seeded with projection_prng_key (and warns this may not
 *                          be accurate everywhere); peft4j takes the projections from the file only and
 *                          always saves them (what PEFT recommends for portability).
 *   bias all / vera_only   peft4j trains the VeRA vectors only, never the base model's biases.
 *   modules_to_save        modules trained in full (a trainable copy, e.g. lm_head; ModulesToSave).
 */
package dev.peft4j.tuner.vera;

import dev.peft4j.Peft4jException;
import dev.peft4j.tuner.AdapterConfig;
import dev.peft4j.tuner.TargetModules;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

public record VeraConfig(int r, TargetModules targetModules, long projectionPrngKey, boolean saveProjection, float veraDropout,
                         double dInitial, boolean fanInFanOut, String bias, List<String> modulesToSave, boolean initWeights,
                         List<Integer> layersToTransform, List<String> layersPattern) implements AdapterConfig {
    public static final String PEFT_TYPE = "VERA";

    public VeraConfig {
        if (r <= 0) throw new Peft4jException("vera r must be a positive integer (got " + r + "); e.g. 256 (PEFT's default)");
        if (!(veraDropout >= 0f && veraDropout < 1f))
            throw new Peft4jException("vera_dropout must be in [0, 1) (got " + veraDropout + "); e.g. 0 or 0.05");
        if (!Double.isFinite(dInitial)) throw new Peft4jException("vera d_initial must be a finite number (got " + dInitial + "); e.g. 0.1");
        if (!saveProjection)
            throw new Peft4jException("vera save_projection false is not supported: such an adapter does not store vera_A / vera_B; "
                    + "they exist only as the output of torch's RNG (PEFT regenerates them at load time with torch.Generator seeded by "
                    + "projection_prng_key " + projectionPrngKey + ", and warns that this may not be accurate on all system "
                    + "configurations), and peft4j takes VeRA projections from the adapter file only. Re-save the adapter in Python "
                    + "with save_projection=True (load it with PeftModel.from_pretrained, set model.peft_config['default']"
                    + ".save_projection = True, then save_pretrained); peft4j always saves the projections");
        if (bias == null) bias = "none";
        switch (bias) {
            case "none" -> { }
            case "all", "vera_only" -> throw new Peft4jException("vera bias = '" + bias + "' is not supported yet: peft4j trains the VeRA "
                    + "vectors only, never the base model's biases; use bias \"none\"");
            default -> throw new Peft4jException("vera bias must be one of none, all, vera_only (got '" + bias + "'); use \"none\"");
        }
        modulesToSave = dev.peft4j.tuner.ModulesToSave.validate(modulesToSave, "vera");
        layersToTransform = layersToTransform == null ? List.of() : List.copyOf(layersToTransform);
        layersPattern = layersPattern == null ? List.of() : List.copyOf(layersPattern);
        if (!layersPattern.isEmpty() && layersToTransform.isEmpty())     // VeraConfig.__post_init__
            throw new Peft4jException("vera layers_pattern " + layersPattern + " needs layers_to_transform (PEFT: When `layers_pattern` is "
                    + "specified, `layers_to_transform` must also be specified); add layers_to_transform or remove layers_pattern");
    }

    public static Builder builder() { return new Builder(); }

    public Builder toBuilder() {
        return new Builder().r(r).targetModules(targetModules).projectionPrngKey(projectionPrngKey).veraDropout(veraDropout)
                .dInitial(dInitial).fanInFanOut(fanInFanOut).bias(bias).initWeights(initWeights)
                .layersToTransform(layersToTransform).layersPattern(layersPattern).modulesToSave(modulesToSave);
    }

    @Override public String peftType() { return PEFT_TYPE; }

    @Override public String methodName() { return "VeRA"; }

    /** adapter_config.json as PEFT 0.14's VeraConfig.to_dict writes it (without base_model_name_or_path). */
    @Override public Map<String, Object> toPeftJson() {
        Map<String, Object> m = new TreeMap<>();
        m.put("auto_mapping", null);
        m.put("bias", bias);
        m.put("d_initial", dInitial);
        m.put("fan_in_fan_out", fanInFanOut);
        m.put("inference_mode", true);
        m.put("init_weights", initWeights);
        m.put("layers_pattern", layersPattern.isEmpty() ? null : layersPattern.size() == 1 ? layersPattern.getFirst() : layersPattern);
        m.put("layers_to_transform", layersToTransform.isEmpty() ? null : layersToTransform);
        m.put("modules_to_save", modulesToSave.isEmpty() ? null : modulesToSave);
        m.put("peft_type", PEFT_TYPE);
        m.put("projection_prng_key", projectionPrngKey);
        m.put("r", r);
        m.put("revision", null);
        m.put("save_projection", saveProjection);
        m.put("target_modules", targetModules == null ? null : targetModules.toPeft());
        m.put("task_type", "CAUSAL_LM");
        m.put("vera_dropout", (double) veraDropout);
        return m;
    }

    @Override public String describe() {
        return "VeRA, r = " + r + " (shared frozen projections), d_initial = " + dInitial + ", dropout = " + veraDropout;
    }

    public static final class Builder {
        private int r = 256;
        private TargetModules targetModules;
        private long projectionPrngKey;
        private float veraDropout;
        private double dInitial = 0.1;
        private boolean fanInFanOut, initWeights = true, saveProjection = true;
        private String bias = "none";
        private List<String> modulesToSave = List.of(), layersPattern = List.of();
        private List<Integer> layersToTransform = List.of();

        public Builder r(int v) { r = v; return this; }
        public Builder targetModules(TargetModules v) { targetModules = v; return this; }
        public Builder targetModules(String... names) { targetModules = TargetModules.names(names); return this; }
        public Builder projectionPrngKey(long v) { projectionPrngKey = v; return this; }
        public Builder saveProjection(boolean v) { saveProjection = v; return this; }
        public Builder veraDropout(float v) { veraDropout = v; return this; }
        public Builder dInitial(double v) { dInitial = v; return this; }
        public Builder fanInFanOut(boolean v) { fanInFanOut = v; return this; }
        public Builder bias(String v) { bias = v; return this; }
        public Builder modulesToSave(List<String> v) { modulesToSave = v; return this; }
        public Builder initWeights(boolean v) { initWeights = v; return this; }
        public Builder layersToTransform(List<Integer> v) { layersToTransform = v; return this; }
        public Builder layersPattern(List<String> v) { layersPattern = v; return this; }

        public VeraConfig build() {
            return new VeraConfig(r, targetModules, projectionPrngKey, saveProjection, veraDropout, dInitial, fanInFanOut, bias,
                    modulesToSave, initWeights, layersToTransform, layersPattern);
        }
    }
}
