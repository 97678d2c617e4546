/*
 * LoraConfig: a LoRA adapter's configuration, field for field HF PEFT's LoraConfig
 * (peft/tuners/lora/config.py), with PEFT's defaults (r 8, lora_alpha 8, lora_dropout 0, bias "none",
 * init_lora_weights True, target_modules None = the model type's default). Validated on construction,
 * with the checks of PEFT's __post_init__ and update_layer plus peft4j's own "not supported yet" ones,
 * each message saying what was expected, what was found and how to fix it.
 *
 *   targetModules   null: PEFT's default for the model type (q_proj,v_proj for llama/mistral/qwen2;
 *                   c_attn for gpt2 — utils/constants.py TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING)
 *   excludeModules  null or a Names/Regex: modules never adapted (PEFT exclude_modules)
 *   layersToTransform / layersPattern  restrict list-form target_modules to some layer indices (empty: all)
 *   rankPattern / alphaPattern  per-module r / alpha; keys are regexes, the FIRST key in insertion order
 *                   whose (.*\.)?(key)$ matches the module name wins (PEFT utils/other.py get_pattern_key)
 *   modulesToSave   modules trained in full (a trainable copy), e.g. lm_head
 * Maps keep their insertion order (it decides which pattern wins); lists and maps are stored unmodifiable.
 */
package dev.peft4j.tuner.lora;

import dev.peft4j.tuner.AdapterConfig;
import dev.peft4j.tuner.PeftRules;
import dev.peft4j.tuner.TargetModules;

