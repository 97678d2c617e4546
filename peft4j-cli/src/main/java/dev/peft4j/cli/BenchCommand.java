/*
 * peft4j bench: reproducible performance measurements. `bench train` runs LoRA training at the
 * shapes of ../shared/bench/torch_lora_ref.py; its last line is machine-readable:
 * tokens_per_s=… mfu=… peak_rss_mb=…
 */
package dev.peft4j.cli;

import dev.peft4j.train.TrainBenchmark;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "bench", mixinStandardHelpOptions = true, description = "Performance benchmarks.",
        subcommands = {BenchCommand.Train.class, BenchCommand.Memory.class, BenchCommand.Serve.class, BenchCommand.Decode.class,
                BenchCommand.Infer.class})
final class BenchCommand implements Runnable {
    @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

    @Override public void run() { spec.commandLine().usage(System.out); }

    /** The middle value (upper middle for an even count), as the tables report. */
    static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    @Command(name = "serve", mixinStandardHelpOptions = true,
            description = {"peft4j serve under concurrent streams on loopback, at GPT-2-124M's shape with random weights and random",
                    "LoRA adapters (r 8 on c_attn): aggregate decode tokens/s at each concurrency for the base model, for every",
                    "stream on one adapter, and for every stream on a different adapter; time to first token and per token.",
                    "Example: peft4j bench serve --streams 1,4,8,16 --repeats 3"})
    static final class Serve implements Callable<Integer> {
        @Option(names = "--streams", defaultValue = "1,4,8,16", split = ",", description = "Concurrent streams per round (default ${DEFAULT-VALUE}).")
        int[] streams;
        @Option(names = "--max-tokens", defaultValue = "64", description = "Tokens per stream (default ${DEFAULT-VALUE}).")
        int maxTokens;
        @Option(names = "--prompt-tokens", defaultValue = "16", description = "Prompt length (default ${DEFAULT-VALUE}).")
        int promptTokens;
        @Option(names = "--repeats", defaultValue = "3", description = "Rounds per setting (default ${DEFAULT-VALUE}); min/median/max reported.")
        int repeats;
        @Option(names = "--threads", defaultValue = "2", description = "Compute threads (default ${DEFAULT-VALUE}).")
        int threads;
        @Option(names = "--tokenizer", paramLabel = "DIR", description = "A GPT-2 tokenizer directory (default: ../shared/models/fake-gpt2).")
        java.nio.file.Path tokenizer;

