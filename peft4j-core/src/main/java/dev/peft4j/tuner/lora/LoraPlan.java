/*
 * LoraPlan: what a LoraConfig does to a model, decided from module names and shapes alone (no weights):
 * which modules get an adapter and with which rank / alpha / scaling, which are trained in full
 * (modules_to_save), and the parameter counts PEFT's print_trainable_parameters reports. Lora.apply
 * carries a plan out on a loaded model; on its own a plan sizes LoRA for any config.json (a 124M model
 * in microseconds).
 *
 * The selection follows PEFT's BaseTuner.inject_adapter (peft/tuners/tuners_utils.py): every module of
 * named_modules() is checked with check_target_module_exists (see PeftRules); a hit on a module that is
 * not a linear layer is refused (PEFT: "Target module ... is not supported"); no hit at all is an error
 * whose wording follows PEFT's ("Target modules ... not found in the base model"), plus the module names
 * this model has. fan_in_fan_out is corrected per module as PEFT's dispatch_default does (True for
 * GPT-2's Conv1D, False for Linear, with a warning), and the resolved config records the final value.
 *
 * Counting (peft_model.py get_nb_trainable_parameters): all params = every parameter of the PEFT model,
 * i.e. base parameters (tied embeddings once) + adapter A/B + the trainable copies modules_to_save makes
 * (ModulesToSaveWrapper keeps the original module and adds a deep copy); trainable = A/B + copies.
 * The summary line is print_trainable_parameters' format:
 *   f"trainable params: {t:,d} || all params: {a:,d} || trainable%: {100 * t / a:.4f}"
 */
package dev.peft4j.tuner.lora;

import dev.peft4j.tuner.ModelModules;
import dev.peft4j.tuner.ModulesToSave;
import dev.peft4j.tuner.PeftRules;
import dev.peft4j.tuner.TargetModules;

import dev.peft4j.Peft4jException;
import dev.peft4j.model.ModelConfig;
import dev.peft4j.tuner.ModelModules.Module;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

