/*
 * InferenceBenchmark: prefill and decode speed at a real model's shape (random weights), read against the
 * two limits of the machine measured in the same run: the FMA peak (prefill is compute-bound: MFU) and the
 * memory bandwidth (decode at small batch is bandwidth-bound: every step reads every weight once).
 *
 * Bandwidth is a STREAM-style copy: b[i] = a[i] over two 256 MB arrays on all threads, counted as 2 x 256 MB
 * moved per pass (read a, write b), best of 5 passes. A decode step at batch B reads the weights once
 * (weightBytes) plus the KV cache written so far (small at these lengths, not counted), so the bound is
 * stream / weightBytes steps per second, i.e. B x that tokens per second; decode is reported as the fraction
 * of it reached: (decode steps per second x weightBytes) / stream.
 *
 * FLOPs of a prefill of B x T tokens with only the last position's logits (lastOnly): 2·P_lin per token for the
 * linear layers, 2·T·C·L per token for the attention scores and values (causal: T/2 keys on average, 2 products),
 * and 2·V·C per sequence for the LM head.
 */
package dev.peft4j.generate;

import dev.peft4j.autograd.Tensor;
import dev.peft4j.kernels.Parallel;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.KvCache;
import dev.peft4j.model.ModelConfig;
import dev.peft4j.model.ModelFactory;
import dev.peft4j.nn.Linear;
import dev.peft4j.train.TrainBenchmark;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;

public final class InferenceBenchmark {
    /** One measurement: what, batch, tokens/s (min/median/max of the repeats), and its share of the machine's limit. */
    public record Row(String phase, int batch, int tokens, double min, double median, double max, double ofLimit, String limit) {}

    public record Result(String shape, int threads, double peakGflops, double streamGBs, long weightBytes, List<Row> rows) {}

    private InferenceBenchmark() {}

    /**
     * shape: ModelFactory.shape name; storage: applied to each frozen matrix as it is made (bf16, quantise); batches:
     * prefill and decode batch sizes; prefillT: prompt length of the prefill; decodeTokens: new tokens per decode run.
     */
    public static Result run(String shape, Consumer<Tensor> storage, int[] batches, int prefillT, int decodeTokens, int repeats,
                             int threads, PrintStream log) {
        Parallel.setThreads(threads);
        ModelConfig cfg = ModelFactory.shape(shape);
        long t0 = System.nanoTime();
        CausalLM model = ModelFactory.randomForBenchmark(cfg, 0, 0.02f, storage);
        log.printf("random %s model made in %.1f s%n", shape, (System.nanoTime() - t0) / 1e9);
        long weightBytes = weightBytes(model);
        double stream = streamCopyGBs(threads);
        double peak = TrainBenchmark.measurePeakGflops(threads);
        log.printf("weights %.1f MB; STREAM copy %.1f GB/s; FMA peak %.1f GFLOP/s%n", weightBytes / 1e6, stream, peak);
        SplittableRandom rng = new SplittableRandom(1);
        List<Row> rows = new ArrayList<>();
        for (int B : batches) {
            int[] tokens = randomTokens(rng, B * prefillT, cfg.vocabSize());
            model.forward(tokens, B, prefillT, model.newCache(B, prefillT), null, true);          // warm-up
            double[] tps = new double[repeats];
            for (int i = 0; i < repeats; i++) {
                long s = System.nanoTime();
                model.forward(tokens, B, prefillT, model.newCache(B, prefillT), null, true);
                tps[i] = (double) B * prefillT / ((System.nanoTime() - s) / 1e9);
            }
            Row r = row("prefill", B, B * prefillT, tps, prefillFlopsPerToken(cfg, model, prefillT) / (peak * 1e9), "MFU");
            rows.add(r);
            log.printf("prefill B=%d T=%d: tokens/s min %.1f median %.1f max %.1f, MFU %.3f%n", B, prefillT, r.min(), r.median(), r.max(), r.ofLimit());
        }
        int prompt = 16;
        for (int B : batches) {
            int[] tokens = randomTokens(rng, B * prompt, cfg.vocabSize());
            decode(model, tokens, B, prompt, Math.min(8, decodeTokens));                          // warm-up
            double[] tps = new double[repeats];
            for (int i = 0; i < repeats; i++) tps[i] = B * decode(model, tokens, B, prompt, decodeTokens);
            Row r = row("decode", B, B * decodeTokens, tps, (double) weightBytes / B / (stream * 1e9), "of bandwidth");
            rows.add(r);
            log.printf("decode B=%d (prompt %d, %d new): tokens/s min %.1f median %.1f max %.1f, %.2f of the bandwidth bound (%.1f steps/s)%n",
                    B, prompt, decodeTokens, r.min(), r.median(), r.max(), r.ofLimit(), stream * 1e9 / weightBytes);
        }
        return new Result(shape, threads, peak, stream, weightBytes, rows);
    }

