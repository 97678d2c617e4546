/*
 * PromptTuningConfig: a prompt-tuning adapter's configuration, field for field PEFT 0.14's
 * PromptTuningConfig (peft/tuners/prompt_tuning/config.py): the shared prompt-learning fields
 * (PromptLearningConfig) plus
 *   prompt_tuning_init        RANDOM (default: nn.Embedding's N(0, 1)) | TEXT (the embeddings of
 *                             prompt_tuning_init_text's tokens, repeated/truncated to P)
 *   prompt_tuning_init_text   required for TEXT
 *   tokenizer_name_or_path    required for TEXT (a model directory whose tokenizer peft4j reads)
 *   tokenizer_kwargs          null (only valid with TEXT; peft4j's tokenizer takes none: refused)
 * SAMPLE_VOCAB does not exist in PEFT 0.14 (it came in 0.15) and is refused with that explanation.
 */
package dev.peft4j.tuner.prompttuning;

import dev.peft4j.Peft4jException;
import dev.peft4j.tuner.AdapterConfig;
import dev.peft4j.tuner.prompt.PromptLearningConfig;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

public record PromptTuningConfig(PromptLearningConfig base, Init init, String initText, String tokenizerNameOrPath)
        implements AdapterConfig {
    public static final String PEFT_TYPE = "PROMPT_TUNING";

    public enum Init { RANDOM, TEXT;
        public static Init parse(String s) {
            if (s != null && s.trim().equalsIgnoreCase("SAMPLE_VOCAB"))
                throw new Peft4jException("prompt_tuning_init SAMPLE_VOCAB was added in PEFT 0.15; PEFT 0.14, whose format peft4j "
                        + "writes, has RANDOM and TEXT. Use RANDOM, or TEXT with an init text");
            for (Init i : values()) if (s != null && i.name().equalsIgnoreCase(s.trim())) return i;
            throw new Peft4jException("prompt_tuning_init must be RANDOM or TEXT (got " + s + ")");
        }
    }

    public PromptTuningConfig {
        if (base == null) throw new Peft4jException("prompt tuning needs num_virtual_tokens");
        if (init == null) init = Init.RANDOM;
        if (init == Init.TEXT && (tokenizerNameOrPath == null || tokenizerNameOrPath.isBlank()))
            throw new Peft4jException("prompt_tuning_init TEXT needs tokenizer_name_or_path (the model directory whose tokenizer "
                    + "turns prompt_tuning_init_text into tokens)");
        if (init == Init.TEXT && initText == null)
            throw new Peft4jException("prompt_tuning_init TEXT needs prompt_tuning_init_text, e.g. \"Classify the sentiment:\"");
    }

    public static PromptTuningConfig random(int numVirtualTokens) {
        return new PromptTuningConfig(PromptLearningConfig.of(numVirtualTokens), Init.RANDOM, null, null);
    }

    public static PromptTuningConfig text(int numVirtualTokens, String text, String tokenizerNameOrPath) {
        return new PromptTuningConfig(PromptLearningConfig.of(numVirtualTokens), Init.TEXT, text, tokenizerNameOrPath);
    }

    public int numVirtualTokens() { return base.numVirtualTokens(); }

    PromptTuningConfig withBase(PromptLearningConfig b) { return new PromptTuningConfig(b, init, initText, tokenizerNameOrPath); }

    @Override public String peftType() { return PEFT_TYPE; }

    @Override public String methodName() { return "Prompt tuning"; }

    @Override public List<String> modulesToSave() { return List.of(); }

    /** adapter_config.json as PEFT 0.14's PromptTuningConfig.to_dict writes it (without base_model_name_or_path). */
    @Override public Map<String, Object> toPeftJson() {
        Map<String, Object> m = new TreeMap<>();
        base.putPeftJson(m, PEFT_TYPE);
        m.put("prompt_tuning_init", init.name());
        m.put("prompt_tuning_init_text", initText);
        m.put("tokenizer_kwargs", null);
        m.put("tokenizer_name_or_path", tokenizerNameOrPath);
        return m;
    }

    @Override public String describe() {
        return "Prompt tuning, " + base.numVirtualTokens() + " virtual tokens, init " + init
                + (init == Init.TEXT ? " \"" + initText + "\"" : "");
    }
}
