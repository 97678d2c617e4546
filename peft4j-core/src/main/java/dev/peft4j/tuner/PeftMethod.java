/*
 * PeftMethod: one PEFT method as the registry (PeftMethods) knows it - its peft_type, how its
 * adapter_config.json is read, and how it attaches a fresh adapter to a model. Loading a saved
 * adapter is generic (PeftAdapter): apply the read config, then fill every tensor the adapter's
 * layers and shared state name, by PEFT's keys.
 */
package dev.peft4j.tuner;

import com.fasterxml.jackson.databind.JsonNode;
import dev.peft4j.model.CausalLM;
import java.nio.file.Path;

public interface PeftMethod {
    /** PEFT's peft_type, upper case: "LORA", "IA3", ... */
    String peftType();

    /** adapter_config.json (already parsed) -> this method's config; errors name file and field. */
    AdapterConfig readConfig(JsonNode json, Path file);

    /** Attaches a fresh adapter named adapterName (active on its modules); seed drives its random init. */
    AdapterModel apply(CausalLM model, AdapterConfig config, String adapterName, long seed);
}
