/*
 * Llama: the decoder used by Llama 2/3, TinyLlama, SmolLM, SmolLM3, Mistral, Qwen2, Qwen3 and OLMo 2 — they
 * differ only in configuration (grouped-query heads, q/k/v biases, rope_theta/rope_scaling, sliding window, tied
 * head, and the ModelConfig.Arch switches: Qwen3's per-head q/k RMSNorm, OLMo 2's q/k RMSNorm over the full
 * projection and post-norm blocks, SmolLM3's layers without RoPE), all resolved in ModelConfig. Read it top to
 * bottom: embedding, L blocks of (RMSNorm -> attention with RoPE -> residual, RMSNorm -> SwiGLU MLP -> residual)
 * — OLMo 2: (attention -> RMSNorm -> residual, MLP -> RMSNorm -> residual) — final RMSNorm, LM head.
 * Mirrors transformers' modeling_llama.py, including its rotate_half RoPE layout.
 * The same code serves training (with a Tape) and generation (with a KV cache).
 *
 * Shapes: B batch, T new positions, C hidden, NH/KVH query/key-value heads, HS head size,
 * I MLP width, V vocabulary; "rows" = B*T.
 */
package dev.peft4j.model;

import dev.peft4j.autograd.Checkpoint;
import dev.peft4j.autograd.Ops;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.nn.Linear;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.function.BiFunction;

public final class Llama implements CausalLM {
    /**
     * One decoder block: module names as in transformers (self_attn.q_proj, mlp.gate_proj, ...).
     * attnNorm (C): the attention branch's norm — input_layernorm, before attention; in OLMo 2 (Arch.postNorm)
     *               post_attention_layernorm, after it.
     * mlpNorm (C):  the MLP branch's norm — post_attention_layernorm (transformers' name), before the MLP; in
     *               OLMo 2 post_feedforward_layernorm, after it.
     * qNorm, kNorm: self_attn.q_norm / k_norm: Qwen3's RMSNorm over each head (HS), OLMo 2's over the whole
     *               projection (NH*HS, KVH*HS); null in the other families.
     */
    public record Block(Tensor attnNorm, Linear q, Linear k, Linear v, Linear o, Tensor qNorm, Tensor kNorm,
                        Tensor mlpNorm, Linear gate, Linear up, Linear down) {}

    /** A block's two norms in the checkpoint, {attnNorm, mlpNorm} (see Block): pre-norm, or OLMo 2's post-norm names. */
    public static List<String> normNames(ModelConfig c) {
        return c.arch().postNorm() ? List.of("post_attention_layernorm", "post_feedforward_layernorm")
                : List.of("input_layernorm", "post_attention_layernorm");
    }

    /** The sizes of self_attn.q_norm / k_norm: {HS, HS} per head (Qwen3), {NH*HS, KVH*HS} over the projection (OLMo 2). */
    public static int[] qkNormSizes(ModelConfig c) {
        int HS = c.headDim();
        return c.arch().qkNormFull() ? new int[] {c.numHeads() * HS, c.numKvHeads() * HS} : new int[] {HS, HS};
    }

    private final ModelConfig cfg;
    final Tensor embed;       // (V, C)     model.embed_tokens
    final Block[] blocks;     // L          model.layers.N
    final Tensor finalNorm;   // (C)        model.norm
    final Linear lmHead;      // (V, C)     lm_head; shares embed's tensor when tie_word_embeddings
    private final Rope rope;
    private boolean checkpointing;   // recompute each block in the backward instead of keeping its activations
    private VirtualPrompt prompt;    // a prompt-learning adapter's virtual tokens / prefixes, or null

    Llama(ModelConfig cfg, Tensor embed, Block[] blocks, Tensor finalNorm, Linear lmHead) {
        this.cfg = cfg;
        this.embed = embed;
        this.blocks = blocks;
        this.finalNorm = finalNorm;
        this.lmHead = lmHead;
        this.rope = new Rope(cfg);
    }

    @Override public ModelConfig config() { return cfg; }