        @Override
        public Integer call() throws Exception {
            dev.peft4j.kernels.Parallel.setThreads(threads, "--threads " + threads);
            java.nio.file.Path tok = tokenizer != null ? tokenizer : java.nio.file.Path.of("..", "shared", "models", "fake-gpt2");
            if (!java.nio.file.Files.isRegularFile(tok.resolve("tokenizer.json")))
                throw new dev.peft4j.Peft4jException("no GPT-2 tokenizer at " + tok + "; pass --tokenizer DIR (a directory with tokenizer.json)");
            int maxStreams = Arrays.stream(streams).max().orElse(1);
            dev.peft4j.model.ModelConfig cfg = dev.peft4j.model.ModelFactory.gpt2Small();
            dev.peft4j.model.CausalLM model = dev.peft4j.model.ModelFactory.random(cfg, 0, 0.02f);
            java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("peft4j-bench-serve");
            java.util.List<String> names = new java.util.ArrayList<>();
            double peak = TrainBenchmark.measurePeakGflops(threads);
            try (dev.peft4j.serve.Peft4jServer server = dev.peft4j.serve.Peft4jServer.start(
                    dev.peft4j.serve.ServerOptions.builder(tok).modelName("base").port(0).maxBatch(Math.max(16, maxStreams))
                            .maxLoadedAdapters(Math.max(1, maxStreams)).maxQueue(4 * Math.max(16, maxStreams))
                            .accessLog(new java.io.PrintStream(java.io.OutputStream.nullOutputStream())).build(),
                    model, dev.peft4j.tokenizer.Tokenizer.load(tok))) {
                for (int i = 0; i < maxStreams; i++) {                       // distinct random LoRA adapters, saved and loaded as users do
                    dev.peft4j.model.CausalLM donor = dev.peft4j.model.ModelFactory.random(cfg, 0, 0.02f);
                    dev.peft4j.tuner.AdapterModel a = new dev.peft4j.tuner.PeftModel(donor).addAdapter(dev.peft4j.tuner.lora.LoraConfig.builder()
                            .r(8).alpha(16).targetModules("c_attn").init(dev.peft4j.tuner.lora.InitLoraWeights.RANDOM).build(), "a" + i, 100 + i);
                    java.nio.file.Path ad = dir.resolve("a" + i);
                    dev.peft4j.tuner.PeftAdapter.save(a, ad, "gpt2-124m-random", null);
                    server.load("a" + i, ad);
                    names.add("a" + i);
                }
                int[] prompt = new int[promptTokens];
                java.util.SplittableRandom rng = new java.util.SplittableRandom(1);
                for (int i = 0; i < prompt.length; i++) prompt[i] = rng.nextInt(cfg.vocabSize());
                String url = server.baseUrl();
                dev.peft4j.serve.ServeBenchmark.streams(url, null, java.util.List.of("base"), 2, prompt, 8);      // warm-up
                dev.peft4j.serve.ServeBenchmark.streams(url, null, names, Math.min(4, maxStreams), prompt, 8);
                System.out.printf("GPT-2-124M shape, random weights, %d threads, prompt %d tokens, %d new tokens per stream, %d repeats; "
                        + "FMA peak measured %.0f GFLOP/s%n", threads, promptTokens, maxTokens, repeats, peak);
                System.out.println("| streams | models | aggregate decode tokens/s (min / median / max) | vs 1 stream | TTFT p50 / p99 | per-token p50 / p99 |");
                System.out.println("|---|---|---|---|---|---|");
                java.util.Map<String, Double> single = new java.util.HashMap<>();
                java.util.Map<String, Double> medians = new java.util.HashMap<>();
                for (int n : streams) {
                    for (String variant : java.util.List.of("base", "one adapter", "a different adapter each")) {
                        java.util.List<String> models = switch (variant) {
                            case "base" -> java.util.List.of("base");
                            case "one adapter" -> java.util.List.of("a0");
                            default -> names.subList(0, n);
                        };
                        double[] rates = new double[repeats];
                        dev.peft4j.serve.ServeBenchmark.Round last = null;
                        java.util.List<Double> ttft50 = new java.util.ArrayList<>(), ttft99 = new java.util.ArrayList<>(),
                                tpot50 = new java.util.ArrayList<>(), tpot99 = new java.util.ArrayList<>();
                        for (int r = 0; r < repeats; r++) {
                            last = dev.peft4j.serve.ServeBenchmark.streams(url, null, models, n, prompt, maxTokens);
                            rates[r] = last.decodeTokensPerS();
                            ttft50.add(last.ttftP50()); ttft99.add(last.ttftP99()); tpot50.add(last.tpotP50()); tpot99.add(last.tpotP99());
                        }
                        double[] sorted = rates.clone();
                        Arrays.sort(sorted);
                        double median = sorted[sorted.length / 2];
                        if (n == streams[0]) single.put(variant, median);
                        medians.put(n + variant, median);
                        System.out.printf("| %d | %s | %.1f / %.1f / %.1f | %.2fx | %.0f / %.0f ms | %.0f / %.0f ms |%n", n, variant, sorted[0], median,
                                sorted[sorted.length - 1], median / single.get(variant), 1000 * med(ttft50), 1000 * med(ttft99), 1000 * med(tpot50), 1000 * med(tpot99));
                    }
                }
                for (int n : streams) {
                    Double one = medians.get(n + "one adapter"), each = medians.get(n + "a different adapter each");
                    System.out.printf("streams=%d different_adapters_vs_one_adapter=%.2f one_adapter_vs_1_stream=%.2f%n", n, each / one, one / single.get("one adapter"));
                }
            } finally {
                try (var walk = java.nio.file.Files.walk(dir)) {
                    for (java.nio.file.Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) java.nio.file.Files.deleteIfExists(p);
                }
            }
            return 0;
        }

