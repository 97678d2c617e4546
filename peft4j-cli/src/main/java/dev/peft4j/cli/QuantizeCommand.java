/*
 * peft4j quantize: store a model's weights quantised, so later runs need not re-quantise — NF4
 * (bitsandbytes' code book, blocks of 64, double-quantised absmax) in bitsandbytes' safetensors
 * layout, or int8 (per-row absmax, bnb's weight/SCB layout). train/generate load such a directory
 * directly (--quantize is then unnecessary).
 */
package dev.peft4j.cli;

import dev.peft4j.Peft4jException;
import dev.peft4j.io.DType;
import dev.peft4j.io.OutputDir;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.ModelWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = {"Quantise a model's weights to NF4 or int8 and save it (bitsandbytes' safetensors layout).",
                "Example: peft4j quantize --model ../shared/models/stories260K --method nf4 --output stories-nf4"})
final class QuantizeCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Model directory (F32/F16/BF16 safetensors).")
    Path model;
    @Option(names = "--method", defaultValue = "nf4", description = "nf4 or int8 (default ${DEFAULT-VALUE}).")
    String method;
    @Option(names = "--blocksize", defaultValue = "64", description = "NF4 block size, a power of two in 32..4096 (default ${DEFAULT-VALUE}).")
    int blocksize;
    @Option(names = "--output", required = true, paramLabel = "DIR", description = "New model directory (absent or empty, or --overwrite).")
    Path output;
    @picocli.CommandLine.Mixin OutputOptions outputOptions;

    @Override
    public Integer call() {
        if (!method.equals("nf4") && !method.equals("int8")) throw new Peft4jException("--method must be nf4 or int8 (got " + method + ")");
        // NF4 holds about 0.55 byte per parameter, int8 about 1: a quarter / a half of the f16 size
        long estimate = ModelWriter.estimatedBytes(model, DType.F16) / (method.equals("nf4") ? 3 : 2);
        OutputDir out = outputOptions.prepare(output, OutputDir.Kind.MODEL, estimate);
        try {
            quantize(out);
        } catch (RuntimeException | Error e) {
            out.abort();
            throw e;
        }
        return 0;
    }

    private void quantize(OutputDir out) {
        CausalLM lm = CausalLM.load(model, method, blocksize);
        long held = 0;
        for (var t : lm.parameters()) held += t.bytes();
        ModelWriter.exportQuantized(lm, model, out, method, ModelWriter.checkpointDtype(model));
        System.out.printf("wrote %s: %s, %,d parameters in %.1f MB (%.3f bytes/parameter)%n", output, method,
                lm.parameterCount(), held / 1e6, (double) held / lm.parameterCount());
    }
}
