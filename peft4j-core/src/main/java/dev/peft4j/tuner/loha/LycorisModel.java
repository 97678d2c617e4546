/*
 * LycorisModel: the handle LoHa.apply / LoKr.apply return - one LyCORIS adapter on one model: its
 * factors (in module order, each module's in PEFT's named_parameters order), PEFT's parameter
 * counts, and switching it off (base behaviour), on, or unloading it.
 */
package dev.peft4j.tuner.loha;

import dev.peft4j.model.CausalLM;
import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.AdapterConfig;
import dev.peft4j.tuner.LayerAdapterModel;
import dev.peft4j.tuner.lora.LoraPlan;
import java.util.List;
import java.util.Map;

public final class LycorisModel<L extends LycorisLayer> extends LayerAdapterModel<L> {
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

    private final Plan<?> plan;

    public LycorisModel(CausalLM model, String adapterName, Plan<?> plan, Map<String, L> layers, Map<String, Linear> linears) {
        this(model, adapterName, plan, layers, linears, dev.peft4j.tuner.ModulesToSave.NONE);
    }

    /** As above, with the modules_to_save copies in place (ModulesToSave.apply). */
    public LycorisModel(CausalLM model, String adapterName, Plan<?> plan, Map<String, L> layers, Map<String, Linear> linears,
                        dev.peft4j.tuner.ModulesToSave saved) {
        super(model, adapterName, layers, linears, saved);
        this.plan = plan;
    }

    /** The resolved configuration (all-linear expanded): what PEFT saves. */
    @Override public AdapterConfig config() { return plan.config(); }

    public Plan<?> plan() { return plan; }

    @Override public List<String> warnings() { return plan.warnings(); }

    /** PEFT's line: the factors plus any modules_to_save copies. */
    @Override public String trainableSummary() { return trainableSummary(plan.trainableParameterCount(), plan.baseParameterCount()); }
}
