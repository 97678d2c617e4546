/*
 * Gpt2: OpenAI's GPT-2 as in transformers' modeling_gpt2.py — token + learned position
 * embeddings, L blocks of (LayerNorm -> fused qkv attention -> residual, LayerNorm -> tanh-GELU
 * MLP -> residual), final LayerNorm, head tied to the token embedding. Conv1D weights were
 * transposed to [out, in] at load, so c_attn is an ordinary Linear producing (q | k | v).
 * The same code serves training (with a Tape) and generation (with a KV cache).
 *
 * Shapes: B batch, T new positions, C = n_embd, NH heads, HS = C/NH, V vocabulary; rows = B*T.
 */
package dev.peft4j.model;

import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Checkpoint;
import dev.peft4j.autograd.Ops;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.nn.Linear;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.function.BiFunction;

public final class Gpt2 implements CausalLM {
    /** One block: module names as in transformers (attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj). */
    public record Block(Tensor ln1W, Tensor ln1B, Linear cAttn, Linear cProj,
                        Tensor ln2W, Tensor ln2B, Linear cFc, Linear mlpProj) {}

    private final ModelConfig cfg;
    final Tensor wte;          // (V, C)   transformer.wte
    final Tensor wpe;          // (P, C)   transformer.wpe
    final Block[] blocks;      //          transformer.h.N
    final Tensor lnFW, lnFB;   // (C)      transformer.ln_f
    final Linear lmHead;       // (V, C)   lm_head, shares wte when tied
    private boolean checkpointing;
    private VirtualPrompt prompt;    // a prompt-learning adapter's virtual tokens / prefixes, or null

    Gpt2(ModelConfig cfg, Tensor wte, Tensor wpe, Block[] blocks, Tensor lnFW, Tensor lnFB, Linear lmHead) {
        this.cfg = cfg;
        this.wte = wte;
        this.wpe = wpe;
        this.blocks = blocks;
        this.lnFW = lnFW;
        this.lnFB = lnFB;
        this.lmHead = lmHead;
    }

    @Override public ModelConfig config() { return cfg; }

    @Override public KvCache newCache(int batch, int capacity) {
        return new KvCache(cfg.numLayers(), batch, capacity + (prompt == null ? 0 : prompt.length()), cfg.numHeads(), cfg.headDim());
    }

    @Override public void setPrompt(VirtualPrompt p) { this.prompt = p; }
    @Override public VirtualPrompt prompt() { return prompt; }

    @Override
    public Tensor forward(Tape tape, int[] tokens, int B, int T, KvCache cache, int[] pad, boolean lastOnly) {
        return lmHead.forward(tape, hidden(tape, tokens, B, T, cache, pad, lastOnly));     // (rows, V)
    }

    @Override public Linear lmHead() { return lmHead; }

    @Override
    public Tensor hidden(Tape tape, int[] tokens, int B, int T, KvCache cache, int[] pad, boolean lastOnly) {
        return hidden(tape, tokens, B, T, cache, pad, lastOnly, 0);
    }

    @Override
    public Tensor hiddenForLoss(Tape tape, int[] tokens, int B, int T) {
        return hidden(tape, tokens, B, T, null, null, false, lossRowsBeforeInput());
    }

