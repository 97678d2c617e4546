/*
 * Parallel: the worker threads every kernel shares, sized for the machine (default: available
 * processors; override with -Dpeft4j.threads=N or Parallel.setThreads). The caller is one of the
 * threads, so a 2-core machine runs exactly 2.
 *
 * A training step forks hundreds of times (every GEMM, every attention layer, every elementwise
 * pass), so wake-up latency matters: after finishing a job, workers spin on a generation counter
 * for a short while (Thread.onSpinWait) before parking, so back-to-back jobs start within
 * microseconds instead of the tens a parked thread needs. Chunks go to whichever thread is free
 * (an atomic counter), so a core slowed by another process does not hold the job back.
 * A call made from inside a chunk runs inline: no nested fork, no deadlock.
 */
package dev.peft4j.kernels;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

public final class Parallel {
    private static final long SPIN_NANOS = Long.getLong("peft4j.spinMicros", 200) * 1000;
    private static volatile int threads = Integer.getInteger("peft4j.threads", Runtime.getRuntime().availableProcessors());
    private static volatile Pool pool = new Pool(threads - 1);

    /** True on a thread that is already running a chunk: nested calls then run sequentially. */
    private static final ThreadLocal<Boolean> INSIDE = ThreadLocal.withInitial(() -> false);

    private Parallel() {}

    /** Number of threads kernels use (the caller plus threads-1 workers). */
    public static int threads() { return threads; }

    /** Resize the pool; call before heavy work, not concurrently with it. */
    public static synchronized void setThreads(int n) {
        setThreads(n, "Parallel.setThreads(" + n + ")");
    }

    private static boolean warnedOversubscribed;

    /** Lets the next oversubscribed setThreads warn again (tests). */
    static synchronized void forgetWarning() { warnedOversubscribed = false; }

    /**
     * As {@link #setThreads(int)}; given names the interface the number came from in messages
     * ("--threads 16" in the CLI). More threads than available cores only slow the kernels down
     * (they time-share the cores and the spinning workers steal cycles): warned once per process.
     */
    public static synchronized void setThreads(int n, String given) {
        if (n < 1) throw new dev.peft4j.Peft4jException(given + ": the number of threads must be >= 1 (got " + n
                + "); use 1 up to the " + Runtime.getRuntime().availableProcessors() + " available cores");
        int cores = Runtime.getRuntime().availableProcessors();
        if (n > cores && !warnedOversubscribed) {
            warnedOversubscribed = true;
            System.err.println("warning: " + given + " asks for " + n + " threads but " + cores + " cores are available; "
                    + "extra threads share the cores and make the kernels slower. Use at most " + cores);
        }
        if (n == threads) return;
        Pool old = pool;
        pool = new Pool(n - 1);
        threads = n;
        old.shutdown();
    }

    /** Runs body(chunk) for chunk in [0, chunks) over the pool; blocks until all finish. */
    public static void forEachChunk(int chunks, IntConsumer body) {
        if (chunks <= 1 || threads == 1 || INSIDE.get()) {
            for (int c = 0; c < chunks; c++) body.accept(c);
            return;
        }
        pool.run(chunks, body);
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

    /** Workers waiting on a generation counter; one job at a time (callers are serialised). */
    private static final class Pool {
        private final Thread[] workers;
        private volatile long generation;
        private volatile boolean stopped;
        private volatile IntConsumer body;
        private volatile int chunks;
        private final AtomicInteger next = new AtomicInteger();
        private final AtomicInteger pending = new AtomicInteger();
        private volatile Throwable failure;
        private volatile Thread caller;

        Pool(int n) {
            workers = new Thread[n];
            for (int i = 0; i < n; i++) {
                workers[i] = new Thread(this::work, "peft4j-worker-" + i);
                workers[i].setDaemon(true);
                workers[i].start();
            }
        }

        synchronized void run(int nChunks, IntConsumer job) {
            body = job;
            chunks = nChunks;
            failure = null;
            next.set(0);
            pending.set(workers.length);
            caller = Thread.currentThread();
            generation++;                                     // publish the job
            for (Thread w : workers) LockSupport.unpark(w);
            runChunks();
            long spinUntil = System.nanoTime() + SPIN_NANOS;
            while (pending.get() > 0) {                       // wait for the workers' last chunks
                if (System.nanoTime() < spinUntil) Thread.onSpinWait();
                else LockSupport.parkNanos(this, 50_000);
            }
            body = null;
            Throwable f = failure;
            if (f instanceof RuntimeException re) throw re;
            if (f instanceof Error err) throw err;
            if (f != null) throw new IllegalStateException(f);
        }

        private void runChunks() {
            INSIDE.set(true);
            try {
                IntConsumer b = body;
                int n = chunks;
                for (int c = next.getAndIncrement(); c < n; c = next.getAndIncrement()) b.accept(c);
            } catch (Throwable t) {
                failure = t;
                next.set(Integer.MAX_VALUE / 2);              // stop handing out chunks
            } finally {
                INSIDE.set(false);
            }
        }

        private void work() {
            long seen = 0;
            while (!stopped) {
                long spinUntil = System.nanoTime() + SPIN_NANOS;
                while (generation == seen && !stopped) {      // spin a little, then park
                    if (System.nanoTime() < spinUntil) Thread.onSpinWait();
                    else LockSupport.park(this);
                }
                if (stopped) return;
                seen = generation;
                runChunks();
                if (pending.decrementAndGet() == 0) LockSupport.unpark(caller);
            }
        }

        void shutdown() {
            stopped = true;
            for (Thread w : workers) LockSupport.unpark(w);
        }
    }
}
