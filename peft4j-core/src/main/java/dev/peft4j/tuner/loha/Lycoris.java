/*
 * Lycoris: what HF PEFT's LyCORIS tuners share (peft/tuners/lycoris_utils.py), used by LoHa and
 * LoKr: the config fields of LycorisConfig (rank_pattern, alpha_pattern) and of both configs
 * (target_modules is required: LycorisTuner._prepare_adapter_config has no per-model defaults),
 * the target selection (only torch.nn.Linear layers: a GPT-2 Conv1D is refused as PEFT refuses it),
 * the per-module r / alpha lookup of _create_and_replace, kaiming_uniform_(a=√5) initialisation,
 * and the training-time dropouts of LycorisLayer.forward / get_delta_weight:
 *   module_dropout  the whole adapter is skipped for a step when a uniform draw is not > p;
 *   rank_dropout    rows (output features) of ΔW are kept when a uniform draw is > p, the kept
 *                   mask optionally divided by its mean (LoHa always, LoKr with rank_dropout_scale).
 * Training means a Tape is recording (as LoRA's dropout); the draws come from the tape's stream.
 */
package dev.peft4j.tuner.loha;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tape;
import dev.peft4j.tuner.lora.LoraPlan;
import dev.peft4j.tuner.ModelModules;
import dev.peft4j.tuner.PeftRules;
import dev.peft4j.tuner.TargetModules;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

public final class Lycoris {
    private Lycoris() {}

    /** The fields LoHaConfig and LoKrConfig share, validated once. */
    public record Common(int r, double alpha, double rankDropout, double moduleDropout, TargetModules targetModules,
                         TargetModules excludeModules, List<Integer> layersToTransform, List<String> layersPattern,
                         Map<String, Integer> rankPattern, Map<String, Double> alphaPattern, List<String> modulesToSave,
                         boolean useEffectiveConv2d) {
        public Common(String method, int r, double alpha, double rankDropout, double moduleDropout, TargetModules targetModules,
                      TargetModules excludeModules, List<Integer> layersToTransform, List<String> layersPattern,
                      Map<String, Integer> rankPattern, Map<String, Double> alphaPattern, List<String> modulesToSave,
                      boolean useEffectiveConv2d) {
            this(r, alpha, rankDropout, moduleDropout, targetModules, excludeModules, layersToTransform, layersPattern, rankPattern,
                    alphaPattern, modulesToSave, useEffectiveConv2d);
            String m = method;
            if (r <= 0) throw new Peft4jException(m + ".r must be a positive integer (PEFT: `r` should be a positive integer value) "
                    + "but is " + r + "; e.g. 8");
            if (!Double.isFinite(alpha)) throw new Peft4jException(m + ".alpha must be a finite number (got " + alpha + "); e.g. 8");
            if (!(rankDropout >= 0 && rankDropout <= 1))
                throw new Peft4jException(m + ".rank_dropout must be in [0, 1] (got " + rankDropout + "); e.g. 0.0");
            if (!(moduleDropout >= 0 && moduleDropout <= 1))
                throw new Peft4jException(m + ".module_dropout must be in [0, 1] (got " + moduleDropout + "); e.g. 0.0");
            if (targetModules == null)
                throw new Peft4jException(m + ".target_modules is required (PEFT: \"Please specify `target_modules` in `peft_config`\": "
                        + "the LyCORIS methods have no default targets per model type); e.g. q_proj,v_proj or all-linear");
            if (excludeModules instanceof TargetModules.AllLinear)
                throw new Peft4jException(m + ".exclude_modules cannot be all-linear; list module names or give a regex");
            if (!layersPattern.isEmpty() && layersToTransform.isEmpty())
                throw new Peft4jException(m + ".layers_pattern " + layersPattern + " is given but layers_to_transform is not (PEFT: "
                        + "\"When `layers_pattern` is specified, `layers_to_transform` must also be specified.\"); give the layer indices too");
            for (int l : layersToTransform)
                if (l < 0) throw new Peft4jException(m + ".layers_to_transform entries must be >= 0 (got " + layersToTransform + ")");
            for (Map.Entry<String, Integer> e : rankPattern.entrySet()) {
                patternRegex(m, e.getKey());
                if (e.getValue() == null || e.getValue() <= 0)
                    throw new Peft4jException(m + ".rank_pattern entry '" + e.getKey() + "' must be a positive rank (got " + e.getValue() + ")");
            }
            for (Map.Entry<String, Double> e : alphaPattern.entrySet()) {
                patternRegex(m, e.getKey());
                if (e.getValue() == null || !Double.isFinite(e.getValue()))
                    throw new Peft4jException(m + ".alpha_pattern entry '" + e.getKey() + "' must be a finite number (got " + e.getValue() + ")");
            }
            dev.peft4j.tuner.ModulesToSave.validate(modulesToSave, m);
        }

        /** Canonical copies (null lists / maps become empty, insertion order kept). */
        public Common {
            layersToTransform = layersToTransform == null ? List.of() : List.copyOf(layersToTransform);
            layersPattern = layersPattern == null ? List.of() : List.copyOf(layersPattern);
            rankPattern = rankPattern == null ? Map.of() : java.util.Collections.unmodifiableMap(new LinkedHashMap<>(rankPattern));
            alphaPattern = alphaPattern == null ? Map.of() : java.util.Collections.unmodifiableMap(new LinkedHashMap<>(alphaPattern));
            modulesToSave = modulesToSave == null ? List.of() : List.copyOf(modulesToSave);
        }

        /** The fields of LycorisConfig's to_dict these methods share (sorted later by the caller's TreeMap). */
        public void putPeftJson(Map<String, Object> m) {
            m.put("alpha", integral(alpha));
            m.put("alpha_pattern", alphaPatternJson());
            m.put("auto_mapping", null);
            m.put("exclude_modules", excludeModules == null ? null : excludeModules.toPeft());
            m.put("inference_mode", true);
            m.put("layers_pattern", layersPattern.isEmpty() ? null : layersPattern.size() == 1 ? layersPattern.get(0) : layersPattern);
            m.put("layers_to_transform", layersToTransform.isEmpty() ? null : layersToTransform);
            m.put("module_dropout", moduleDropout);
            m.put("modules_to_save", modulesToSave.isEmpty() ? null : modulesToSave);
            m.put("r", r);
            m.put("rank_dropout", rankDropout);
            m.put("rank_pattern", new LinkedHashMap<>(rankPattern));
            m.put("revision", null);
            m.put("target_modules", targetModules.toPeft());
            m.put("task_type", "CAUSAL_LM");
            m.put("use_effective_conv2d", useEffectiveConv2d);
        }

        private Map<String, Object> alphaPatternJson() {
            Map<String, Object> a = new LinkedHashMap<>();
            alphaPattern.forEach((k, v) -> a.put(k, integral(v)));
            return a;
        }

        /**
         * _create_and_replace's lookup: the FIRST key of rank_pattern then alpha_pattern (in that order)
         * for which re.match("(.*\.)?KEY$", module) holds names the entry of both maps; none: r and alpha.
         */
        public int rank(String module) {
            Integer v = rankPattern.get(patternKey(module));
            return v == null ? r : v;
        }

        public double alpha(String module) {
            Double v = alphaPattern.get(patternKey(module));
            return v == null ? alpha : v;
        }

        private String patternKey(String module) {
            for (String k : rankPattern.keySet()) if (Pattern.compile("(.*\\.)?" + k + "$").matcher(module).lookingAt()) return k;
            for (String k : alphaPattern.keySet()) if (Pattern.compile("(.*\\.)?" + k + "$").matcher(module).lookingAt()) return k;
            return module.substring(module.lastIndexOf('.') + 1);
        }

        /** target_modules as PEFT saves it after _maybe_include_all_linear_layers (all-linear: the adapted base names). */
        public TargetModules resolvedTargets(List<ModelModules.Module> targeted) {
            if (!(targetModules instanceof TargetModules.AllLinear)) return targetModules;
            LinkedHashSet<String> names = new LinkedHashSet<>();
            for (ModelModules.Module t : targeted) names.add(t.name().substring(t.name().lastIndexOf('.') + 1));
            return TargetModules.names(names);
        }
    }

