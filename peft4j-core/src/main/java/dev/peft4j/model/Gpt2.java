/*
 * Gpt2: OpenAI's GPT-2 as in transformers' modeling_gpt2.py — token + learned position
 * embeddings, L blocks of (LayerNorm -> fused qkv attention -> residual, LayerNorm -> tanh-GELU
 * MLP -> residual), final LayerNorm, head tied to the token embedding. Conv1D weights were
 * transposed to [out, in] at load, so c_attn is an ordinary Linear producing (q | k | v).
 *
 * Shapes: B batch, T new positions, C = n_embd, NH heads, HS = C/NH, V vocabulary; rows = B*T.
 */
package dev.peft4j.model;

import dev.peft4j.Peft4jException;
import dev.peft4j.kernels.Kernels;

public final class Gpt2 implements CausalLM {
    public record Block(float[] ln1W, float[] ln1B, Linear cAttn, Linear cProj,
                        float[] ln2W, float[] ln2B, Linear cFc, Linear mlpProj) {}

    private final ModelConfig cfg;
    final float[] wte;        // (V, C)
    final float[] wpe;        // (maxPositions, C)
    final Block[] blocks;
    final float[] lnFW, lnFB; // (C)
    final Linear lmHead;      // (V, C), shares wte when tied

    Gpt2(ModelConfig cfg, float[] wte, float[] wpe, Block[] blocks, float[] lnFW, float[] lnFB, Linear lmHead) {
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
        return new KvCache(cfg.numLayers(), batch, capacity, cfg.numHeads(), cfg.headDim());
    }

    @Override
    public float[] forward(int[] tokens, int B, int T, KvCache cache, int[] pad, boolean lastOnly) {
        int C = cfg.hiddenSize(), NH = cfg.numHeads(), HS = cfg.headDim(), I = cfg.intermediateSize();
        int rows = B * T, start = cache.length();
        float eps = cfg.normEps();
        int[] pos = Positions.of(B, T, start, pad);
        if (pos.length > 0 && start + T > cfg.maxPositions())
            throw new Peft4jException("GPT-2 has learned positions for " + cfg.maxPositions() + " tokens; this call needs "
                    + (start + T) + ". Shorten the prompt or --max-new-tokens");

        float[] x = new float[rows * C];                         // (B*T, C) residual stream
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < C; i++) x[r * C + i] = wte[tokens[r] * C + i] + wpe[pos[r] * C + i];
        float[] h = new float[rows * C];                         // (B*T, C)
        float[] qkv = new float[rows * 3 * C];                   // (B*T, 3C) = q | k | v
        float[] q = new float[rows * C], k = new float[rows * C], v = new float[rows * C]; // (B*T, NH, HS)
        float[] att = new float[rows * C];                       // (B*T, NH, HS)
        float[] proj = new float[rows * C];                      // (B*T, C)
        float[] fc = new float[rows * I];                        // (B*T, 4C)

        for (int l = 0; l < blocks.length; l++) {
            Block blk = blocks[l];
            Kernels.layernorm(h, x, blk.ln1W(), blk.ln1B(), rows, C, eps);
            blk.cAttn().forward(qkv, h, rows);
            for (int r = 0; r < rows; r++) {
                System.arraycopy(qkv, r * 3 * C, q, r * C, C);
                System.arraycopy(qkv, r * 3 * C + C, k, r * C, C);
                System.arraycopy(qkv, r * 3 * C + 2 * C, v, r * C, C);
            }
            cache.store(l, k, v, T);
            Kernels.attention(att, q, cache.k[l], cache.v[l], pad, B, T, NH, NH, HS, cache.capacity, start, 0);
            blk.cProj().forward(proj, att, rows);
            Kernels.add(x, proj, rows * C);
            Kernels.layernorm(h, x, blk.ln2W(), blk.ln2B(), rows, C, eps);
            blk.cFc().forward(fc, h, rows);
            Kernels.geluTanh(fc, fc, rows * I);
            blk.mlpProj().forward(proj, fc, rows);
            Kernels.add(x, proj, rows * C);
        }
        cache.advance(T);
        return Positions.head(x, B, T, C, lastOnly, lnFW, lnFB, eps, lmHead);
    }

    @Override public long parameterCount() {
        long n = wte.length + wpe.length + lnFW.length + lnFB.length + (lmHead.weight() == wte ? 0 : lmHead.parameterCount());
        for (Block b : blocks)
            n += 4L * b.ln1W().length + b.cAttn().parameterCount() + b.cProj().parameterCount()
                    + b.cFc().parameterCount() + b.mlpProj().parameterCount();
        return n;
    }
}
