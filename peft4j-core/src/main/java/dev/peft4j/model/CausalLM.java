/*
 * CausalLM: what every supported architecture offers — a batched forward pass over a KV cache
 * returning next-token logits. Implementations are not thread-safe (one forward at a time);
 * they parallelise internally over the Parallel pool.
 */
package dev.peft4j.model;

import java.nio.file.Path;

public sealed interface CausalLM permits Llama, Gpt2 {
    ModelConfig config();

    /** A cache for batch sequences of up to capacity positions in total (prompt + generated). */
    KvCache newCache(int batch, int capacity);

    /**
     * Runs T new positions of B sequences through the model, appending their keys/values to the cache.
     * tokens: (B, T) row-major; pad: number of left-padding slots per row (null: none), counted from
     * the start of the cache. Returns logits (B, T, V), or (B, V) for the last position when lastOnly.
     */
    float[] forward(int[] tokens, int B, int T, KvCache cache, int[] pad, boolean lastOnly);

    /** Parameters as transformers counts them (tied embeddings once). */
    long parameterCount();

    /** Loads a HuggingFace model directory (config.json + safetensors). */
    static CausalLM load(Path modelDir) { return ModelLoader.load(modelDir); }
}
