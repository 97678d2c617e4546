/*
 * TrainBenchmark: LoRA training throughput at the shapes of ../shared/bench/torch_lora_ref.py, so
 * the two can run side by side: random weights, the same LoRA setup (GPT-2-124M: r 8, alpha 16 on
 * c_attn; SmolLM2-135M: r 16, alpha 32 on q,k,v,o,gate,up,down), AdamW, random tokens, one warm-up
 * step, then timed steps.
 *
 * FLOPs per token (what MFU counts), with L layers, T positions, C width, V vocabulary, P_lin the
 * weights of all linear layers in the blocks, r and (in, out) the LoRA shapes:
 *   forward   2·(P_lin + V·C)                 every weight once (the tied LM head included)
 *             + 4·T·C·L                       attention scores Q·Kᵀ and P·V (full T x T, as PyTorch eager)
 *             + Σ 2·r·(in + out)              the LoRA paths
 *   backward  2·(P_lin + V·C) + 8·T·C·L       input gradients only (frozen weights get no dW)
 *             + Σ 4·r·(in + out)              LoRA dA, dB and their input gradient
 * MFU = tokens/s · FLOPs/token / peak, with peak the FMA throughput measured on this machine before
 * and after the timed steps, the larger of the two (independent FMA chains in registers on every
 * thread; no memory traffic).
 */
package dev.peft4j.train;

import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.kernels.Parallel;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.ModelConfig;
import dev.peft4j.model.ModelFactory;
import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

public final class TrainBenchmark {
    public record Result(String shape, int B, int T, int threads, long trainable, long all, double tokensPerSecond,
                         double[] stepSeconds, double flopsPerToken, double peakGflops, double mfu, long peakRssMb,
                         long adapterFileBytes, dev.peft4j.Profile.Report profile) {}

    private TrainBenchmark() {}

    /**
     * prepare: how the frozen weights are held (quantised, bf16, prepacked), applied to the random
     * model before LoRA is attached.
     */
    public static Result run(String shape, int B, int T, int steps, int threads, boolean checkpointing,
                             java.util.function.UnaryOperator<CausalLM> prepare, PrintStream log) {
        return run(shape, null, B, T, steps, threads, checkpointing, prepare, log);
    }

    /**
     * adapter: the PEFT method's config to attach (any method of the registry); null = the LoRA setup of
     * the PyTorch reference (see the header). Other methods' extra FLOPs are counted as 6 per trainable
     * parameter per token (an estimate; their step time relative to LoRA is the number to read). A method's
     * TrainingHook (AdapterModel.trainingHook) runs inside each step as Trainer runs it (extra loss in the
     * backward, the callback after the optimizer step); its total is steps + 1 (the warm-up step counts).
     */
    public static Result run(String shape, java.util.function.Function<ModelConfig, dev.peft4j.tuner.AdapterConfig> adapter,
                             int B, int T, int steps, int threads, boolean checkpointing,
                             java.util.function.UnaryOperator<CausalLM> prepare, PrintStream log) {
        return run(shape, adapter, B, T, steps, threads, checkpointing, prepare, false, log);
    }

    /** profile: also measure where each timed step's time goes (dev.peft4j.Profile; Result.profile). */
    public static Result run(String shape, java.util.function.Function<ModelConfig, dev.peft4j.tuner.AdapterConfig> adapter,
                             int B, int T, int steps, int threads, boolean checkpointing,
                             java.util.function.UnaryOperator<CausalLM> prepare, boolean profile, PrintStream log) {
        return run(shape, adapter, B, T, steps, threads, checkpointing, null, prepare, profile, log);
    }

