/*
 * PeftMethods: the registry of PEFT methods peft4j implements, keyed by PEFT's peft_type. Adapter
 * files, PeftModel, the CLI and inspect find a method here and nowhere else; adding a method is one
 * line in ALL. An explicit list, no reflection or service loading.
 */
package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.Lora;

import dev.peft4j.Peft4jException;
import dev.peft4j.tuner.ia3.Ia3;
import dev.peft4j.tuner.vera.Vera;
import dev.peft4j.tuner.loha.LoHa;
import dev.peft4j.tuner.lokr.LoKr;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

public final class PeftMethods {
    private static final List<PeftMethod> ALL = List.of(Lora.METHOD, Ia3.METHOD, LoHa.METHOD, LoKr.METHOD, Vera.METHOD, dev.peft4j.tuner.prompttuning.PromptTuning.METHOD, dev.peft4j.tuner.prefixtuning.PrefixTuning.METHOD, dev.peft4j.tuner.ptuning.PTuning.METHOD, dev.peft4j.tuner.adalora.AdaLora.METHOD);
    private static final Map<String, PeftMethod> BY_TYPE = new LinkedHashMap<>();

    static {
        for (PeftMethod m : ALL) BY_TYPE.put(m.peftType(), m);
    }

    private PeftMethods() {}

    /** The supported peft_type values, e.g. [LORA, IA3]. */
    public static List<String> supported() { return List.copyOf(BY_TYPE.keySet()); }

    /** The method of peftType (case-insensitive); source names where it came from, for the error. */
    public static PeftMethod of(String peftType, Object source) {
        PeftMethod m = BY_TYPE.get(peftType == null ? "" : peftType.toUpperCase(Locale.ROOT));
        if (m == null)
            throw new Peft4jException((source == null ? "" : source + ": ") + "peft_type \"" + peftType + "\" is not supported; peft4j "
                    + "supports " + String.join(", ", supported())
                    + ". Train or convert the adapter with one of these methods");
        return m;
    }
}
