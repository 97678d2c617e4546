/*
 * AdapterModel: one adapter of any PEFT method attached to a model - what get_peft_model returns in
 * PEFT, reduced to what training, saving, switching and merging need. The method's package makes
 * it (PeftMethod.apply); everything else (PeftAdapter's save/load, PeftModel, the trainer, the CLI)
 * works through this interface.
 */
package dev.peft4j.tuner;

import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.nn.AdapterLayer;
import java.util.List;
import java.util.Map;

public interface AdapterModel {
    CausalLM model();

    String adapterName();

    AdapterConfig config();

    /** PEFT's warnings for this injection (corrections, target entries that matched nothing). */
    List<String> warnings();

    /** Module name -> this adapter's layer on it, in module order. */
    Map<String, ? extends AdapterLayer> layers();

    /** Names of the modules trained in full (modules_to_save), in module order. */
    List<String> modulesToSave();

    /**
     * Tensors saved beside the per-module ones, keyed by their full PEFT key (VeRA's shared
     * "base_model.vera_A"); empty for most methods.
     */
    default Map<String, Tensor> sharedStateDict() { return Map.of(); }

    /**
     * The method's additions to the training loop (an extra loss term, a callback after the optimizer
     * step, metrics, checkpoint state: AdaLoRA's regulariser and rank allocation), or null for none.
     * A fresh hook per training run.
     */
    default dev.peft4j.train.TrainingHook trainingHook() { return null; }

    /**
     * The virtual tokens / key-value prefixes this adapter puts on the model while it is active
     * (prompt-learning methods, tuner/prompt), or null for an adapter made of per-module layers.
     * PeftModel installs the active adapter's prompt (at most one) and refuses to merge such an adapter.
     */
    default dev.peft4j.model.VirtualPrompt virtualPrompt() { return null; }

    /** Every trainable tensor, in PEFT's named_parameters order. */
    List<Tensor> trainableParameters();

    /** "trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364", as PEFT prints it. */
    String trainableSummary();

    /** Base-model behaviour until enable() (PEFT's disable_adapter). */
    void disable();

    void enable();

    /** Removes the adapter and restores the original frozen tensors; the handle is then closed. */
    void unload();
}
