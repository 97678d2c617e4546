/*
 * GemmBench: GFLOP/s of peft4j's Gemm against OpenBLAS's cblas_sgemm, same inputs, same thread
 * count, same process, for the three products (NT C=A·Wᵀ, NN C=A·B, TN C=Aᵀ·B) at the sizes the
 * issues name (1024³, 512x768x3072) and the transposed-layer shape 512x3072x768.
 *
 * Usage: bin/bench gemm [threads] [reps]        (defaults: 2 threads, 10 reps)
 *   java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
 *        -cp peft4j-bench/target/peft4j-bench.jar dev.peft4j.bench.GemmBench [threads] [reps]
 *
 * Method. For each shape and product both implementations get the same random operands. They are
 * warmed up, then timed interleaved (peft4j, OpenBLAS, peft4j, OpenBLAS, ...) so machine noise hits
 * both alike; each row prints min/median/max GFLOP/s over the reps, the ratio peft4j/OpenBLAS of
 * the medians (the target is >= 0.90), both medians as a fraction of the measured FMA peak,
 * and max|C_peft4j - C_openblas| / max|C_openblas|, which must stay below 1e-4 (otherwise the row
 * says MISMATCH and the exit status is 1). "others" is the CPU share other processes took during
 * the row (from /proc): on a shared machine, rows with more than a few percent are not to be trusted. OpenBLAS's operands are copied off-heap once per shape;
 * the copies are not timed. The FMA peak line runs 12 independent vector FMA chains per thread.
 *
 * OpenBLAS is Debian's libopenblas0-pthread, bound through FFM (see OpenBlas); its header line
 * names the kernel it picked, which should be an AVX-512 one on an AVX-512 machine, with
 * OPENBLAS_CORETYPE unset. Its idle threads are told to sleep at once (OPENBLAS_THREAD_TIMEOUT=4
 * unless set): by default they spin ~0.1 s after each call, which on 2 cores halves the peft4j
 * call that follows. -Dpeft4j.bench.settleMs=N sleeps N ms before every timed call instead/as well.
 * Without the library only the peft4j half runs, with install advice.
 */
package dev.peft4j.bench;

import dev.peft4j.kernels.Gemm;
import dev.peft4j.kernels.Parallel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

public final class GemmBench {
    static final int[][] SHAPES = {{1024, 1024, 1024}, {512, 768, 3072}, {512, 3072, 768}};
    static final String[] OPS = {"NT", "NN", "TN"};
    static final int WARMUP = 4;
    static final double TOLERANCE = 1e-4;

