/*
 * Phi3: the decoder of Phi-3/3.5-mini and Phi-4-mini (model_type "phi3"). A Llama-style pre-norm decoder
 * (RMSNorm -> attention with RoPE -> residual, RMSNorm -> SwiGLU MLP -> residual, final RMSNorm, LM head)
 * whose projections are fused: self_attn.qkv_proj holds q, k and v stacked in one matrix, mlp.gate_up_proj
 * holds gate and up (LoRA targets them by those names, as PEFT does). Two things in the rotary embedding:
 *   - partial_rotary_factor (Phi-4-mini 0.75): RoPE turns the first R = int(HS * factor) values of each head,
 *     the other HS - R pass through unchanged;
 *   - LongRoPE (rope_scaling type "longrope"): frequency i is divided by short_factor[i] while the sequence is
 *     at most original_max_position_embeddings tokens long and by long_factor[i] beyond; cos and sin are
 *     multiplied by sqrt(1 + ln(s) / ln(original_max)), s = max_position_embeddings / original_max.
 *     transformers picks short or long from the sequence length at each forward, so the same token gets other
 *     logits in a 4k sequence than in a 5k one. Here each row decides by its own length (last position + 1);
 *     transformers decides for the whole batch (max over its rows), which differs only for a padded batch that
 *     mixes short and long rows. When generation carries a row past original_max, every cached key and value
 *     is stale (each layer's input changes with the factors), so — as transformers' generate() does — the
 *     cache is dropped and the whole sequence recomputed once, from the token ids the cache records.
 * sliding_window W: a query sees the last W positions, itself included (transformers' eager/SDPA mask, as for
 * Mistral; its flash-attention path, window_size (W, W), admits W + 1 — why Phi-3-mini-4k says 2047).
 * Mirrors transformers' modeling_phi3.py (4.46: Phi3Attention, Phi3MLP's gate/up chunk order,
 * Phi3LongRoPEScaledRotaryEmbedding, the sliding-window mask; partial rotary as the later releases apply it).
 *
 * Shapes: B batch, T new positions, C hidden, NH/KVH query/key-value heads, HS head size, R rotary values
 * per head, I MLP width, V vocabulary; "rows" = B*T.
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

public final class Phi3 implements CausalLM {
    /** One decoder block, module names as in transformers: self_attn.qkv_proj, self_attn.o_proj, mlp.gate_up_proj, mlp.down_proj. */
    public record Block(Tensor attnNorm, Linear qkv, Linear o, Tensor mlpNorm, Linear gateUp, Linear down) {}

    private final ModelConfig cfg;
    final Tensor embed;       // (V, C)                 model.embed_tokens
    final Block[] blocks;     // L                      model.layers.N
    final Tensor finalNorm;   // (C)                    model.norm
    final Linear lmHead;      // (V, C)                 lm_head; shares embed's tensor when tie_word_embeddings
    private final Rope shortRope;  // (positions, R/2)  short factors (or plain RoPE without rope_scaling)
    private final Rope longRope;   // (positions, R/2)  long factors; null without rope_scaling
    private boolean checkpointing;
    private VirtualPrompt prompt;

    Phi3(ModelConfig cfg, Tensor embed, Block[] blocks, Tensor finalNorm, Linear lmHead) {
        this.cfg = cfg;
        this.embed = embed;
        this.blocks = blocks;
        this.finalNorm = finalNorm;
        this.lmHead = lmHead;
        double scale = cfg.longRopeAttentionFactor();
        this.shortRope = new Rope(cfg.longRopeInverseFrequencies(false), scale, cfg.maxPositions());
        this.longRope = cfg.ropeScaling() == null ? null : new Rope(cfg.longRopeInverseFrequencies(true), scale, cfg.maxPositions());
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
        if (cache != null && crossesOriginalMax(cache, tokens, B, T, pad))
            return recompute(tape, tokens, B, T, cache, pad, lastOnly);
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
        int[] pos = Positions.of(B, Tn, start, pad, virt);                          // (B*Tn) position of each row

        if (cache != null && longRope != null) cache.recordTokens(tokens, T, start + Tn - T);  // input rows follow virtual ones
        // LongRoPE: row b uses the long factors once its length (last position + 1) exceeds original_max.
        boolean[] useLong = new boolean[B];
        for (int b = 0; b < B && longRope != null; b++) useLong[b] = pos[b * Tn + Tn - 1] + 1 > cfg.ropeScaling().originalMaxPositions();
        float[][] cosSin = new float[2][];
        int[] ropePos = ropeTables(start + Tn, pos, useLong, Tn, cosSin);

        final int first = start, rows = Tn;
        for (int l = 0; l < blocks.length; l++) {
            final int layer = l;
            BiFunction<Tape, Tensor, Tensor> block = (t, in) -> block(t, in, layer, ropePos, cosSin[0], cosSin[1], prefix,
                    cache, first, pad, B, rows);
            x = checkpointing ? Checkpoint.apply(tape, x, block) : block.apply(tape, x);
        }
        if (cache != null) cache.advance(start + Tn - cache.length());
        if (lastOnly) x = Ops.lastRows(tape, x, B, Tn);                             // (B, C)
        else if (Tn != T + keep) x = Ops.sliceSeq(tape, x, B, Tn, P - keep, T + keep); // drop virtual rows: (B*(T+keep), C)
        return Ops.rmsnorm(tape, x, finalNorm, eps);                                 // (rows, C)
    }

    /** Decoder block l: x (B*T, C) -> x + attention(norm(x)) -> that + mlp(norm(that)). */
    private Tensor block(Tape tape, Tensor x, int l, int[] pos, float[] cos, float[] sin, VirtualPrompt.Prefix prefix,
                         KvCache cache, int start, int[] pad, int B, int T) {
        int NH = cfg.numHeads(), KVH = cfg.numKvHeads(), HS = cfg.headDim(), R = cfg.rotaryDim(), I = cfg.intermediateSize();
        float eps = cfg.normEps();
        Block blk = blocks[l];
        Tensor h = Ops.rmsnorm(tape, x, blk.attnNorm(), eps);                       // (B*T, C)
        Tensor qkv = blk.qkv().forward(tape, h);                                    // (B*T, (NH + 2*KVH)*HS)
        Tensor[] s = Ops.splitColumns(tape, qkv, NH * HS, KVH * HS, KVH * HS);      // q (B*T, NH*HS), k, v (B*T, KVH*HS)
        Tensor q = Ops.rope(tape, s[0], pos, cos, sin, NH, HS, R);                 // first R of each head turned
        Tensor k = Ops.rope(tape, s[1], pos, cos, sin, KVH, HS, R);
        Tensor[] kvPrefix = prefix == null ? null : prefix.keysValues(tape, l, B);  // 2 x (B*P, KVH*HS)
        Tensor att = Positions.attention(tape, q, k, s[2], kvPrefix, cache, start, l, pad, B, T, NH, KVH, HS, cfg.slidingWindow());
        x = Ops.add(tape, x, blk.o().forward(tape, att));                           // (B*T, C)
        h = Ops.rmsnorm(tape, x, blk.mlpNorm(), eps);
        Tensor[] gu = Ops.splitColumns(tape, blk.gateUp().forward(tape, h), I, I);  // gate (B*T, I), then up (B*T, I)
        return Ops.add(tape, x, blk.down().forward(tape, Ops.swiglu(tape, gu[0], gu[1])));  // (B*T, C)
    }

    /**
     * cos/sin tables covering positions [0, n) for this forward, into cosSin; returns the row index of each
     * row's position in them. All rows short (or all long): that table and pos. Mixed (a padded batch of
     * short and long rows): the two tables stacked, (2n, R/2), long rows indexed n further.
     */
    private int[] ropeTables(int n, int[] pos, boolean[] useLong, int Tn, float[][] cosSin) {
        int B = useLong.length, longRows = 0;
        for (boolean u : useLong) if (u) longRows++;
        shortRope.ensure(n);
        if (longRows == 0) { cosSin[0] = shortRope.cos(); cosSin[1] = shortRope.sin(); return pos; }
        longRope.ensure(n);
        if (longRows == B) { cosSin[0] = longRope.cos(); cosSin[1] = longRope.sin(); return pos; }
        int half = cfg.rotaryDim() / 2;
        float[] cos = new float[2 * n * half], sin = new float[2 * n * half];
        System.arraycopy(shortRope.cos(), 0, cos, 0, n * half);
        System.arraycopy(shortRope.sin(), 0, sin, 0, n * half);
        System.arraycopy(longRope.cos(), 0, cos, n * half, n * half);
        System.arraycopy(longRope.sin(), 0, sin, n * half, n * half);
        cosSin[0] = cos;
        cosSin[1] = sin;
        int[] out = pos.clone();
        for (int b = 0; b < B; b++) if (useLong[b]) for (int t = 0; t < Tn; t++) out[b * Tn + t] += n;
        return out;
    }

    @Override public boolean needsOwnStep(KvCache cache, int T) {
        return cache.batch() == 1 && !cache.isRagged() && crossesOriginalMax(cache, null, 1, T, null);
    }

    /** True when this forward takes some row from at most original_max positions (short factors) past it. */
    private boolean crossesOriginalMax(KvCache cache, int[] tokens, int B, int T, int[] pad) {
        int start = cache.length(), virt = cache.virtualTokens(), orig = longRope == null ? 0 : cfg.ropeScaling().originalMaxPositions();
        if (longRope == null || start <= virt) return false;          // nothing of the sequence cached yet
        int[] before = Positions.of(B, 1, start - 1, pad, virt), after = Positions.of(B, 1, start + T - 1, pad, virt);
        for (int b = 0; b < B; b++) if (before[b] + 1 <= orig && after[b] + 1 > orig) return true;
        return false;
    }

    /**
     * The forward over [cached tokens | new tokens] from an empty cache (transformers' generate() does the same
     * when the sequence passes original_max): every layer's keys and values are rebuilt with the long factors.
     * Returns the new rows only, as the cached forward would.
     */
    private Tensor recompute(Tape tape, int[] tokens, int B, int T, KvCache cache, int[] pad, boolean lastOnly) {
        int from = cache.virtualTokens(), old = cache.length() - from, all = old + T;
        int[] cached = cache.tokens(from, cache.length()), ids = new int[B * all];   // (B, old) and (B, old + T)
        for (int b = 0; b < B; b++) {
            System.arraycopy(cached, b * old, ids, b * all, old);
            System.arraycopy(tokens, b * T, ids, b * all + old, T);
        }
        cache.clear();
        Tensor x = hidden(tape, ids, B, all, cache, pad, lastOnly, 0);              // (B*all, C), or (B, C)
        return lastOnly ? x : Ops.sliceSeq(tape, x, B, all, old, T);                // (B*T, C)
    }

    @Override public void setGradientCheckpointing(boolean on) { this.checkpointing = on; }

    @Override public boolean headTied() { return lmHead.weight() == embed; }

    @Override public List<Linear> linears() {
        List<Linear> out = new ArrayList<>();
        for (Block b : blocks) out.addAll(List.of(b.o(), b.qkv(), b.gateUp(), b.down()));   // transformers' module order
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
