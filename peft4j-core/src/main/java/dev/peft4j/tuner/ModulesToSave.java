/*
 * ModulesToSave: PEFT's modules_to_save for every method, in one place (utils/other.py
 * ModulesToSaveWrapper and _set_trainable). A module whose name ends with an entry (a plain
 * endswith, PeftRules.isModuleToSave) is trained in full: its weight and bias are replaced by
 * trainable copies while the originals are kept frozen, so switching the adapter off puts the
 * originals back (PEFT's disable_adapter), and unloading restores them for good. With tied embeddings
 * the copy unties lm_head from embed_tokens, exactly as PEFT's deep copy does.
 *
 * Saved keys (PEFT 0.14 utils/save_and_load.py get_peft_model_state_dict): the wrapper's tensor
 * base_model.model.<module>.modules_to_save.<adapter>.weight loses "modules_to_save." and then
 * ".<adapter>", so the file holds base_model.model.<module>.weight / .bias in the base's layout
 * (PeftAdapter writes and reads them for any AdapterModel through modulesToSave()).
 *
 * Refused, with how to fix: an entry that matches no module (PEFT ignores it silently; a typo here),
 * a matched module that is not a linear layer (embed_tokens: not supported yet), a module that is
 * both a target of the method and to be saved (PEFT refuses it too), and a module already trained in
 * full by another adapter on the same model.
 */
package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraPlan;

import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.nn.Linear;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

public final class ModulesToSave {
    /** One module trained in full: its size and whether it has a bias. */
    public record Module(String module, int in, int out, boolean bias) {
        public long parameterCount() { return (long) in * out + (bias ? out : 0); }
    }

    /** One copy in place: the frozen originals and the trainable copies now on the Linear. */
    public record Copy(Linear linear, Tensor originalWeight, Tensor originalBias, Tensor weight, Tensor bias) {}

    private final List<Copy> copies;
    private boolean onCopies = true;

    private ModulesToSave(List<Copy> copies) { this.copies = List.copyOf(copies); }

    /** No modules_to_save. */
    public static final ModulesToSave NONE = new ModulesToSave(List.of());

    /**
     * A config's modules_to_save entries checked as PEFT will use them (a regex fragment in
     * check_target_module_exists): non-empty names. method is the config prefix for messages ("ia3").
     */
    public static List<String> validate(List<String> entries, String method) {
        if (entries == null) return List.of();
        for (String m : entries) {
            if (m == null || m.isBlank())
                throw new Peft4jException(method + ".modules_to_save entries must be non-empty module names (got " + entries + "); e.g. lm_head");
            TargetModules.compile("(^|.*\\.)" + m + "($|\\..*)", method + ".modules_to_save entry '" + m + "' (PEFT uses it in a regex)");
        }
        return List.copyOf(entries);
    }

    /**
     * The modules of mm that entries select, in module order; targeted = the method's adapted modules;
     * method = the config prefix in messages ("ia3"), methodName = the method for people ("(IA)³").
     */
    public static List<Module> select(ModelModules mm, List<String> entries, Collection<String> targeted, String method,
                                      String methodName) {
        List<Module> out = new ArrayList<>();
        if (entries.isEmpty()) return out;
        Set<String> used = new LinkedHashSet<>();
        for (ModelModules.Module m : mm.modules()) {
            if (!PeftRules.isModuleToSave(entries, m.name())) continue;
            for (String e : entries) if (m.name().endsWith(e)) used.add(e);
            if (!m.linear())
                throw new Peft4jException(method + ".modules_to_save " + entries + " matches " + m.name() + " (" + m.type()
                        + "); training a full copy of a " + m.type() + " is not supported yet — peft4j supports modules_to_save on "
                        + "linear layers, e.g. lm_head");
            if (targeted.contains(m.name()))
                throw new Peft4jException("module " + m.name() + " is both a " + methodName + " target and in " + method + ".modules_to_save "
                        + entries + " (PEFT refuses this too: modules_to_save cannot wrap an adapter layer); remove it from one of the two");
            out.add(new Module(m.name(), m.in(), m.out(), m.bias()));
        }
        for (String e : entries)
            if (!used.contains(e))
                throw new Peft4jException(method + ".modules_to_save entry '" + e + "' matches no module of this " + mm.config().family().modelType
                        + " model (PEFT would silently ignore it; peft4j refuses it to catch typos); " + LoraPlan.available(mm));
        return out;
    }

    /** Σ parameter counts of the selected modules (the values of their trainable copies). */
    public static long parameterCount(List<Module> modules) {
        long n = 0;
        for (Module m : modules) n += m.parameterCount();
        return n;
    }

    /** Refuses modules already trained in full by another adapter (call before changing the model). */
    public static void checkFree(CausalLM model, List<Module> modules) {
        for (Module m : modules)
            if (linear(model, m.module()).weight().requiresGrad)
                throw new Peft4jException("module " + m.module() + " is already trained in full (modules_to_save of another adapter); "
                        + "modules_to_save for several adapters on one model is not supported yet");
    }

    /** Puts trainable copies of each module's weight and bias in place (module order); the handle switches them. */
    public static ModulesToSave apply(CausalLM model, List<Module> modules) {
        if (modules.isEmpty()) return NONE;
        checkFree(model, modules);
        List<Copy> copies = new ArrayList<>();
        for (Module m : modules) copies.add(copy(linear(model, m.module())));
        return new ModulesToSave(copies);
    }

    /** A trainable copy of lin's weight and bias, under PEFT's saved keys, set in place of the originals. */
    public static Copy copy(Linear lin) {
        Tensor w0 = lin.weight(), b0 = lin.bias();
        Tensor w = Tensor.param(Lora.KEY_PREFIX + lin.name + ".weight", w0.floats().clone(), lin.out, lin.in);
        Tensor b = b0 == null ? null : Tensor.param(Lora.KEY_PREFIX + lin.name + ".bias", b0.data.clone(), lin.out);
        lin.setBase(w, b);
        return new Copy(lin, w0, b0, w, b);
    }

    /** Module names, in module order. */
    public List<String> names() {
        List<String> out = new ArrayList<>();
        for (Copy c : copies) out.add(c.linear().name);
        return out;
    }

    /** The trainable copies: per module its weight, then its bias. */
    public List<Tensor> parameters() {
        List<Tensor> out = new ArrayList<>();
        for (Copy c : copies) {
            out.add(c.weight());
            if (c.bias() != null) out.add(c.bias());
        }
        return out;
    }

    public long parameterCount() {
        long n = 0;
        for (Tensor t : parameters()) n += t.size();
        return n;
    }

    /** The frozen originals back in place (base behaviour); enable() undoes it. */
    public void disable() {
        for (Copy c : copies) c.linear().setBase(c.originalWeight(), c.originalBias());
        onCopies = false;
    }

    /** The trainable copies back in place. */
    public void enable() {
        for (Copy c : copies) c.linear().setBase(c.weight(), c.bias());
        onCopies = true;
    }

    /** For good: the originals restored (the copies are dropped with the handle). */
    public void unload() { disable(); }

    public boolean enabled() { return onCopies; }

    private static Linear linear(CausalLM model, String name) {
        for (Linear l : model.linears()) if (l.name.equals(name)) return l;
        throw new Peft4jException("module " + name + " not found in the model");
    }
}
