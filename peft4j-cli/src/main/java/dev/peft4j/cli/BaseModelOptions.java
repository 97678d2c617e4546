/*
 * BaseModelOptions: how the frozen base model is held in memory — the options train, generate and
 * eval share (a picocli mixin), and the one place that loads a model with them.
 */
package dev.peft4j.cli;

import dev.peft4j.Peft4jException;
import dev.peft4j.model.CausalLM;
import java.nio.file.Path;
import java.util.Locale;
import picocli.CommandLine.Option;

final class BaseModelOptions {
    @Option(names = "--quantize", defaultValue = "none",
            description = "Quantise the frozen base while loading: none, nf4 (QLoRA: bitsandbytes NF4 + double quant), int8, or llama.cpp's q8_0 / q4_k blocks.")
    String quantize;

    @Option(names = "--quantize-blocksize", defaultValue = "64", description = "NF4 block size (default ${DEFAULT-VALUE}).")
    int quantizeBlocksize;

    @Option(names = "--frozen-dtype", defaultValue = "auto", description = {"Storage of the frozen base weights: auto (default: bf16 for every matrix",
            "whose values are bf16 numbers, as in a bf16 checkpoint — exact and half the memory — f32 for the others), f32, or bf16",
            "(rounds f32 weights; compute stays f32)."})
    String frozenDtype;

    @Option(names = "--prepack-weights", arity = "0..1", defaultValue = "false",
            description = "Keep GEMM-ready packed copies of the frozen weights: faster steps, twice the weight memory.")
    boolean prepackWeights;

    /** Loads the model directory with these options applied (quantising while reading). */
    CausalLM load(Path model) {
        return storage(quantize.equals("none") ? CausalLM.load(model) : CausalLM.load(model, quantize, quantizeBlocksize));
    }

    /** Applies these options to a model already in memory (e.g. random weights for a benchmark). */
    CausalLM applyTo(CausalLM lm) {
        if (!quantize.equals("none")) lm.quantizeWeights(quantize, quantizeBlocksize);
        return storage(lm);
    }

    /**
     * These options for one frozen matrix as it is made (benchmark models at real sizes, which never exist in f32
     * at once): quantised, or stored as --frozen-dtype says. Prepacking is whole-model (applyTo).
     */
    void store(dev.peft4j.autograd.Tensor t) {
        if (!quantize.equals("none")) { CausalLM.quantize(t, quantize, quantizeBlocksize); return; }
        switch (frozenDtype.toLowerCase(Locale.ROOT)) {
            case "auto" -> CausalLM.compactToBf16IfExact(t);
            case "f32", "float32" -> { }
            case "bf16", "bfloat16" -> CausalLM.compactToBf16(t);
            default -> throw new Peft4jException("--frozen-dtype must be auto, f32 or bf16 (got " + frozenDtype + ")");
        }
    }

    /** A short description for benchmark headers, e.g. " (nf4 base) (prepacked weights)". */
    String describe() {
        return (quantize.equals("none") ? "" : " (" + quantize + " base)")
                + (frozenDtype.toLowerCase(Locale.ROOT).startsWith("bf") ? " (bf16 frozen weights)"
                        : frozenDtype.toLowerCase(Locale.ROOT).startsWith("f32") || frozenDtype.equalsIgnoreCase("float32") ? " (f32 frozen weights)" : "")
                + (prepackWeights ? " (prepacked weights)" : "");
    }

    /** bf16 storage and prepacking of the frozen matrices not already in a compact format. */
    private CausalLM storage(CausalLM lm) {
        switch (frozenDtype.toLowerCase(Locale.ROOT)) {
            case "auto" -> lm.compactWeightsToBf16Lossless();
            case "f32", "float32" -> { }
            case "bf16", "bfloat16" -> lm.compactWeightsToBf16();
            default -> throw new Peft4jException("--frozen-dtype must be auto, f32 or bf16 (got " + frozenDtype + ")");
        }
        if (prepackWeights) lm.prepackWeights();
        return lm;
    }
}