    @Override public KvCache newCache(int batch, int capacity) {
        return new KvCache(cfg.numLayers(), batch, capacity + (prompt == null ? 0 : prompt.length()), cfg.numKvHeads(), cfg.headDim());
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
        int start = cache == null ? 0 : cache.length();                            // slot of the first new row

        Tensor x = Ops.embedding(tape, embed, tokens);                              // (B*T, C)
        int Tn = T;                                                                 // rows per sequence in the blocks
        if (vp instanceof VirtualPrompt.Tokens vt) {                                 // [virtual | input] (B*(P+T), C)
            x = Ops.concatSeq(tape, vt.embeddings(tape, B), P, x, T, B);
            Tn = P + T;
        } else if (vp instanceof VirtualPrompt.Prefix) {
            start = P;                                                              // the prefix holds slots [0, P)
        }
        VirtualPrompt.Prefix prefix = vp instanceof VirtualPrompt.Prefix pf ? pf : null;
        int[] pos = Positions.of(B, Tn, start, pad, virt);
        rope.ensure(start + Tn);
        final int first = start, rows = Tn;
        for (int l = 0; l < blocks.length; l++) {
            final int layer = l;
            BiFunction<Tape, Tensor, Tensor> block = (t, in) -> block(t, in, layer, pos, prefix, cache, first, pad, B, rows);
            x = checkpointing ? Checkpoint.apply(tape, x, block) : block.apply(tape, x);
        }
        if (cache != null) cache.advance(start + Tn - cache.length());
        if (lastOnly) x = Ops.lastRows(tape, x, B, Tn);                             // (B, C)
        else if (Tn != T + keep) x = Ops.sliceSeq(tape, x, B, Tn, P - keep, T + keep); // drop virtual rows: (B*(T+keep), C)
        return Ops.rmsnorm(tape, x, finalNorm, eps);                                 // (rows, C)
    }

    /**
     * Decoder block l: x (B*T, C) -> x + attention(norm(x)) -> that + mlp(norm(that));
     * OLMo 2 (post-norm): x -> x + norm(attention(x)) -> that + norm(mlp(that)).
     */
    private Tensor block(Tape tape, Tensor x, int l, int[] pos, VirtualPrompt.Prefix prefix, KvCache cache, int start,
                         int[] pad, int B, int T) {
        int NH = cfg.numHeads(), KVH = cfg.numKvHeads(), HS = cfg.headDim();
        float eps = cfg.normEps();
        boolean postNorm = cfg.arch().postNorm();
        Block blk = blocks[l];
        Tensor h = postNorm ? x : Ops.rmsnorm(tape, x, blk.attnNorm(), eps);        // (B*T, C)
        Tensor q = blk.q().forward(tape, h);                                        // (B*T, NH*HS)
        Tensor k = blk.k().forward(tape, h);                                        // (B*T, KVH*HS)
        Tensor v = blk.v().forward(tape, h);                                        // (B*T, KVH*HS)
        if (blk.qNorm() != null) {              // Qwen3: RMSNorm over rows of HS (per head); OLMo 2: of NH*HS / KVH*HS
            q = Ops.rmsnorm(tape, q, blk.qNorm(), eps);
            k = Ops.rmsnorm(tape, k, blk.kNorm(), eps);
        }
        if (cfg.arch().rope(l)) {                                                   // SmolLM3's NoPE layers skip this
            q = Ops.rope(tape, q, pos, rope.cos(), rope.sin(), NH, HS);
            k = Ops.rope(tape, k, pos, rope.cos(), rope.sin(), KVH, HS);
        }
        Tensor[] kvPrefix = prefix == null ? null : prefix.keysValues(tape, l, B);  // 2 x (B*P, KVH*HS)
        Tensor att = Positions.attention(tape, q, k, v, kvPrefix, cache, start, l, pad, B, T, NH, KVH, HS, cfg.slidingWindow());
        Tensor a = blk.o().forward(tape, att);                                      // (B*T, C)
        if (postNorm) a = Ops.rmsnorm(tape, a, blk.attnNorm(), eps);
        x = Ops.add(tape, x, a);
        h = postNorm ? x : Ops.rmsnorm(tape, x, blk.mlpNorm(), eps);
        Tensor g = blk.gate().forward(tape, h);                                     // (B*T, I)
        Tensor u = blk.up().forward(tape, h);                                       // (B*T, I)
        Tensor m = blk.down().forward(tape, Ops.swiglu(tape, g, u));                // (B*T, C)
        if (postNorm) m = Ops.rmsnorm(tape, m, blk.mlpNorm(), eps);
        return Ops.add(tape, x, m);                                                 // (B*T, C)
    }

    @Override public void setGradientCheckpointing(boolean on) { this.checkpointing = on; }

    @Override public boolean headTied() { return lmHead.weight() == embed; }

    @Override public List<Linear> linears() {
        List<Linear> out = new ArrayList<>();
        for (Block b : blocks) out.addAll(List.of(b.q(), b.k(), b.v(), b.o(), b.gate(), b.up(), b.down()));
        out.add(lmHead);
        return out;
    }

    @Override public List<Tensor> parameters() {
        IdentityHashMap<Tensor, Boolean> seen = new IdentityHashMap<>();
        List<Tensor> out = new ArrayList<>();
        List<Tensor> all = new ArrayList<>(List.of(embed));
        for (Block b : blocks) {
            all.addAll(List.of(b.attnNorm(), b.mlpNorm()));
            if (b.qNorm() != null) all.addAll(List.of(b.qNorm(), b.kNorm()));
        }
        all.add(finalNorm);
        for (Linear lin : linears()) { all.add(lin.weight()); if (lin.bias() != null) all.add(lin.bias()); }
        for (Tensor t : all) if (seen.put(t, true) == null) out.add(t);
        return out;
    }
}