        private static double med(java.util.List<Double> xs) { return median(xs.stream().mapToDouble(Double::doubleValue).toArray()); }
    }

    @Command(name = "decode", mixinStandardHelpOptions = true, sortOptions = false,
            description = {"Single-stream greedy decode speed on one GGUF file: peft4j, and llama.cpp on the same file with the same",
                    "threads and prompt ids when --llama-cpp names the node-llama-cpp harness (peft4j-core/src/test/js-llama).",
                    "Without --model it writes a GGUF of --type with random weights at --shape (tokenizer from --tokenizer).",
                    "Decode tokens/s counts the tokens after the first over the time after it; min / median / max of --repeats runs.",
                    "Example: peft4j bench decode --shape smollm2-135m --type q8_0 --llama-cpp peft4j-core/src/test/js-llama"})
    static final class Decode implements Callable<Integer> {
        @Option(names = "--model", paramLabel = "FILE", description = "A .gguf to run (default: a random one written at --shape).")
        java.nio.file.Path model;
        @Option(names = "--shape", defaultValue = "smollm2-135m", description = "Shape of the random model when no --model: smollm2-135m or llama-3.2-1b (default ${DEFAULT-VALUE}).")
        String shape;
        @Option(names = "--type", defaultValue = "q8_0", description = "GGUF type of the random model: f32, f16, bf16, q8_0, q4_0, q4_k, q6_k (default ${DEFAULT-VALUE}).")
        String type;
        @Option(names = "--tokenizer", paramLabel = "DIR", description = "Tokenizer for the random model's GGUF (default ../shared/tokenizers/llama2).")
        java.nio.file.Path tokenizer;
        @Option(names = "--save-gguf", paramLabel = "FILE", description = "Keep the random model's GGUF here (reuse it with --model).")
        java.nio.file.Path saveGguf;
        @Option(names = "--overwrite", description = "Replace an existing --save-gguf file.")
        boolean overwrite;
        @Option(names = "--prompt-tokens", defaultValue = "16", description = "Prompt length (default ${DEFAULT-VALUE}).")
        int promptTokens;
        @Option(names = "--tokens", defaultValue = "128", description = "Tokens generated per run, end-of-text ignored (default ${DEFAULT-VALUE}).")
        int tokens;
        @Option(names = "--repeats", defaultValue = "3", description = "Runs per engine (default ${DEFAULT-VALUE}).")
        int repeats;
        @Option(names = "--threads", defaultValue = "2", description = "Compute threads, for both engines (default ${DEFAULT-VALUE}).")
        int threads;
        @Option(names = "--llama-cpp", paramLabel = "DIR", description = "Directory of generate.mjs with node-llama-cpp installed (npm ci): also time llama.cpp.")
        java.nio.file.Path llamaCpp;
        @picocli.CommandLine.Mixin BaseModelOptions baseModel;

