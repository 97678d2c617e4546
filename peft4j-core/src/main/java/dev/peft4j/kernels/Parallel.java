/*
 * Parallel: one fixed pool of worker threads shared by every kernel, sized for the machine
 * (default: available processors; override with -Dpeft4j.threads=N or Parallel.setThreads).
 * forEachChunk hands chunks to whichever thread is free; the calling thread works too, so a 2-core machine uses exactly 2 threads and no thread start-up
 * happens per op.
 */
package dev.peft4j.kernels;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;

public final class Parallel {
    private static volatile int threads = Integer.getInteger("peft4j.threads",
            Runtime.getRuntime().availableProcessors());
    private static volatile ExecutorService pool = newPool(threads);

    private Parallel() {}

    private static ExecutorService newPool(int n) {
        return Executors.newFixedThreadPool(Math.max(1, n - 1), r -> {
            Thread t = new Thread(r, "peft4j-worker");
            t.setDaemon(true);
            return t;
        });
    }

    /** Number of threads kernels use (the caller plus threads-1 workers). */
    public static int threads() { return threads; }

    /** Resize the pool; call before heavy work, not concurrently with it. */
    public static synchronized void setThreads(int n) {
        if (n < 1) throw new IllegalArgumentException("threads must be >= 1 (got " + n + ")");
        if (n == threads) return;
        ExecutorService old = pool;
        pool = newPool(n);
        threads = n;
        old.shutdown();
    }

    /** True on a thread that is already running a chunk: nested calls then run sequentially. */
    private static final ThreadLocal<Boolean> INSIDE = ThreadLocal.withInitial(() -> false);

    /**
     * Runs body(chunk) for chunk in [0, chunks) spread over the pool; blocks until all finish.
     * Called from inside a chunk (a GEMM inside a per-head loop), it runs inline: no nested fork,
     * so a small pool can never deadlock waiting on itself.
     */
    public static void forEachChunk(int chunks, IntConsumer body) {
        if (chunks <= 1 || threads == 1 || INSIDE.get()) {
            for (int c = 0; c < chunks; c++) body.accept(c);
            return;
        }
        int t = Math.min(threads, chunks);
        // Dynamic assignment: whichever thread is free takes the next chunk, so a core slowed
        // down by another process does not hold the whole call back.
        AtomicInteger next = new AtomicInteger();
        Runnable worker = () -> {
            INSIDE.set(true);
            try {
                for (int c = next.getAndIncrement(); c < chunks; c = next.getAndIncrement()) body.accept(c);
            } finally {
                INSIDE.set(false);
            }
        };
        Future<?>[] futures = new Future<?>[t - 1];
        for (int w = 1; w < t; w++) futures[w - 1] = pool.submit(worker);
        worker.run();
        for (Future<?> f : futures) {
            try {
                f.get();
            } catch (java.util.concurrent.ExecutionException e) {
                Throwable cause = e.getCause();
                if (cause instanceof RuntimeException re) throw re;
                if (cause instanceof Error err) throw err;
                throw new IllegalStateException(cause);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for workers", e);
            }
        }
    }

    /** Runs body(start, end) over [0, n) split into one contiguous range per thread. */
    public static void parallelRange(int n, RangeBody body) {
        int t = Math.max(1, Math.min(threads, n));
        forEachChunk(t, c -> {
            int start = (int) ((long) n * c / t), end = (int) ((long) n * (c + 1) / t);
            if (start < end) body.run(start, end);
        });
    }

    @FunctionalInterface
    public interface RangeBody { void run(int start, int end); }
}
