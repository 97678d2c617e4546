/*
 * InitLoraWeights: how a new adapter's A (r, in) and B (out, r) are filled — PEFT's init_lora_weights
 * (peft/tuners/lora/layer.py, LoraLayer.update_layer / reset_lora_parameters / pissa_init / olora_init):
 *   DEFAULT  (True):       A ~ kaiming_uniform_(a=√5) = U(−1/√in, 1/√in), B = 0   — an exact no-op at start;
 *   GAUSSIAN ("gaussian"): A ~ N(0, σ = 1/r) (std 1/r, not 1/√r), B = 0          — also a no-op at start;
 *   RANDOM   (False):      reset_lora_parameters returns early, so A and B keep torch.nn.Linear's own
 *                          initialisation: A ~ U(−1/√in, 1/√in), B ~ U(−1/√r, 1/√r) (fan_in of B is r).
 *                          The adapter is NOT a no-op; PEFT documents this setting as "for debugging".
 *   PISSA ("pissa"), PISSA_NITER ("pissa_niter_K"), OLORA ("olora"): data-driven; A and B are taken
 *                          from the base weight (SVD / QR) and the base weight is residualised so the
 *                          model is unchanged at start (LoraInit documents the exact recipes).
 * PyTorch's kaiming_uniform_: gain = √(2/(1+a²)), bound = gain·√(3/fan_in), fan_in = in for a 2-D
 * (out, in) weight; with a = √5 the bound is exactly 1/√fan_in.
 * Not supported: loftq, eva, corda, orthogonal (refused by name).
 */
package dev.peft4j.tuner.lora;

import dev.peft4j.Peft4jException;
import java.util.List;
import java.util.Locale;

/** kind plus, for PISSA_NITER, the number of subspace iterations K of the fast SVD (0 otherwise). */
public record InitLoraWeights(Kind kind, int niter) {
    public enum Kind { DEFAULT, GAUSSIAN, RANDOM, PISSA, PISSA_NITER, OLORA }

    public static final InitLoraWeights DEFAULT = new InitLoraWeights(Kind.DEFAULT, 0);
    public static final InitLoraWeights GAUSSIAN = new InitLoraWeights(Kind.GAUSSIAN, 0);
    public static final InitLoraWeights RANDOM = new InitLoraWeights(Kind.RANDOM, 0);
    public static final InitLoraWeights PISSA = new InitLoraWeights(Kind.PISSA, 0);
    public static final InitLoraWeights OLORA = new InitLoraWeights(Kind.OLORA, 0);

    public InitLoraWeights {
        if (kind == null) throw new IllegalArgumentException("InitLoraWeights: kind is null");
        if (kind == Kind.PISSA_NITER ? niter < 0 : niter != 0)
            throw new Peft4jException("lora.init_lora_weights: niter " + niter + " is only meaningful for pissa_niter_K with K >= 0");
    }

    /** PiSSA with the fast randomized SVD (torch.svd_lowrank with niter = K): "pissa_niter_K". */
    public static InitLoraWeights pissaNiter(int k) { return new InitLoraWeights(Kind.PISSA_NITER, k); }

    /** The fixed values plus one example pissa_niter_K (K = 16). */
    public static List<InitLoraWeights> values() { return List.of(DEFAULT, GAUSSIAN, RANDOM, PISSA, pissaNiter(16), OLORA); }

    /** PiSSA or OLoRA: A and B come from the base weight, which is residualised. */
    public boolean residualisesBase() { return kind == Kind.PISSA || kind == Kind.PISSA_NITER || kind == Kind.OLORA; }

    /** The value adapter_config.json holds: true, "gaussian", false, "pissa", "pissa_niter_K" or "olora". */
    public Object peftValue() {
        return switch (kind) {
            case DEFAULT -> Boolean.TRUE;
            case GAUSSIAN -> "gaussian";
            case RANDOM -> Boolean.FALSE;
            case PISSA -> "pissa";
            case PISSA_NITER -> "pissa_niter_" + niter;
            case OLORA -> "olora";
        };
    }

    @Override public String toString() { return String.valueOf(peftValue()); }

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
                case "pissa": return PISSA;
                case "olora": return OLORA;
                default:
                    if (v.startsWith("pissa_niter_")) {
                        String k = v.substring("pissa_niter_".length());
                        if (k.matches("[0-9]{1,4}")) return pissaNiter(Integer.parseInt(k));
                        throw new Peft4jException("lora.init_lora_weights='" + s + "': the number of iterations after pissa_niter_ must be "
                                + "a non-negative integer (e.g. pissa_niter_16)");
                    }
                    if (v.startsWith("pissa"))
                        throw new Peft4jException("lora.init_lora_weights='" + s + "': expected 'pissa' or 'pissa_niter_[number of iters]'");
                    if (v.equals("loftq") || v.equals("eva") || v.equals("corda") || v.equals("orthogonal"))
                        throw new Peft4jException("lora.init_lora_weights='" + s + "' is not supported yet; peft4j supports "
                                + "true (default: kaiming-uniform A, zero B), \"gaussian\", false, \"pissa\", \"pissa_niter_K\" and \"olora\"");
                    throw new Peft4jException("lora.init_lora_weights: unknown initialization '" + s
                            + "'; use true (default), \"gaussian\", false, \"pissa\", \"pissa_niter_K\" or \"olora\"");
            }
        }
        throw new Peft4jException("lora.init_lora_weights must be true, false, \"gaussian\", \"pissa\", \"pissa_niter_K\" or \"olora\" (got " + value + ")");
    }
}