        @Override
        public Integer call() throws Exception {
            if (tokens < 2 || promptTokens < 1 || repeats < 1)
                throw new dev.peft4j.Peft4jException("--tokens must be >= 2, --prompt-tokens and --repeats >= 1");
            if (saveGguf != null && model == null) dev.peft4j.io.OutputDir.checkFile(saveGguf, overwrite, dev.peft4j.io.OutputDir.Names.CLI);
            dev.peft4j.kernels.Parallel.setThreads(threads, "--threads " + threads);
            java.nio.file.Path file = model, tmpDir = null;
            try {
                if (file == null) {
                    java.nio.file.Path tok = tokenizer != null ? tokenizer : java.nio.file.Path.of("..", "shared", "tokenizers", "llama2");
                    dev.peft4j.model.ModelConfig cfg = switch (shape) {
                        case "smollm2-135m" -> dev.peft4j.model.ModelFactory.smolLm2_135m();
                        case "llama-3.2-1b" -> dev.peft4j.model.ModelFactory.llama32_1b();
                        default -> throw new dev.peft4j.Peft4jException("--shape must be smollm2-135m or llama-3.2-1b (llama-family shapes llama.cpp runs); got " + shape);
                    };
                    if (saveGguf != null) file = saveGguf;
                    else {
                        tmpDir = java.nio.file.Files.createTempDirectory("peft4j-bench-decode");
                        file = tmpDir.resolve(shape + "-" + type + ".gguf");
                    }
                    dev.peft4j.model.GgufExport.Result r = dev.peft4j.model.GgufExport.model(dev.peft4j.model.ModelFactory.random(cfg, 0, 0.02f), tok, type, file);
                    System.out.printf("wrote %s (%,d bytes, random weights, tokenizer %s)%s%n", file.getFileName(), r.bytes(), tok,
                            r.fallbacks().isEmpty() ? "" : "; " + r.fallbacks().size() + " tensors fell back to a wider type");
                }
                double peak = TrainBenchmark.measurePeakGflops(threads);
                dev.peft4j.model.CausalLM lm = baseModel.load(file);
                int vocab = lm.config().vocabSize();
                int[] prompt = new int[promptTokens];
                java.util.SplittableRandom rng = new java.util.SplittableRandom(1);
                for (int i = 0; i < prompt.length; i++) prompt[i] = 3 + rng.nextInt(Math.min(vocab, 32000) - 3);
                long weightBytes = java.nio.file.Files.size(file);
                System.out.printf("%s: %d threads, prompt %d tokens, %d new tokens, %d runs each; FMA peak measured %.0f GFLOP/s%n",
                        file.getFileName(), threads, promptTokens, tokens, repeats, peak);
                dev.peft4j.generate.Generator gen = new dev.peft4j.generate.Generator(lm);
                dev.peft4j.generate.SamplingConfig greedy = new dev.peft4j.generate.SamplingConfig(tokens, 0f, 0, 1f, 0, true);
                gen.generate(prompt, greedy, java.util.Set.of(), null);                  // warm-up: one untimed run (JIT)
                double[] ours = new double[repeats], oursFirst = new double[repeats];
                for (int r = 0; r < repeats; r++) {
                    long[] first = {0};
                    long t0 = System.nanoTime();
                    int[] out = gen.generate(prompt, greedy, java.util.Set.of(), (row, id) -> { if (first[0] == 0) first[0] = System.nanoTime(); });
                    long t1 = System.nanoTime();
                    ours[r] = (out.length - 1) / ((t1 - first[0]) / 1e9);
                    oursFirst[r] = (first[0] - t0) / 1e9;
                }
                report("peft4j" + baseModel.describe(), ours, oursFirst, weightBytes);
                if (llamaCpp != null) {
                    lm = null;
                    gen = null;
                    System.gc();
                    double[] theirs = new double[repeats], theirsFirst = new double[repeats];
                    for (int r = 0; r < repeats; r++) {
                        com.fasterxml.jackson.databind.JsonNode j = llamaCppRun(file, prompt);
                        theirs[r] = j.path("decode_tokens_per_s").asDouble();
                        theirsFirst[r] = j.path("first_token_s").asDouble();
                    }
                    report("llama.cpp (node-llama-cpp 3.21.1)", theirs, theirsFirst, weightBytes);
                    System.out.printf("decode_tokens_per_s_peft4j=%.2f decode_tokens_per_s_llama_cpp=%.2f peft4j_vs_llama_cpp=%.2f%n",
                            median(ours), median(theirs), median(ours) / median(theirs));
                } else {
                    System.out.printf("decode_tokens_per_s_peft4j=%.2f%n", median(ours));
                }
            } finally {
                if (tmpDir != null) try (var walk = java.nio.file.Files.walk(tmpDir)) {
                    for (java.nio.file.Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) java.nio.file.Files.deleteIfExists(p);
                }
            }
            return 0;
        }