import dev.peft4j.Peft4jException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public record LoraConfig(
        int r,
        double loraAlpha,
        float loraDropout,
        TargetModules targetModules,
        TargetModules excludeModules,
        boolean useRslora,
        InitLoraWeights initLoraWeights,
        String bias,
        List<Integer> layersToTransform,
        List<String> layersPattern,
        Map<String, Integer> rankPattern,
        Map<String, Double> alphaPattern,
        List<String> modulesToSave,
        boolean fanInFanOut,
        boolean useDora,
        boolean loraBias) implements AdapterConfig {

    public static final String PEFT_TYPE = "LORA";

    public LoraConfig {
        // PEFT lora/layer.py update_layer raises for r <= 0; lora_alpha it takes as it is (0 makes the
        // adapter a no-op, a negative one flips it: LoraPlan warns about both).
        if (r <= 0) throw new Invalid(Field.R, "must be > 0 (got " + r + ")", "e.g.");
        if (!Double.isFinite(loraAlpha))
            throw new Invalid(Field.ALPHA, "must be a finite number (got " + loraAlpha + ")", "e.g.");
        if (!(loraDropout >= 0f && loraDropout < 1f))
            throw new Invalid(Field.DROPOUT, "must be in [0, 1) (got " + loraDropout + ")", "e.g.");
        if (initLoraWeights == null) initLoraWeights = InitLoraWeights.DEFAULT;
        if (bias == null) bias = "none";
        switch (bias) {
            case "none" -> { }
            case "all", "lora_only" -> throw new Invalid(Field.BIAS, "= '" + bias + "' is not supported yet: peft4j trains "
                    + "the LoRA weights only, never the base model's biases", "use");
            default -> throw new Invalid(Field.BIAS, "must be one of none, all, lora_only (got '" + bias
                    + "'); peft4j supports none", "use");
        }
        if (loraBias) throw new Invalid(Field.LORA_BIAS, "= true (a bias on LoRA B) is not supported yet", "use");
        if (targetModules instanceof TargetModules.Regex rx && rx.pattern().equalsIgnoreCase(TargetModules.ALL_LINEAR_SHORTHAND))
            targetModules = TargetModules.ALL_LINEAR;
        if (excludeModules instanceof TargetModules.AllLinear)
            throw new Peft4jException("lora.exclude_modules cannot be all-linear; list module names or give a regex");

        layersToTransform = layersToTransform == null ? List.of() : List.copyOf(checkedLayers(layersToTransform));
        layersPattern = layersPattern == null ? List.of() : List.copyOf(layersPattern);
        for (String p : layersPattern) {
            if (p == null || p.isEmpty()) throw new Peft4jException("lora.layers_pattern entries must be non-empty (got " + layersPattern + "); e.g. layers");
            TargetModules.compile(p, "lora.layers_pattern");
        }
        boolean stringTargets = targetModules instanceof TargetModules.Regex || targetModules instanceof TargetModules.AllLinear;
        if (stringTargets && !layersToTransform.isEmpty())
            throw new Peft4jException("lora.layers_to_transform cannot be used when target_modules is a string ('" + targetModules
                    + "'), as in PEFT; list module names instead, e.g. --lora.target-modules q_proj,v_proj");
        if (stringTargets && !layersPattern.isEmpty())
            throw new Peft4jException("lora.layers_pattern cannot be used when target_modules is a string ('" + targetModules
                    + "'), as in PEFT; list module names instead, e.g. --lora.target-modules q_proj,v_proj");
        if (!layersPattern.isEmpty() && layersToTransform.isEmpty())
            throw new Peft4jException("lora.layers_pattern " + layersPattern + " is given but lora.layers_to_transform is not; "
                    + "give the layer indices too, e.g. --lora.layers-to-transform 0,1");

        rankPattern = orderedCopy(rankPattern);
        for (Map.Entry<String, Integer> e : rankPattern.entrySet()) {
            PeftRules.patternKeyRegex(e.getKey());
            if (e.getValue() == null || e.getValue() <= 0)
                throw new Invalid(Field.RANK_PATTERN, "entry '" + e.getKey() + "' must be > 0 (got " + e.getValue() + ")", "e.g.");
        }
        alphaPattern = orderedCopy(alphaPattern);
        for (Map.Entry<String, Double> e : alphaPattern.entrySet()) {
            PeftRules.patternKeyRegex(e.getKey());
            if (e.getValue() == null || !Double.isFinite(e.getValue()))
                throw new Invalid(Field.ALPHA_PATTERN, "entry '" + e.getKey() + "' must be a finite number (got " + e.getValue() + ")", "e.g.");
        }
        modulesToSave = modulesToSave == null ? List.of() : new ArrayList<>(modulesToSave);
        for (String m : modulesToSave) {
            if (m == null || m.isBlank())
                throw new Peft4jException("lora.modules_to_save entries must be non-empty module names (got " + modulesToSave + "); e.g. lm_head");
            TargetModules.compile("(^|.*\\.)" + m + "($|\\..*)", "lora.modules_to_save entry '" + m + "' (PEFT uses it in a regex)");
        }
        modulesToSave = List.copyOf(modulesToSave);
    }

    @Override public String peftType() { return PEFT_TYPE; }

    @Override public String methodName() { return useDora ? "DoRA" : "LoRA"; }

    /** adapter_config.json as PEFT writes it (LoraConfig.to_dict), without base_model_name_or_path. */
    @Override public Map<String, Object> toPeftJson() {
        Map<String, Object> m = new java.util.TreeMap<>();
        m.put("alpha_pattern", alphaPattern);
        m.put("auto_mapping", null);
        m.put("bias", bias);
        m.put("eva_config", null);                                     // PEFT 0.14 writes it (EVA init is not supported)
        m.put("exclude_modules", excludeModules == null ? null : excludeModules.toPeft());
        m.put("fan_in_fan_out", fanInFanOut);
        m.put("inference_mode", true);
        m.put("init_lora_weights", initLoraWeights.peftValue());
        m.put("layer_replication", null);
        m.put("layers_pattern", layersPattern.isEmpty() ? null : layersPattern.size() == 1 ? layersPattern.get(0) : layersPattern);
        m.put("layers_to_transform", layersToTransform.isEmpty() ? null : layersToTransform);
        m.put("loftq_config", Map.of());
        m.put("lora_alpha", integral(loraAlpha));
        m.put("lora_bias", loraBias);
        m.put("lora_dropout", (double) loraDropout);
        m.put("megatron_config", null);
        m.put("megatron_core", "megatron.core");
        m.put("modules_to_save", modulesToSave.isEmpty() ? null : modulesToSave);
        m.put("peft_type", PEFT_TYPE);
        m.put("r", r);
        m.put("rank_pattern", rankPattern);
        m.put("revision", null);
        m.put("target_modules", targetModules == null ? null : targetModules.toPeft());
        m.put("task_type", "CAUSAL_LM");
        m.put("use_dora", useDora);
        m.put("use_rslora", useRslora);
        return m;
    }

    @Override public String describe() {
        return (useDora ? "DoRA" : "LoRA") + ", r = " + r + ", alpha = " + integral(loraAlpha) + (useRslora ? " (rsLoRA)" : "") + ", dropout = " + loraDropout;
    }

    /** PEFT writes lora_alpha as the int the user gave; keep whole numbers integral. */
    static Object integral(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? (Object) (long) v : (Object) v;
    }

    /** The scalar fields whose errors name the interface they were set through. */
    public enum Field {
        //          adapter_config.json  builder method         CLI flag            example: file / builder / CLI
        R("r", "r(int)", "--lora.r", "8", "8", "8"),
        ALPHA("lora_alpha", "alpha(double)", "--lora.alpha", "16", "16", "16"),
        DROPOUT("lora_dropout", "dropout(float)", "--lora.dropout", "0.05", "0.05f", "0.05"),
        BIAS("bias", "bias(String)", "--lora.bias", "\"none\"", "\"none\"", "none"),
        USE_DORA("use_dora", "useDora(boolean)", null, "false", "false", null),
        LORA_BIAS("lora_bias", "loraBias(boolean)", null, "false", "false", null),
        RANK_PATTERN("rank_pattern", "rankPattern(String, int)", null, "{\"q_proj\": 16}", "\"q_proj\", 16", null),
        ALPHA_PATTERN("alpha_pattern", "alphaPattern(String, double)", null, "{\"q_proj\": 32}", "\"q_proj\", 32", null);

        final String peft, builder, cli, fileExample, apiExample, cliExample;

        Field(String peft, String builder, String cli, String fileExample, String apiExample, String cliExample) {
            this.peft = peft; this.builder = builder; this.cli = cli;
            this.fileExample = fileExample; this.apiExample = apiExample; this.cliExample = cliExample;
        }

        /** The field's name in adapter_config.json (PEFT's LoraConfig). */
        public String peftName() { return peft; }
    }

    /**
     * An invalid field value. Its message names the Java API (LoraConfig.builder() methods); code
     * that read the value from a file or a command line rethrows it naming that instead:
     * {@link #inFile(java.nio.file.Path)}, {@link #onCommandLine()}.
     */
    public static final class Invalid extends Peft4jException {
        private final Field field;
        private final String problem;   // "must be > 0 (got 0)"
        private final String verb;      // "e.g." or "use"

        Invalid(Field field, String problem, String verb) {
            super("LoraConfig " + field.builder.substring(0, field.builder.indexOf('(')) + " " + problem + "; " + verb
                    + " LoraConfig.builder()." + field.builder.substring(0, field.builder.indexOf('(') + 1)
                    + field.apiExample + ")");
            this.field = field;
            this.problem = problem;
            this.verb = verb;
        }

        private Invalid(Invalid base, String message) {
            super(message, base);
            this.field = base.field;
            this.problem = base.problem;
            this.verb = base.verb;
        }

        public Field field() { return field; }

        /** The same error for a value read from an adapter_config.json: names the file and PEFT's field. */
        public Invalid inFile(java.nio.file.Path file) {
            return new Invalid(this, file + ": \"" + field.peft + "\" " + problem + "; " + verb + " \"" + field.peft
                    + "\": " + field.fileExample + " in the file");
        }

        /** The same error for a value given on the command line: names the CLI flag. */
        public Invalid onCommandLine() {
            if (field.cli == null) return new Invalid(this, "lora." + field.peft + " " + problem + "; " + verb + " "
                    + field.fileExample);
            return new Invalid(this, field.cli + " " + problem + "; " + verb + " " + field.cli + " " + field.cliExample);
        }
    }

    /** PEFT's defaults: r 8, alpha 8, no dropout, the model type's default targets, B = 0 init. */
    public static LoraConfig defaults() { return builder().build(); }

    public static Builder builder() { return new Builder(); }

    /** A builder holding this configuration's values. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.r = r; b.loraAlpha = loraAlpha; b.loraDropout = loraDropout; b.targetModules = targetModules;
        b.excludeModules = excludeModules; b.useRslora = useRslora; b.initLoraWeights = initLoraWeights; b.bias = bias;
        b.layersToTransform = layersToTransform; b.layersPattern = layersPattern; b.rankPattern = rankPattern;
        b.alphaPattern = alphaPattern; b.modulesToSave = modulesToSave; b.fanInFanOut = fanInFanOut;
        b.useDora = useDora; b.loraBias = loraBias;
        return b;
    }

    /** The scaling PEFT uses for rank r and alpha: alpha / r, or alpha / √r with use_rslora (lora/layer.py update_layer). */
    public double scaling(int rank, double alpha) { return useRslora ? alpha / Math.sqrt(rank) : alpha / rank; }

    private static <V> Map<String, V> orderedCopy(Map<String, V> m) {
        if (m == null || m.isEmpty()) return Map.of();
        return Collections.unmodifiableMap(new LinkedHashMap<>(m));
    }

    /** Fluent construction with PEFT's defaults. */
    public static final class Builder {
        private int r = 8;
        private double loraAlpha = 8;
        private float loraDropout = 0f;
        private TargetModules targetModules;
        private TargetModules excludeModules;
        private boolean useRslora;
        private InitLoraWeights initLoraWeights = InitLoraWeights.DEFAULT;
        private String bias = "none";
        private List<Integer> layersToTransform = List.of();
        private List<String> layersPattern = List.of();
        private Map<String, Integer> rankPattern = new LinkedHashMap<>();
        private Map<String, Double> alphaPattern = new LinkedHashMap<>();
        private List<String> modulesToSave = List.of();
        private boolean fanInFanOut;
        private boolean useDora;
        private boolean loraBias;

        private Builder() {}

        public Builder r(int r) { this.r = r; return this; }
        public Builder alpha(double alpha) { this.loraAlpha = alpha; return this; }
        public Builder dropout(float dropout) { this.loraDropout = dropout; return this; }
        public Builder targetModules(TargetModules t) { this.targetModules = t; return this; }
        public Builder targetModules(String... names) { this.targetModules = TargetModules.names(names); return this; }
        public Builder targetRegex(String regex) { this.targetModules = TargetModules.regex(regex); return this; }
        public Builder allLinear() { this.targetModules = TargetModules.ALL_LINEAR; return this; }
        public Builder excludeModules(TargetModules t) { this.excludeModules = t; return this; }
        public Builder useRslora(boolean v) { this.useRslora = v; return this; }
        public Builder init(InitLoraWeights v) { this.initLoraWeights = v; return this; }
        public Builder bias(String v) { this.bias = v; return this; }
        public Builder layersToTransform(Integer... layers) { this.layersToTransform = List.of(layers); return this; }
        public Builder layersToTransform(List<Integer> layers) { this.layersToTransform = layers; return this; }
        public Builder layersPattern(String... patterns) { this.layersPattern = List.of(patterns); return this; }
        public Builder layersPattern(List<String> patterns) { this.layersPattern = patterns; return this; }
        /** Adds a rank_pattern entry; earlier entries take precedence over later ones that also match. */
        public Builder rankPattern(String key, int rank) { this.rankPattern = mutable(rankPattern); rankPattern.put(key, rank); return this; }
        public Builder rankPattern(Map<String, Integer> m) { this.rankPattern = m; return this; }
        /** Adds an alpha_pattern entry; earlier entries take precedence over later ones that also match. */
        public Builder alphaPattern(String key, double alpha) { this.alphaPattern = mutable(alphaPattern); alphaPattern.put(key, alpha); return this; }
        public Builder alphaPattern(Map<String, Double> m) { this.alphaPattern = m; return this; }
        public Builder modulesToSave(String... names) { this.modulesToSave = List.of(names); return this; }
        public Builder modulesToSave(List<String> names) { this.modulesToSave = names; return this; }
        public Builder fanInFanOut(boolean v) { this.fanInFanOut = v; return this; }
        public Builder useDora(boolean v) { this.useDora = v; return this; }
        public Builder loraBias(boolean v) { this.loraBias = v; return this; }

        public LoraConfig build() {
            return new LoraConfig(r, loraAlpha, loraDropout, targetModules, excludeModules, useRslora, initLoraWeights, bias,
                    layersToTransform, layersPattern, rankPattern, alphaPattern, modulesToSave, fanInFanOut, useDora, loraBias);
        }

        private static <V> Map<String, V> mutable(Map<String, V> m) {
            return m == null ? new LinkedHashMap<>() : new LinkedHashMap<>(m);   // never mutate a caller's map
        }
    }

    /** A copy of the layer list that rejects nulls with a clear message. */
    private static List<Integer> checkedLayers(List<Integer> in) {
        List<Integer> out = new ArrayList<>();
        for (Integer i : in) {
            if (i == null) throw new Peft4jException("lora.layers_to_transform must not contain null (got " + in + ")");
            out.add(i);
        }
        return out;
    }
}
