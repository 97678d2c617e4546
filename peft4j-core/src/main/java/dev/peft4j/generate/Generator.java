/*
 * Generator: autoregressive generation with a KV cache — one prefill pass over the prompt, then
 * one position per step — for one prompt or a batch of prompts of different lengths (left-padded,
 * with the padding masked out of attention and position ids counted from each row's first real
 * token, as transformers' generate does). Stops at max_new_tokens or at an end-of-sequence id.
 */
package dev.peft4j.generate;

import dev.peft4j.Peft4jException;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.KvCache;
import dev.peft4j.model.NonFinite;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

public final class Generator {
    /** Called once per generated token: which row, which id. */
    @FunctionalInterface
    public interface TokenListener { void onToken(int row, int id); }

    private final CausalLM model;

    public Generator(CausalLM model) { this.model = model; }

    /** Generates for one prompt; returns only the new ids. */
    public int[] generate(int[] prompt, SamplingConfig cfg, Set<Integer> eos, TokenListener listener) {
        return generate(List.of(prompt), cfg, eos, listener).get(0);
    }

    /** Generates for a batch of prompts; returns the new ids of each row (EOS not included). */
    public List<int[]> generate(List<int[]> prompts, SamplingConfig cfg, Set<Integer> eos, TokenListener listener) {
        int B = prompts.size(), V = model.config().vocabSize();
        if (B == 0) return List.of();
        int P = 0, longest = 0;
        for (int i = 0; i < prompts.size(); i++) {
            int[] p = prompts.get(i);
            if (p.length > P) longest = i;
            if (p.length == 0) throw new Peft4jException("empty prompt: give at least one token (e.g. the BOS token)");
            for (int id : p)
                if (id < 0 || id >= V) throw new Peft4jException("token id " + id + " is outside the vocabulary [0, " + V + ")");
            P = Math.max(P, p.length);
        }
        int limit = model.config().maxPositions();
        if (P > limit)
            throw new Peft4jException("prompt" + (B > 1 ? " " + longest + " of the batch" : "") + " is " + P
                    + " tokens but the model's context (max_position_embeddings) is " + limit + " positions; shorten it");
        // slot < limit keeps every row's position < limit; long: P + a huge max_new_tokens must not wrap
        int capacity = (int) Math.min((long) P + cfg.maxNewTokens(), limit);
        KvCache cache = model.newCache(B, capacity);
        int[] pad = new int[B], tokens = new int[B * P];
        for (int b = 0; b < B; b++) {
            int[] p = prompts.get(b);
            pad[b] = P - p.length;
            System.arraycopy(p, 0, tokens, b * P + pad[b], p.length);   // pad slots hold token 0, masked out
        }
        List<List<Integer>> out = new ArrayList<>();
        for (int b = 0; b < B; b++) out.add(new ArrayList<>());
        boolean[] done = new boolean[B];
        Sampler[] samplers = new Sampler[B];
        for (int b = 0; b < B; b++)
            samplers[b] = new Sampler(new SamplingConfig(cfg.maxNewTokens(), cfg.temperature(), cfg.topK(), cfg.topP(),
                    cfg.seed() + b, cfg.stopAtEos()));
        float[] logits = model.forward(tokens, B, P, cache, pad, true);       // (B, V)
        int[] next = new int[B];
        for (int step = 0; step < cfg.maxNewTokens(); step++) {
            int live = 0;
            for (int b = 0; b < B; b++) {
                if (done[b]) continue;
                // NaN/Inf logits would sample garbage (or nothing, as argmax of NaN): fail, naming the cause.
                NonFinite.checkLogits(model, logits, b * V, (b + 1) * V,
                        "logits of generated token " + (step + 1) + (B > 1 ? " (prompt " + b + ")" : ""));
                int id = samplers[b].next(logits, b * V, V);
                next[b] = id;
                if (cfg.stopAtEos() && eos.contains(id)) { done[b] = true; continue; }
                out.get(b).add(id);
                if (listener != null) listener.onToken(b, id);
                live++;
            }
            if (live == 0 || step == cfg.maxNewTokens() - 1 || cache.length() >= cache.capacity()) break;
            logits = model.forward(next, B, 1, cache, pad, true);
        }
        List<int[]> result = new ArrayList<>();
        for (List<Integer> ids : out) result.add(ids.stream().mapToInt(Integer::intValue).toArray());
        return result;
    }
}
