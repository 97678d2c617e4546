/*
 * VirtualPrompt: the hook prompt-learning adapters (prompt tuning, P-tuning, prefix tuning) plug into
 * a model, as PEFT's PeftModelForCausalLM does with inputs_embeds and past_key_values. A model
 * with a prompt set (CausalLM.setPrompt) runs every forward as if P virtual positions came first:
 *
 *   Tokens: P embeddings (B*P, C) are placed before the input embeddings; they take positions
 *           0..P-1 (GPT-2 adds its position embeddings to them too, as transformers does with
 *           inputs_embeds), the input tokens P..P+T-1. Their outputs are dropped: the model returns
 *           hidden states / logits for the T input positions only (PEFT labels them -100).
 *   Prefix: each layer's attention sees P extra keys/values (B*P, KVH*HS) first — past_key_values,
 *           no RoPE applied to them; the input tokens take positions P..P+T-1.
 *
 * Both are recorded on the tape, so their sources (an embedding table, a prompt encoder, a prefix
 * MLP) get gradients. With a KV cache the virtual positions enter it once, in the first forward
 * (the prefill), as slots [0, P) of every row before that row's left padding; decoding then
 * proceeds as usual.
 */
package dev.peft4j.model;

import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;

public sealed interface VirtualPrompt permits VirtualPrompt.Tokens, VirtualPrompt.Prefix {
    /** P: the number of virtual positions. */
    int length();

    /** Virtual token embeddings placed before the input embeddings. */
    non-sealed interface Tokens extends VirtualPrompt {
        /** (B*P, C): the virtual token embeddings for each of B rows, recorded on tape when it is not null. */
        Tensor embeddings(Tape tape, int B);
    }

    /** Per-layer key/value prefixes (past_key_values). */
    non-sealed interface Prefix extends VirtualPrompt {
        /**
         * Layer l's prefix: {keys, values}, each (B*P, KVH*HS) — row (b, p), heads side by side — the
         * layout of the model's own k/v projections after RoPE. Recorded on tape when it is not null.
         */
        Tensor[] keysValues(Tape tape, int layer, int B);
    }
}
