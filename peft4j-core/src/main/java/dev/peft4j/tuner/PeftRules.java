/*
 * PeftRules: HF PEFT's module-selection rules, one static method per PEFT function, so that the same
 * config selects the same modules and ranks here as in PEFT. Sources (huggingface/peft):
 *   - tuners/tuners_utils.py check_target_module_exists: exclude_modules first (regex: re.fullmatch;
 *     list: exact or endswith("." + e)); then modules_to_save are excluded (re.match of
 *     (^|.*\.){m}($|\..*)); then a str target is a regex that must re.fullmatch the whole name; a list
 *     matches exactly (key in target_modules — and then layers_to_transform is NOT applied) or by
 *     suffix (endswith("." + t)), and only the suffix branch applies layers_to_transform: the layer
 *     index is the first number in re.match(r".*?\.[^.]*\.(\d+)\.", key), or with layers_pattern
 *     re.match(rf".*?\.{pattern}\.(\d+)\.", key) for each pattern in turn; no index means no match.
 *   - tuners_utils.py _maybe_include_all_linear_layers: "all-linear" = every Linear/Conv1D except the
 *     output embedding (lm_head); PEFT then replaces target_modules by that set of full names.
 *   - utils/other.py get_pattern_key: rank_pattern / alpha_pattern keys are tried in insertion order and
 *     the first whose re.match(rf"(.*\.)?({key})$", name) succeeds wins; rank and alpha are resolved
 *     independently (lora/model.py _create_and_replace).
 *   - utils/other.py _set_trainable: a module is wrapped for modules_to_save when its name ends with an
 *     entry — a plain endswith, without a "." boundary ("head" matches lm_head).
 *   - utils/constants.py TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING: default targets.
 * Python's re.match anchors at the start only, which is Java's Matcher.lookingAt(); re.fullmatch is
 * Matcher.matches().
 */
package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.LoraConfig;

import dev.peft4j.Peft4jException;
import dev.peft4j.model.ModelConfig;
import java.util.Collection;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

public final class PeftRules {
    private PeftRules() {}

    /** What check_target_module_exists says about one module name. */
    public enum Match { TARGETED, EXCLUDED, UNMATCHED }

    private static final Pattern LAYER_INDEX = Pattern.compile(".*?\\.[^.]*\\.(\\d+)\\.");

    /** PEFT's default LoRA targets for a model type (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING). */
    public static List<String> defaultTargetModules(ModelConfig.Family family) {
        return switch (family) {
            case LLAMA, MISTRAL, QWEN2, QWEN3, GEMMA2, GEMMA3_TEXT -> List.of("q_proj", "v_proj");
            case GPT2 -> List.of("c_attn");
            case SMOLLM3, OLMO2 -> throw noDefaultTargets("LoRA", family, "target_modules", "--lora.target-modules q_proj,v_proj (or all-linear)");
            case PHI3 -> throw noDefaultTargets("LoRA", family, "target_modules", "--lora.target-modules qkv_proj,o_proj,gate_up_proj,down_proj (Phi-3's fused attention and MLP projections) or all-linear");
        };
    }

    /**
     * What PEFT raises (_prepare_adapter_config) when its mapping has no entry for the model type and the
     * config names no modules, with peft4j's fix. what: "target_modules" or "feedforward_modules"; fix: an example option.
     */
    public static Peft4jException noDefaultTargets(String method, ModelConfig.Family family, String what, String fix) {
        return new Peft4jException(method + " has no default " + what.replace('_', ' ') + " for model type " + family.modelType
                + " (PEFT: Please specify `" + what + "` in `peft_config`); give them, e.g. " + fix);
    }

    /**
     * check_target_module_exists for one module. targets must be resolved (not null); AllLinear is
     * resolved through the module itself: linear and not the output head.
     */
    public static Match check(LoraConfig c, TargetModules targets, ModelModules.Module module) {
        return check(c.excludeModules(), c.modulesToSave(), c.layersToTransform(), c.layersPattern(), targets, module);
    }