        private static void report(String who, double[] rates, double[] first, long fileBytes) {
            double[] s = rates.clone(), f = first.clone();
            Arrays.sort(s);
            Arrays.sort(f);
            System.out.printf("%-40s decode tokens/s min %.2f median %.2f max %.2f; first token %.3f s (median); %.1f GB/s of file weights%n",
                    who, s[0], s[s.length / 2], s[s.length - 1], f[f.length / 2], s[s.length / 2] * fileBytes / 1e9);
        }

        private com.fasterxml.jackson.databind.JsonNode llamaCppRun(java.nio.file.Path file, int[] prompt) throws Exception {
            java.nio.file.Path script = llamaCpp.resolve("generate.mjs");
            if (!java.nio.file.Files.isRegularFile(script) || !java.nio.file.Files.isDirectory(llamaCpp.resolve("node_modules", "node-llama-cpp")))
                throw new dev.peft4j.Peft4jException("--llama-cpp " + llamaCpp + " must hold generate.mjs and node_modules/node-llama-cpp; run `npm ci` there first");
            java.util.List<String> cmd = java.util.List.of("node", "generate.mjs", "--model", file.toAbsolutePath().toString(), "--n", String.valueOf(tokens),
                    "--threads", String.valueOf(threads), "--ignore-eos", "--bos", "no",
                    "--tokens", String.join(",", Arrays.stream(prompt).mapToObj(String::valueOf).toList()));
            Process p = new ProcessBuilder(cmd).directory(llamaCpp.toFile()).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            if (!p.waitFor(600, java.util.concurrent.TimeUnit.SECONDS)) { p.destroyForcibly(); throw new dev.peft4j.Peft4jException("llama.cpp run timed out"); }
            String last = out.strip().lines().reduce((a, b) -> b).orElse("");
            com.fasterxml.jackson.databind.JsonNode j = new com.fasterxml.jackson.databind.ObjectMapper().readTree(last.isEmpty() ? "{}" : last);
            if (p.exitValue() != 0 || j.has("error") || !j.has("decode_tokens_per_s"))
                throw new dev.peft4j.Peft4jException("llama.cpp run failed (exit " + p.exitValue() + "): " + out.strip());
            return j;
        }
    }

    @Command(name = "infer", mixinStandardHelpOptions = true, sortOptions = false,
            description = {"Prefill and decode speed at a real model's shape (random weights), against the machine's limits measured",
                    "in the same run: prefill as MFU (FMA peak), decode as a fraction of the memory-bandwidth bound (a STREAM copy;",
                    "every decode step reads every weight once).",
                    "Example: peft4j bench infer --shape llama-3.2-1b --batch 1,8"})
    static final class Infer implements Callable<Integer> {
        @Option(names = "--shape", defaultValue = "gpt2-124m", description = "A shape of bench train (default ${DEFAULT-VALUE}).")
        String shape;
        @Option(names = "--batch", defaultValue = "1,8", split = ",", description = "Batch sizes (default ${DEFAULT-VALUE}).")
        int[] batches;
        @Option(names = "--prefill", defaultValue = "256", description = "Prompt length of the prefill (default ${DEFAULT-VALUE}).")
        int prefill;
        @Option(names = "--tokens", defaultValue = "64", description = "New tokens per decode run (default ${DEFAULT-VALUE}).")
        int tokens;
        @Option(names = "--repeats", defaultValue = "3", description = "Runs per setting (default ${DEFAULT-VALUE}); min/median/max reported.")
        int repeats;
        @Option(names = "--threads", defaultValue = "2", description = "Compute threads (default ${DEFAULT-VALUE}).")
        int threads;
        @picocli.CommandLine.Mixin BaseModelOptions baseModel;

