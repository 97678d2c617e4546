/*
 * CausalLM: what every supported architecture offers — a batched forward pass returning logits,
 * differentiable when given a Tape (training), over a KV cache when given one (generation), and
 * the list of its linear layers by module name (what LoRA attaches to). Implementations are not
 * thread-safe (one forward at a time); they parallelise internally over the Parallel pool.
 */
package dev.peft4j.model;

import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.nn.Linear;
import java.nio.file.Path;
import java.util.List;

public sealed interface CausalLM permits Llama, Gpt2, Phi3, Gemma {
    ModelConfig config();

    /**
     * A cache for batch sequences of up to capacity positions in total (prompt + generated); an
     * installed virtual prompt's positions are added to that capacity.
     */
    KvCache newCache(int batch, int capacity);

    /**
     * Runs T positions of B sequences. tokens: (B, T) row-major.
     * tape: records the backward (training) or null. cache: null for whole sequences (training,
     * evaluation), or a KV cache the new keys/values are appended to (generation; no tape then).
     * pad: left-padding slots per row, counted from the start of the cache (null: none).
     * Returns logits (B*T, V), or (B, V) for each row's last position when lastOnly.
     */
    Tensor forward(Tape tape, int[] tokens, int B, int T, KvCache cache, int[] pad, boolean lastOnly);

    /** The final normalised hidden states (B*T, C) — or (B, C) when lastOnly — that the LM head turns into logits. */
    Tensor hidden(Tape tape, int[] tokens, int B, int T, KvCache cache, int[] pad, boolean lastOnly);

    /**
     * The hidden states the training loss needs, cache-less: hidden(tape, tokens, B, T, null, null, false),
     * except that with a {@link VirtualPrompt.Tokens} prompt each sequence's rows start with the last
     * virtual token's: (B*(T+1), C). PEFT prepends -100 labels over the virtual tokens before the shift,
     * so that row predicts labels[b, 0] (see {@link #lossRowsBeforeInput()}).
     */
    Tensor hiddenForLoss(Tape tape, int[] tokens, int B, int T);

    /**
     * True when the next forward of T positions over this single-sequence cache must run on that cache
     * alone rather than in a ragged batch (KvCache.ragged): it would rebuild the cache, as Phi-3's LongRoPE
     * does once when a sequence passes original_max_position_embeddings. False for most models.
     */
    default boolean needsOwnStep(KvCache cache, int T) { return false; }

    /** Rows per sequence that hiddenForLoss() puts before the input's: 1 with a virtual-token prompt, else 0. */
    default int lossRowsBeforeInput() {
        return prompt() instanceof VirtualPrompt.Tokens t && t.length() > 0 ? 1 : 0;
    }

    /**
     * Gradient checkpointing (transformers' gradient_checkpointing_enable): each block keeps only its
     * input for the backward and is recomputed there — far less activation memory, one more forward.
     */
    void setGradientCheckpointing(boolean on);

    /**
     * Installs a prompt-learning adapter's virtual tokens or key/value prefixes (see VirtualPrompt);
     * null removes it. Every later forward — training, evaluation, generation — runs with it.
     */
    void setPrompt(VirtualPrompt prompt);

    /** The installed virtual prompt, or null. */
    VirtualPrompt prompt();

    /** The output head ("lm_head"; its weight is the token embedding when tied). */
    Linear lmHead();

    /** Inference convenience: logits as a plain array. */
    default float[] forward(int[] tokens, int B, int T, KvCache cache, int[] pad, boolean lastOnly) {
        return forward(null, tokens, B, T, cache, pad, lastOnly).data;
    }

    /** Every linear layer, in module order, the output head (named "lm_head") last. */
    List<Linear> linears();

    /** True while the output head shares the token embedding's tensor (tie_word_embeddings in effect). */
    boolean headTied();

    /** Every distinct parameter tensor (a tied head counted once). */
    List<Tensor> parameters();

    /** Parameters as transformers counts them (tied embeddings once). */
    default long parameterCount() {
        long n = 0;
        for (Tensor t : parameters()) n += t.size();
        return n;
    }

    /**
     * Stores every frozen weight matrix (linear layers, embeddings) in bf16 from now on: half the
     * memory; the kernels decode while packing and compute in f32. Trainable tensors (LoRA,
     * modules_to_save copies) and vectors (norms, biases) stay f32. Returns the bytes saved.
     */
    /**
     * compactWeightsToBf16 for the frozen matrices whose values are all bf16 numbers already (a bf16 checkpoint
     * read as f32): exact — the GEMM decodes them to the very same f32 values — and half the memory. The
     * default storage of train, eval and generate; matrices holding any value bf16 cannot represent stay f32.
     */
    default long compactWeightsToBf16Lossless() {
        long saved = 0;
        for (Tensor t : parameters()) {
            if (t.requiresGrad || t.shape.length != 2 || t.compact() || !bf16Exact(t.data)) continue;
            long before = t.bytes();
            t.compactTo(dev.peft4j.kernels.WeightMatrix.Bf16.encode(t.data, t.shape[0], t.shape[1]));
            saved += before - t.bytes();
        }
        return saved;
    }