    private static void patternRegex(String method, String key) {
        if (key == null || key.isEmpty()) throw new Peft4jException(method + " rank_pattern / alpha_pattern keys must be non-empty");
        try {
            Pattern.compile("(.*\\.)?" + key + "$");
        } catch (PatternSyntaxException e) {
            throw new Peft4jException(method + " rank_pattern / alpha_pattern key '" + key + "' is not a valid regex (" + e.getDescription()
                    + "); PEFT matches it as (.*\\.)?KEY$ against module names, e.g. q_proj or layers\\.0\\.self_attn\\.q_proj");
        }
    }

    /** An int-valued double as PEFT's int field shows it (8, not 8.0). */
    public static Object integral(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? (Object) (long) v : (Object) v;
    }

    /** The modules check_target_module_exists selects; each must be a torch.nn.Linear (PEFT's layers_mapping). */
    public static List<ModelModules.Module> targets(String method, ModelModules mm, Common c) {
        List<ModelModules.Module> out = new ArrayList<>();
        for (ModelModules.Module m : mm.modules()) {
            if (PeftRules.check(c.excludeModules(), c.modulesToSave(), c.layersToTransform(), c.layersPattern(), c.targetModules(), m)
                    != PeftRules.Match.TARGETED) continue;
            if (!m.linear() || m.conv1d())
                throw new Peft4jException(method + " target_modules '" + c.targetModules() + "' matches " + m.name() + " (" + m.type()
                        + "); PEFT's " + method + " supports torch.nn.Linear (and Conv2d) layers only (\"Target module of type "
                        + m.type() + " not supported\"), so GPT-2's Conv1D layers cannot be adapted. Narrow the targets; "
                        + LoraPlan.available(mm));
            out.add(m);
        }
        if (out.isEmpty())
            throw new Peft4jException("Target modules " + c.targetModules() + " not found in the base model (" + mm.config().family().modelType
                    + "). Please check the target modules and try again. " + LoraPlan.available(mm));
        return out;
    }

