/*
 * Profile: where a training step's wall time goes, by kind of operation (frozen-weight GEMMs, adapter
 * paths, attention, norms, activations, RoPE, copies, loss, optimizer), forward and backward apart,
 * with the garbage-collection pauses and the bytes allocated inside each kind taken out and counted
 * on their own. Off by default; when off, every hook is one static boolean test.
 *
 * How it counts. Ops open a span (try (var s = Profile.span(Kind.NORM)) { ... }) around their forward;
 * Tape.record wraps each backward closure in a span of the kind open when it was recorded, in the
 * backward direction. Spans nest and time is exclusive: a parent's time excludes its children's (the
 * LoRA op's span excludes the base GEMM's span inside it). A nested span inherits its parent's
 * direction, so a recomputed block (gradient checkpointing) counts as backward time of its kinds.
 * Only the thread that called start() records; the kernels' worker threads run inside the caller's
 * spans (Parallel's caller is one of the threads), so wall time is attributed correctly. The GEMM's
 * packing is measured on every thread (thread-time, shown divided by the thread count) as an
 * "of which" line: it is part of the GEMM rows. GC pauses come from the pause collectors' MXBeans
 * (millisecond resolution) and are subtracted from the span they fell into. Time outside every span
 * (tape bookkeeping, model glue, zeroing gradients) is "other".
 */
package dev.peft4j;

import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

public final class Profile {
    /** Kinds of work, in table order. */
    public enum Kind {
        LINEAR("frozen-weight GEMMs (x·Wᵀ, dy·W)"),
        ADAPTER("adapter paths (LoRA A/B, ...)"),
        ATTENTION("attention (flash)"),
        NORM("norms (RMSNorm, LayerNorm)"),
        ACTIVATION("activations (SwiGLU, GELU)"),
        ROPE("RoPE"),
        COPY("residual adds, splits, copies"),
        EMBEDDING("embedding"),
        LOSS("LM head + cross-entropy"),
        OPTIMIZER("optimizer (AdamW)"),
        OTHER("other (tape, glue, zero grads)");

        public final String label;
        Kind(String label) { this.label = label; }
    }

    /** One row of the table: per step, in milliseconds; alloc in MB per step (owner thread). */
    public record Row(String kind, String label, double forwardMs, double backwardMs, double totalMs, double share, double allocMb) {}

    /** The profile of a run: rows (kinds, then GC pauses), the step's mean wall time, packing share. */
    public record Report(int steps, int threads, double stepMs, List<Row> rows, double gcPauseMs, double packAMs,
                         double packBMs, double allocMbPerStep) {
        /** A fixed-width table, one line per kind, then the totals. */
        public String table() {
            StringBuilder sb = new StringBuilder();
            sb.append(String.format("%-38s %11s %11s %11s %7s %10s%n", "per step (mean of " + steps + ")", "forward ms", "backward ms", "total ms", "share", "alloc MB"));
            for (Row r : rows)
                sb.append(String.format("%-38s %11.1f %11.1f %11.1f %6.1f%% %10.1f%n", r.label(), r.forwardMs(), r.backwardMs(), r.totalMs(), 100 * r.share(), r.allocMb()));
            sb.append(String.format("%-38s %11s %11s %11.1f %6.1f%% %10.1f%n", "step (wall)", "", "", stepMs, 100.0, allocMbPerStep));
            sb.append(String.format("  of which GEMM packing (thread-time / %d threads): A (activations) %.1f ms (%.1f%%), B (weights, decoded) %.1f ms (%.1f%%)%n",
                    threads, packAMs, 100 * packAMs / stepMs, packBMs, 100 * packBMs / stepMs));
            return sb.toString();
        }

        /** The row of a kind ("LINEAR", "GC", ...), or null. */
        public Row row(String kind) {
            for (Row r : rows) if (r.kind().equals(kind)) return r;
            return null;
        }
    }