    /** True when every value is a bf16 number (its low 16 bits are zero). */
    static boolean bf16Exact(float[] x) {
        for (float v : x) if ((Float.floatToRawIntBits(v) & 0xFFFF) != 0) return false;
        return true;
    }

    default long compactWeightsToBf16() {
        long saved = 0;
        for (Tensor t : parameters()) {
            if (t.requiresGrad || t.shape.length != 2 || t.compact()) continue;
            long before = t.bytes();
            t.compactTo(dev.peft4j.kernels.WeightMatrix.Bf16.encode(t.data, t.shape[0], t.shape[1]));
            saved += before - t.bytes();
        }
        return saved;
    }

    /**
     * Quantises every frozen weight matrix — linear layers, the LM head and the embeddings — to NF4
     * (bitsandbytes' code book, blocks of `blocksize`, double-quantised absmax) or int8 (per-row
     * absmax), or ggml's Q8_0 / Q4_K blocks (llama.cpp's formats; a row that does not fill Q4_K's 256-blocks
     * is held as Q8_0, as llama-quantize falls back): QLoRA's frozen base. The quantised values become the only resident copy; kernels
     * dequantise while packing, compute stays f32, LoRA adapters stay f32. (bitsandbytes keeps the
     * embeddings and lm_head in 16 bits; peft4j quantises them too, for the smallest footprint.)
     * Returns the bytes held by the weight matrices afterwards.
     */
    default long quantizeWeights(String method, int blocksize) {
        long held = 0;
        for (Tensor t : parameters()) {
            if (t.shape.length != 2) continue;
            quantize(t, method, blocksize);
            held += t.bytes();
        }
        return held;
    }

    /** Quantises one frozen matrix as quantizeWeights does (trainable or already quantised tensors are left alone). */
    static void quantize(Tensor t, String method, int blocksize) {
        if (t.requiresGrad || t.shape.length != 2 || (t.compact() && t.matrix().quantized())) return;
        float[] w = t.floats();
        t.compactTo(switch (method.toLowerCase(java.util.Locale.ROOT)) {
            case "nf4" -> dev.peft4j.quant.Quantize.nf4(w, t.shape[0], t.shape[1], blocksize, true);
            case "int8" -> dev.peft4j.quant.Quantize.int8(w, t.shape[0], t.shape[1]);
            case "q8_0" -> dev.peft4j.quant.Quantize.ggml(dev.peft4j.io.GgmlType.Q8_0, w, t.shape[0], t.shape[1]);
            case "q4_k" -> dev.peft4j.quant.Quantize.ggml(dev.peft4j.io.GgmlType.Q4_K, w, t.shape[0], t.shape[1]);
            default -> throw new dev.peft4j.Peft4jException("--quantize must be nf4, int8, q8_0 or q4_k (got " + method + ")");
        });
    }

    /** Stores one frozen f32 matrix in bf16 when that is exact (see compactWeightsToBf16Lossless). */
    static void compactToBf16IfExact(Tensor t) {
        if (t.requiresGrad || t.shape.length != 2 || t.compact() || !bf16Exact(t.data)) return;
        t.compactTo(dev.peft4j.kernels.WeightMatrix.Bf16.encode(t.data, t.shape[0], t.shape[1]));
    }

    /** Stores one frozen f32 matrix in bf16 (rounding). */
    static void compactToBf16(Tensor t) {
        if (t.requiresGrad || t.shape.length != 2 || t.compact()) return;
        t.compactTo(dev.peft4j.kernels.WeightMatrix.Bf16.encode(t.data, t.shape[0], t.shape[1]));
    }

    /**
     * Keeps a GEMM-ready packed copy of every frozen f32 weight matrix used as x·Wᵀ (linear layers
     * and the LM head), so forwards never re-pack them: faster training for twice the weight memory.
     * Returns the extra bytes.
     */
    default long prepackWeights() {
        long extra = 0;
        java.util.Set<Tensor> done = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        for (Linear lin : linears()) {
            Tensor t = lin.weight();
            if (t.requiresGrad || t.compact() || !done.add(t)) continue;
            t.compactTo(dev.peft4j.kernels.Gemm.prepackNT(t.data, t.shape[0], t.shape[1]));
            extra += 4L * t.size();
        }
        return extra;
    }

    /** Loads a HuggingFace model directory (config.json + safetensors). */
    static CausalLM load(Path modelDir) { return ModelLoader.load(modelDir); }

    /** Loads with the frozen matrices quantised while reading ("nf4", "int8", or null for f32). */
    static CausalLM load(Path modelDir, String quantize, int blocksize) { return ModelLoader.load(modelDir, quantize, blocksize); }
}