    /** torch's kaiming_uniform_(a=√5) on a (rows, cols) tensor: U(−1/√cols, 1/√cols) (fan_in = cols). */
    public static float[] kaimingUniform(int rows, int cols, SplittableRandom rnd) {
        float[] x = new float[rows * cols];
        dev.peft4j.tuner.lora.Lora.uniform(x, 1.0 / Math.sqrt(cols), rnd);
        return x;
    }

    /** module_dropout while training: true when this step skips the adapter (PEFT runs it when torch.rand(1) > p). */
    public static boolean skipModule(Tape tape, double moduleDropout) {
        return tape != null && moduleDropout > 0 && !(tape.rng().nextDouble() > moduleDropout);
    }

    /**
     * rank_dropout's row mask while training (null: no dropout): 1 where a uniform draw is > p, else 0;
     * with scale, divided by the mask's mean. When every row drops PEFT divides 0 by 0 (NaN weights);
     * peft4j then adds nothing for that step (an all-zero mask).
     */
    public static float[] rankDropoutMask(Tape tape, double rankDropout, int rows, boolean scale) {
        if (tape == null || rankDropout <= 0) return null;
        float[] mask = new float[rows];
        int kept = 0;
        for (int o = 0; o < rows; o++) if (tape.rng().nextDouble() > rankDropout) { mask[o] = 1f; kept++; }
        if (scale && kept > 0) {
            float inv = (float) rows / kept;
            for (int o = 0; o < rows; o++) mask[o] *= inv;
        }
        return mask;
    }

    // ---- adapter_config.json readers: errors name the file and the field ----

    public static Common readCommon(String method, JsonNode c, Path file) {
        ObjectMapper om = new ObjectMapper();
        TargetModules targets = c.hasNonNull("target_modules") ? TargetModules.fromPeft(om.convertValue(c.get("target_modules"), Object.class)) : null;
        TargetModules exclude = c.hasNonNull("exclude_modules") ? TargetModules.fromPeft(om.convertValue(c.get("exclude_modules"), Object.class)) : null;
        List<Integer> layers = new ArrayList<>();
        if (c.hasNonNull("layers_to_transform")) {
            JsonNode l = c.get("layers_to_transform");
            if (l.isArray()) l.forEach(x -> layers.add(intOf(x, "layers_to_transform", file)));
            else layers.add(intOf(l, "layers_to_transform", file));
        }
        List<String> pattern = new ArrayList<>();
        if (c.hasNonNull("layers_pattern")) {
            JsonNode p = c.get("layers_pattern");
            if (p.isArray()) p.forEach(x -> pattern.add(x.asText()));
            else pattern.add(p.asText());
        }
        Map<String, Integer> rp = new LinkedHashMap<>();
        if (c.hasNonNull("rank_pattern")) c.get("rank_pattern").properties().forEach(e -> rp.put(e.getKey(), intOf(e.getValue(), "rank_pattern", file)));
        Map<String, Double> ap = new LinkedHashMap<>();
        if (c.hasNonNull("alpha_pattern")) c.get("alpha_pattern").properties().forEach(e -> ap.put(e.getKey(), num(e.getValue(), "alpha_pattern", file)));
        List<String> mts = new ArrayList<>();
        if (c.hasNonNull("modules_to_save")) c.get("modules_to_save").forEach(x -> mts.add(x.asText()));
        int r = c.hasNonNull("r") ? intOf(c.get("r"), "r", file) : 8;
        double alpha = c.hasNonNull("alpha") ? num(c.get("alpha"), "alpha", file) : 8;
        double rd = c.hasNonNull("rank_dropout") ? num(c.get("rank_dropout"), "rank_dropout", file) : 0;
        double md = c.hasNonNull("module_dropout") ? num(c.get("module_dropout"), "module_dropout", file) : 0;
        try {
            return new Common(method, r, alpha, rd, md, targets, exclude, layers, pattern, rp, ap, mts, bool(c, "use_effective_conv2d", false, file));
        } catch (Peft4jException e) {
            throw new Peft4jException(file + ": " + e.getMessage());
        }
    }

    public static boolean bool(JsonNode c, String key, boolean dflt, Path file) {
        if (!c.hasNonNull(key)) return dflt;
        if (!c.get(key).isBoolean()) throw new Peft4jException(file + ": \"" + key + "\" must be true or false (got " + c.get(key) + ")");
        return c.get(key).asBoolean();
    }

    public static int intOf(JsonNode v, String key, Path file) {
        if (!v.isIntegralNumber() || !v.canConvertToInt())
            throw new Peft4jException(file + ": \"" + key + "\" must be an integer (got " + v + ")");
        return v.asInt();
    }

    public static double num(JsonNode v, String key, Path file) {
        if (!v.isNumber()) throw new Peft4jException(file + ": \"" + key + "\" must be a number (got " + v + ")");
        return v.asDouble();
    }
}