    private static final int KINDS = Kind.values().length;
    private static volatile boolean on;
    private static Thread owner;
    private static final long[][] nanos = new long[KINDS][2];     // exclusive wall ns, [kind][0 forward, 1 backward]
    private static final long[] alloc = new long[KINDS];
    private static long gcNanosTotal, stepNanos, allocTotal;
    private static int steps;
    private static final LongAdder packANanos = new LongAdder(), packBNanos = new LongAdder();
    // the span stack (owner thread only)
    private static final int MAX = 256;
    private static final int[] kindAt = new int[MAX];
    private static final boolean[] backwardAt = new boolean[MAX];
    private static final long[] startAt = new long[MAX], childAt = new long[MAX], gcAt = new long[MAX], childGcAt = new long[MAX],
            allocAt = new long[MAX], childAllocAt = new long[MAX];
    private static int depth;
    private static long stepStart, stepAlloc0;
    private static final List<GarbageCollectorMXBean> PAUSE_GCS = new ArrayList<>();
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    static {
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans())
            if (!gc.getName().contains("Concurrent")) PAUSE_GCS.add(gc);     // G1 Young / Old: stop-the-world
    }

    private Profile() {}

    /** A span; close it (try-with-resources) to end it. */
    public static final class Span implements AutoCloseable {
        private final boolean real;
        private Span(boolean real) { this.real = real; }
        @Override public void close() { if (real) end(); }
    }

    private static final Span REAL = new Span(true), NONE = new Span(false);

    /** True while profiling (hooks may skip their bookkeeping otherwise). */
    public static boolean on() { return on; }

    /** Starts profiling on the calling thread, all counters zeroed. */
    public static synchronized void start() {
        for (long[] n : nanos) java.util.Arrays.fill(n, 0);
        java.util.Arrays.fill(alloc, 0);
        gcNanosTotal = stepNanos = allocTotal = 0;
        steps = 0;
        depth = 0;
        packANanos.reset();
        packBNanos.reset();
        owner = Thread.currentThread();
        on = true;
    }

    /** Stops profiling. */
    public static synchronized void stop() { on = false; owner = null; depth = 0; }

    /** Opens a span of kind k (forward, or the direction of the enclosing span). */
    public static Span span(Kind k) {
        if (!on || Thread.currentThread() != owner) return NONE;
        return push(k, depth > 0 && backwardAt[depth - 1]);
    }

    /** A backward closure recorded now, wrapped to count as backward time of the kind open at recording. */
    public static Runnable backward(Runnable step) {
        if (!on || Thread.currentThread() != owner) return step;
        Kind k = depth > 0 ? Kind.values()[kindAt[depth - 1]] : Kind.OTHER;
        return () -> {
            if (!on || Thread.currentThread() != owner) { step.run(); return; }
            push(k, true);
            try { step.run(); } finally { end(); }
        };
    }

    /** Marks the start of a measured step (the GC pauses and allocations of the whole step are counted). */
    public static void beginStep() {
        if (!on) return;
        stepStart = System.nanoTime();
        stepAlloc0 = allocated();
        gcAt[MAX - 1] = gcNanos();
    }

    /** Marks the end of a measured step. */
    public static void endStep() {
        if (!on) return;
        stepNanos += System.nanoTime() - stepStart;
        allocTotal += allocated() - stepAlloc0;
        gcNanosTotal += gcNanos() - gcAt[MAX - 1];
        steps++;
    }

    /** Adds thread-time spent packing the GEMM's A operand (activations) and B operand (weights, decoded), any thread. */
    public static void addPacking(long aNs, long bNs) {
        packANanos.add(aNs);
        packBNanos.add(bNs);
    }

    private static Span push(Kind k, boolean backward) {
        if (depth >= MAX - 1) throw new IllegalStateException("profile spans nested deeper than " + (MAX - 1));
        int d = depth++;
        kindAt[d] = k.ordinal();
        backwardAt[d] = backward;
        childAt[d] = childGcAt[d] = childAllocAt[d] = 0;
        gcAt[d] = gcNanos();
        allocAt[d] = THREADS.getCurrentThreadAllocatedBytes();
        startAt[d] = System.nanoTime();
        return REAL;
    }

    private static void end() {
        long now = System.nanoTime();
        if (depth == 0) return;                                     // profiling restarted inside a span
        int d = --depth;
        long el = now - startAt[d], gc = gcNanos() - gcAt[d], al = THREADS.getCurrentThreadAllocatedBytes() - allocAt[d];
        long ownGc = Math.max(0, gc - childGcAt[d]);
        nanos[kindAt[d]][backwardAt[d] ? 1 : 0] += Math.max(0, el - childAt[d] - ownGc);
        alloc[kindAt[d]] += al - childAllocAt[d];
        if (d > 0) { childAt[d - 1] += el; childGcAt[d - 1] += gc; childAllocAt[d - 1] += al; }
    }

    private static long gcNanos() {
        long ms = 0;
        for (GarbageCollectorMXBean gc : PAUSE_GCS) ms += Math.max(0, gc.getCollectionTime());
        return ms * 1_000_000;
    }

    private static long allocated() { return THREADS.getTotalThreadAllocatedBytes(); }

    /** The report of the steps measured since start(); rows for every kind, GC pauses and "other". */
    public static synchronized Report report(int threads) {
        int n = Math.max(1, steps);
        double step = stepNanos / 1e6 / n;
        List<Row> rows = new ArrayList<>();
        double counted = 0;
        long countedAlloc = 0;
        for (Kind k : Kind.values()) {
            if (k == Kind.OTHER) continue;
            double f = nanos[k.ordinal()][0] / 1e6 / n, b = nanos[k.ordinal()][1] / 1e6 / n;
            counted += f + b;
            countedAlloc += alloc[k.ordinal()];
            rows.add(new Row(k.name(), k.label, f, b, f + b, (f + b) / step, alloc[k.ordinal()] / 1e6 / n));
        }
        double gc = gcNanosTotal / 1e6 / n;
        rows.add(new Row("GC", "GC pauses", 0, 0, gc, gc / step, 0));
        double other = Math.max(0, step - counted - gc);
        double otherF = nanos[Kind.OTHER.ordinal()][0] / 1e6 / n, otherB = nanos[Kind.OTHER.ordinal()][1] / 1e6 / n;
        rows.add(new Row(Kind.OTHER.name(), Kind.OTHER.label, otherF, otherB, other, other / step,
                Math.max(0, allocTotal - countedAlloc) / 1e6 / n));
        int t = Math.max(1, threads);
        return new Report(steps, threads, step, rows, gc, packANanos.sum() / 1e6 / n / t, packBNanos.sum() / 1e6 / n / t, allocTotal / 1e6 / n);
    }

    /** The report as a JSON-friendly map (for Jackson). */
    public static Map<String, Object> toMap(Report r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("steps", r.steps());
        m.put("threads", r.threads());
        m.put("step_ms", r.stepMs());
        m.put("gc_pause_ms", r.gcPauseMs());
        m.put("gemm_packing_a_ms", r.packAMs());
        m.put("gemm_packing_b_ms", r.packBMs());
        m.put("alloc_mb_per_step", r.allocMbPerStep());
        m.put("rows", r.rows());
        return m;
    }
}
