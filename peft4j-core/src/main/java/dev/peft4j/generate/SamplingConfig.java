/*
 * SamplingConfig: how to pick each next token. temperature 0 means greedy (argmax); otherwise
 * logits / temperature, then top-k, then top-p (nucleus) filtering as transformers' logits warpers
 * do, then a draw from a generator seeded with seed (same seed, same tokens).
 */
package dev.peft4j.generate;

import dev.peft4j.Peft4jException;

public record SamplingConfig(int maxNewTokens, float temperature, int topK, float topP, long seed, boolean stopAtEos) {
    public SamplingConfig {
        if (maxNewTokens < 0) throw new Peft4jException("max-new-tokens must be >= 0 (got " + maxNewTokens + ")");
        if (!(temperature >= 0) || Float.isInfinite(temperature))
            throw new Peft4jException("temperature must be a finite number >= 0 (got " + temperature + "); use 0 for greedy");
        if (topK < 0) throw new Peft4jException("top-k must be >= 0 (got " + topK + "); 0 disables it");
        if (!(topP > 0 && topP <= 1)) throw new Peft4jException("top-p must be in (0, 1] (got " + topP + "); 1 disables it");
    }

    public static SamplingConfig greedy(int maxNewTokens) {
        return new SamplingConfig(maxNewTokens, 0f, 0, 1f, 0L, true);
    }

    public boolean isGreedy() { return temperature == 0f; }
}
