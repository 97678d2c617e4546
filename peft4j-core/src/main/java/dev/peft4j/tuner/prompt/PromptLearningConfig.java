/*
 * PromptLearningConfig: the fields every prompt-learning method shares (PEFT 0.14's
 * PromptLearningConfig in peft/config.py plus the PeftConfig fields they write), as
 * adapter_config.json holds them:
 *
 *   num_virtual_tokens          P, required
 *   token_dim                   width of one virtual token; from the model (hidden_size / n_embd), for
 *                               PREFIX_TUNING on a model with num_key_value_heads: hidden/NH*KVH
 *   num_transformer_submodules  1 for a causal LM (2 only for encoder-decoder models)
 *   num_attention_heads         the model's heads; for PREFIX_TUNING the key/value heads
 *   num_layers                  the model's layers
 *   task_type                   "CAUSAL_LM"; inference_mode; revision null; auto_mapping null
 *
 * Fields left null are filled from the model as PEFT's _prepare_prompt_learning_config does
 * (resolve()); an explicit value is kept. PEFT's save_pretrained writes inference_mode true, and so
 * does toPeftJson; the record's inferenceMode is the behaviour (true: what a saved adapter is read
 * back as — PEFT's from_pretrained without is_trainable).
 *
 * Used by the method configs of tuner/prompttuning, tuner/prefixtuning and tuner/ptuning: each holds
 * one of these and adds its own fields (putPeftJson writes the shared ones).
 */
package dev.peft4j.tuner.prompt;

import com.fasterxml.jackson.databind.JsonNode;
import dev.peft4j.Peft4jException;
import dev.peft4j.model.ModelConfig;
import java.nio.file.Path;
import java.util.Map;

public record PromptLearningConfig(int numVirtualTokens, Integer tokenDim, Integer numTransformerSubmodules,
                                   Integer numAttentionHeads, Integer numLayers, String taskType, boolean inferenceMode) {
    public static final String CAUSAL_LM = "CAUSAL_LM";

    public PromptLearningConfig {
        if (numVirtualTokens < 1)
            throw new Peft4jException("num_virtual_tokens must be >= 1 (got " + numVirtualTokens + "); e.g. 20");
        if (taskType == null) taskType = CAUSAL_LM;
        if (!CAUSAL_LM.equals(taskType))
            throw new Peft4jException("task_type \"" + taskType + "\" is not supported for prompt learning; peft4j trains causal LMs: use CAUSAL_LM");
        if (numTransformerSubmodules != null && numTransformerSubmodules != 1)
            throw new Peft4jException("num_transformer_submodules " + numTransformerSubmodules + " is for encoder-decoder models; "
                    + "a causal LM has 1 (leave it unset)");
        for (Object[] f : new Object[][] {{"token_dim", tokenDim}, {"num_attention_heads", numAttentionHeads}, {"num_layers", numLayers}})
            if (f[1] != null && (Integer) f[1] < 1)
                throw new Peft4jException(f[0] + " must be >= 1 (got " + f[1] + "); leave it unset to take the model's value");
    }

    /** P virtual tokens, everything else from the model (training mode). */
    public static PromptLearningConfig of(int numVirtualTokens) {
        return new PromptLearningConfig(numVirtualTokens, null, null, null, null, CAUSAL_LM, false);
    }

    public PromptLearningConfig withInferenceMode(boolean on) {
        return new PromptLearningConfig(numVirtualTokens, tokenDim, numTransformerSubmodules, numAttentionHeads, numLayers, taskType, on);
    }

    /** Whether every model-derived field is set. */
    public boolean resolved() {
        return tokenDim != null && numTransformerSubmodules != null && numAttentionHeads != null && numLayers != null;
    }

    /**
     * Fills the unset fields from the model as PEFT's _prepare_prompt_learning_config (and
     * PeftModel's num_transformer_submodules = 1 for a causal LM): num_layers, token_dim = hidden
     * size, num_attention_heads; for prefix tuning on a model whose config has num_key_value_heads
     * (every Llama-family config; GPT-2's has none), token_dim = token_dim / heads * KVH and heads = KVH.
     */
    public PromptLearningConfig resolve(ModelConfig mc, boolean prefixTuning) {
        int layers = numLayers != null ? numLayers : mc.numLayers();
        int dim = tokenDim != null ? tokenDim : mc.hiddenSize();
        int heads = numAttentionHeads != null ? numAttentionHeads : mc.numHeads();
        if (prefixTuning && !mc.isGpt2()) {
            if (dim % heads != 0)
                throw new Peft4jException("token_dim " + dim + " is not divisible by num_attention_heads " + heads
                        + "; PEFT sizes grouped-query prefixes as token_dim / heads * num_key_value_heads");
            dim = dim / heads * mc.numKvHeads();
            heads = mc.numKvHeads();
        }
        return new PromptLearningConfig(numVirtualTokens, dim, numTransformerSubmodules != null ? numTransformerSubmodules : 1,
                heads, layers, taskType, inferenceMode);
    }

    /** The shared keys of adapter_config.json (PEFT's to_dict), peft_type included. */
    public void putPeftJson(Map<String, Object> m, String peftType) {
        m.put("auto_mapping", null);
        m.put("inference_mode", true);                        // as save_pretrained writes it
        m.put("num_attention_heads", numAttentionHeads);
        m.put("num_layers", numLayers);
        m.put("num_transformer_submodules", numTransformerSubmodules);
        m.put("num_virtual_tokens", numVirtualTokens);
        m.put("peft_type", peftType);
        m.put("revision", null);
        m.put("task_type", taskType);
        m.put("token_dim", tokenDim);
    }

    /** The shared fields of a saved adapter_config.json; inference_mode as written (PEFT writes true). */
    public static PromptLearningConfig read(JsonNode c, Path file) {
        if (!c.hasNonNull("num_virtual_tokens"))
            throw new Peft4jException(file + ": \"num_virtual_tokens\" is missing; a prompt-learning adapter_config.json needs it (e.g. 20)");
        return new PromptLearningConfig(integer(c, "num_virtual_tokens", file), optInteger(c, "token_dim", file),
                optInteger(c, "num_transformer_submodules", file), optInteger(c, "num_attention_heads", file),
                optInteger(c, "num_layers", file), c.hasNonNull("task_type") ? c.get("task_type").asText() : CAUSAL_LM,
                !c.has("inference_mode") || c.get("inference_mode").asBoolean(true));
    }

    static int integer(JsonNode c, String key, Path file) {
        JsonNode n = c.get(key);
        if (!n.isIntegralNumber() || !n.canConvertToInt())
            throw new Peft4jException(file + ": \"" + key + "\" must be an integer (got " + n + ")");
        return n.asInt();
    }

    static Integer optInteger(JsonNode c, String key, Path file) { return c.hasNonNull(key) ? integer(c, key, file) : null; }

    /** Checks that a resolved config fits the model it is applied to (a saved adapter on another model). */
    public void checkFits(ModelConfig mc, boolean prefixTuning, String method) {
        PromptLearningConfig want = of(numVirtualTokens).resolve(mc, prefixTuning);
        if (!numLayers.equals(want.numLayers) || !tokenDim.equals(want.tokenDim) || (prefixTuning && !numAttentionHeads.equals(want.numAttentionHeads)))
            throw new Peft4jException(method + " adapter: num_layers " + numLayers + ", token_dim " + tokenDim + ", num_attention_heads "
                    + numAttentionHeads + " do not fit this model (it needs " + want.numLayers + ", " + want.tokenDim + ", "
                    + want.numAttentionHeads + "); the adapter was made for another base model");
    }
}
