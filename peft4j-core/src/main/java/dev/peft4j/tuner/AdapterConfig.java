/*
 * AdapterConfig: what every PEFT method's configuration record answers (LoraConfig, Ia3Config, ...):
 * its peft_type and the fields of adapter_config.json as PEFT's to_dict writes them. The fields
 * every method shares (target_modules, exclude_modules, modules_to_save) are read by the shared
 * injection rules, not by each method.
 */
package dev.peft4j.tuner;

import java.util.List;
import java.util.Map;

public interface AdapterConfig {
    /** PEFT's peft_type: "LORA", "IA3", ... */
    String peftType();

    /** The method's usual name, for people: "LoRA", "(IA)³". */
    String methodName();

    /** adapter_config.json as PEFT writes it (every key PEFT's to_dict has, PEFT's values), except base_model_name_or_path. */
    Map<String, Object> toPeftJson();

    /** Modules trained in full and saved whole (PEFT's modules_to_save); empty when none. */
    List<String> modulesToSave();

    /** One line for the model card, e.g. "LoRA, r = 8, alpha = 16, dropout = 0.05". */
    String describe();
}
