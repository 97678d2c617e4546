/*
 * VeraModel: the handle Vera.apply returns - one VeRA adapter on one model: its shared frozen
 * projections (saved under base_model.vera_A / base_model.vera_B, loaded from the file, never
 * trained), its per-layer vectors (the trainable tensors, in module order as PEFT's
 * named_parameters: vera_lambda_b then vera_lambda_d per module), PEFT's parameter counts, and
 * switching it off (base behaviour), on, or unloading it.
 */
package dev.peft4j.tuner.vera;

import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.LayerAdapterModel;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public final class VeraModel extends LayerAdapterModel<VeraLayer> {
    private final Vera.Plan plan;
    private final Tensor veraA, veraB;

    VeraModel(CausalLM model, String adapterName, Vera.Plan plan, Map<String, VeraLayer> layers, Map<String, Linear> linears,
              Tensor veraA, Tensor veraB, dev.peft4j.tuner.ModulesToSave saved) {
        super(model, adapterName, layers, linears, saved);
        this.plan = plan;
        this.veraA = veraA;
        this.veraB = veraB;
    }

    /** The resolved configuration (default targets filled in, fan_in_fan_out corrected): what PEFT saves. */
    @Override public VeraConfig config() { return plan.config(); }

    public Vera.Plan plan() { return plan; }

    /** The shared frozen projection vera_A (r, maxIn). */
    public Tensor veraA() { return veraA; }

    /** The shared frozen projection vera_B (maxOut, r). */
    public Tensor veraB() { return veraB; }

    @Override public List<String> warnings() { return plan.warnings(); }

    /** The projections, keyed as PEFT 0.14 saves them with save_projection true. */
    @Override public Map<String, Tensor> sharedStateDict() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put(Vera.KEY_A, veraA);
        m.put(Vera.KEY_B, veraB);
        return m;
    }

    /** PEFT's line: the lambda vectors plus any modules_to_save copies. */
    @Override public String trainableSummary() { return trainableSummary(plan.trainableParameterCount(), plan.baseParameterCount()); }

    @Override public String toString() {
        return super.toString() + ", projections vera_A " + java.util.Arrays.toString(veraA.shape) + " / vera_B "
                + java.util.Arrays.toString(veraB.shape);
    }
}
