/*
 * OpenBlas: a small FFM (java.lang.foreign) binding to the system OpenBLAS, used only by the
 * benchmarks as the reference sgemm (peft4j itself never links native code).
 *
 * Binds cblas_sgemm, openblas_set_num_threads / openblas_get_num_threads, openblas_get_config,
 * openblas_get_corename and openblas_get_parallel. The library is Debian's libopenblas0-pthread
 * (apt-get install -y libopenblas0-pthread); another file can be named with the environment
 * variable PEFT4J_OPENBLAS=/path/to/libopenblas.so. OpenBLAS picks its kernel at load time from
 * the CPU unless OPENBLAS_CORETYPE forces one, so coreTypeWarning() reports when that is set, and
 * isAvx512Core() says whether the picked kernel is an AVX-512 one (SKYLAKEX, COOPERLAKE,
 * SAPPHIRERAPIDS; note OpenBLAS's "ZEN" core is its AVX2 Haswell kernel). Before loading, load()
 * sets OPENBLAS_THREAD_TIMEOUT=4 in the C environment unless it is already set, so OpenBLAS's idle
 * worker threads sleep right after a call instead of spinning ~0.1 s on a core the next
 * benchmark needs (see quietIdleThreads).
 *
 * Java float[] operands are copied into off-heap segments that a Call allocates once per shape,
 * so a timed run() is the native sgemm alone:
 *   try (OpenBlas.Call call = blas.call("NT", M, N, K)) { call.load(a, b); call.run(); call.store(c); }
 * The products match dev.peft4j.kernels.Gemm (row-major): NT C=A[M,K]·W[N,K]ᵀ, NN C=A[M,K]·B[K,N],
 * TN C=A[K,M]ᵀ·B[K,N].
 * Needs --enable-native-access=ALL-UNNAMED (bin/bench passes it).
 */
package dev.peft4j.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

public final class OpenBlas {
    static final int ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;

    /** Where Debian's packages put the library; the pthread build first (the one the issue names). */
    static final List<String> CANDIDATES = List.of(
            "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
            "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
            "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
            "/usr/lib/aarch64-linux-gnu/libopenblas.so.0");

    static final String INSTALL_HINT = "apt-get install -y libopenblas0-pthread";

    private static final Set<String> AVX512_CORES = Set.of("SKYLAKEX", "COOPERLAKE", "SAPPHIRERAPIDS");

    private final Path library;
    private final MethodHandle sgemm, setThreads, getThreads, getConfig, getCorename, getParallel;

    private OpenBlas(Path library, SymbolLookup lookup) {
        this.library = library;
        Linker linker = Linker.nativeLinker();
        ValueLayout.OfInt I = ValueLayout.JAVA_INT;
        ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
        ValueLayout P = ValueLayout.ADDRESS;
        // void cblas_sgemm(order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); blasint = int
        sgemm = linker.downcallHandle(find(lookup, "cblas_sgemm"),
                FunctionDescriptor.ofVoid(I, I, I, I, I, I, F, P, I, P, I, F, P, I));
        setThreads = linker.downcallHandle(find(lookup, "openblas_set_num_threads"), FunctionDescriptor.ofVoid(I));
        getThreads = linker.downcallHandle(find(lookup, "openblas_get_num_threads"), FunctionDescriptor.of(I));
        getConfig = linker.downcallHandle(find(lookup, "openblas_get_config"), FunctionDescriptor.of(P));
        getCorename = linker.downcallHandle(find(lookup, "openblas_get_corename"), FunctionDescriptor.of(P));
        getParallel = linker.downcallHandle(find(lookup, "openblas_get_parallel"), FunctionDescriptor.of(I));
    }

    private static MemorySegment find(SymbolLookup lookup, String name) {
        return lookup.find(name).orElseThrow(() -> new IllegalStateException("symbol " + name + " not found"));
    }

    /**
     * Loads OpenBLAS, or returns null after adding to {@code why} what was tried and how to install it.
     * The library stays loaded for the life of the process.
     */
    public static OpenBlas load(List<String> why) {
        List<String> paths = new ArrayList<>();
        String override = System.getenv("PEFT4J_OPENBLAS");
        if (override != null && !override.isBlank()) paths.add(override);
        else paths.addAll(CANDIDATES);
        for (String p : paths) {
            Path path = Path.of(p);
            if (!Files.exists(path)) continue;
            try {
                quietIdleThreads();
                return new OpenBlas(path, SymbolLookup.libraryLookup(path, Arena.global()));
            } catch (Throwable e) {
                why.add("could not bind " + path + ": " + e.getMessage());
            }
        }
        why.add("OpenBLAS not found (tried " + String.join(", ", paths) + "); install it with: " + INSTALL_HINT
                + " (or set PEFT4J_OPENBLAS=/path/to/libopenblas.so)");
        return null;
    }