    public static void main(String[] args) throws Exception {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : 2;
        int reps = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        if (threads < 1 || reps < 1) throw new IllegalArgumentException("usage: GemmBench [threads>=1] [reps>=1]");
        Parallel.setThreads(threads);

        List<String> why = new ArrayList<>();
        OpenBlas blas = OpenBlas.load(why);
        String warning = OpenBlas.coreTypeWarning();
        if (warning != null) System.out.println(warning);
        why.forEach(System.out::println);
        if (blas != null) {
            blas.setThreads(threads);
            System.out.printf("OpenBLAS: core %s%s, %s, %d threads, OPENBLAS_THREAD_TIMEOUT=%s, %s%n  config: %s%n",
                    blas.coreName(), blas.isAvx512Core() ? " (AVX-512)" : " (NOT an AVX-512 kernel)", blas.parallelism(),
                    blas.threads(), OpenBlas.threadTimeout(), blas.library(), blas.config());
        } else {
            System.out.println("OpenBLAS missing: timing peft4j only");
        }
        System.out.printf("load average: %s%n", loadAverage());

        long[] peakStart = cpuSample();
        double[] peak = fmaPeak(threads);
        System.out.printf("FMA peak: %.1f GFLOP/s on %d threads (%.1f per thread; %d-bit vectors, 12 chains/thread; others %.0f%%)%n",
                peak[0], threads, peak[1], S.vectorBitSize(), others(peakStart, cpuSample()));
        System.out.printf("sgemm GFLOP/s min/med/max, %d threads, %d reps after %d warm-up, interleaved%n", threads, reps, WARMUP);
        System.out.printf("%-3s %-14s %-19s %-19s %-6s %-11s %-8s %s%n", "op", "MxNxK", "peft4j", "OpenBLAS", "ratio",
                "%peak p/o", "rel.diff", "others");
        long[] runStart = cpuSample();

        boolean mismatch = false;
        for (int[] s : SHAPES) {
            int M = s[0], N = s[1], K = s[2];
            Random r = new Random(0);
            float[] a = new float[M * K], b = new float[N * K];
            float[] cp = new float[M * N], co = new float[M * N];
            for (int i = 0; i < a.length; i++) a[i] = r.nextFloat() - 0.5f;
            for (int i = 0; i < b.length; i++) b[i] = r.nextFloat() - 0.5f;
            for (String op : OPS) {
                long[] rowStart = cpuSample();
                Runnable peft4j = gemm(op, cp, a, b, M, N, K);
                try (OpenBlas.Call call = blas == null ? null : blas.call(op, M, N, K)) {
                    if (call != null) call.load(a, b);
                    Runnable openblas = call == null ? null : call::run;
                    for (int i = 0; i < WARMUP; i++) {
                        peft4j.run();
                        if (openblas != null) openblas.run();
                    }
                    // the JIT needs more than a few calls on the very first shape: keep peft4j warming for ≥ 1 s
                    for (long until = System.nanoTime() + 1_000_000_000L; System.nanoTime() < until; ) peft4j.run();
                    double flops = 2.0 * M * N * K;
                    double[] gp = new double[reps], go = new double[reps];
                    for (int i = 0; i < reps; i++) {
                        gp[i] = flops / time(peft4j);
                        if (openblas != null) go[i] = flops / time(openblas);
                    }
                    String shape = M + "x" + N + "x" + K;
                    double mp = median(gp);
                    if (call == null) {
                        System.out.printf("%-3s %-14s %-19s %-19s %-6s %3.0f%%        %-8s %3.0f%%%n", op, shape, stats(gp), "-", "-",
                                100 * mp / peak[0], "-", others(rowStart, cpuSample()));
                        continue;
                    }
                    call.store(co);
                    double diff = relDiff(cp, co);
                    boolean bad = !(diff <= TOLERANCE);
                    mismatch |= bad;
                    double mo = median(go);
                    System.out.printf("%-3s %-14s %-19s %-19s %5.3f%s %3.0f%%/%3.0f%%   %.1e  %3.0f%%%s%n", op, shape, stats(gp),
                            stats(go), mp / mo, mp / mo < 0.9 ? "<" : " ", 100 * mp / peak[0], 100 * mo / peak[0], diff,
                            others(rowStart, cpuSample()), bad ? " MISMATCH" : "");
                }
            }
        }
        if (blas != null) System.out.println("ratio = median peft4j / median OpenBLAS; '<' marks rows below the 0.90 target");
        double busy = others(runStart, cpuSample());
        System.out.printf("others = CPU used by other processes during the row, %% of all CPUs; whole run: %.0f%%%s%n", busy,
                busy > 10 ? "  WARNING: the machine was busy, numbers are noisy; rerun when it is idle" : "");
        if (mismatch) {
            System.out.println("MISMATCH: peft4j and OpenBLAS disagree by more than " + TOLERANCE + " (relative)");
            System.exit(1);
        }
    }

    static Runnable gemm(String op, float[] c, float[] a, float[] b, int M, int N, int K) {
        return switch (op) {
            case "NT" -> () -> Gemm.matmulNT(c, a, b, M, N, K, false);
            case "NN" -> () -> Gemm.matmulNN(c, a, b, M, N, K, false);
            case "TN" -> () -> Gemm.matmulTN(c, a, b, M, N, K, false);
            default -> throw new IllegalArgumentException("op must be NT, NN or TN (got " + op + ")");
        };
    }

    /** Pause before each timed call (-Dpeft4j.bench.settleMs), to let the other library's threads go idle. */
    static final long SETTLE_MS = Long.getLong("peft4j.bench.settleMs", 0);

    static long time(Runnable r) {
        if (SETTLE_MS > 0) {
            try { Thread.sleep(SETTLE_MS); } catch (InterruptedException e) { Thread.currentThread().interrupt(); }
        }
        long t0 = System.nanoTime();
        r.run();
        return System.nanoTime() - t0;
    }

