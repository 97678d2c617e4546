/*
 * peft4j generate: load a HuggingFace model directory and continue a prompt, printing tokens to
 * stdout as they are produced; timings go to stderr so stdout is just the text.
 */
package dev.peft4j.cli;

import dev.peft4j.Peft4jException;
import dev.peft4j.generate.Generator;
import dev.peft4j.generate.SamplingConfig;
import dev.peft4j.kernels.Parallel;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tokenizer.Tokenizer;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = {"Generate text from a HuggingFace causal LM directory (llama, mistral, qwen2, gpt2).",
                "Tokens stream to stdout; speed figures go to stderr.",
                "Example: peft4j generate --model ../shared/models/stories260K --prompt \"Once upon a time\""})
final class GenerateCommand implements Callable<Integer> {
    @picocli.CommandLine.Mixin BaseModelOptions baseModel;

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "Model directory: config.json, *.safetensors (single or sharded), tokenizer files.")
    Path model;

    @Option(names = "--prompt", defaultValue = "", paramLabel = "TEXT",
            description = "Text to continue. Empty: start from the BOS token. Default: empty.")
    String prompt;

    @Option(names = "--max-new-tokens", defaultValue = "128", description = "Most tokens to generate (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "0", description = "0 = greedy (default); > 0 samples from softmax(logits / T).")
    float temperature;

    @Option(names = "--top-k", defaultValue = "0", description = "Sample only among the k most likely tokens; 0 = off (default).")
    int topK;

    @Option(names = "--top-p", defaultValue = "1.0", description = "Nucleus sampling mass in (0, 1]; 1 = off (default).")
    float topP;

    @Option(names = "--seed", defaultValue = "42", description = "Random seed for sampling (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--ignore-eos", description = "Keep generating after an end-of-sequence token.")
    boolean ignoreEos;

    @Option(names = "--threads", description = "Compute threads (default: all cores).")
    Integer threads;

    @Option(names = "--adapter", paramLabel = "DIR", description = {"LoRA adapter directory (PEFT format). Repeat for several:",
            "they are combined with --adapter-weight into one adapter (--combine, default cat = exact weighted sum)."})
    List<Path> adapters;

    @Option(names = "--adapter-weight", paramLabel = "W", description = "Weight of each --adapter, in order (default 1 each).")
    List<Double> adapterWeights;


    @Option(names = "--combine", defaultValue = "cat", description = "How several adapters combine: cat, linear or svd (default ${DEFAULT-VALUE}).")
    String combine;

    @Override
    public Integer call() {
        if (threads != null) Parallel.setThreads(threads, "--threads " + threads);
        SamplingConfig sampling = new SamplingConfig(maxNewTokens, temperature, topK, topP, seed, !ignoreEos);
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        long t0 = System.nanoTime();
        CausalLM lm = baseModel.load(model);
        if (adapters != null && !adapters.isEmpty()) Adapters.attach(lm, adapters, adapterWeights, combine, System.err);
        try (Tokenizer tok = Tokenizer.load(model)) {
            long loaded = System.nanoTime();
            int[] ids = prompt.isEmpty() ? bosOnly(tok) : tok.encodeWithSpecial(prompt);
            int context = lm.config().maxPositions();
            if (ids.length > context)
                throw new Peft4jException("--prompt is " + ids.length + " tokens (\"" + Peft4jException.abbreviate(prompt, 80)
                        + "\") but the model's context (max_position_embeddings) is " + context
                        + " positions; shorten the prompt");
            if ((long) ids.length + maxNewTokens > context) {
                int fits = context - ids.length;
                System.err.println("note: --max-new-tokens " + maxNewTokens + " does not fit the model's context of "
                        + context + " positions after the " + ids.length + "-token prompt; generating at most " + fits);
                sampling = new SamplingConfig(fits, temperature, topK, topP, seed, !ignoreEos);
            }
            out.print(prompt);
            Tokenizer.Stream stream = tok.newStream(ids);   // primed: the first token continues the prompt
            long[] firstToken = {0};
            int[] count = {0};
            long start = System.nanoTime();
            new Generator(lm).generate(ids, sampling, tok.eosIds(), (row, id) -> {
                if (count[0]++ == 0) firstToken[0] = System.nanoTime();
                out.print(stream.push(id));
                out.flush();
            });
            out.println(stream.flush());
            long end = System.nanoTime();
            double prefillS = ((count[0] > 0 ? firstToken[0] : end) - start) / 1e9;
            double decodeS = (end - (count[0] > 0 ? firstToken[0] : end)) / 1e9;
            System.err.printf("[peft4j] load %.2fs | prompt %d tokens, prefill %.1f tokens/s | generated %d tokens, decode %.1f tokens/s | %d threads%n",
                    (loaded - t0) / 1e9, ids.length, ids.length / Math.max(prefillS, 1e-9), count[0],
                    count[0] > 1 ? (count[0] - 1) / Math.max(decodeS, 1e-9) : 0.0, Parallel.threads());
        }
        return 0;
    }

    private static int[] bosOnly(Tokenizer tok) {
        if (tok.bosId().isEmpty())
            throw new Peft4jException("empty --prompt and the tokenizer has no BOS token to start from; give a --prompt");
        return new int[] {tok.bosId().getAsInt()};
    }
}
