/*
 * peft4j export: hand models and adapters to the llama.cpp world.
 *   export gguf       a complete llama.cpp model (adapters merged in), F32 / F16 / BF16 / Q8_0 / Q4_0 / Q4_K / Q6_K
 *   export gguf-lora  a LoRA adapter as llama.cpp's GGUF LoRA (llama-cli --lora, Ollama ADAPTER)
 */
package dev.peft4j.cli;

import dev.peft4j.Peft4jException;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.GgufExport;
import dev.peft4j.tuner.AdapterModel;
import dev.peft4j.tuner.PeftModel;
import dev.peft4j.tuner.lora.LoraModel;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "export", mixinStandardHelpOptions = true, description = "Export to other runtimes (llama.cpp's GGUF).",
        subcommands = {ExportCommand.Gguf.class, ExportCommand.GgufLora.class})
final class ExportCommand implements Runnable {
    @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

    @Override public void run() { spec.commandLine().usage(System.out); }

    @Command(name = "gguf", mixinStandardHelpOptions = true,
            description = {"Write a llama.cpp GGUF model (llama family), adapters merged in.",
                    "Example: peft4j export gguf --model ../shared/models/stories260K --adapter runs/tales/adapter --type q8_0 --output tales.gguf"})
    static final class Gguf implements Callable<Integer> {
        @Option(names = "--model", required = true, paramLabel = "DIR|FILE.gguf", description = "Base model: a HuggingFace directory or a GGUF file.")
        Path model;
        @Option(names = "--adapter", paramLabel = "DIR", description = "Adapter(s) to merge in first (repeatable; --adapter-weight and --combine as in generate).")
        List<Path> adapters;
        @Option(names = "--adapter-weight", paramLabel = "W", description = "Weight of each --adapter (default 1 each).")
        List<Double> adapterWeights;
        @Option(names = "--combine", defaultValue = "cat", description = "How several adapters combine: cat, linear or svd (default ${DEFAULT-VALUE}).")
        String combine;
        @Option(names = "--type", defaultValue = "f16", description = "Tensor type of the matrices: f32, f16, bf16, q8_0, q4_0, q4_k, q6_k (default ${DEFAULT-VALUE}); norms stay f32; rows that do not fill whole blocks fall back to a wider type, reported.")
        String type;
        @Option(names = "--output", required = true, paramLabel = "FILE.gguf", description = "The GGUF file to write (atomically).")
        Path output;
        @picocli.CommandLine.Mixin OutputOptions out;

        @Override
        public Integer call() {
            out.checkFile(output);                                   // before the model loads
            CausalLM lm = CausalLM.load(model);
            if (adapters != null && !adapters.isEmpty()) {
                PeftModel pm = Adapters.attach(lm, adapters, adapterWeights, combine, System.err);
                lm = pm.mergeAndUnload();
            }
            GgufExport.Result r = GgufExport.model(lm, model, type, output);
            for (String f : r.fallbacks()) System.err.println("note: " + f);
            System.out.printf("wrote %s: %d tensors, %.1f MB (%s)%s%n", r.file(), r.tensors(), r.bytes() / 1e6, type,
                    r.fallbacks().isEmpty() ? "" : ", " + r.fallbacks().size() + " tensor(s) in a wider type");
            return 0;
        }
    }

    @Command(name = "gguf-lora", mixinStandardHelpOptions = true,
            description = {"Write a LoRA adapter as llama.cpp's GGUF LoRA (llama-cli --lora A.gguf, Ollama ADAPTER).",
                    "Example: peft4j export gguf-lora --model ../shared/models/stories260K --adapter runs/tales/adapter --output tales-lora.gguf"})
    static final class GgufLora implements Callable<Integer> {
        @Option(names = "--model", required = true, paramLabel = "DIR|FILE.gguf", description = "The base model the adapter was trained on.")
        Path model;
        @Option(names = "--adapter", required = true, paramLabel = "DIR", description = "A PEFT LoRA adapter directory.")
        Path adapter;
        @Option(names = "--output", required = true, paramLabel = "FILE.gguf", description = "The GGUF file to write (atomically).")
        Path output;
        @picocli.CommandLine.Mixin OutputOptions out;

        @Override
        public Integer call() {
            out.checkFile(output);
            CausalLM lm = CausalLM.load(model);
            AdapterModel a = new PeftModel(lm).loadAdapter(adapter, "default");
            if (!(a instanceof LoraModel lora))
                throw new Peft4jException(adapter + " is a " + a.config().peftType() + " adapter; llama.cpp's GGUF adapters are LoRA. "
                        + "Export the merged model instead: peft4j export gguf --model " + model + " --adapter " + adapter + " --output F.gguf");
            GgufExport.Result r = GgufExport.lora(lora, output);
            System.out.printf("wrote %s: %d tensors, %.2f MB%n", r.file(), r.tensors(), r.bytes() / 1e6);
            return 0;
        }
    }
}