    /**
     * storage: applied to each frozen matrix as the random model is made (quantise, bf16), for shapes too large to
     * hold in f32 at once (ModelFactory.randomForBenchmark); null = the small shapes' path (ModelFactory.random, then
     * prepare). prepare runs on the whole model either way.
     */
    public static Result run(String shape, java.util.function.Function<ModelConfig, dev.peft4j.tuner.AdapterConfig> adapter,
                             int B, int T, int steps, int threads, boolean checkpointing,
                             java.util.function.Consumer<Tensor> storage, java.util.function.UnaryOperator<CausalLM> prepare,
                             boolean profile, PrintStream log) {
        Parallel.setThreads(threads);
        ModelConfig cfg = ModelFactory.shape(shape);
        if (T > cfg.maxPositions()) throw new Peft4jException("--seq " + T + " exceeds the model's " + cfg.maxPositions() + " positions");
        CausalLM model;
        if (storage != null) {
            long t0 = System.nanoTime();
            model = ModelFactory.randomForBenchmark(cfg, 0, 0.02f, storage);
            log.printf("random %s model made in %.1f s%n", shape, (System.nanoTime() - t0) / 1e9);
        } else {
            model = ModelFactory.random(cfg, 0, 0.02f);
            if ("bfloat16".equals(cfg.torchDtype())) roundToBf16(model);    // as the real checkpoint holds them
        }
        model = prepare.apply(model);
        model.setGradientCheckpointing(checkpointing);
        LoraConfig lc = cfg.isGpt2()
                ? LoraConfig.builder().r(8).alpha(16).dropout(0f).targetModules("c_attn").build()
                : LoraConfig.builder().r(16).alpha(32).dropout(0f).targetModules("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj").build();
        dev.peft4j.tuner.AdapterConfig ac = adapter == null ? lc : adapter.apply(cfg);
        dev.peft4j.tuner.AdapterModel lora = dev.peft4j.tuner.PeftMethods.of(ac.peftType(), "benchmark").apply(model, ac, "default", 0);
        log.println(lora.trainableSummary());
        AdamW opt = new AdamW(lora.trainableParameters(), AdamW.Hyper.defaults());
        TrainingHook hook = lora.trainingHook();                          // as Trainer runs it: part of the step's time
        SplittableRandom rng = new SplittableRandom(0);
        int[] data = new int[B * (T + 1)];
        for (int i = 0; i < data.length; i++) data[i] = rng.nextInt(cfg.vocabSize());
        int[] ids = new int[B * T], labels = new int[B * T];
        for (int b = 0; b < B; b++) {
            System.arraycopy(data, b * (T + 1), ids, b * T, T);
            System.arraycopy(data, b * (T + 1), labels, b * T, T);        // labels aligned; the loss shifts them
        }
        double peak = measurePeakGflops(threads);
        double flops = flopsPerToken(cfg, lora, T);
        double[] secs = new double[steps];
        dev.peft4j.autograd.Workspace workspace = new dev.peft4j.autograd.Workspace();   // as Trainer: arrays recycled step to step
        for (int s = -1; s < steps; s++) {                                 // step -1: warm-up
            if (profile && s == 0) dev.peft4j.Profile.start();
            dev.peft4j.Profile.beginStep();
            long t0 = System.nanoTime();
            for (Tensor p : lora.trainableParameters()) p.zeroGrad();
            Tape tape = new Tape(s, workspace);
            Tensor loss = LmLoss.loss(tape, model, ids, labels, B, T);
            Tensor extra = hook == null ? null : hook.extraLoss(tape);
            if (extra != null) loss = dev.peft4j.autograd.Ops.add(tape, loss, extra);
            tape.backward(loss);
            opt.step(1e-4);
            if (hook != null) hook.afterOptimizerStep(s + 2, steps + 1);  // optimizer steps done (warm-up included), of all
            double dt = (System.nanoTime() - t0) / 1e9;
            dev.peft4j.Profile.endStep();
            if (s >= 0) secs[s] = dt;
            log.printf("%s step %d: loss %.4f, %.2f s, %.1f tokens/s%n", s < 0 ? "warm-up" : "timed", s, loss.data[0], dt, B * T / dt);
        }
        dev.peft4j.Profile.Report report = profile ? dev.peft4j.Profile.report(threads) : null;
        dev.peft4j.Profile.stop();
        peak = Math.max(peak, measurePeakGflops(threads));               // again after: a start-up GC can disturb the first
        double total = Arrays.stream(secs).sum();
        double tps = (double) steps * B * T / total;
        long trainable = 0;
        for (Tensor p : lora.trainableParameters()) trainable += p.size();
        return new Result(shape, B, T, threads, trainable, model.parameterCount() + trainable, tps, secs, flops,
                peak, tps * flops / (peak * 1e9), peakRssMb(), savedAdapterBytes(lora), report);
    }

    /** Rounds the frozen weights to bf16 values (kept as f32): what loading a bf16 checkpoint gives. */
    static void roundToBf16(CausalLM model) {
        for (Tensor t : model.parameters())
            if (!t.requiresGrad && !t.compact())
                for (int i = 0; i < t.data.length; i++)
                    t.data[i] = dev.peft4j.io.FloatCodec.bf16ToFloat(dev.peft4j.io.FloatCodec.floatToBf16(t.data[i]));
    }

