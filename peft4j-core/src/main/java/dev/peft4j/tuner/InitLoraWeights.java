/*
 * InitLoraWeights: how a new adapter's A (r, in) and B (out, r) are filled — PEFT's init_lora_weights
 * (peft/tuners/lora/layer.py, LoraLayer.update_layer / reset_lora_parameters):
 *   DEFAULT  (True):       A ~ kaiming_uniform_(a=√5) = U(−1/√in, 1/√in), B = 0   — an exact no-op at start;
 *   GAUSSIAN ("gaussian"): A ~ N(0, σ = 1/r) (std 1/r, not 1/√r), B = 0          — also a no-op at start;
 *   RANDOM   (False):      reset_lora_parameters returns early, so A and B keep torch.nn.Linear's own
 *                          initialisation: A ~ U(−1/√in, 1/√in), B ~ U(−1/√r, 1/√r) (fan_in of B is r).
 *                          The adapter is NOT a no-op; PEFT documents this setting as "for debugging".
 * PyTorch's kaiming_uniform_: gain = √(2/(1+a²)), bound = gain·√(3/fan_in), fan_in = in for a 2-D
 * (out, in) weight; with a = √5 the bound is exactly 1/√fan_in.
 * The data-driven initialisations (pissa, olora, loftq, eva, corda, orthogonal) are not supported yet.
 */
package dev.peft4j.tuner;

import dev.peft4j.Peft4jException;
import java.util.Locale;

public enum InitLoraWeights {
    DEFAULT, GAUSSIAN, RANDOM;

    /** The value adapter_config.json holds: true, "gaussian" or false. */
    public Object peftValue() {
        return switch (this) {
            case DEFAULT -> Boolean.TRUE;
            case GAUSSIAN -> "gaussian";
            case RANDOM -> Boolean.FALSE;
        };
    }

    /** From adapter_config.json's init_lora_weights (a Boolean or a String; PEFT lower-cases strings). */
    public static InitLoraWeights fromPeft(Object value) {
        if (value == null || Boolean.TRUE.equals(value)) return DEFAULT;
        if (Boolean.FALSE.equals(value)) return RANDOM;
        if (value instanceof String s) {
            String v = s.toLowerCase(Locale.ROOT);
            switch (v) {
                case "true": return DEFAULT;
                case "false": return RANDOM;
                case "gaussian": return GAUSSIAN;
                default:
                    if (v.startsWith("pissa") || v.equals("olora") || v.equals("loftq") || v.equals("eva")
                            || v.equals("corda") || v.equals("orthogonal"))
                        throw new Peft4jException("lora.init_lora_weights='" + s + "' is not supported yet; peft4j supports "
                                + "true (default: kaiming-uniform A, zero B), \"gaussian\" and false");
                    throw new Peft4jException("lora.init_lora_weights: unknown initialization '" + s
                            + "'; use true (default), \"gaussian\" or false");
            }
        }
        throw new Peft4jException("lora.init_lora_weights must be true, false or \"gaussian\" (got " + value + ")");
    }
}
