/*
 * TargetModules: which modules LoRA attaches to — the three forms HF PEFT's LoraConfig.target_modules
 * takes (peft/tuners/lora/config.py, matched in peft/tuners/tuners_utils.py check_target_module_exists):
 *   - Names  (a Python list): a module matches when its full name equals an entry or ends with "." + entry
 *            ("q_proj" matches model.layers.0.self_attn.q_proj, "proj" does not);
 *   - Regex  (a Python str):  the whole module name must match (re.fullmatch);
 *   - AllLinear ("all-linear", any case): every Linear / Conv1D except the output head (lm_head),
 *            as PEFT's _maybe_include_all_linear_layers expands it.
 * The same Names/Regex pair also serves exclude_modules.
 * Constraints: immutable; regexes are compiled once here so a bad pattern fails at configuration time.
 * Java's regex dialect equals Python's for the patterns module names need (no (?P<name>) groups).
 */
package dev.peft4j.tuner;

import dev.peft4j.Peft4jException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

public sealed interface TargetModules permits TargetModules.Names, TargetModules.Regex, TargetModules.AllLinear {
    /** PEFT's INCLUDE_LINEAR_LAYERS_SHORTHAND (peft/utils/constants.py), compared case-insensitively. */
    String ALL_LINEAR_SHORTHAND = "all-linear";

    AllLinear ALL_LINEAR = new AllLinear();

    /** A list of module names or dotted suffixes (PEFT: exact match or endswith("." + entry)). Duplicates dropped. */
    record Names(List<String> names) implements TargetModules {
        public Names {
            LinkedHashSet<String> set = new LinkedHashSet<>();
            for (String n : names) {
                if (n == null || n.isBlank())
                    throw new Peft4jException("lora.target_modules entries must be non-empty module names (got "
                            + names + "); e.g. q_proj,v_proj");
                set.add(n);
            }
            names = List.copyOf(set);
        }

        @Override public Object toPeft() { return names; }

        @Override public String toString() { return String.join(",", names); }
    }

    /** A regular expression that must match the whole module name (PEFT: re.fullmatch). */
    record Regex(String pattern) implements TargetModules {
        public Regex {
            if (pattern == null || pattern.isEmpty())
                throw new Peft4jException("lora.target_modules regex must not be empty; e.g. .*\\.(q|v)_proj");
            compile(pattern, "lora.target_modules");
        }

        /** True when the whole name matches, as Python's re.fullmatch. */
        public boolean fullMatch(String name) { return Pattern.compile(pattern).matcher(name).matches(); }

        @Override public Object toPeft() { return pattern; }

        @Override public String toString() { return pattern; }
    }

    /** Every linear layer except the output head. */
    record AllLinear() implements TargetModules {
        @Override public Object toPeft() { return ALL_LINEAR_SHORTHAND; }

        @Override public String toString() { return ALL_LINEAR_SHORTHAND; }
    }

    /** The value PEFT stores in adapter_config.json: a list of names, or a string. */
    Object toPeft();

    public static TargetModules names(String... names) { return new Names(List.of(names)); }

    public static TargetModules names(Collection<String> names) { return new Names(new ArrayList<>(names)); }

    /** A regex, except PEFT's "all-linear" shorthand (any case), which becomes {@link #ALL_LINEAR}. */
    public static TargetModules regex(String pattern) {
        if (pattern != null && pattern.equalsIgnoreCase(ALL_LINEAR_SHORTHAND)) return ALL_LINEAR;
        return new Regex(pattern);
    }

    public static TargetModules allLinear() { return ALL_LINEAR; }

    /**
     * From the value of target_modules in an adapter_config.json (already parsed): a string is a regex
     * (or "all-linear"), a collection is a list of names.
     */
    public static TargetModules fromPeft(Object value) {
        if (value instanceof String s) return regex(s);
        if (value instanceof Collection<?> c) {
            List<String> out = new ArrayList<>();
            for (Object o : c) {
                if (!(o instanceof String s))
                    throw new Peft4jException("target_modules entries must be strings (got " + o + " in " + c + ")");
                out.add(s);
            }
            return new Names(out);
        }
        throw new Peft4jException("target_modules must be a list of module names or a regex string (got " + value + ")");
    }

    /**
     * From a command-line value: "all-linear", "regex:PATTERN" for a regex, otherwise a comma-separated
     * list of names ("q_proj,v_proj").
     */
    public static TargetModules parse(String spec) {
        if (spec == null || spec.isBlank())
            throw new Peft4jException("lora.target_modules is empty; try --lora.target-modules q_proj,v_proj or all-linear");
        String s = spec.strip();
        if (s.equalsIgnoreCase(ALL_LINEAR_SHORTHAND)) return ALL_LINEAR;
        if (s.startsWith("regex:")) return regex(s.substring("regex:".length()));
        List<String> names = new ArrayList<>();
        for (String part : s.split(",")) if (!part.isBlank()) names.add(part.strip());
        return new Names(names);
    }

    /** Compiles a user regex, turning a syntax error into an actionable message. */
    static Pattern compile(String regex, String what) {
        try {
            return Pattern.compile(regex);
        } catch (PatternSyntaxException e) {
            throw new Peft4jException(what + ": '" + regex + "' is not a valid regular expression ("
                    + e.getDescription() + " near index " + e.getIndex() + ")", e);
        }
    }
}