        @Override
        public Integer call() {
            var r = dev.peft4j.generate.InferenceBenchmark.run(shape, baseModel::store, batches, prefill, tokens, repeats, threads, System.out);
            System.out.printf("%s%s: weights %.1f MB, STREAM %.1f GB/s, FMA peak %.1f GFLOP/s, %d threads%n", r.shape(), baseModel.describe(),
                    r.weightBytes() / 1e6, r.streamGBs(), r.peakGflops(), r.threads());
            System.out.printf("%-8s %5s %12s %12s %12s %14s%n", "phase", "batch", "min tok/s", "median", "max", "of limit");
            for (var row : r.rows())
                System.out.printf("%-8s %5d %12.1f %12.1f %12.1f %8.3f %s%n", row.phase(), row.batch(), row.min(), row.median(), row.max(), row.ofLimit(), row.limit());
            return 0;
        }
    }

    @Command(name = "memory", mixinStandardHelpOptions = true,
            description = {"Resident memory of a model's weights at a real shape (random values): bytes per parameter,",
                    "computed from the tensors and measured as live heap after GC.",
                    "Example: peft4j bench memory --shape smollm2-135m --quantize nf4"})
    static final class Memory implements Callable<Integer> {
        @Option(names = "--shape", defaultValue = "smollm2-135m", description = "gpt2-124m or smollm2-135m (default ${DEFAULT-VALUE}).")
        String shape;
        @Option(names = "--quantize", defaultValue = "nf4", description = "none, nf4 (double-quantised, blocks of 64), int8, q8_0 or q4_k (ggml blocks) (default ${DEFAULT-VALUE}).")
        String quantize;

        @Override
        public Integer call() {
            TrainBenchmark.WeightMemory m = TrainBenchmark.weightMemory(shape, quantize);
            System.out.printf("%s, %s: %,d parameters; tensors hold %.1f MB (%.3f bytes/param); live heap grew %.1f MB (%.3f bytes/param)%n",
                    shape, quantize, m.params(), m.tensorBytes() / 1e6, m.tensorBytesPerParam(), m.heapBytes() / 1e6, m.heapBytesPerParam());
            System.out.printf("bytes_per_param_tensors=%.3f bytes_per_param_heap=%.3f%n", m.tensorBytesPerParam(), m.heapBytesPerParam());
            return 0;
        }
    }

    @Command(name = "train", mixinStandardHelpOptions = true,
            description = {"LoRA training throughput with random weights at a real model's shape (same setup as torch_lora_ref.py).",
                    "Example: peft4j bench train --shape gpt2-124m --batch 4 --seq 256 --steps 3 --threads 2"})
    static final class Train implements Callable<Integer>, HeapPlanned {
        @Option(names = "--shape", defaultValue = "gpt2-124m", description = {"gpt2-124m, smollm2-135m (the PyTorch reference's shapes), qwen2.5-0.5b,",
                "llama-3.2-1b, llama-3.2-3b or llama-3.1-8b (true dimensions, random weights made one matrix at a time and stored",
                "as --quantize / --frozen-dtype say, so an 8B NF4 base never exists in f32) (default ${DEFAULT-VALUE})."})
        String shape;
        @Option(names = "--batch", defaultValue = "4", description = "Sequences per step (default ${DEFAULT-VALUE}).")
        int batch;
        @Option(names = "--seq", defaultValue = "256", description = "Tokens per sequence (default ${DEFAULT-VALUE}).")
        int seq;
        @Option(names = "--steps", defaultValue = "3", description = "Timed steps after one warm-up step (default ${DEFAULT-VALUE}).")
        int steps;
        @Option(names = "--threads", defaultValue = "2", description = "Compute threads (default ${DEFAULT-VALUE}).")
        int threads;
        @Option(names = "--gradient-checkpointing", arity = "0..1", defaultValue = "false", description = "Recompute blocks in the backward.")
        boolean checkpointing;
        @Option(names = "--profile", arity = "0..1", fallbackValue = "bench-profile.json", paramLabel = "JSON",
                description = {"Also measure where each timed step's time goes (per kind of op, forward and backward, GC pauses,",
                        "allocation): printed as a table and written as JSON (default file ${FALLBACK-VALUE})."})
        String profile;
        @Option(names = "--overwrite", description = "Replace an existing --profile file.")
        boolean overwrite;
        @picocli.CommandLine.Mixin BaseModelOptions baseModel;
        @Option(names = "--method", defaultValue = "lora", description = {"lora, dora, ia3, vera, loha, lokr, adalora, prompt-tuning, p-tuning or prefix-tuning (default ${DEFAULT-VALUE}: the",
                "PyTorch reference's LoRA setup); the others use the same targets, r and alpha where they have them (ia3: PEFT's default",
                "targets; vera: PEFT's r 256; loha/lokr: Linear layers only, as in PEFT, so not GPT-2's Conv1D; adalora: init_r = the",
                "LoRA r, target_r = r/2, total_step = the steps run, so every step updates the scores and prunes)."})
        String method;