public record LoraPlan(LoraConfig config, List<Target> targets, List<ModuleToSave> modulesToSave,
                       long baseParameterCount, List<String> warnings) {

    /** One adapted module: A is (r, in), B is (out, r), forward adds scaling · B·A·x. */
    public record Target(String module, int in, int out, int r, double alpha, double scaling, boolean fanInFanOut) {
        public long parameterCount() { return (long) r * (in + out); }
    }

    /** One module trained in full: a trainable copy of its weight (out, in) and bias (out). */
    public record ModuleToSave(String module, int in, int out, boolean bias) {
        public long parameterCount() { return (long) in * out + (bias ? out : 0); }
    }

    public LoraPlan {
        targets = List.copyOf(targets);
        modulesToSave = List.copyOf(modulesToSave);
        warnings = List.copyOf(warnings);
    }

    /** Plans from config.json alone (shapes only). */
    public static LoraPlan of(ModelConfig model, LoraConfig config) { return of(ModelModules.of(model), config); }

    private static void alphaWarning(String what, double alpha, List<String> warnings) {
        if (alpha == 0) {
            warnings.add(what + " is 0: the LoRA scaling (alpha / r) is 0, so the adapter changes nothing and its "
                    + "weights get no gradient; PEFT accepts this silently. Use a positive alpha, e.g. 2 x r");
        } else if (alpha < 0) {
            warnings.add(what + " is " + alpha + " (negative): the LoRA update is subtracted (scaling alpha / r < 0). "
                    + "PEFT accepts it, but it is usually a typo; use a positive alpha, e.g. 2 x r");
        }
    }

    /** Plans over a module tree (see ModelModules.of for a loaded model). */
    public static LoraPlan of(ModelModules mm, LoraConfig cfg) {
        ModelConfig mc = mm.config();
        TargetModules targets = cfg.targetModules() != null ? cfg.targetModules()
                : TargetModules.names(PeftRules.defaultTargetModules(mc.family()));
        List<String> warnings = new ArrayList<>();
        List<Target> out = new ArrayList<>();
        int excluded = 0, unmatched = 0;
        boolean fanInFanOut = cfg.fanInFanOut();
        for (Module m : mm.modules()) {
            switch (PeftRules.check(cfg, targets, m)) {
                case EXCLUDED -> excluded++;
                case UNMATCHED -> unmatched++;
                case TARGETED -> {
                    if (!m.linear()) throw unsupportedTarget(mm, targets, m);
                    if (m.conv1d() != fanInFanOut) {          // lora/layer.py dispatch_default corrects the config
                        warnings.add("fan_in_fan_out is set to " + pyBool(fanInFanOut) + " but the target module " + m.name()
                                + " is `" + m.type() + "`. Setting fan_in_fan_out to " + pyBool(m.conv1d()) + ".");
                        fanInFanOut = m.conv1d();
                    }
                    int r = PeftRules.rank(cfg, m.name());
                    double alpha = PeftRules.alpha(cfg, m.name());
                    out.add(new Target(m.name(), m.in(), m.out(), r, alpha, cfg.scaling(r, alpha), m.conv1d()));
                }
            }
        }
        if (out.isEmpty()) throw nothingTargeted(mm, cfg, targets, excluded, unmatched);
        if (targets instanceof TargetModules.Names n)
            for (String t : n.names()) {
                boolean hit = false;
                for (Module m : mm.modules()) if (m.name().equals(t) || m.name().endsWith("." + t)) { hit = true; break; }
                if (!hit) warnings.add("target_modules entry '" + t + "' matches no module of this " + mc.family().modelType + " model");
            }

        patternWarnings("rank_pattern", cfg.rankPattern().keySet(), out, warnings);
        patternWarnings("alpha_pattern", cfg.alphaPattern().keySet(), out, warnings);
        // PEFT accepts any lora_alpha (scaling = lora_alpha / r, lora/layer.py update_layer) and says nothing.
        alphaWarning("lora_alpha", cfg.loraAlpha(), warnings);
        cfg.alphaPattern().forEach((k, a) -> alphaWarning("alpha_pattern['" + k + "']", a, warnings));

        Set<String> targeted = new LinkedHashSet<>();
        for (Target t : out) targeted.add(t.module());
        List<ModuleToSave> toSave = new ArrayList<>();            // the rules every method shares (ModulesToSave)
        for (ModulesToSave.Module m : ModulesToSave.select(mm, cfg.modulesToSave(), targeted, "lora", "LoRA"))
            toSave.add(new ModuleToSave(m.module(), m.in(), m.out(), m.bias()));

        TargetModules resolvedTargets = targets;
        if (targets instanceof TargetModules.AllLinear) {   // PEFT stores the expanded set of module names
            resolvedTargets = TargetModules.names(new ArrayList<>(targeted));
        }
        LoraConfig resolved = cfg.toBuilder().targetModules(resolvedTargets).fanInFanOut(fanInFanOut).build();
        return new LoraPlan(resolved, out, toSave, mm.baseParameterCount(), warnings);
    }

    /** The adapted module names, in module order. */
    public List<String> targetModuleNames() {
        List<String> names = new ArrayList<>();
        for (Target t : targets) names.add(t.module());
        return names;
    }

    /** Σ r·(in + out) over the adapted modules, + out per module with DoRA (its magnitude vector). */
    public long adapterParameterCount() {
        long n = 0;
        for (Target t : targets) n += t.parameterCount() + (config.useDora() ? t.out() : 0);
        return n;
    }

    /** Values in the trainable copies made for modules_to_save. */
    public long modulesToSaveParameterCount() {
        long n = 0;
        for (ModuleToSave m : modulesToSave) n += m.parameterCount();
        return n;
    }

    public long trainableParameterCount() { return adapterParameterCount() + modulesToSaveParameterCount(); }

    /** Base parameters + adapters + modules_to_save copies, as PEFT counts them. */
    public long allParameterCount() { return baseParameterCount + trainableParameterCount(); }

    /** print_trainable_parameters' line. */
    public String trainableSummary() { return formatTrainable(trainableParameterCount(), allParameterCount()); }

    /**
     * PEFT's print_trainable_parameters format. The percentage is 100·t/a in double precision (as
     * Python's int / int), printed like Python's :.4f (round half to even on the exact binary value).
     */
    public static String formatTrainable(long trainable, long all) {
        if (all <= 0) throw new IllegalArgumentException("all params must be > 0 (got " + all + ")");
        double pct = (double) (100L * trainable) / (double) all;
        String p = new BigDecimal(pct).setScale(4, RoundingMode.HALF_EVEN).toPlainString();
        return String.format(Locale.ROOT, "trainable params: %,d || all params: %,d || trainable%%: %s", trainable, all, p);
    }

    private static Peft4jException unsupportedTarget(ModelModules mm, TargetModules targets, Module m) {
        String why = m.type().equals("Embedding") ? "LoRA on embeddings is not supported yet"
                : "peft4j (like PEFT) can only put LoRA on linear layers (Linear, Conv1D), and " + m.type() + " is not one";
        return new Peft4jException("lora.target_modules '" + targets + "' matches " + m.name() + " (" + m.type() + "): " + why
                + ". Narrow the targets; " + available(mm));
    }

    private static Peft4jException nothingTargeted(ModelModules mm, LoraConfig cfg, TargetModules targets, int excluded, int unmatched) {
        String layers = "";
        if (!cfg.layersToTransform().isEmpty()) layers += " Note: You specified 'layers_to_transform': " + cfg.layersToTransform() + ".";
        if (!cfg.layersPattern().isEmpty()) layers += " You also specified 'layers_pattern': " + cfg.layersPattern() + ".";
        if (targets instanceof TargetModules.Names n && n.names().isEmpty())
            return new Peft4jException("lora.target_modules is empty, so nothing would be adapted; give module names (e.g. "
                    + String.join(",", PeftRules.defaultTargetModules(mm.config().family())) + "), a regex or all-linear");
        if (excluded > 0 && unmatched == 0)
            return new Peft4jException("All modules were excluded. This is likely unintended. Check your target_modules, "
                    + "exclude_modules and modules_to_save configuration; " + available(mm));
        if (excluded == 0)
            return new Peft4jException("Target modules " + targets + " not found in the base model (" + mm.config().family().modelType
                    + ", " + mm.config().numLayers() + " layers). Please check the target modules and try again." + layers
                    + " " + available(mm));
        return new Peft4jException("No modules were targeted for adaptation (target modules " + targets + "). This might be caused by "
                + "a combination of mismatched target modules and excluded modules (exclude_modules " + cfg.excludeModules()
                + ", modules_to_save " + cfg.modulesToSave() + ")." + layers + " " + available(mm));
    }

    /** "Linear modules here: q_proj, ..., lm_head (full names like ...); or all-linear." */
    public static String available(ModelModules mm) {
        List<Module> lin = mm.linears();
        return "linear modules in this " + mm.config().family().modelType + " model: " + String.join(", ", mm.linearSuffixes())
                + " (full names like " + (lin.isEmpty() ? "?" : lin.get(0).name()) + "); or use all-linear";
    }

    /** A pattern key that matches no adapted module is almost always a typo (PEFT issue #3582): say so. */
    private static void patternWarnings(String what, Set<String> keys, List<Target> targets, List<String> warnings) {
        for (String k : keys) {
            boolean hit = false;
            for (Target t : targets) if (PeftRules.patternKeyRegex(k).matcher(t.module()).lookingAt()) { hit = true; break; }
            if (!hit) warnings.add(what + " key '" + k + "' matches no adapted module, so it changes nothing; keys match a "
                    + "module name's dotted suffix as a regex, e.g. 'q_proj' or '^model.layers.0.self_attn.q_proj'");
        }
    }

    private static String pyBool(boolean b) { return b ? "True" : "False"; }
}
