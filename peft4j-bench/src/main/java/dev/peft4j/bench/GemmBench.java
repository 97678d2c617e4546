/*
 * GemmBench: GFLOP/s of Gemm's three products at the sizes the issues name (1024³ and
 * 512x768x3072), min/median/max over repeated timed runs after warm-up, in one process.
 * Usage: bin/bench gemm [threads] [reps]
 */
package dev.peft4j.bench;

import dev.peft4j.kernels.Gemm;
import dev.peft4j.kernels.Parallel;
import java.util.Arrays;
import java.util.Random;

public final class GemmBench {
    public static void main(String[] args) {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : 2;
        int reps = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        Parallel.setThreads(threads);
        int[][] shapes = {{1024, 1024, 1024}, {512, 768, 3072}, {512, 3072, 768}, {1024, 768, 768}};
        System.out.printf("sgemm, %d threads, %d timed reps, vector bits %d%n", threads, reps,
                jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorBitSize());
        for (int[] s : shapes) {
            for (String op : new String[] {"NT", "NN", "TN"}) {
                double[] g = measure(op, s[0], s[1], s[2], reps);
                System.out.printf("%-3s M=%-5d N=%-5d K=%-5d GFLOP/s min %.1f  median %.1f  max %.1f%n",
                        op, s[0], s[1], s[2], g[0], g[1], g[2]);
            }
        }
    }

    /** Returns {min, median, max} GFLOP/s of op at M x N x K. */
    public static double[] measure(String op, int M, int N, int K, int reps) {
        Random r = new Random(0);
        float[] a = new float[M * K], b = new float[N * K], c = new float[M * N];
        for (int i = 0; i < a.length; i++) a[i] = r.nextFloat() - 0.5f;
        for (int i = 0; i < b.length; i++) b[i] = r.nextFloat() - 0.5f;
        Runnable call = switch (op) {
            case "NT" -> () -> Gemm.matmulNT(c, a, b, M, N, K, false);
            case "NN" -> () -> Gemm.matmulNN(c, a, b, M, N, K, false);
            case "TN" -> () -> Gemm.matmulTN(c, a, b, M, N, K, false);
            default -> throw new IllegalArgumentException("op must be NT, NN or TN (got " + op + ")");
        };
        for (int i = 0; i < 5; i++) call.run();
        double[] gflops = new double[reps];
        for (int i = 0; i < reps; i++) {
            long t0 = System.nanoTime();
            call.run();
            gflops[i] = 2.0 * M * N * K / (System.nanoTime() - t0);
        }
        Arrays.sort(gflops);
        return new double[] {gflops[0], gflops[reps / 2], gflops[reps - 1]};
    }
}