        /**
         * The method's config on the benchmark shapes: the reference LoRA targets, r and alpha where the method has them.
         * totalSteps = the optimizer steps the benchmark runs (warm-up included): AdaLoRA's total_step, with
         * tinit = tfinal = 0 so each step runs the rank allocator's score update and masking (its costly phase).
         */
        static java.util.function.Function<dev.peft4j.model.ModelConfig, dev.peft4j.tuner.AdapterConfig> config(String method, int totalSteps) {
            return switch (method.toLowerCase(java.util.Locale.ROOT)) {
                case "lora" -> null;
                case "dora" -> c -> (c.isGpt2()                                        // the reference LoRA setup with use_dora
                        ? dev.peft4j.tuner.lora.LoraConfig.builder().r(8).alpha(16).targetModules("c_attn")
                        : dev.peft4j.tuner.lora.LoraConfig.builder().r(16).alpha(32)
                                .targetModules("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"))
                        .dropout(0f).useDora(true).build();
                case "ia3" -> c -> dev.peft4j.tuner.ia3.Ia3Config.builder().build();
                case "vera" -> c -> dev.peft4j.tuner.vera.VeraConfig.builder().targetModules(targets(c)).build();   // PEFT's r 256
                case "loha" -> c -> dev.peft4j.tuner.loha.LoHaConfig.builder().r(c.isGpt2() ? 8 : 16).alpha(c.isGpt2() ? 16 : 32)
                        .targetModules(targets(c)).build();
                case "lokr" -> c -> dev.peft4j.tuner.lokr.LoKrConfig.builder().r(c.isGpt2() ? 8 : 16).alpha(c.isGpt2() ? 16 : 32)
                        .targetModules(targets(c)).build();
                // the LoRA r as init_r, half of it as target_r; alpha as LoRA's (scaling alpha/ranknum = LoRA's alpha/r at the start)
                case "adalora" -> c -> dev.peft4j.tuner.adalora.AdaLoraConfig.builder().initR(c.isGpt2() ? 8 : 16).targetR(c.isGpt2() ? 4 : 8)
                        .alpha(c.isGpt2() ? 16 : 32).totalStep(totalSteps).targetModules(targets(c)).build();
                // 20 virtual tokens (the input grows by 20 positions: part of the method's cost)
                case "prompt-tuning" -> c -> dev.peft4j.tuner.prompttuning.PromptTuningConfig.random(20);
                case "prefix-tuning" -> c -> dev.peft4j.tuner.prefixtuning.PrefixTuningConfig.of(20, false, null);
                case "p-tuning" -> c -> dev.peft4j.tuner.ptuning.PTuningConfig.of(20);          // PEFT's default MLP encoder, hidden = token_dim
                default -> throw new dev.peft4j.Peft4jException("unknown --method '" + method
                        + "' for bench train; use lora, dora, ia3, vera, loha, lokr, adalora, prompt-tuning, p-tuning or prefix-tuning");
            };
        }

