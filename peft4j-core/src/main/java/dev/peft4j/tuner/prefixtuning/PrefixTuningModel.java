/*
 * PrefixTuningModel: a prefix-tuning adapter on a model — PEFT's PrefixEncoder feeding
 * past_key_values. The source is a matrix M (P, num_layers * 2 * token_dim):
 *   without projection (or read back from a saved adapter): M is the trainable table itself
 *   with prefix_projection: M = Linear2(tanh(Linear1(E))), E a trainable (P, token_dim) table,
 *                           Linear1: token_dim -> encoder_hidden_size, Linear2 -> num_layers*2*token_dim
 * Per virtual token p the row M[p] is ordered [layer][key|value][head][head_dim] (PEFT's
 * view(B, P, L*2, H, D).permute(2, 0, 3, 1, 4)), so layer l's keys are the columns
 * [2l*token_dim, (2l+1)*token_dim) and its values the next token_dim columns; heads side by side is
 * exactly VirtualPrompt.Prefix's (B*P, KVH*HS) layout (token_dim = KVH*HS).
 *
 * The MLP runs once per forward: its output is kept for the tape it was recorded on, so the L
 * layers' keysValues calls share it; under gradient checkpointing each block's recomputation comes
 * with a tape of its own and recomputes the (small) MLP on it — the gradients add up the same.
 * Without a recording tape (evaluation, generation, the checkpointed forward) the output is kept
 * while the parameters' values are unchanged.
 *
 * Saved as PEFT's get_prompt_embedding_to_save: "prompt_embeddings" = M (the projected output when
 * projecting), [P, num_layers*2*token_dim]; PEFT reads it back in inference mode as the plain table.
 */
package dev.peft4j.tuner.prefixtuning;

import dev.peft4j.autograd.Ops;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.VirtualPrompt;
import dev.peft4j.tuner.prompt.PromptAdapterModel;
import dev.peft4j.tuner.prompt.PromptOps;
import java.util.Arrays;
import java.util.List;

public final class PrefixTuningModel extends PromptAdapterModel {
    private final PrefixTuningConfig config;
    private final List<Tensor> params;    // table; or embedding, w1, b1, w2, b2 (PEFT's named_parameters order)
    private final int P, tokenDim, width;
    private final VirtualPrompt.Prefix prompt;
    private Tape lastTape;
    private Tensor lastOut;
    private float[][] snapshot;           // parameter values lastOut was computed from, without a recording tape

    PrefixTuningModel(CausalLM model, String adapterName, PrefixTuningConfig config, List<Tensor> params) {
        super(model, adapterName);
        this.config = config;
        this.params = List.copyOf(params);
        this.P = config.numVirtualTokens();
        this.tokenDim = config.base().tokenDim();
        this.width = config.base().numLayers() * 2 * tokenDim;
        this.prompt = new VirtualPrompt.Prefix() {
            @Override public int length() { return P; }

            @Override public Tensor[] keysValues(Tape tape, int layer, int B) {
                Tensor m = source(tape);
                return new Tensor[] {PromptOps.columnsRepeated(tape, m, 2 * layer * tokenDim, tokenDim, B),
                        PromptOps.columnsRepeated(tape, m, (2 * layer + 1) * tokenDim, tokenDim, B)};
            }
        };
        install();
    }

    /** M (P, num_layers*2*token_dim): the table, or the projection of the embedding (recorded on tape). */
    public Tensor source(Tape tape) {
        if (!projecting()) return params.get(0);
        boolean recording = tape != null && tape.recording();
        if (recording) {
            if (tape != lastTape || lastOut == null) {
                lastOut = project(tape);
                lastTape = tape;
                snapshot = null;
            }
            return lastOut;
        }
        if (snapshot == null || !unchanged()) {
            lastOut = project(null);
            lastTape = null;
            snapshot = new float[params.size()][];
            for (int i = 0; i < params.size(); i++) snapshot[i] = params.get(i).data.clone();
        }
        return lastOut;
    }

    private boolean unchanged() {
        for (int i = 0; i < params.size(); i++) if (!Arrays.equals(snapshot[i], params.get(i).data)) return false;
        return true;
    }

    private Tensor project(Tape tape) {
        Tensor h = Ops.linear(tape, params.get(0), params.get(1), params.get(2));
        return Ops.linear(tape, PromptOps.tanh(tape, h), params.get(3), params.get(4));
    }

    public boolean projecting() { return params.size() == 5; }

    @Override public PrefixTuningConfig config() { return config; }

    @Override public VirtualPrompt virtualPrompt() { return prompt; }

    @Override protected Tensor promptEmbeddingsToSave() {
        if (!projecting()) return params.get(0);
        Tensor m = project(null);
        return Tensor.frozen("prompt_embeddings", m.data, P, width);
    }

    @Override public long trainableParameterCount() {
        long n = 0;
        for (Tensor t : params) n += t.size();
        return n;
    }

    @Override public List<Tensor> trainableParameters() { return params; }
}