    /** keep: how many of the last virtual rows (a Tokens prompt's) stay before the input rows of each sequence. */
    private Tensor hidden(Tape tape, int[] tokens, int B, int T, KvCache cache, int[] pad, boolean lastOnly, int keep) {
        float eps = cfg.normEps();
        // A virtual prompt enters once: in every cache-less forward, or in the first forward over a cache.
        VirtualPrompt vp = cache == null || cache.length() == 0 ? prompt : null;
        int P = vp == null ? 0 : vp.length();
        if (cache != null && P > 0) cache.setVirtualTokens(P);
        int virt = cache != null ? cache.virtualTokens() : P;
        int start = cache == null ? 0 : cache.length();                                // slot of the first new row
        if (vp instanceof VirtualPrompt.Prefix) start = P;                             // the prefix holds slots [0, P)
        int Tn = vp instanceof VirtualPrompt.Tokens ? P + T : T;                        // rows per sequence in the blocks
        if (start + Tn > cfg.maxPositions())
            throw new Peft4jException("GPT-2 has learned positions for " + cfg.maxPositions() + " tokens; this call needs "
                    + (start + Tn) + (P > 0 ? " (" + P + " of them virtual tokens of the prompt adapter)" : "")
                    + ". Shorten the input (or --max-new-tokens)");
        int[] pos = Positions.of(B, Tn, start, pad, virt);

        Tensor x = Ops.embedding(tape, wte, tokens);                                     // (B*T, C)
        if (vp instanceof VirtualPrompt.Tokens vt) x = Ops.concatSeq(tape, vt.embeddings(tape, B), P, x, T, B);
        x = Ops.add(tape, x, Ops.embedding(tape, wpe, pos));                            // (B*Tn, C)
        VirtualPrompt.Prefix prefix = vp instanceof VirtualPrompt.Prefix pf ? pf : null;
        final int first = start, rows = Tn;
        for (int l = 0; l < blocks.length; l++) {
            final int layer = l;
            BiFunction<Tape, Tensor, Tensor> block = (t, in) -> block(t, in, layer, prefix, cache, first, pad, B, rows);
            x = checkpointing ? Checkpoint.apply(tape, x, block) : block.apply(tape, x);
        }
        if (cache != null) cache.advance(start + Tn - cache.length());
        if (lastOnly) x = Ops.lastRows(tape, x, B, Tn);                              // (B, C)
        else if (Tn != T + keep) x = Ops.sliceSeq(tape, x, B, Tn, P - keep, T + keep); // drop virtual rows: (B*(T+keep), C)
        return Ops.layernorm(tape, x, lnFW, lnFB, eps);                                 // (rows, C)
    }

    /** Block l: x (B*T, C) -> x + attn(ln_1(x)) -> that + mlp(ln_2(that)). */
    private Tensor block(Tape tape, Tensor x, int l, VirtualPrompt.Prefix prefix, KvCache cache, int start, int[] pad,
                         int B, int T) {
        int C = cfg.hiddenSize(), NH = cfg.numHeads(), HS = cfg.headDim();
        float eps = cfg.normEps();
        Block blk = blocks[l];
        Tensor h = Ops.layernorm(tape, x, blk.ln1W(), blk.ln1B(), eps);                     // (B*T, C)
        Tensor[] qkv = Ops.split3(tape, blk.cAttn().forward(tape, h), C);                   // 3 x (B*T, NH*HS)
        Tensor[] kvPrefix = prefix == null ? null : prefix.keysValues(tape, l, B);          // 2 x (B*P, NH*HS)
        Tensor att = Positions.attention(tape, qkv[0], qkv[1], qkv[2], kvPrefix, cache, start, l, pad, B, T, NH, NH, HS, 0);
        x = Ops.add(tape, x, blk.cProj().forward(tape, att));
        h = Ops.layernorm(tape, x, blk.ln2W(), blk.ln2B(), eps);
        Tensor fc = Ops.geluTanh(tape, blk.cFc().forward(tape, h));                          // (B*T, 4C)
        return Ops.add(tape, x, blk.mlpProj().forward(tape, fc));                            // (B*T, C)
    }

    @Override public void setGradientCheckpointing(boolean on) { this.checkpointing = on; }

    @Override public boolean headTied() { return lmHead.weight() == wte; }

    @Override public List<Linear> linears() {
        List<Linear> out = new ArrayList<>();
        for (Block b : blocks) out.addAll(List.of(b.cAttn(), b.cProj(), b.cFc(), b.mlpProj()));
        out.add(lmHead);
        return out;
    }

    @Override public List<Tensor> parameters() {
        IdentityHashMap<Tensor, Boolean> seen = new IdentityHashMap<>();
        List<Tensor> out = new ArrayList<>();
        List<Tensor> all = new ArrayList<>(List.of(wte, wpe));
        for (Block b : blocks) all.addAll(List.of(b.ln1W(), b.ln1B(), b.ln2W(), b.ln2B()));
        all.addAll(List.of(lnFW, lnFB));
        for (Linear lin : linears()) { all.add(lin.weight()); if (lin.bias() != null) all.add(lin.bias()); }
        for (Tensor t : all) if (seen.put(t, true) == null) out.add(t);
        return out;
    }
}
