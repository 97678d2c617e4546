/*
 * Llama: the decoder used by Llama 2/3, TinyLlama, SmolLM, Mistral and Qwen2 — they differ only in
 * configuration (grouped-query heads, q/k/v biases, rope_theta/rope_scaling, sliding window, tied
 * head), all resolved in ModelConfig. Read it top to bottom: embedding, L blocks of
 * (RMSNorm -> attention with RoPE -> residual, RMSNorm -> SwiGLU MLP -> residual), final RMSNorm,
 * LM head. Mirrors transformers' modeling_llama.py, including its rotate_half RoPE layout.
 *
 * Shapes: B batch, T new positions, C hidden, NH/KVH query/key-value heads, HS head size,
 * I MLP width, V vocabulary; "rows" = B*T.
 */
package dev.peft4j.model;

import dev.peft4j.kernels.Kernels;

public final class Llama implements CausalLM {
    /** One decoder block's weights. */
    public record Block(float[] attnNorm, Linear q, Linear k, Linear v, Linear o,
                        float[] mlpNorm, Linear gate, Linear up, Linear down) {}

    private final ModelConfig cfg;
    final float[] embed;      // (V, C)
    final Block[] blocks;     // L
    final float[] finalNorm;  // (C)
    final Linear lmHead;      // (V, C); shares embed's array when tie_word_embeddings
    private final Rope rope;

    Llama(ModelConfig cfg, float[] embed, Block[] blocks, float[] finalNorm, Linear lmHead) {
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
    public float[] forward(int[] tokens, int B, int T, KvCache cache, int[] pad, boolean lastOnly) {
        int C = cfg.hiddenSize(), NH = cfg.numHeads(), KVH = cfg.numKvHeads(), HS = cfg.headDim();
        int I = cfg.intermediateSize(), rows = B * T, start = cache.length();
        float eps = cfg.normEps();
        int[] pos = Positions.of(B, T, start, pad);
        rope.ensure(start + T);

        float[] x = new float[rows * C];                          // (B*T, C) residual stream
        for (int r = 0; r < rows; r++) System.arraycopy(embed, tokens[r] * C, x, r * C, C);
        float[] h = new float[rows * C];                          // (B*T, C) normed input
        float[] q = new float[rows * NH * HS];                    // (B*T, NH, HS)
        float[] k = new float[rows * KVH * HS];                   // (B*T, KVH, HS)
        float[] v = new float[rows * KVH * HS];                   // (B*T, KVH, HS)
        float[] att = new float[rows * NH * HS];                  // (B*T, NH, HS)
        float[] proj = new float[rows * C];                       // (B*T, C)
        float[] g = new float[rows * I], u = new float[rows * I]; // (B*T, I)

        for (int l = 0; l < blocks.length; l++) {
            Block blk = blocks[l];
            // attention
            Kernels.rmsnorm(h, x, blk.attnNorm(), rows, C, eps);
            blk.q().forward(q, h, rows);
            blk.k().forward(k, h, rows);
            blk.v().forward(v, h, rows);
            Kernels.rope(q, pos, rope.cos(), rope.sin(), rows, NH, HS);
            Kernels.rope(k, pos, rope.cos(), rope.sin(), rows, KVH, HS);
            cache.store(l, k, v, T);
            Kernels.attention(att, q, cache.k[l], cache.v[l], pad, B, T, NH, KVH, HS, cache.capacity, start,
                    cfg.slidingWindow());
            blk.o().forward(proj, att, rows);
            Kernels.add(x, proj, rows * C);
            // MLP
            Kernels.rmsnorm(h, x, blk.mlpNorm(), rows, C, eps);
            blk.gate().forward(g, h, rows);
            blk.up().forward(u, h, rows);
            Kernels.swiglu(g, g, u, rows * I);
            blk.down().forward(proj, g, rows);
            Kernels.add(x, proj, rows * C);
        }
        cache.advance(T);
        return Positions.head(x, B, T, C, lastOnly, finalNorm, null, eps, lmHead);
    }

    @Override public long parameterCount() {
        long n = embed.length + finalNorm.length + (lmHead.weight() == embed ? 0 : lmHead.parameterCount());
        for (Block b : blocks)
            n += b.attnNorm().length + b.mlpNorm().length + b.q().parameterCount() + b.k().parameterCount()
                    + b.v().parameterCount() + b.o().parameterCount() + b.gate().parameterCount()
                    + b.up().parameterCount() + b.down().parameterCount();
        return n;
    }
}