    /** Size of adapter_model.safetensors as PeftAdapter saves it (written to a temporary directory, then deleted). */
    static long savedAdapterBytes(dev.peft4j.tuner.AdapterModel adapter) {
        try {
            java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("peft4j-bench-adapter");
            try {
                dev.peft4j.tuner.PeftAdapter.save(adapter, dir, "benchmark", null);
                return java.nio.file.Files.size(dir.resolve(dev.peft4j.tuner.PeftAdapter.WEIGHTS));
            } finally {
                try (var files = java.nio.file.Files.walk(dir)) {
                    files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
                }
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("benchmark: could not save the adapter to measure its size", e);
        }
    }

    /** Weight memory of a model of this shape: computed from the tensors and measured as live heap after GC. */
    public record WeightMemory(long params, long tensorBytes, long heapBytes) {
        public double tensorBytesPerParam() { return (double) tensorBytes / params; }
        public double heapBytesPerParam() { return (double) heapBytes / params; }
    }

    public static WeightMemory weightMemory(String shape, String quantize) {
        ModelConfig cfg = ModelFactory.shape(shape);
        long before = liveHeap();
        CausalLM model = ModelFactory.random(cfg, 0, 0.02f);
        long tensorBytes = quantize == null || quantize.equals("none") ? 0 : model.quantizeWeights(quantize, 64);
        if (tensorBytes == 0) for (Tensor t : model.parameters()) tensorBytes += t.bytes();
        long after = liveHeap();
        long params = model.parameterCount();
        java.lang.ref.Reference.reachabilityFence(model);
        return new WeightMemory(params, tensorBytes, after - before);
    }

    private static long liveHeap() {
        for (int i = 0; i < 3; i++) System.gc();
        var mem = java.lang.management.ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
        return mem.getUsed();
    }

    /** The documented FLOP count (see the header). */
    public static double flopsPerToken(ModelConfig c, dev.peft4j.tuner.AdapterModel adapter, int T) {
        if (adapter instanceof LoraModel lm) return flopsPerToken(c, lm, T);
        double base = flopsPerToken(c, adapter.model(), T, 0);
        long trainable = 0;
        for (Tensor p : adapter.trainableParameters()) trainable += p.size();
        return base + 6.0 * trainable;
    }

    public static double flopsPerToken(ModelConfig c, LoraModel lora, int T) {
        double loraFlops = 0;
        for (var a : lora.adapters().values()) loraFlops += 6.0 * a.r * (a.A.dim(1) + a.B.dim(0));
        return flopsPerToken(c, lora.model(), T, loraFlops);
    }

    private static double flopsPerToken(ModelConfig c, CausalLM model, int T, double adapterFlops) {
        long pLin = 0;
        for (var lin : model.linears()) if (!lin.name.equals("lm_head")) pLin += (long) lin.in * lin.out;
        double head = (double) c.vocabSize() * c.hiddenSize();
        double attn = (double) T * c.numHeads() * c.headDim() * c.numLayers();
        return 4 * (pLin + head) + 12 * attn + adapterFlops;
    }

    /** Peak FMA throughput, GFLOP/s, on `threads` threads: independent FMA chains held in registers. */
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;   // a constant, or nothing is intrinsified

    public static double measurePeakGflops(int threads) {
        for (int warm = 0; warm < 20; warm++) fmaChains(200_000L);      // let the JIT compile it first
        long iters = 20_000_000L;
        double best = 0;
        for (int rep = 0; rep < 3; rep++) {
            long t0 = System.nanoTime();
            Parallel.forEachChunk(threads, c -> fmaChains(iters));
            double gf = threads * iters * 12.0 * S.length() * 2 / (System.nanoTime() - t0);
            best = Math.max(best, gf);
        }
        return best;
    }

    private static float fmaChains(long n) {
        FloatVector a = FloatVector.broadcast(S, 0.999f), b = FloatVector.broadcast(S, 1e-3f);
        FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < n; i++) {
            c0 = a.fma(c0, b); c1 = a.fma(c1, b); c2 = a.fma(c2, b); c3 = a.fma(c3, b); c4 = a.fma(c4, b); c5 = a.fma(c5, b);
            c6 = a.fma(c6, b); c7 = a.fma(c7, b); c8 = a.fma(c8, b); c9 = a.fma(c9, b); c10 = a.fma(c10, b); c11 = a.fma(c11, b);
        }
        return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11).reduceLanes(VectorOperators.ADD);
    }

    /** VmHWM of this process in MB (Linux), or -1. */
    public static long peakRssMb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status")))
                if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
        } catch (IOException | NumberFormatException ignored) { }
        return -1;
    }
}
