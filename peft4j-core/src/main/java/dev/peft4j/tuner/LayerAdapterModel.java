/*
 * LayerAdapterModel: what every adapter handle made of per-layer AdapterLayers has in common
 * ((IA)³, VeRA, LoHa, LoKr): the model, the adapter's name, its layers by module (module order), the
 * trainable tensors in PEFT's named_parameters order (each layer's parameters() in turn), and
 * switching the adapter off (base behaviour), on again, or unloading it; and the modules trained in
 * full (modules_to_save, ModulesToSave: their copies follow the layers' parameters and are switched
 * with the adapter). A method's handle adds its plan (config, counts, warnings) and any shared state.
 */
package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.LoraPlan;

import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.nn.AdapterLayer;
import dev.peft4j.nn.Linear;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

public abstract class LayerAdapterModel<L extends AdapterLayer> implements AdapterModel {
    private final CausalLM model;
    private final String adapterName;
    private final Map<String, L> layers;
    private final Map<String, Linear> linears;
    private final ModulesToSave saved;
    private boolean unloaded;

    /** layers and linears: module name -> this adapter's layer / the Linear carrying it, in module order. */
    protected LayerAdapterModel(CausalLM model, String adapterName, Map<String, L> layers, Map<String, Linear> linears) {
        this(model, adapterName, layers, linears, ModulesToSave.NONE);
    }

    /** As above, with the modules_to_save copies already in place (ModulesToSave.apply). */
    protected LayerAdapterModel(CausalLM model, String adapterName, Map<String, L> layers, Map<String, Linear> linears,
                                ModulesToSave saved) {
        this.model = model;
        this.adapterName = adapterName;
        this.layers = Collections.unmodifiableMap(layers);
        this.linears = linears;
        this.saved = saved;
    }

    @Override public CausalLM model() { return model; }

    @Override public String adapterName() { return adapterName; }

    @Override public Map<String, L> layers() { return layers; }

    @Override public List<String> modulesToSave() { return saved.names(); }

    /** Every layer's parameters() in module order, then the modules_to_save copies (weight, bias per module). */
    @Override public List<Tensor> trainableParameters() {
        List<Tensor> out = new ArrayList<>();
        for (L l : layers.values()) out.addAll(l.parameters());
        out.addAll(saved.parameters());
        return out;
    }

    /** PEFT's summary line for adapterParameters (the method's own count) plus the modules_to_save copies. */
    protected String trainableSummary(long adapterParameters, long baseParameters) {
        long t = adapterParameters + saved.parameterCount();
        return LoraPlan.formatTrainable(t, baseParameters + t);
    }

    @Override public void disable() {
        check();
        for (Linear lin : linears.values()) {
            List<String> active = new ArrayList<>(lin.active());
            active.remove(adapterName);
            lin.setActive(active);
        }
        saved.disable();
    }

    @Override public void enable() {
        check();
        for (Linear lin : linears.values()) lin.setActive(List.of(adapterName));
        saved.enable();
    }

    @Override public void unload() {
        check();
        for (Linear lin : linears.values()) lin.removeAdapter(adapterName);
        saved.unload();
        unloaded = true;
    }

    private void check() {
        if (unloaded) throw new IllegalStateException("adapter '" + adapterName + "' was unloaded from the model; apply it again to use it");
    }

    @Override public String toString() {
        return config().methodName() + " adapter '" + adapterName + "' (" + layers.size() + " adapted modules; " + trainableSummary() + ")";
    }
}
