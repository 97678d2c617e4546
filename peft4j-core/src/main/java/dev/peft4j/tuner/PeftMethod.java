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

    /** Reads a method's adapter_config.json. */
    @FunctionalInterface
    interface ConfigReader { AdapterConfig read(JsonNode json, Path file); }

    /** Attaches a method's adapter, given its own config type. */
    @FunctionalInterface
    interface Applier<C extends AdapterConfig> { AdapterModel apply(CausalLM model, C config, String adapterName, long seed); }

    /**
     * The registry entry of a method: peftType, its reader, and its applier, which receives only configs of
     * configClass (any other config is refused naming both). displayName: the method as users know it.
     */
    static <C extends AdapterConfig> PeftMethod of(String peftType, String displayName, Class<C> configClass,
                                                   ConfigReader reader, Applier<C> applier) {
        return new PeftMethod() {
            @Override public String peftType() { return peftType; }

            @Override public AdapterConfig readConfig(JsonNode json, Path file) { return reader.read(json, file); }

            @Override public AdapterModel apply(CausalLM model, AdapterConfig config, String adapterName, long seed) {
                if (!configClass.isInstance(config))
                    throw new dev.peft4j.Peft4jException(displayName + " needs a " + configClass.getSimpleName() + " (got a "
                            + config.peftType() + " config)");
                return applier.apply(model, configClass.cast(config), adapterName, seed);
            }

            @Override public String toString() { return peftType; }
        };
    }
}