    /** The OPENBLAS_THREAD_TIMEOUT this process's OpenBLAS reads (set by load() unless the environment had one). */
    public static String threadTimeout() {
        try {
            MemorySegment v = (MemorySegment) GETENV.invokeExact(C_ARENA.allocateFrom("OPENBLAS_THREAD_TIMEOUT"));
            return v.equals(MemorySegment.NULL) ? null : v.reinterpret(64).getString(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Linker LIBC = Linker.nativeLinker();
    private static final Arena C_ARENA = Arena.global();
    private static final MethodHandle SETENV = LIBC.downcallHandle(find(LIBC.defaultLookup(), "setenv"),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    private static final MethodHandle GETENV = LIBC.downcallHandle(find(LIBC.defaultLookup(), "getenv"),
            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS));

    /**
     * After a call, OpenBLAS's pthread workers busy-wait (sched_yield loop) for 1<<28 TSC cycles, about
     * 0.1 s, before sleeping. On a 2-core machine that takes a core away from whatever runs next, which in
     * an interleaved benchmark is the peft4j call (measured: peft4j's median halves). Unless the user set
     * OPENBLAS_THREAD_TIMEOUT, set it to 4 (1<<4 cycles: sleep at once) in the C environment before the
     * library is loaded; OpenBLAS reads it at load time. OpenBLAS then pays one thread wake-up per call.
     */
    private static void quietIdleThreads() throws Throwable {
        int rc = (int) SETENV.invokeExact(C_ARENA.allocateFrom("OPENBLAS_THREAD_TIMEOUT"), C_ARENA.allocateFrom("4"), 0);
        if (rc != 0) throw new IllegalStateException("setenv failed");
    }

    /** A warning line when OPENBLAS_CORETYPE is set (it overrides OpenBLAS's CPU detection), else null. */
    public static String coreTypeWarning() {
        String forced = System.getenv("OPENBLAS_CORETYPE");
        return forced == null ? null
                : "WARNING: OPENBLAS_CORETYPE=" + forced + " is set and forces OpenBLAS's kernel; unset it to compare against the kernel OpenBLAS picks for this CPU";
    }

    public Path library() { return library; }

    public void setThreads(int n) {
        try { setThreads.invokeExact(n); } catch (Throwable t) { throw rethrow(t); }
    }

    public int threads() {
        try { return (int) getThreads.invokeExact(); } catch (Throwable t) { throw rethrow(t); }
    }

    /** Build configuration, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64". */
    public String config() { return string(getConfig); }

    /** The kernel OpenBLAS picked (or was forced to), e.g. "SkylakeX" or "Cooperlake". */
    public String coreName() { return string(getCorename); }

    /** True when coreName() is one of OpenBLAS's AVX-512 kernels. */
    public boolean isAvx512Core() { return AVX512_CORES.contains(coreName().toUpperCase(java.util.Locale.ROOT)); }

    /** 0 sequential, 1 pthreads, 2 OpenMP. */
    public String parallelism() {
        int p;
        try { p = (int) getParallel.invokeExact(); } catch (Throwable t) { throw rethrow(t); }
        return switch (p) { case 0 -> "sequential"; case 1 -> "pthreads"; case 2 -> "OpenMP"; default -> "parallel=" + p; };
    }

    private static String string(MethodHandle h) {
        try {
            MemorySegment s = (MemorySegment) h.invokeExact();
            return s.equals(MemorySegment.NULL) ? "?" : s.reinterpret(4096).getString(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }

    /** A prepared product of one shape: off-heap A, B and C allocated once, reused by every run(). */
    public Call call(String op, int M, int N, int K) { return new Call(op, M, N, K); }

    public final class Call implements AutoCloseable {
        private final Arena arena = Arena.ofShared();
        private final MemorySegment a, b, c;
        private final int M, N, K, transA, transB, lda, ldb;

        private Call(String op, int M, int N, int K) {
            this.M = M; this.N = N; this.K = K;
            switch (op) {
                case "NT" -> { transA = NO_TRANS; transB = TRANS;    lda = K; ldb = K; }   // A[M,K], W[N,K]
                case "NN" -> { transA = NO_TRANS; transB = NO_TRANS; lda = K; ldb = N; }   // A[M,K], B[K,N]
                case "TN" -> { transA = TRANS;    transB = NO_TRANS; lda = M; ldb = N; }   // A[K,M], B[K,N]
                default -> throw new IllegalArgumentException("op must be NT, NN or TN (got " + op + ")");
            }
            a = arena.allocate((long) M * K * Float.BYTES, 64);
            b = arena.allocate((long) N * K * Float.BYTES, 64);
            c = arena.allocate((long) M * N * Float.BYTES, 64);
        }

        /** Copies the operands in (A has M*K floats, B/W has N*K, laid out as the op says). */
        public void load(float[] aIn, float[] bIn) {
            MemorySegment.copy(aIn, 0, a, ValueLayout.JAVA_FLOAT, 0, M * K);
            MemorySegment.copy(bIn, 0, b, ValueLayout.JAVA_FLOAT, 0, N * K);
        }

        /** C = op(A)·op(B) in native memory (beta = 0). */
        public void run() {
            try {
                sgemm.invokeExact(ROW_MAJOR, transA, transB, M, N, K, 1f, a, lda, b, ldb, 0f, c, N);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        /** Copies C[M,N] out. */
        public void store(float[] cOut) {
            MemorySegment.copy(c, ValueLayout.JAVA_FLOAT, 0, cOut, 0, M * N);
        }

        @Override
        public void close() { arena.close(); }
    }
}
