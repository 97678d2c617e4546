/*
 * LoraModel: the handle Lora.apply returns — one adapter on one model. It lists the trainable tensors
 * in a fixed order (module order, as PEFT's named_parameters(): per adapted module lora_A then
 * lora_B, and lora_magnitude_vector with DoRA; per modules_to_save module its weight copy then bias copy), counts parameters as PEFT's
 * get_nb_trainable_parameters does, and can switch the adapter off (base model behaviour, PEFT's
 * disable_adapter: adapters inactive, modules_to_save back to the original frozen tensors), on again,
 * or unload it for good (adapters removed, original tensors restored).
 * Constraints: not thread-safe, like the model it wraps; the counts assume this is the model's only adapter.
 */
package dev.peft4j.tuner.lora;

import dev.peft4j.tuner.AdapterModel;

import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.lora.LoraAdapter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public final class LoraModel implements AdapterModel {
    /** One touched module: either an adapter (target, adapter) or a modules_to_save copy (originals, copies). */
    record Entry(Linear linear, LoraPlan.Target target, LoraAdapter adapter,
                 Tensor originalWeight, Tensor originalBias, Tensor weightCopy, Tensor biasCopy) {
        boolean isAdapter() { return adapter != null; }
    }

    private final CausalLM model;
    private final String adapterName;
    private final LoraPlan plan;
    private final List<Entry> entries;
    private boolean enabled = true, unloaded;

    LoraModel(CausalLM model, String adapterName, LoraPlan plan, List<Entry> entries) {
        this.model = model;
        this.adapterName = adapterName;
        this.plan = plan;
        this.entries = List.copyOf(entries);
    }

    public CausalLM model() { return model; }

    public String adapterName() { return adapterName; }

    /** The resolved configuration: default / all-linear targets expanded, fan_in_fan_out corrected (what PEFT saves). */
    public LoraConfig config() { return plan.config(); }

    public LoraPlan plan() { return plan; }

    /** PEFT's warnings for this injection (fan_in_fan_out corrections, target entries that matched nothing). */
    public List<String> warnings() { return plan.warnings(); }

    /** Names of the modules that carry this adapter, in module order (PEFT's targeted_module_names). */
    public List<String> adaptedModules() { return plan.targetModuleNames(); }

    /** Module name → adapter, in module order. */
    public Map<String, LoraAdapter> adapters() {
        Map<String, LoraAdapter> out = new LinkedHashMap<>();
        for (Entry e : entries) if (e.isAdapter()) out.put(e.linear().name, e.adapter());
        return Collections.unmodifiableMap(out);
    }

    @Override public Map<String, LoraAdapter> layers() { return adapters(); }

    /** Names of the modules trained in full (modules_to_save), in module order. */
    public List<String> modulesToSave() {
        List<String> out = new ArrayList<>();
        for (Entry e : entries) if (!e.isAdapter()) out.add(e.linear().name);
        return out;
    }

    /** Every trainable tensor, in module order: lora_A, lora_B per adapted module; weight, bias copies per saved module. */
    public List<Tensor> trainableParameters() {
        List<Tensor> out = new ArrayList<>();
        for (Entry e : entries) {
            if (e.isAdapter()) {
                out.addAll(e.adapter().parameters());                   // lora_A, lora_B (, lora_magnitude_vector with DoRA)
            } else {
                out.add(e.weightCopy());
                if (e.biasCopy() != null) out.add(e.biasCopy());
            }
        }
        return out;
    }

    /** Σ sizes of trainableParameters(), counted from the tensors themselves. */
    public long trainableParameterCount() {
        long n = 0;
        for (Tensor t : trainableParameters()) n += t.size();
        return n;
    }

    /** Base parameters (before apply; tied embeddings once) + every trainable tensor, as PEFT counts "all params". */
    public long allParameterCount() { return plan.baseParameterCount() + trainableParameterCount(); }

    /** "trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364" */
    public String trainableSummary() { return LoraPlan.formatTrainable(trainableParameterCount(), allParameterCount()); }

    public boolean enabled() { return enabled; }

    /** Base-model behaviour: this adapter inactive everywhere and modules_to_save back on their original tensors. */
    public void disable() {
        checkLoaded();
        if (!enabled) return;
        for (Entry e : entries) {
            if (e.isAdapter()) {
                List<String> active = new ArrayList<>(e.linear().active());
                active.remove(adapterName);
                e.linear().setActive(active);
            } else {
                e.linear().setBase(e.originalWeight(), e.originalBias());
            }
        }
        enabled = false;
    }

    /** Undoes disable(): this adapter active again (alone) and the trainable copies back in place. */
    public void enable() {
        checkLoaded();
        if (enabled) return;
        for (Entry e : entries) {
            if (e.isAdapter()) e.linear().setActive(List.of(adapterName));
            else e.linear().setBase(e.weightCopy(), e.biasCopy());
        }
        enabled = true;
    }

    /** Removes the adapter and restores the original frozen tensors (unmerge first if merged). The handle is then closed. */
    public void unload() {
        checkLoaded();
        for (Entry e : entries) {
            if (e.isAdapter()) e.linear().removeAdapter(adapterName);
            else e.linear().setBase(e.originalWeight(), e.originalBias());
        }
        unloaded = true;
    }

    private void checkLoaded() {
        if (unloaded) throw new IllegalStateException("adapter '" + adapterName + "' was unloaded from the model; apply it again to use it");
    }

    @Override public String toString() {
        return "LoraModel(adapter '" + adapterName + "', " + plan.targets().size() + " adapted modules"
                + (modulesToSave().isEmpty() ? "" : ", modules_to_save " + modulesToSave()) + "; " + trainableSummary() + ")";
    }
}
