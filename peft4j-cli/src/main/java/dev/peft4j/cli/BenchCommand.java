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
        subcommands = {BenchCommand.Train.class, BenchCommand.Memory.class})
final class BenchCommand implements Runnable {
    @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

    @Override public void run() { spec.commandLine().usage(System.out); }

    @Command(name = "memory", mixinStandardHelpOptions = true,
            description = {"Resident memory of a model's weights at a real shape (random values): bytes per parameter,",
                    "computed from the tensors and measured as live heap after GC.",
                    "Example: peft4j bench memory --shape smollm2-135m --quantize nf4"})
    static final class Memory implements Callable<Integer> {
        @Option(names = "--shape", defaultValue = "smollm2-135m", description = "gpt2-124m or smollm2-135m (default ${DEFAULT-VALUE}).")
        String shape;
        @Option(names = "--quantize", defaultValue = "nf4", description = "none, nf4 (double-quantised, blocks of 64) or int8 (default ${DEFAULT-VALUE}).")
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
    static final class Train implements Callable<Integer> {
        @Option(names = "--shape", defaultValue = "gpt2-124m", description = "gpt2-124m or smollm2-135m (default ${DEFAULT-VALUE}).")
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

        @Override
        public Integer call() {
            TrainBenchmark.Result r = TrainBenchmark.run(shape, config(method, steps + 1), batch, seq, steps, threads, checkpointing, baseModel::applyTo, System.out);
            double[] s = r.stepSeconds().clone();
            Arrays.sort(s);
            System.out.printf("peft4j %s " + method.toLowerCase(java.util.Locale.ROOT) + "%s: trainable %d of %d params; B=%d T=%d threads=%d; step seconds min %.3f median %.3f max %.3f%n",
                    r.shape(), (checkpointing ? " (gradient checkpointing)" : "") + baseModel.describe(), r.trainable(), r.all(), r.B(), r.T(), r.threads(), s[0], s[s.length / 2], s[s.length - 1]);
            System.out.printf("flops_per_token=%.3e peak_gflops=%.1f (measured FMA peak)%n", r.flopsPerToken(), r.peakGflops());
            System.out.printf("tokens_per_s=%.1f mfu=%.3f peak_rss_mb=%d adapter_file_bytes=%d%n", r.tokensPerSecond(), r.mfu(),
                    r.peakRssMb(), r.adapterFileBytes());
            return 0;
        }
    }
}
