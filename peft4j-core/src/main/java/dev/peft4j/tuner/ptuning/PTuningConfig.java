/*
 * PTuningConfig: a P-tuning adapter's configuration, field for field PEFT 0.14's PromptEncoderConfig
 * (peft/tuners/p_tuning/config.py): the shared prompt-learning fields (PromptLearningConfig) plus
 *   encoder_reparameterization_type   MLP (default) | LSTM
 *   encoder_hidden_size               H; null = token_dim (filled as _prepare_prompt_learning_config does)
 *   encoder_num_layers                2; the LSTM's layers (ignored by MLP, which always has 3 Linear
 *                                     layers: PEFT warns when it is set otherwise, and so does peft4j)
 *   encoder_dropout                   0.0; dropout between LSTM layers while training (unused by MLP)
 */
package dev.peft4j.tuner.ptuning;

import dev.peft4j.Peft4jException;
import dev.peft4j.tuner.AdapterConfig;
import dev.peft4j.tuner.prompt.PromptLearningConfig;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

public record PTuningConfig(PromptLearningConfig base, EncoderType encoderType, Integer encoderHiddenSize,
                            int encoderNumLayers, double encoderDropout) implements AdapterConfig {
    public static final String PEFT_TYPE = "P_TUNING";
    public static final int DEFAULT_NUM_LAYERS = 2;

    public enum EncoderType { MLP, LSTM;
        public static EncoderType parse(String s) {
            if (s != null) for (EncoderType t : values()) if (t.name().equals(s.trim().toUpperCase(Locale.ROOT))) return t;
            throw new Peft4jException("encoder_reparameterization_type must be MLP or LSTM (got " + s + "); MLP is PEFT's default");
        }
    }

    public PTuningConfig {
        if (base == null) throw new Peft4jException("P-tuning needs num_virtual_tokens");
        if (encoderType == null) encoderType = EncoderType.MLP;
        if (encoderHiddenSize != null && encoderHiddenSize < 1)
            throw new Peft4jException("encoder_hidden_size must be >= 1 (got " + encoderHiddenSize + "); leave it unset to use token_dim");
        if (encoderNumLayers < 1)
            throw new Peft4jException("encoder_num_layers must be >= 1 (got " + encoderNumLayers + "); PEFT's default is 2");
        if (!(encoderDropout >= 0 && encoderDropout < 1))
            throw new Peft4jException("encoder_dropout must be in [0, 1) (got " + encoderDropout + "); PEFT's default is 0.0");
    }

    /** PEFT's defaults: MLP, hidden size = token_dim, 2 layers, no dropout. */
    public static PTuningConfig of(int numVirtualTokens) {
        return new PTuningConfig(PromptLearningConfig.of(numVirtualTokens), EncoderType.MLP, null, DEFAULT_NUM_LAYERS, 0.0);
    }

    public static PTuningConfig of(int numVirtualTokens, EncoderType type, Integer hiddenSize, int numLayers, double dropout) {
        return new PTuningConfig(PromptLearningConfig.of(numVirtualTokens), type, hiddenSize, numLayers, dropout);
    }

    public int numVirtualTokens() { return base.numVirtualTokens(); }

    PTuningConfig withBase(PromptLearningConfig b, Integer hiddenSize) {
        return new PTuningConfig(b, encoderType, hiddenSize, encoderNumLayers, encoderDropout);
    }

    @Override public String peftType() { return PEFT_TYPE; }

    @Override public String methodName() { return "P-tuning"; }

    @Override public List<String> modulesToSave() { return List.of(); }

    /** adapter_config.json as PEFT 0.14's PromptEncoderConfig.to_dict writes it (without base_model_name_or_path). */
    @Override public Map<String, Object> toPeftJson() {
        Map<String, Object> m = new TreeMap<>();
        base.putPeftJson(m, PEFT_TYPE);
        m.put("encoder_dropout", encoderDropout);
        m.put("encoder_hidden_size", encoderHiddenSize);
        m.put("encoder_num_layers", encoderNumLayers);
        m.put("encoder_reparameterization_type", encoderType.name());
        return m;
    }

    @Override public String describe() {
        return "P-tuning, " + base.numVirtualTokens() + " virtual tokens, " + encoderType + " encoder"
                + (encoderHiddenSize != null ? ", hidden " + encoderHiddenSize : "")
                + (encoderType == EncoderType.LSTM ? ", " + encoderNumLayers + " LSTM layers, dropout " + encoderDropout : "");
    }
}
