/*
 * Ia3Model: the handle Ia3.apply returns - one (IA)³ adapter on one model: its vectors (the
 * trainable tensors, in module order as PEFT's named_parameters), PEFT's parameter counts, and
 * switching it off (base behaviour), on, or unloading it.
 */
package dev.peft4j.tuner.ia3;

import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.AdapterModel;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

public final class Ia3Model implements AdapterModel {
    private final CausalLM model;
    private final String adapterName;
    private final Ia3.Plan plan;
    private final Map<String, Ia3Layer> layers;
    private final Map<String, Linear> linears;
    private boolean unloaded;

    Ia3Model(CausalLM model, String adapterName, Ia3.Plan plan, Map<String, Ia3Layer> layers, Map<String, Linear> linears) {
        this.model = model;
        this.adapterName = adapterName;
        this.plan = plan;
        this.layers = Collections.unmodifiableMap(layers);
        this.linears = linears;
    }

    @Override public CausalLM model() { return model; }

    @Override public String adapterName() { return adapterName; }

    /** The resolved configuration (default targets filled in, fan_in_fan_out corrected): what PEFT saves. */
    @Override public Ia3Config config() { return plan.config(); }

    public Ia3.Plan plan() { return plan; }

    @Override public List<String> warnings() { return plan.warnings(); }

    @Override public Map<String, Ia3Layer> layers() { return layers; }

    @Override public List<String> modulesToSave() { return List.of(); }

    @Override public List<Tensor> trainableParameters() {
        List<Tensor> out = new ArrayList<>();
        for (Ia3Layer l : layers.values()) out.add(l.l);
        return out;
    }

    @Override public String trainableSummary() { return plan.trainableSummary(); }

    @Override public void disable() {
        check();
        for (Linear lin : linears.values()) {
            List<String> active = new ArrayList<>(lin.active());
            active.remove(adapterName);
            lin.setActive(active);
        }
    }

    @Override public void enable() {
        check();
        for (Linear lin : linears.values()) lin.setActive(List.of(adapterName));
    }

    @Override public void unload() {
        check();
        for (Linear lin : linears.values()) lin.removeAdapter(adapterName);
        unloaded = true;
    }

    private void check() {
        if (unloaded) throw new IllegalStateException("adapter '" + adapterName + "' was unloaded from the model; apply it again to use it");
    }

    @Override public String toString() {
        return "Ia3Model(adapter '" + adapterName + "', " + layers.size() + " adapted modules; " + trainableSummary() + ")";
    }
}
