/*
 * Llama: the decoder used by Llama 2/3, TinyLlama, SmolLM, Mistral and Qwen2 — they differ only in
 * configuration (grouped-query heads, q/k/v biases, rope_theta/rope_scaling, sliding window, tied
 * head), all resolved in ModelConfig. Read it top to bottom: embedding, L blocks of
 * (RMSNorm -> attention with RoPE -> residual, RMSNorm -> SwiGLU MLP -> residual), final RMSNorm,
 * LM head. Mirrors transformers' modeling_llama.py, including its rotate_half RoPE layout.
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
    /** One decoder block: module names as in transformers (self_attn.q_proj, mlp.gate_proj, ...). */
    public record Block(Tensor attnNorm, Linear q, Linear k, Linear v, Linear o,
                        Tensor mlpNorm, Linear gate, Linear up, Linear down) {}

    private final ModelConfig cfg;
    final Tensor embed;       // (V, C)     model.embed_tokens
    final Block[] blocks;     // L          model.layers.N
    final Tensor finalNorm;   // (C)        model.norm
    final Linear lmHead;      // (V, C)     lm_head; shares embed's tensor when tie_word_embeddings
    private final Rope rope;
    private boolean checkpointing;   // recompute each block in the backward instead of keeping its activations

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
        return new KvCache(cfg.numLayers(), batch, capacity, cfg.numKvHeads(), cfg.headDim());
    }

    @Override
    public Tensor forward(Tape tape, int[] tokens, int B, int T, KvCache cache, int[] pad, boolean lastOnly) {
        return lmHead.forward(tape, hidden(tape, tokens, B, T, cache, pad, lastOnly));     // (rows, V)
    }

    @Override public Linear lmHead() { return lmHead; }

    @Override
    public Tensor hidden(Tape tape, int[] tokens, int B, int T, KvCache cache, int[] pad, boolean lastOnly) {
        float eps = cfg.normEps();
        int start = cache == null ? 0 : cache.length();
        int[] pos = Positions.of(B, T, start, pad);
        rope.ensure(start + T);

        Tensor x = Ops.embedding(tape, embed, tokens);                              // (B*T, C)
        for (int l = 0; l < blocks.length; l++) {
            final int layer = l;
            BiFunction<Tape, Tensor, Tensor> block = (t, in) -> block(t, in, layer, pos, cache, pad, B, T);
            x = checkpointing ? Checkpoint.apply(tape, x, block) : block.apply(tape, x);
        }
        if (cache != null) cache.advance(T);
        if (lastOnly) x = Ops.lastRows(tape, x, B, T);                              // (B, C)
        return Ops.rmsnorm(tape, x, finalNorm, eps);                                 // (rows, C)
    }

    /** Decoder block l: x (B*T, C) -> x + attention(norm(x)) -> that + mlp(norm(that)). */
    private Tensor block(Tape tape, Tensor x, int l, int[] pos, KvCache cache, int[] pad, int B, int T) {
        int NH = cfg.numHeads(), KVH = cfg.numKvHeads(), HS = cfg.headDim();
        float eps = cfg.normEps();
        Block blk = blocks[l];
        Tensor h = Ops.rmsnorm(tape, x, blk.attnNorm(), eps);                       // (B*T, C)
        Tensor q = blk.q().forward(tape, h);                                        // (B*T, NH*HS)
        Tensor k = blk.k().forward(tape, h);                                        // (B*T, KVH*HS)
        Tensor v = blk.v().forward(tape, h);                                        // (B*T, KVH*HS)
        q = Ops.rope(tape, q, pos, rope.cos(), rope.sin(), NH, HS);
        k = Ops.rope(tape, k, pos, rope.cos(), rope.sin(), KVH, HS);
        Tensor att = Positions.attention(tape, q, k, v, cache, l, pad, B, T, NH, KVH, HS, cfg.slidingWindow());
        x = Ops.add(tape, x, blk.o().forward(tape, att));                           // (B*T, C)
        h = Ops.rmsnorm(tape, x, blk.mlpNorm(), eps);
        Tensor g = blk.gate().forward(tape, h);                                     // (B*T, I)
        Tensor u = blk.up().forward(tape, h);                                       // (B*T, I)
        return Ops.add(tape, x, blk.down().forward(tape, Ops.swiglu(tape, g, u)));  // (B*T, C)
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
        for (Block b : blocks) all.addAll(List.of(b.attnNorm(), b.mlpNorm()));
        all.add(finalNorm);
        for (Linear lin : linears()) { all.add(lin.weight()); if (lin.bias() != null) all.add(lin.bias()); }
        for (Tensor t : all) if (seen.put(t, true) == null) out.add(t);
        return out;
    }
}