    /** Decode steps per second: greedy, one token per sequence per step, after a prefill of the prompt. */
    static double decode(CausalLM model, int[] prompt, int B, int T, int n) {
        KvCache cache = model.newCache(B, T + n);
        float[] logits = model.forward(prompt, B, T, cache, null, true);                           // (B, V)
        int V = model.config().vocabSize();
        int[] next = new int[B];
        long s = System.nanoTime();
        for (int step = 0; step < n; step++) {
            for (int b = 0; b < B; b++) next[b] = argmax(logits, b * V, V);
            logits = model.forward(next, B, 1, cache, null, true);
        }
        return n / ((System.nanoTime() - s) / 1e9);
    }

    private static int argmax(float[] x, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (x[off + i] > x[off + best]) best = i;
        return best;
    }

    /** Bytes of every distinct parameter tensor in its storage format (a tied head counted once). */
    public static long weightBytes(CausalLM model) {
        IdentityHashMap<Tensor, Boolean> seen = new IdentityHashMap<>();
        long bytes = 0;
        for (Tensor t : model.parameters()) if (seen.put(t, true) == null) bytes += t.bytes();
        return bytes;
    }

    static double prefillFlopsPerToken(ModelConfig c, CausalLM model, int T) {
        long pLin = 0;
        for (Linear lin : model.linears()) if (!lin.name.equals("lm_head")) pLin += (long) lin.in * lin.out;
        double attn = 2.0 * T * c.numHeads() * c.headDim() * c.numLayers();     // causal: T/2 keys, Q·Kᵀ and P·V
        double head = 2.0 * c.vocabSize() * c.hiddenSize() / T;                   // last position only
        return 2.0 * pLin + attn + head;
    }

    /** STREAM-style copy bandwidth in GB/s (bytes read + written), best of 5 passes over two 256 MB arrays. */
    public static double streamCopyGBs(int threads) {
        int n = 1 << 26;
        float[] a = new float[n], b = new float[n];
        Arrays.fill(a, 1f);
        double best = 0;
        for (int rep = 0; rep < 6; rep++) {
            long s = System.nanoTime();
            Parallel.forEachChunk(threads, k -> {
                int from = (int) ((long) n * k / threads), to = (int) ((long) n * (k + 1) / threads);
                System.arraycopy(a, from, b, from, to - from);
            });
            double gbs = 8.0 * n / (System.nanoTime() - s);
            if (rep > 0) best = Math.max(best, gbs);                                               // the first touches the pages
        }
        return best;
    }

    private static int[] randomTokens(SplittableRandom rng, int n, int V) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = rng.nextInt(V);
        return t;
    }

    /** A row of min/median/max tokens/s; perToken: the limit's share taken by one token per second (× median). */
    private static Row row(String phase, int batch, int tokens, double[] tps, double perToken, String limit) {
        double[] s = tps.clone();
        Arrays.sort(s);
        double median = s[s.length / 2];
        return new Row(phase, batch, tokens, s[0], median, s[s.length - 1], median * perToken, limit);
    }
}