    static String stats(double[] g) {
        double[] s = g.clone();
        Arrays.sort(s);
        return String.format("%5.1f/%5.1f/%5.1f", s[0], median(g), s[s.length - 1]);
    }

    static double median(double[] g) {
        double[] s = g.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    }

    /** max|x - y| / max|y|. */
    static double relDiff(float[] x, float[] y) {
        double d = 0, m = 0;
        for (int i = 0; i < x.length; i++) {
            d = Math.max(d, Math.abs((double) x[i] - y[i]));
            m = Math.max(m, Math.abs((double) y[i]));
        }
        return m == 0 ? d : d / m;
    }

    /** {total, busy, this process} CPU time in clock ticks, from /proc (zeros where unreadable). */
    static long[] cpuSample() {
        try {
            String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
            long total = 0;
            for (int i = 1; i <= 8 && i < f.length; i++) total += Long.parseLong(f[i]);   // user..steal
            long idle = Long.parseLong(f[4]) + Long.parseLong(f[5]);                       // idle + iowait
            String self = Files.readString(Path.of("/proc/self/stat"));
            String[] g = self.substring(self.lastIndexOf(')') + 2).split(" ");             // g[0] is field 3 (state)
            return new long[] {total, total - idle, Long.parseLong(g[11]) + Long.parseLong(g[12])};   // utime + stime
        } catch (Exception e) {
            return new long[3];
        }
    }

    /** Percent of all CPU time between two samples used by processes other than this one. */
    static double others(long[] a, long[] b) {
        long total = b[0] - a[0];
        return total <= 0 ? 0 : Math.max(0, 100.0 * ((b[1] - a[1]) - (b[2] - a[2])) / total);
    }

    static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (Exception e) {
            return "?";
        }
    }

    // ---- FMA peak: 12 independent chains of vector FMAs per thread ----

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int CHAINS = 12;

    /** Runs iters x 12 dependent-per-chain FMAs; returns a value so the work cannot be dropped. */
    static float fmaChains(long iters, float seed) {
        FloatVector m = FloatVector.broadcast(S, 0.999999f), add = FloatVector.broadcast(S, 1e-6f * seed);
        FloatVector c0 = FloatVector.broadcast(S, seed), c1 = c0.add(1f), c2 = c0.add(2f), c3 = c0.add(3f),
                c4 = c0.add(4f), c5 = c0.add(5f), c6 = c0.add(6f), c7 = c0.add(7f), c8 = c0.add(8f),
                c9 = c0.add(9f), c10 = c0.add(10f), c11 = c0.add(11f);
        for (long i = 0; i < iters; i++) {
            c0 = c0.fma(m, add); c1 = c1.fma(m, add); c2 = c2.fma(m, add); c3 = c3.fma(m, add);
            c4 = c4.fma(m, add); c5 = c5.fma(m, add); c6 = c6.fma(m, add); c7 = c7.fma(m, add);
            c8 = c8.fma(m, add); c9 = c9.fma(m, add); c10 = c10.fma(m, add); c11 = c11.fma(m, add);
        }
        return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11)
                .reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
    }

    static volatile float sink;

    /** {total GFLOP/s on `threads` threads, best single-thread GFLOP/s}, best of a few short runs. */
    static double[] fmaPeak(int threads) throws InterruptedException {
        for (int i = 0; i < 200; i++) sink += fmaChains(20_000, i);          // get fmaChains C2-compiled
        long iters = 4_000_000;                                              // ~25-60 ms per thread
        double flopsPerThread = 2.0 * CHAINS * S.length() * iters;
        double single = 0, total = 0;
        for (int round = 0; round < 10; round++) {                         // best of 10: robust to short noise
            long t0 = System.nanoTime();
            sink += fmaChains(iters, round);
            single = Math.max(single, flopsPerThread / (System.nanoTime() - t0));
            Thread[] ts = new Thread[threads];
            java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
            for (int t = 0; t < threads; t++) {
                final int seed = t;
                ts[t] = new Thread(() -> {
                    try { go.await(); } catch (InterruptedException e) { return; }
                    sink += fmaChains(iters, seed);
                });
                ts[t].start();
            }
            long t1 = System.nanoTime();
            go.countDown();
            for (Thread t : ts) t.join();
            total = Math.max(total, threads * flopsPerThread / (System.nanoTime() - t1));
        }
        return new double[] {total, single};
    }
}
