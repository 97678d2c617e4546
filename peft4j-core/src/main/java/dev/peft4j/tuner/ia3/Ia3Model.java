/*
 * Ia3Model: the handle Ia3.apply returns - one (IA)³ adapter on one model: its vectors (the
 * trainable tensors, in module order as PEFT's named_parameters), PEFT's parameter counts, and
 * switching it off (base behaviour), on, or unloading it.
 */
package dev.peft4j.tuner.ia3;

import dev.peft4j.model.CausalLM;
import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.LayerAdapterModel;
import java.util.List;
import java.util.Map;

public final class Ia3Model extends LayerAdapterModel<Ia3Layer> {
    private final Ia3.Plan plan;

    Ia3Model(CausalLM model, String adapterName, Ia3.Plan plan, Map<String, Ia3Layer> layers, Map<String, Linear> linears,
             dev.peft4j.tuner.ModulesToSave saved) {
        super(model, adapterName, layers, linears, saved);
        this.plan = plan;
    }

    /** The resolved configuration (default targets filled in, fan_in_fan_out corrected): what PEFT saves. */
    @Override public Ia3Config config() { return plan.config(); }

    public Ia3.Plan plan() { return plan; }

    @Override public List<String> warnings() { return plan.warnings(); }

    /** PEFT's line: the vectors plus any modules_to_save copies. */
    @Override public String trainableSummary() { return trainableSummary(plan.trainableParameterCount(), plan.baseParameterCount()); }
}
