/*
 * Gemma: the decoder of Gemma 2 (model_type gemma2) and Gemma 3 text (gemma3_text). Read it top to bottom:
 * embedding times √hidden, L blocks of
 *     x + post_attention_norm(attention(input_norm(x)))  then  x + post_feedforward_norm(GeGLU(pre_feedforward_norm(x))),
 * final norm, tied LM head (and Gemma 2's final soft-capping of the logits). Differences from Llama.java:
 *   - every RMSNorm multiplies by (1 + w), not w (Gemma's weights are stored as offsets from 1), and there are four
 *     per block: input_layernorm, post_attention_layernorm, pre_feedforward_layernorm, post_feedforward_layernorm;
 *   - the MLP is GeGLU: down(gelu_tanh(gate(x)) · up(x));
 *   - attention scores are scaled by query_pre_attn_scalar^-0.5 (not head_dim^-0.5); Gemma 2 soft-caps them,
 *     s = cap·tanh(s/cap), before the mask (attn_logit_softcapping), inside the attention kernels;
 *   - layers alternate between sliding-window attention (the last sliding_window keys) and global attention
 *     (ModelConfig.Gemma.sliding: Gemma 2 even layers slide, Gemma 3 all but every 6th);
 *   - Gemma 3: q_norm / k_norm, a Gemma RMSNorm over each head before RoPE, and the sliding layers use plain RoPE
 *     with base rope_local_base_freq while the global ones use rope_theta with rope_scaling.
 * Mirrors transformers' modeling_gemma2.py / modeling_gemma3.py (Gemma3ForCausalLM). The embedding scale: HF
 * multiplies by torch.tensor(hidden_size ** 0.5) in the activation dtype; peft4j computes in float32, so it is
 * float32(√hidden) — what HF computes in float32 (in bfloat16 HF would round it, e.g. √640 = 25.30 to 25.25).
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

public final class Gemma implements CausalLM {
    /**
     * One decoder block, module names as in transformers. Norm weights are Gemma's offsets (gain = 1 + w).
     * qNorm, kNorm (HS): self_attn.q_norm / k_norm (Gemma 3), null in Gemma 2.
     */
    public record Block(Tensor inputNorm, Linear q, Linear k, Linear v, Linear o, Tensor qNorm, Tensor kNorm,
                        Tensor postAttnNorm, Tensor preFfNorm, Linear gate, Linear up, Linear down, Tensor postFfNorm) {}

    private final ModelConfig cfg;
    private final ModelConfig.Gemma g;
    final Tensor embed;       // (V, C)     model.embed_tokens
    final Block[] blocks;     // L          model.layers.N
    final Tensor finalNorm;   // (C)        model.norm
    final Linear lmHead;      // (V, C)     lm_head; shares embed's tensor (Gemma ties it)
    private final Rope rope;        // rope_theta (+ rope_scaling): Gemma 2's every layer, Gemma 3's global layers
    private final Rope localRope;   // Gemma 3's sliding layers: plain RoPE with rope_local_base_freq; == rope in Gemma 2
    private boolean checkpointing;
    private VirtualPrompt prompt;

    Gemma(ModelConfig cfg, Tensor embed, Block[] blocks, Tensor finalNorm, Linear lmHead) {
        this.cfg = cfg;
        this.g = cfg.arch().gemma();
        if (g == null) throw new IllegalArgumentException("Gemma needs a gemma2 / gemma3_text config (got " + cfg.family() + ")");
        this.embed = embed;
        this.blocks = blocks;
        this.finalNorm = finalNorm;
        this.lmHead = lmHead;
        this.rope = new Rope(cfg);
        if (g.ropeLocalTheta() > 0) {
            int HS = cfg.headDim();
            double[] inv = new double[HS / 2];
            for (int i = 0; i < inv.length; i++) inv[i] = 1.0 / Math.pow(g.ropeLocalTheta(), (2.0 * i) / HS);
            this.localRope = new Rope(inv, cfg.maxPositions());
        } else {
            this.localRope = rope;
        }
    }

    @Override public ModelConfig config() { return cfg; }

    @Override public KvCache newCache(int batch, int capacity) {
        return new KvCache(cfg.numLayers(), batch, capacity + (prompt == null ? 0 : prompt.length()), cfg.numKvHeads(), cfg.headDim());
    }

    @Override public void setPrompt(VirtualPrompt p) { this.prompt = p; }
    @Override public VirtualPrompt prompt() { return prompt; }

    @Override
    public Tensor forward(Tape tape, int[] tokens, int B, int T, KvCache cache, int[] pad, boolean lastOnly) {
        Tensor logits = lmHead.forward(tape, hidden(tape, tokens, B, T, cache, pad, lastOnly));   // (rows, V)
        float cap = g.finalSoftcap();
        return cap > 0 ? Ops.softcap(tape, logits, cap) : logits;                                // Gemma 2: cap·tanh(logits/cap)
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

    /** Gemma's RMSNorm: x · rsqrt(mean(x²) + eps) · (1 + w). */
    private Tensor norm(Tape tape, Tensor x, Tensor w) {
        return Ops.rmsnorm(tape, x, Ops.shift(tape, w, 1f), cfg.normEps());
    }

    /** keep: how many of the last virtual rows (a Tokens prompt's) stay before the input rows of each sequence. */
    private Tensor hidden(Tape tape, int[] tokens, int B, int T, KvCache cache, int[] pad, boolean lastOnly, int keep) {
        VirtualPrompt vp = cache == null || cache.length() == 0 ? prompt : null;
        int P = vp == null ? 0 : vp.length();
        if (cache != null && P > 0) cache.setVirtualTokens(P);
        int virt = cache != null ? cache.virtualTokens() : P;
        int start = cache == null ? 0 : cache.length();                            // slot of the first new row

        // √hidden: Gemma 3 scales inside embed_tokens (Gemma3TextScaledWordEmbedding), so a prompt adapter's virtual
        // tokens (PEFT passes them as inputs_embeds next to embed_tokens' output) are not scaled; Gemma 2 scales the
        // whole inputs_embeds in the model, virtual tokens included.
        float normalizer = (float) Math.sqrt(cfg.hiddenSize());
        boolean gemma3 = cfg.family() == ModelConfig.Family.GEMMA3_TEXT;
        Tensor x = Ops.embedding(tape, embed, tokens);                              // (B*T, C)
        if (gemma3) x = Ops.scale(tape, x, normalizer);
        int Tn = T;
        if (vp instanceof VirtualPrompt.Tokens vt) {                                 // [virtual | input] (B*(P+T), C)
            x = Ops.concatSeq(tape, vt.embeddings(tape, B), P, x, T, B);
            Tn = P + T;
        } else if (vp instanceof VirtualPrompt.Prefix) {
            start = P;                                                              // the prefix holds slots [0, P)
        }
        if (!gemma3) x = Ops.scale(tape, x, normalizer);
        VirtualPrompt.Prefix prefix = vp instanceof VirtualPrompt.Prefix pf ? pf : null;
        int[] pos = Positions.of(B, Tn, start, pad, virt);
        rope.ensure(start + Tn);
        localRope.ensure(start + Tn);
        final int first = start, rows = Tn;
        for (int l = 0; l < blocks.length; l++) {
            final int layer = l;
            BiFunction<Tape, Tensor, Tensor> block = (t, in) -> block(t, in, layer, pos, prefix, cache, first, pad, B, rows);
            x = checkpointing ? Checkpoint.apply(tape, x, block) : block.apply(tape, x);
        }
        if (cache != null) cache.advance(start + Tn - cache.length());
        if (lastOnly) x = Ops.lastRows(tape, x, B, Tn);                             // (B, C)
        else if (Tn != T + keep) x = Ops.sliceSeq(tape, x, B, Tn, P - keep, T + keep); // drop virtual rows
        return norm(tape, x, finalNorm);                                            // (rows, C)
    }

    /** Decoder block l: x (B*T, C) -> x + postAttnNorm(attention(inputNorm(x))) -> that + postFfNorm(mlp(preFfNorm(that))). */
    private Tensor block(Tape tape, Tensor x, int l, int[] pos, VirtualPrompt.Prefix prefix, KvCache cache, int start,
                         int[] pad, int B, int T) {
        int NH = cfg.numHeads(), KVH = cfg.numKvHeads(), HS = cfg.headDim();
        Block blk = blocks[l];
        boolean sliding = g.sliding().get(l);
        Rope r = sliding ? localRope : rope;
        Tensor h = norm(tape, x, blk.inputNorm());                                  // (B*T, C)
        Tensor q = blk.q().forward(tape, h);                                        // (B*T, NH*HS)
        Tensor k = blk.k().forward(tape, h);                                        // (B*T, KVH*HS)
        Tensor v = blk.v().forward(tape, h);                                        // (B*T, KVH*HS)
        if (blk.qNorm() != null) {                                                  // Gemma 3: (1 + w) RMSNorm per head (rows of HS)
            q = norm(tape, q, blk.qNorm());
            k = norm(tape, k, blk.kNorm());
        }
        q = Ops.rope(tape, q, pos, r.cos(), r.sin(), NH, HS);
        k = Ops.rope(tape, k, pos, r.cos(), r.sin(), KVH, HS);
        Tensor[] kvPrefix = prefix == null ? null : prefix.keysValues(tape, l, B);  // 2 x (B*P, KVH*HS)
        float scale = (float) (1.0 / Math.sqrt(g.queryPreAttnScalar()));
        Tensor att = Positions.attention(tape, q, k, v, kvPrefix, cache, start, l, pad, B, T, NH, KVH, HS,
                sliding ? cfg.slidingWindow() : 0, scale, g.attnSoftcap());       // (B*T, NH*HS)
        x = Ops.add(tape, x, norm(tape, blk.o().forward(tape, att), blk.postAttnNorm()));    // (B*T, C)
        h = norm(tape, x, blk.preFfNorm());
        Tensor gt = blk.gate().forward(tape, h);                                    // (B*T, I)
        Tensor u = blk.up().forward(tape, h);                                       // (B*T, I)
        Tensor m = blk.down().forward(tape, Ops.geglu(tape, gt, u));                // (B*T, C)
        return Ops.add(tape, x, norm(tape, m, blk.postFfNorm()));                   // (B*T, C)
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
            all.addAll(List.of(b.inputNorm(), b.postAttnNorm(), b.preFfNorm(), b.postFfNorm()));
            if (b.qNorm() != null) all.addAll(List.of(b.qNorm(), b.kNorm()));
        }
        all.add(finalNorm);
        for (Linear lin : linears()) { all.add(lin.weight()); if (lin.bias() != null) all.add(lin.bias()); }
        for (Tensor t : all) if (seen.put(t, true) == null) out.add(t);
        return out;
    }
}
