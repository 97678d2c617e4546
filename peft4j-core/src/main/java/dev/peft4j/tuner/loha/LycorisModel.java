/*
 * LycorisModel: the handle LoHa.apply / LoKr.apply return - one LyCORIS adapter on one model: its
 * factors (in module order, each module's in PEFT's named_parameters order), PEFT's parameter
 * counts, and switching it off (base behaviour), on, or unloading it.
 */
package dev.peft4j.tuner.loha;

import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.AdapterConfig;
import dev.peft4j.tuner.AdapterModel;
import dev.peft4j.tuner.LoraPlan;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

public final class LycorisModel<L extends LycorisLayer> implements AdapterModel {
    /** One adapted module: its shape, the r and alpha PEFT gives it, and the parameters it adds. */
    public record Target(String module, int in, int out, int r, double alpha, long parameterCount) {}

    /** The targets of a config on a module tree (no weights needed), with the config as PEFT saves it. */
    public record Plan<C extends AdapterConfig>(C config, List<Target> targets, long baseParameterCount, List<String> warnings) {
        public long trainableParameterCount() {
            long n = 0;
            for (Target t : targets) n += t.parameterCount();
            return n;
        }

        public String trainableSummary() {
            return LoraPlan.formatTrainable(trainableParameterCount(), baseParameterCount + trainableParameterCount());
        }
    }

    private final CausalLM model;
    private final String adapterName;
    private final Plan<?> plan;
    private final Map<String, L> layers;
    private final Map<String, Linear> linears;
    private boolean unloaded;

    public LycorisModel(CausalLM model, String adapterName, Plan<?> plan, Map<String, L> layers, Map<String, Linear> linears) {
        this.model = model;
        this.adapterName = adapterName;
        this.plan = plan;
        this.layers = Collections.unmodifiableMap(layers);
        this.linears = linears;
    }

    @Override public CausalLM model() { return model; }

    @Override public String adapterName() { return adapterName; }

    /** The resolved configuration (all-linear expanded): what PEFT saves. */
    @Override public AdapterConfig config() { return plan.config(); }

    public Plan<?> plan() { return plan; }

    @Override public List<String> warnings() { return plan.warnings(); }

    @Override public Map<String, L> layers() { return layers; }

    @Override public List<String> modulesToSave() { return List.of(); }

    @Override public List<Tensor> trainableParameters() {
        List<Tensor> out = new ArrayList<>();
        for (L l : layers.values()) out.addAll(l.parameters());
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
        return config().methodName() + " model (adapter '" + adapterName + "', " + layers.size() + " adapted modules; " + trainableSummary() + ")";
    }
}
