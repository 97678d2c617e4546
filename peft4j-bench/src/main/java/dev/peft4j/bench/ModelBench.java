/*
 * ModelBench: end-to-end inference speed of a GPT-2-124M-shaped model with random weights,
 * written to a real safetensors checkpoint first so that load time is measured through the same
 * path users take (mmap + header validation + f32 conversion + Conv1D transpose).
 * Reports min/median/max over repeats: load seconds, prefill tokens/s, decode tokens/s.
 * Usage: bin/bench model [threads] [repeats]
 */
package dev.peft4j.bench;

import dev.peft4j.generate.Generator;
import dev.peft4j.generate.SamplingConfig;
import dev.peft4j.io.DType;
import dev.peft4j.io.SafeTensorsWriter;
import dev.peft4j.kernels.Parallel;
import dev.peft4j.model.CausalLM;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

public final class ModelBench {
    public static void main(String[] args) throws Exception {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : 2;
        int repeats = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        Parallel.setThreads(threads);
        Path dir = Files.createTempDirectory("peft4j-gpt2-124m");
        try {
            writeGpt2(dir, 768, 12, 12, 50257, 1024);
            System.out.printf("GPT-2-124M shape, random weights, F32 checkpoint %.0f MB, %d threads%n",
                    Files.size(dir.resolve("model.safetensors")) / 1e6, threads);
            double[] load = new double[repeats];
            CausalLM model = null;
            for (int i = 0; i < repeats; i++) {
                model = null;
                System.gc();
                long t0 = System.nanoTime();
                model = CausalLM.load(dir);
                load[i] = (System.nanoTime() - t0) / 1e9;
            }
            report("load seconds", load);
            System.out.printf("parameters %,d%n", model.parameterCount());
            Random r = new Random(1);
            for (int[] bt : new int[][] {{1, 128}, {4, 256}}) {
                int B = bt[0], T = bt[1];
                int[] tokens = new int[B * T];
                for (int i = 0; i < tokens.length; i++) tokens[i] = r.nextInt(50257);
                model.forward(tokens, B, T, model.newCache(B, T), null, true);   // warm-up
                double[] tps = new double[repeats];
                for (int i = 0; i < repeats; i++) {
                    long t0 = System.nanoTime();
                    model.forward(tokens, B, T, model.newCache(B, T), null, true);
                    tps[i] = B * T / ((System.nanoTime() - t0) / 1e9);
                }
                report("prefill tokens/s B=" + B + " T=" + T, tps);
            }
            int[] prompt = new int[16];
            for (int i = 0; i < prompt.length; i++) prompt[i] = r.nextInt(50257);
            Generator gen = new Generator(model);
            for (int B : new int[] {1, 4}) {
                List<int[]> prompts = new ArrayList<>();
                for (int b = 0; b < B; b++) prompts.add(prompt);
                int n = 64;
                SamplingConfig cfg = new SamplingConfig(n, 0f, 0, 1f, 0, false);
                gen.generate(prompts, new SamplingConfig(8, 0f, 0, 1f, 0, false), Set.of(), null);   // warm-up
                double[] tps = new double[repeats];
                for (int i = 0; i < repeats; i++) {
                    long[] first = {0};
                    gen.generate(prompts, cfg, Set.of(), (row, id) -> { if (first[0] == 0) first[0] = System.nanoTime(); });
                    long end = System.nanoTime();
                    tps[i] = B * (n - 1) / ((end - first[0]) / 1e9);
                }
                report("decode tokens/s B=" + B + " (prompt 16, 64 new)", tps);
            }
        } finally {
            try (var s = Files.list(dir)) { for (Path p : s.toList()) Files.delete(p); }
            Files.delete(dir);
        }
    }

    static void report(String what, double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        System.out.printf("%-42s min %9.2f  median %9.2f  max %9.2f%n", what, s[0], s[s.length / 2], s[s.length - 1]);
    }

    /** Writes config.json + model.safetensors of a GPT-2 with the given sizes and N(0, 0.02) weights. */
    public static void writeGpt2(Path dir, int C, int L, int NH, int V, int P) throws Exception {
        Files.writeString(dir.resolve("config.json"), """
                {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": %d, "n_layer": %d, "n_head": %d,
                 "vocab_size": %d, "n_positions": %d, "n_inner": null, "activation_function": "gelu_new",
                 "layer_norm_epsilon": 1e-5, "bos_token_id": 50256, "eos_token_id": 50256}
                """.formatted(C, L, NH, V, P));
        Random r = new Random(0);
        List<SafeTensorsWriter.Tensor> ts = new ArrayList<>();
        ts.add(tensor(r, "transformer.wte.weight", 0.02f, 0f, V, C));
        ts.add(tensor(r, "transformer.wpe.weight", 0.01f, 0f, P, C));
        for (int l = 0; l < L; l++) {
            String p = "transformer.h." + l + ".";
            ts.add(tensor(r, p + "ln_1.weight", 0f, 1f, C));
            ts.add(tensor(r, p + "ln_1.bias", 0f, 0f, C));
            ts.add(tensor(r, p + "attn.c_attn.weight", 0.02f, 0f, C, 3 * C));
            ts.add(tensor(r, p + "attn.c_attn.bias", 0f, 0f, 3 * C));
            ts.add(tensor(r, p + "attn.c_proj.weight", 0.02f, 0f, C, C));
            ts.add(tensor(r, p + "attn.c_proj.bias", 0f, 0f, C));
            ts.add(tensor(r, p + "ln_2.weight", 0f, 1f, C));
            ts.add(tensor(r, p + "ln_2.bias", 0f, 0f, C));
            ts.add(tensor(r, p + "mlp.c_fc.weight", 0.02f, 0f, C, 4 * C));
            ts.add(tensor(r, p + "mlp.c_fc.bias", 0f, 0f, 4 * C));
            ts.add(tensor(r, p + "mlp.c_proj.weight", 0.02f, 0f, 4 * C, C));
            ts.add(tensor(r, p + "mlp.c_proj.bias", 0f, 0f, C));
        }
        ts.add(tensor(r, "transformer.ln_f.weight", 0f, 1f, C));
        ts.add(tensor(r, "transformer.ln_f.bias", 0f, 0f, C));
        SafeTensorsWriter.write(dir.resolve("model.safetensors"), Map.of("format", "pt"), ts);
    }

    static SafeTensorsWriter.Tensor tensor(Random r, String name, float std, float mean, long... shape) {
        long n = 1;
        for (long d : shape) n *= d;
        float[] x = new float[(int) n];
        for (int i = 0; i < x.length; i++) x[i] = mean + (std == 0 ? 0 : (float) (r.nextGaussian() * std));
        return new SafeTensorsWriter.Tensor(name, DType.F32, shape, x);
    }
}
