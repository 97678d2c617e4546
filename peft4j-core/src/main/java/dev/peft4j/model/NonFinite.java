/*
 * NonFinite: finding NaN/Inf in logits and naming their likely cause. Generation and evaluation
 * check each forward's logits (one pass over B·V or B·T·V floats, small next to the forward) and
 * fail with an error instead of printing nothing or reporting a NaN perplexity with exit code 0.
 * The error names the first parameter tensor that holds a non-finite value, when there is one
 * (scanned only on this error path), and otherwise points at overflow.
 */
package dev.peft4j.model;

import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.lora.LoraAdapter;

public final class NonFinite {
    private NonFinite() {}

    /** Index of the first non-finite value of x[from, to), or -1 when all are finite. */
    public static int first(float[] x, int from, int to) {
        for (int i = from; i < to; i++) if (!Float.isFinite(x[i])) return i;
        return -1;
    }

    /**
     * Throws a Peft4jException when x[from, to) holds NaN or Inf. where: what produced the values
     * (e.g. "generate: logits of step 3"), shown in the message.
     */
    public static void checkLogits(CausalLM model, float[] x, int from, int to, String where) {
        int i = first(x, from, to);
        if (i >= 0) throw logitsError(model, where + " has " + x[i] + " at index " + (i - from));
    }

    /** The error for non-finite logits: found says what was seen. */
    public static Peft4jException logitsError(CausalLM model, String found) {
        String tensor = firstNonFiniteParameter(model);
        String cause = tensor != null
                ? "the weights contain non-finite values (first: " + tensor + "): the checkpoint is corrupt or was "
                        + "saved after a diverged run; re-download or re-export the model (and check any --adapter)"
                : "all weights are finite, so values overflow in f32 inside the forward: check config.json "
                        + "(rms_norm_eps / layer_norm_epsilon, rope_theta, rope_scaling) and weights with huge magnitudes";
        return new Peft4jException("the model produced non-finite logits (expected finite numbers; " + found
                + "). Likely cause: " + cause);
    }

    /**
     * "name[index] = value" of the first parameter (or LoRA adapter tensor) holding NaN/Inf, or null
     * when every one is finite. Decodes compact (bf16/NF4/int8) weights, so only for error paths.
     */
    public static String firstNonFiniteParameter(CausalLM model) {
        for (Tensor t : model.parameters()) {
            String hit = scan(t);
            if (hit != null) return hit;
        }
        for (Linear l : model.linears()) {
            for (var e : l.adapters().entrySet()) {
                if (e.getValue() instanceof LoraAdapter a && !Double.isFinite(a.scaling))
                    return l.name + " adapter '" + e.getKey() + "' scaling = " + a.scaling;
                for (var t : e.getValue().stateDict().entrySet()) {
                    String hit = scan(t.getValue());
                    if (hit != null) return l.name + " adapter '" + e.getKey() + "' " + hit;
                }
            }
        }
        return null;
    }

    private static String scan(Tensor t) {
        float[] v = t.floats();
        int i = first(v, 0, v.length);
        return i < 0 ? null : (t.name == null ? "an unnamed tensor" : t.name) + "[" + i + "] = " + v[i];
    }
}
