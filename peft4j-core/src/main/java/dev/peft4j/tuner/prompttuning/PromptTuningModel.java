/*
 * PromptTuningModel: a prompt-tuning adapter on a model — PEFT's PromptEmbedding: one trainable
 * table (P * num_transformer_submodules, token_dim) whose rows are the virtual token embeddings,
 * placed before every row's input embeddings (VirtualPrompt.Tokens). Saved as "prompt_embeddings"
 * [P, token_dim], the table itself.
 */
package dev.peft4j.tuner.prompttuning;

import dev.peft4j.autograd.Ops;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.VirtualPrompt;
import dev.peft4j.tuner.prompt.PromptAdapterModel;
import java.util.List;

public final class PromptTuningModel extends PromptAdapterModel {
    private final PromptTuningConfig config;
    private final Tensor embedding;
    private final VirtualPrompt.Tokens prompt;

    PromptTuningModel(CausalLM model, String adapterName, PromptTuningConfig config, Tensor embedding) {
        super(model, adapterName);
        this.config = config;
        this.embedding = embedding;
        int P = embedding.dim(0);
        this.prompt = new VirtualPrompt.Tokens() {
            @Override public int length() { return P; }

            @Override public Tensor embeddings(Tape tape, int B) {
                int[] ids = new int[B * P];
                for (int i = 0; i < ids.length; i++) ids[i] = i % P;
                return Ops.embedding(tape, embedding, ids);
            }
        };
        install();
    }

    /** The trainable table (P, token_dim). */
    public Tensor embedding() { return embedding; }

    @Override public PromptTuningConfig config() { return config; }

    @Override public VirtualPrompt virtualPrompt() { return prompt; }

    @Override protected Tensor promptEmbeddingsToSave() { return embedding; }

    @Override public long trainableParameterCount() { return embedding.size(); }

    @Override public List<Tensor> trainableParameters() { return List.of(embedding); }
}
