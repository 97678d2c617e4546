/*
 * PromptAdapterModel: the base of every prompt-learning adapter handle (prompt tuning, prefix tuning,
 * P-tuning). Such an adapter has no per-module layers: it is a VirtualPrompt (virtual token
 * embeddings or per-layer key/value prefixes, see dev.peft4j.model.VirtualPrompt) that it installs
 * on the model with CausalLM.setPrompt while active, plus the tensors that produce it.
 *
 * What a subclass gives:
 *   virtualPrompt()            the prompt to install (one object for the handle's lifetime)
 *   promptEmbeddingsToSave()   PEFT's get_prompt_embedding_to_save: the (P*submodules, width) tensor
 *                              saved as "prompt_embeddings" — the embedding table itself, or the
 *                              encoder's output for a reparameterised prompt (a fresh tensor); when
 *                              the handle was read back (inference mode), the table load() fills
 *   trainableParameters(), trainableParameterCount(), config()
 * and calls install() at the end of its constructor (a fresh or loaded adapter is active, as after
 * PEFT's get_peft_model / from_pretrained).
 *
 * What this base does: layers() and modulesToSave() empty; sharedStateDict() = {"prompt_embeddings":
 * promptEmbeddingsToSave()} (PeftAdapter saves/loads it under that full key, as PEFT's
 * get_peft_model_state_dict writes it); enable()/disable()/unload() install/remove the prompt;
 * trainableSummary() as PEFT prints it (the base model's parameters plus the prompt's).
 * Merging is impossible (no weight to fold the prompt into): PeftModel refuses it for any adapter
 * whose virtualPrompt() is not null, with mergeRefusal()'s message.
 */
package dev.peft4j.tuner.prompt;

import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.VirtualPrompt;
import dev.peft4j.nn.AdapterLayer;
import dev.peft4j.tuner.AdapterModel;
import dev.peft4j.tuner.lora.LoraPlan;
import java.util.List;
import java.util.Map;

public abstract class PromptAdapterModel implements AdapterModel {
    /** The tensor key PEFT saves a prompt-learning adapter under. */
    public static final String PROMPT_EMBEDDINGS = "prompt_embeddings";

    private final CausalLM model;
    private final String adapterName;
    private boolean unloaded;

    protected PromptAdapterModel(CausalLM model, String adapterName) {
        this.model = model;
        this.adapterName = adapterName;
    }

    /** Installs the prompt on the model (call at the end of the subclass constructor). */
    protected final void install() { model.setPrompt(virtualPrompt()); }

    @Override public abstract VirtualPrompt virtualPrompt();

    /** PEFT's get_prompt_embedding_to_save (see the class comment). */
    protected abstract Tensor promptEmbeddingsToSave();

    /** The number of trainable values (PEFT's count of the prompt encoder's parameters). */
    public abstract long trainableParameterCount();

    @Override public CausalLM model() { return model; }

    @Override public String adapterName() { return adapterName; }

    @Override public List<String> warnings() { return List.of(); }

    @Override public Map<String, ? extends AdapterLayer> layers() { return Map.of(); }

    @Override public List<String> modulesToSave() { return List.of(); }

    @Override public Map<String, Tensor> sharedStateDict() { return Map.of(PROMPT_EMBEDDINGS, promptEmbeddingsToSave()); }

    @Override public String trainableSummary() {
        long t = trainableParameterCount();
        return LoraPlan.formatTrainable(t, model.parameterCount() + t);
    }

    @Override public void enable() {
        check();
        model.setPrompt(virtualPrompt());
    }

    @Override public void disable() {
        check();
        if (model.prompt() == virtualPrompt()) model.setPrompt(null);
    }

    @Override public void unload() {
        check();
        if (model.prompt() == virtualPrompt()) model.setPrompt(null);
        unloaded = true;
    }

    /** Whether unload() was called. */
    public boolean unloaded() { return unloaded; }

    private void check() {
        if (unloaded) throw new IllegalStateException("adapter '" + adapterName + "' was unloaded from the model; apply it again to use it");
    }

    @Override public String toString() {
        return config().methodName() + " adapter '" + adapterName + "' (" + virtualPrompt().length() + " virtual tokens; " + trainableSummary() + ")";
    }
}