    /** check() from the fields every method shares (exclude_modules, modules_to_save, layers_to_transform, layers_pattern). */
    public static Match check(TargetModules exclude, List<String> modulesToSave, List<Integer> layersToTransform,
                              List<String> layersPattern, TargetModules targets, ModelModules.Module module) {
        String key = module.name();
        if (exclude != null && matchesNamesOrRegex(exclude, key)) return Match.EXCLUDED;
        for (String m : modulesToSave) {
            Pattern saved;
            try {
                saved = Pattern.compile("(^|.*\\.)" + m + "($|\\..*)");
            } catch (PatternSyntaxException e) {
                throw new Peft4jException("modules_to_save entry '" + m + "' is not a valid module name or pattern ("
                        + e.getDescription() + "); expected a module name such as 'lm_head'");
            }
            if (saved.matcher(key).lookingAt()) return Match.EXCLUDED;
        }
        return switch (targets) {
            case TargetModules.AllLinear a -> module.linear() && !module.outputHead() ? Match.TARGETED : Match.UNMATCHED;
            case TargetModules.Regex rx -> rx.fullMatch(key) ? Match.TARGETED : Match.UNMATCHED;
            case TargetModules.Names n -> {
                if (n.names().contains(key)) yield Match.TARGETED;                // exact: layers_to_transform not applied
                boolean found = false;
                for (String t : n.names()) if (key.endsWith("." + t)) { found = true; break; }
                if (found && !layersToTransform.isEmpty()) {
                    Integer idx = layerIndex(key, layersPattern);
                    found = idx != null && layersToTransform.contains(idx);
                }
                yield found ? Match.TARGETED : Match.UNMATCHED;
            }
        };
    }

    /** Exclusion / target test shared by exclude_modules: regex full match, or exact / "." suffix. */
    public static boolean matchesNamesOrRegex(TargetModules t, String key) {
        return switch (t) {
            case TargetModules.Regex rx -> rx.fullMatch(key);
            case TargetModules.Names n -> {
                if (n.names().contains(key)) yield true;
                for (String e : n.names()) if (key.endsWith("." + e)) yield true;
                yield false;
            }
            case TargetModules.AllLinear a -> false;
        };
    }

    /** The layer index PEFT reads from a module name (null when it finds none). */
    public static Integer layerIndex(String key, List<String> layersPattern) {
        Matcher m = null;
        if (layersPattern == null || layersPattern.isEmpty()) {
            m = LAYER_INDEX.matcher(key);
            if (!m.lookingAt()) m = null;
        } else {
            for (String p : layersPattern) {
                Matcher mm;
                try {
                    mm = Pattern.compile(".*?\\." + p + "\\.(\\d+)\\.").matcher(key);
                } catch (PatternSyntaxException e) {
                    throw new Peft4jException("layers_pattern '" + p + "' is not a valid regular expression (" + e.getDescription()
                            + "); expected a module-list name such as 'layers' or 'h'");
                }
                if (mm.lookingAt()) { m = mm; break; }
            }
        }
        if (m == null) return null;
        // the digits are the last group: a layers_pattern with groups of its own shifts their number
        // (an alternation in the pattern can leave that group unmatched: then no layer index was found)
        String digits = m.group(m.groupCount());
        if (digits == null || digits.isEmpty() || !digits.chars().allMatch(c -> c >= '0' && c <= '9')) return null;
        if (digits.length() > 9) return Integer.MAX_VALUE;              // beyond any layers_to_transform entry
        return Integer.valueOf(digits);
    }

    /** get_pattern_key: the first key (in order) whose (.*\.)?(key)$ matches name, else name itself. */
    public static String patternKey(Collection<String> keys, String name) {
        for (String k : keys) if (patternKeyRegex(k).matcher(name).lookingAt()) return k;
        return name;
    }

    /** The regex get_pattern_key builds from a rank/alpha pattern key (validated). */
    public static Pattern patternKeyRegex(String key) {
        if (key == null || key.isEmpty()) throw new Peft4jException("rank_pattern / alpha_pattern keys must be non-empty");
        TargetModules.compile(key, "lora.rank_pattern / alpha_pattern key");
        return Pattern.compile("(.*\\.)?(" + key + ")$");
    }

    /** The rank PEFT gives this module: rank_pattern[get_pattern_key(...)] or r. */
    public static int rank(LoraConfig c, String module) {
        Integer v = c.rankPattern().get(patternKey(c.rankPattern().keySet(), module));
        return v == null ? c.r() : v;
    }

    /** The alpha PEFT gives this module: alpha_pattern[get_pattern_key(...)] or lora_alpha. */
    public static double alpha(LoraConfig c, String module) {
        Double v = c.alphaPattern().get(patternKey(c.alphaPattern().keySet(), module));
        return v == null ? c.loraAlpha() : v;
    }

    /** _set_trainable's test: the module name ends with one of the modules_to_save entries (no "." boundary). */
    public static boolean isModuleToSave(List<String> modulesToSave, String key) {
        for (String m : modulesToSave) if (key.endsWith(m)) return true;
        return false;
    }
}