        /** The reference LoRA targets of the shape. */
        static String[] targets(dev.peft4j.model.ModelConfig c) {
            return c.isGpt2() ? new String[] {"c_attn"} : new String[] {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
        }

        /** The heap for this benchmark (bin/peft4j starts the JVM with it): the shape's weights as stored, the reference targets. */
        @Override
        public java.util.Optional<dev.peft4j.train.HeapPlan> heapPlan() {
            dev.peft4j.model.ModelConfig cfg = dev.peft4j.model.ModelFactory.shape(shape);
            boolean reference = shape.startsWith("gpt2") || shape.startsWith("smollm");   // made in f32, then stored (else tensor by tensor)
            dev.peft4j.train.HeapPlan.Builder b = dev.peft4j.train.HeapPlan.builder(cfg)
                    .storage(dev.peft4j.train.HeapPlan.Storage.of(baseModel.quantize, baseModel.frozenDtype, "bfloat16".equals(cfg.torchDtype()),
                            baseModel.prepackWeights))
                    .loadsInF32(reference).checkpointing(checkpointing);
            var adapter = config(method, steps + 1);
            b.adapter(adapter == null
                    ? dev.peft4j.tuner.lora.LoraConfig.builder().r(cfg.isGpt2() ? 8 : 16).alpha(cfg.isGpt2() ? 16 : 32).targetModules(targets(cfg)).build()
                    : adapter.apply(cfg));
            return java.util.Optional.of(b.batch(batch, seq).build());
        }

        @Override
        public Integer call() {
            HeapPlanned.report(HeapPlanned.quietly(this), System.out);
            if (profile != null)                                          // before the run, not after minutes of it
                dev.peft4j.io.OutputDir.checkFile(java.nio.file.Path.of(profile), overwrite,
                        new dev.peft4j.io.OutputDir.Names("--overwrite", "--resume", "--profile"));
            boolean reference = shape.startsWith("gpt2") || shape.startsWith("smollm");   // the PyTorch reference's shapes
            TrainBenchmark.Result r = TrainBenchmark.run(shape, config(method, steps + 1), batch, seq, steps, threads, checkpointing,
                    reference ? null : baseModel::store, baseModel::applyTo, profile != null, System.out);
            double[] s = r.stepSeconds().clone();
            Arrays.sort(s);
            System.out.printf("peft4j %s " + method.toLowerCase(java.util.Locale.ROOT) + "%s: trainable %d of %d params; B=%d T=%d threads=%d; step seconds min %.3f median %.3f max %.3f%n",
                    r.shape(), (checkpointing ? " (gradient checkpointing)" : "") + baseModel.describe(), r.trainable(), r.all(), r.B(), r.T(), r.threads(), s[0], s[s.length / 2], s[s.length - 1]);
            System.out.printf("flops_per_token=%.3e peak_gflops=%.1f (measured FMA peak)%n", r.flopsPerToken(), r.peakGflops());
            System.out.printf("tokens_per_s=%.1f mfu=%.3f peak_rss_mb=%d adapter_file_bytes=%d%n", r.tokensPerSecond(), r.mfu(),
                    r.peakRssMb(), r.adapterFileBytes());
            if (r.profile() != null) {
                System.out.print(r.profile().table());
                java.util.Map<String, Object> json = new java.util.LinkedHashMap<>();
                json.put("shape", r.shape());
                json.put("method", method);
                json.put("setup", baseModel.describe().trim());
                json.put("batch", r.B());
                json.put("seq", r.T());
                json.put("gradient_checkpointing", checkpointing);
                json.put("tokens_per_s", r.tokensPerSecond());
                json.put("mfu", r.mfu());
                json.put("peak_gflops", r.peakGflops());
                json.put("peak_rss_mb", r.peakRssMb());
                json.putAll(dev.peft4j.Profile.toMap(r.profile()));
                java.nio.file.Path out = java.nio.file.Path.of(profile);
                try {
                    dev.peft4j.report.CompareReport.writeAtomically(out, new com.fasterxml.jackson.databind.ObjectMapper()
                            .writerWithDefaultPrettyPrinter().writeValueAsString(json) + "\n");
                } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                    throw new IllegalStateException(e);
                }
                System.out.println("profile written to " + out);
            }
            return 0;
        }
    }
}
