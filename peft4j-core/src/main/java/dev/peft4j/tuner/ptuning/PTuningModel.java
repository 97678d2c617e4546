/*
 * PTuningModel: a P-tuning adapter on a model. Training (a fresh adapter): the PromptEncoder's output
 * (P, token_dim), computed once per forward and repeated for every row of the batch, is the virtual
 * token embeddings placed before the input embeddings (VirtualPrompt.Tokens); every encoder tensor is
 * trainable. Read back from a saved adapter (inference mode): a table (P, token_dim) holding the saved
 * encoder output is the prompt, as in PEFT; it is the one trainable tensor if training continues
 * (see PTuning's class comment). Saved as "prompt_embeddings" [P, token_dim] = the encoder output
 * (PEFT's get_prompt_embedding_to_save), or the table.
 */
package dev.peft4j.tuner.ptuning;

import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.VirtualPrompt;
import dev.peft4j.tuner.prompt.PromptAdapterModel;
import dev.peft4j.tuner.prompt.PromptOps;
import java.util.List;

public final class PTuningModel extends PromptAdapterModel {
    private final PTuningConfig config;
    private final PromptEncoder encoder;     // null once read back (inference mode)
    private final Tensor table;              // null while the encoder exists
    private final VirtualPrompt.Tokens prompt;

    PTuningModel(CausalLM model, String adapterName, PTuningConfig config, PromptEncoder encoder, Tensor table) {
        super(model, adapterName);
        this.config = config;
        this.encoder = encoder;
        this.table = table;
        int P = encoder != null ? encoder.embedding().dim(0) : table.dim(0);
        this.prompt = new VirtualPrompt.Tokens() {
            @Override public int length() { return P; }

            @Override public Tensor embeddings(Tape tape, int B) {
                Tensor rows = encoder != null ? encoder.forward(tape) : table;
                return PromptOps.columnsRepeated(tape, rows, 0, rows.dim(1), B);
            }
        };
        install();
    }

    /** The prompt encoder, or null for an adapter read back from a file (its prompt is table()). */
    public PromptEncoder encoder() { return encoder; }

    /** The fixed table of a read-back adapter, or null while the encoder exists. */
    public Tensor table() { return table; }

    @Override public PTuningConfig config() { return config; }

    @Override public VirtualPrompt virtualPrompt() { return prompt; }

    @Override protected Tensor promptEmbeddingsToSave() {
        if (encoder == null) return table;
        Tensor out = encoder.forward(null);
        return Tensor.frozen("prompt_embeddings", out.data, out.shape);
    }

    @Override public long trainableParameterCount() { return encoder != null ? encoder.parameterCount() : table.size(); }

    @Override public List<Tensor> trainableParameters() { return encoder != null ? encoder.parameters() : List.of(table); }
}
