/*
 * peft4j merge: fold a LoRA adapter into its base model and export a complete HuggingFace model
 * directory (merge-and-unload): config.json, safetensors in the base's dtype (sharded above
 * --max-shard-size with an index), tokenizer and generation files copied.
 */
package dev.peft4j.cli;

import dev.peft4j.Peft4jException;
import dev.peft4j.io.DType;
import dev.peft4j.io.OutputDir;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.ModelWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "merge", mixinStandardHelpOptions = true,
        description = {"Merge LoRA adapter(s) into the base model and export a standalone HuggingFace model directory.",
                "Example: peft4j merge --model ../shared/models/stories260K --adapter out/adapter --output merged"})
final class MergeCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Base model directory.")
    Path model;
    @Option(names = "--adapter", required = true, paramLabel = "DIR", description = "Adapter directory; repeat to merge a weighted combination.")
    List<Path> adapters;
    @Option(names = "--adapter-weight", paramLabel = "W", description = "Weight of each --adapter (default 1 each).")
    List<Double> weights;
    @Option(names = "--output", required = true, paramLabel = "DIR", description = "New model directory (absent or empty, or --overwrite).")
    Path output;
    @picocli.CommandLine.Mixin OutputOptions outputOptions;
    @Option(names = "--dtype", defaultValue = "auto", description = "auto (the base's), f32, f16 or bf16 (default ${DEFAULT-VALUE}).")
    String dtype;
    @Option(names = "--max-shard-size", defaultValue = "5GB", description = "Shard the weights above this size (default ${DEFAULT-VALUE}).")
    String maxShard;

    @Override
    public Integer call() {
        DType explicit = explicitDtype();
        if (explicit == null && !dtype.equalsIgnoreCase("auto"))
            throw new Peft4jException("--dtype must be auto, f32, f16 or bf16 (got " + dtype + ")");
        OutputDir out = outputOptions.prepare(output, OutputDir.Kind.MODEL, ModelWriter.estimatedBytes(model, explicit));
        try {
            merge(explicit != null ? explicit : ModelWriter.checkpointDtype(model), out);
        } catch (RuntimeException | Error e) {
            out.abort();
            throw e;
        }
        return 0;
    }

    /** --dtype when it is explicit; null for auto (the base's own) or an unknown name. */
    private DType explicitDtype() {
        return switch (dtype.toLowerCase(Locale.ROOT)) {
            case "f32", "float32" -> DType.F32;
            case "f16", "float16" -> DType.F16;
            case "bf16", "bfloat16" -> DType.BF16;
            default -> null;
        };
    }

    private void merge(DType d, OutputDir out) {
        CausalLM lm = CausalLM.load(model);
        var pm = Adapters.attach(lm, adapters, weights, "cat", System.out);
        pm.mergeAndUnload();
        if (d != DType.F32)
            System.out.println("note: the merged weights are rounded to " + d + "; the merged model's outputs can differ slightly "
                    + "from base + adapter in f32, as with PEFT's merge_and_unload on a " + d + " model");
        ModelWriter.export(lm, model, out, d, ModelWriter.parseSize(maxShard));
        System.out.printf("wrote merged model to %s (%s, %,d parameters)%n", output, d, lm.parameterCount());
    }
}
