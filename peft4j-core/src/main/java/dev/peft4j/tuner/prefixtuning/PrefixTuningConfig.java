/*
 * PrefixTuningConfig: a prefix-tuning adapter's configuration, field for field PEFT 0.14's
 * PrefixTuningConfig (peft/tuners/prefix_tuning/config.py): the shared prompt-learning fields
 * (PromptLearningConfig; token_dim and num_attention_heads sized by the key/value heads, as
 * _prepare_prompt_learning_config does for grouped-query models) plus
 *   encoder_hidden_size   width of the projection MLP's hidden layer; null -> token_dim
 *   prefix_projection     false (default): the prefixes are a trainable table (P, num_layers*2*token_dim);
 *                         true: a table (P, token_dim) through Linear -> Tanh -> Linear while training
 */
package dev.peft4j.tuner.prefixtuning;

import dev.peft4j.Peft4jException;
import dev.peft4j.tuner.AdapterConfig;
import dev.peft4j.tuner.prompt.PromptLearningConfig;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

public record PrefixTuningConfig(PromptLearningConfig base, Integer encoderHiddenSize, boolean prefixProjection)
        implements AdapterConfig {
    public static final String PEFT_TYPE = "PREFIX_TUNING";

    public PrefixTuningConfig {
        if (base == null) throw new Peft4jException("prefix tuning needs num_virtual_tokens");
        if (encoderHiddenSize != null && encoderHiddenSize < 1)
            throw new Peft4jException("encoder_hidden_size must be >= 1 (got " + encoderHiddenSize + "); leave it unset for token_dim");
    }

    public static PrefixTuningConfig of(int numVirtualTokens, boolean prefixProjection, Integer encoderHiddenSize) {
        return new PrefixTuningConfig(PromptLearningConfig.of(numVirtualTokens), encoderHiddenSize, prefixProjection);
    }

    public int numVirtualTokens() { return base.numVirtualTokens(); }

    /** Whether the MLP reparameterisation runs (projection, not read back from a saved adapter). */
    public boolean projecting() { return prefixProjection && !base.inferenceMode(); }

    @Override public String peftType() { return PEFT_TYPE; }

    @Override public String methodName() { return "Prefix tuning"; }

    @Override public List<String> modulesToSave() { return List.of(); }

    /** adapter_config.json as PEFT 0.14's PrefixTuningConfig.to_dict writes it (without base_model_name_or_path). */
    @Override public Map<String, Object> toPeftJson() {
        Map<String, Object> m = new TreeMap<>();
        base.putPeftJson(m, PEFT_TYPE);
        m.put("encoder_hidden_size", encoderHiddenSize);
        m.put("prefix_projection", prefixProjection);
        return m;
    }

    @Override public String describe() {
        return "Prefix tuning, " + base.numVirtualTokens() + " virtual tokens"
                + (prefixProjection ? ", prefix projection (hidden " + encoderHiddenSize + ")" : "");
    }
}
