/*
 * Gemm: single-precision matrix multiply with the Vector API, packed and register-blocked
 * (the BLIS/GotoBLAS scheme), multi-threaded over the shared Parallel pool.
 *
 * The three products a transformer and its training need, all row-major, all "C = A·B" with
 * optional accumulation into C (backward passes accumulate):
 *   matmulNT  C[M,N] (+)= A[M,K] · W[N,K]ᵀ   forward of a linear layer      y  = x · Wᵀ
 *   matmulNN  C[M,N] (+)= A[M,K] · B[K,N]    input gradient of a linear     dx = dy · W
 *   matmulTN  C[M,N] (+)= A[K,M]ᵀ · B[K,N]   weight gradient of a linear    dW = dyᵀ · x
 *
 * How it works. For each block of KC rows of B, a panel of B (KC x NR columns, NR = two vectors)
 * is packed contiguously; for each block of MC rows of A, A is packed into MR-row slivers laid
 * out k-major. The micro-kernel keeps an MR x NR tile of C in registers (8 rows x 2 vectors = 16
 * accumulators with AVX-512's 32 registers, 6 x 2 = 12 with AVX2's 16; see MR) and walks k with
 * one broadcast and two FMAs per row. Packing is also where operand layout is resolved, so one kernel serves all three
 * products. Zero padding in the packed buffers handles ragged M/N edges; only valid C cells are
 * stored. Work is split across threads by column panels (or by rows when N is narrow), each
 * thread packing into its own scratch buffers, so there is one fork/join per call.
 *
 * Small products (M <= SMALL_M, the decode step of generation) skip packing: each output is a
 * vectorised dot product over contiguous rows of A and W, which is memory-bound anyway.
 * GemmScalar is the scalar twin used by the tests.
 */
package dev.peft4j.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

public final class Gemm {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int L = S.length();
    /**
     * Rows of the register tile: 8 with 512-bit vectors (AVX-512 has 32 registers: 16 accumulators, 2 B vectors,
     * the broadcast A), else 6 (16 registers: 12 accumulators). 8 measured 5-10% faster than 6 on the SmolLM2 and
     * GPT-2 layer shapes (Zen 5, M = 1024, interleaved runs); -Dpeft4j.gemm.mr=6 forces the other.
     */
    static final int MR = Integer.getInteger("peft4j.gemm.mr", S.vectorBitSize() >= 512 ? 8 : 6) == 6 ? 6 : 8;
    /** The tile rows the next calls use (MR; tests set 6 or 8 to check both kernels against GemmScalar). */
    static volatile int tileRows = MR;
    static final int NR = 2 * L;
    static final int KC = Integer.getInteger("peft4j.gemm.kc", 256);
    static final int MC = Integer.getInteger("peft4j.gemm.mc", 96);          // 12 slivers of 8 rows (16 of 6): 96 x 256 floats = 96 KB of packed A (L2)
    static final int NCP = 64;         // panels of B packed at a time per thread (64 x NR columns)
    static final int SMALL_M = 4;      // at or below this many rows, use dot products (no packing)
    private static final long PARALLEL_FLOPS = 1L << 18;
    /** Work chunks per thread: 1 packs the shared operand least often, 2 balances better on a busy machine. */
    private static final int CHUNKS_PER_THREAD = Integer.getInteger("peft4j.gemm.chunksPerThread", 1);

    private enum Op { NT, NN, TN }

    private Gemm() {}

    /** C[M,N] (+)= A[M,K] · W[N,K]ᵀ. */
    public static void matmulNT(float[] c, float[] a, float[] w, int M, int N, int K, boolean accumulate) {
        check(c, a, w, M, N, K, (long) M * K, (long) N * K);
        if (M <= SMALL_M) { dotProductsNT(c, a, w, M, N, K, accumulate); return; }
        run(Op.NT, c, a, w, null, M, N, K, accumulate);
    }

    /** C[M,N] (+)= A[M,K] · Wᵀ with W (N, K) in any storage format (decoded while packing). */
    public static void matmulNT(float[] c, float[] a, WeightMatrix w, int M, boolean accumulate) {
        if (w instanceof WeightMatrix.F32 f) { matmulNT(c, a, f.data(), M, f.rows(), f.cols(), accumulate); return; }
        if (w instanceof WeightMatrix.F32Prepacked p && M <= SMALL_M) { matmulNT(c, a, p.data(), M, p.rows(), p.cols(), accumulate); return; }
        int N = w.rows(), K = w.cols();
        check(c, a, new float[0], M, N, K, (long) M * K, 0);
        if (M <= SMALL_M) { dotProductsNT(c, a, w, M, N, K, accumulate); return; }
        run(Op.NT, c, a, null, w, M, N, K, accumulate);
    }

    /** C[M,N] (+)= A[M,K] · W with W (K, N) in any storage format (the input gradient dy·W of a linear). */
    public static void matmulNN(float[] c, float[] a, WeightMatrix w, int M, boolean accumulate) {
        if (w instanceof WeightMatrix.F32 f) { matmulNN(c, a, f.data(), M, f.cols(), f.rows(), accumulate); return; }
        if (w instanceof WeightMatrix.F32Prepacked p) { matmulNN(c, a, p.data(), M, p.cols(), p.rows(), accumulate); return; }
        int K = w.rows(), N = w.cols();
        check(c, a, new float[0], M, N, K, (long) M * K, 0);
        run(Op.NN, c, a, null, w, M, N, K, accumulate);
    }

    /** C[M,N] (+)= A[M,K] · B[K,N]. */
    public static void matmulNN(float[] c, float[] a, float[] b, int M, int N, int K, boolean accumulate) {
        check(c, a, b, M, N, K, (long) M * K, (long) K * N);
        run(Op.NN, c, a, b, null, M, N, K, accumulate);
    }

    /** C[M,N] (+)= A[K,M]ᵀ · B[K,N]. */
    public static void matmulTN(float[] c, float[] a, float[] b, int M, int N, int K, boolean accumulate) {
        check(c, a, b, M, N, K, (long) K * M, (long) K * N);
        run(Op.TN, c, a, b, null, M, N, K, accumulate);
    }

    private static void check(float[] c, float[] a, float[] b, int M, int N, int K, long aSize, long bSize) {
        if (M < 0 || N < 0 || K < 0) throw new IllegalArgumentException("negative GEMM size M=" + M + " N=" + N + " K=" + K);
        if (c.length < (long) M * N || a.length < aSize || b.length < bSize)
            throw new IllegalArgumentException("GEMM operands too small for M=" + M + " N=" + N + " K=" + K
                    + ": |C|=" + c.length + " (need " + (long) M * N + "), |A|=" + a.length + " (need " + aSize
                    + "), |B|=" + b.length + " (need " + bSize + ")");
    }

    // ---- driver: split the work, then run independent sub-GEMMs ----

    private static void run(Op op, float[] c, float[] a, float[] b, WeightMatrix wm, int M, int N, int K, boolean acc) {
        if (M == 0 || N == 0) return;
        if (K == 0) { if (!acc) java.util.Arrays.fill(c, 0, M * N, 0f); return; }
        int panels = (N + NR - 1) / NR;
        int threads = Parallel.threads();
        int mr = tileRows;
        long flops = 2L * M * N * K;
        if (threads == 1 || flops < PARALLEL_FLOPS) {
            subGemm(op, c, a, b, wm, M, N, K, acc, 0, M, 0, panels, mr);
        } else if (N >= M && panels >= 2 * threads && !(op == Op.TN && M >= 2 * threads * MC)) {
            // split columns: each thread re-packs all of A (the smaller operand), none of B twice
            int chunks = Math.min(panels, CHUNKS_PER_THREAD * threads);   // A is re-packed once per chunk
            Parallel.forEachChunk(chunks, ch -> {
                int p0 = (int) ((long) panels * ch / chunks), p1 = (int) ((long) panels * (ch + 1) / chunks);
                subGemm(op, c, a, b, wm, M, N, K, acc, 0, M, p0, p1, mr);
            });
        } else {
            // split rows: each thread re-packs all of B (the smaller operand), none of A twice
            int slivers = (M + mr - 1) / mr;
            int chunks = Math.min(slivers, CHUNKS_PER_THREAD * threads);  // B is re-packed once per chunk
            Parallel.forEachChunk(chunks, ch -> {
                int s0 = (int) ((long) slivers * ch / chunks), s1 = (int) ((long) slivers * (ch + 1) / chunks);
                subGemm(op, c, a, b, wm, M, N, K, acc, s0 * mr, Math.min(M, s1 * mr), 0, panels, mr);
            });
        }
    }

    private static final ThreadLocal<float[][]> SCRATCH =
            ThreadLocal.withInitial(() -> new float[][] {new float[MC * KC], new float[KC * NCP * NR], new float[8 * NR], new float[Math.max(KC, NR)]});

    /** Rows [m0, m1) and column panels [p0, p1) of C, sequentially on the calling thread. */
    private static void subGemm(Op op, float[] c, float[] a, float[] b, WeightMatrix wm, int M, int N, int K, boolean acc,
                                int m0, int m1, int p0, int p1, int mr) {
        float[][] scratch = SCRATCH.get();
        float[] ap = scratch[0], bp = scratch[1], tile = scratch[2];
        if (N <= L && !(wm instanceof WeightMatrix.F32Prepacked)) { narrow(op, c, a, b, wm, M, N, K, acc, m0, m1, bp, scratch[3]); return; }
        boolean profile = dev.peft4j.Profile.on();
        long packA = 0, packB = 0, t0 = 0;
        for (int jp = p0; jp < p1; jp += NCP) {
            int jpEnd = Math.min(p1, jp + NCP);
            for (int pc = 0; pc < K; pc += KC) {
                int kc = Math.min(KC, K - pc);
                float[] bArr = bp;
                int bBase = 0;
                if (wm instanceof WeightMatrix.F32Prepacked pre && op == Op.NT) {   // already packed: no copy at all
                    bArr = pre.packedNT();
                    bBase = pc * paddedCols(N) + jp * kc * NR;
                } else {
                    if (profile) t0 = System.nanoTime();
                    if (wm == null) packB(op, bp, b, N, K, pc, kc, jp, jpEnd, jp);
                    else packW(op, bp, wm, N, pc, kc, jp, jpEnd, jp, scratch[3]);
                    if (profile) packB += System.nanoTime() - t0;
                }
                boolean load = acc || pc > 0;
                for (int ic = m0; ic < m1; ic += MC) {
                    int mc = Math.min(MC, m1 - ic);
                    if (profile) t0 = System.nanoTime();
                    packA(op, ap, a, M, K, ic, mc, pc, kc, mr);
                    if (profile) packA += System.nanoTime() - t0;
                    for (int j = jp; j < jpEnd; j++) {
                        int col = j * NR, cols = Math.min(NR, N - col);
                        int bOff = bBase + (j - jp) * kc * NR;
                        for (int ir = 0; ir < mc; ir += mr) {
                            int rows = Math.min(mr, mc - ir), cOff = (ic + ir) * N + col;
                            if (rows == mr && cols == NR) {
                                if (mr == 8) kernel8(ap, ir * kc, bArr, bOff, kc, c, cOff, N, load);
                                else kernel6(ap, ir * kc, bArr, bOff, kc, c, cOff, N, load);
                            } else {
                                edgeTile(tile, ap, ir * kc, bArr, bOff, kc, c, cOff, N, rows, cols, load, mr);
                            }
                        }
                    }
                }
            }
        }
        if (profile) dev.peft4j.Profile.addPacking(packA, packB);
    }

    // ---- packing: the only place that knows the operand layouts ----

    private static int paddedCols(int N) { return (N + NR - 1) / NR * NR; }

    /**
     * W (N, K) row-major packed once as the B operand of x·Wᵀ: for each k-block pc (KC wide), for
     * each panel of NR rows of W, kc x NR floats — exactly what packB would produce on every call.
     */
    public static WeightMatrix.F32Prepacked prepackNT(float[] w, int N, int K) {
        int panels = (N + NR - 1) / NR;
        float[] packed = new float[paddedCols(N) * K];
        for (int pc = 0; pc < K; pc += KC) {
            int kc = Math.min(KC, K - pc);
            float[] block = new float[panels * kc * NR];
            packB(Op.NT, block, w, N, K, pc, kc, 0, panels, 0);
            System.arraycopy(block, 0, packed, pc * paddedCols(N), block.length);
        }
        return new WeightMatrix.F32Prepacked(w, packed, N, K);
    }

    /** Packs rows [ic, ic+mc) x k in [pc, pc+kc) of A into mr-row slivers (mr = the tile rows, 6 or 8): ap[s*mr*kc + k*mr + r]. */
    private static void packA(Op op, float[] ap, float[] a, int M, int K, int ic, int mc, int pc, int kc, int mr) {
        int slivers = (mc + mr - 1) / mr;
        if (op == Op.TN) {                           // A stored [K, M]: one contiguous run of mc floats per k
            for (int k = 0; k < kc; k++) {
                int src = (pc + k) * M + ic;
                for (int s = 0; s < slivers; s++) {
                    int rows = Math.min(mr, mc - s * mr), dst = s * mr * kc + k * mr;
                    for (int r = 0; r < rows; r++) ap[dst + r] = a[src + s * mr + r];
                    for (int r = rows; r < mr; r++) ap[dst + r] = 0f;
                }
            }
            return;
        }
        for (int s = 0; s < slivers; s++) {          // A stored [M, K]: mr rows read side by side, writes contiguous
            int rows = Math.min(mr, mc - s * mr), base = s * mr * kc;
            if (rows == mr && mr == 8) {
                int r0 = (ic + s * mr) * K + pc, r1 = r0 + K, r2 = r1 + K, r3 = r2 + K, r4 = r3 + K, r5 = r4 + K, r6 = r5 + K, r7 = r6 + K;
                for (int k = 0, d = base; k < kc; k++, d += mr) {
                    ap[d] = a[r0 + k]; ap[d + 1] = a[r1 + k]; ap[d + 2] = a[r2 + k]; ap[d + 3] = a[r3 + k];
                    ap[d + 4] = a[r4 + k]; ap[d + 5] = a[r5 + k]; ap[d + 6] = a[r6 + k]; ap[d + 7] = a[r7 + k];
                }
            } else if (rows == mr) {
                int r0 = (ic + s * mr) * K + pc, r1 = r0 + K, r2 = r1 + K, r3 = r2 + K, r4 = r3 + K, r5 = r4 + K;
                for (int k = 0, d = base; k < kc; k++, d += mr) {
                    ap[d] = a[r0 + k]; ap[d + 1] = a[r1 + k]; ap[d + 2] = a[r2 + k];
                    ap[d + 3] = a[r3 + k]; ap[d + 4] = a[r4 + k]; ap[d + 5] = a[r5 + k];
                }
            } else {
                for (int k = 0; k < kc; k++) {
                    int d = base + k * mr;
                    for (int r = 0; r < mr; r++) ap[d + r] = r < rows ? a[(ic + s * mr + r) * K + pc + k] : 0f;
                }
            }
        }
    }

    /** Packs panels [jp, jpEnd) (NR columns each) x k in [pc, pc+kc) of B: bp[(j-jp)*kc*NR + k*NR + col]. */
    private static void packB(Op op, float[] bp, float[] b, int N, int K, int pc, int kc, int jp, int jpEnd, int jBase) {
        for (int j = jp; j < jpEnd; j++) {
            int col0 = j * NR, cols = Math.min(NR, N - col0), base = (j - jBase) * kc * NR;
            if (op == Op.NT) {                       // W stored [N, K]: column n of B is row n of W
                if (cols == NR) {                    // k-blocks of 8: NR rows read 8 floats each, 8 rows of the panel written
                    int k = 0;
                    for (; k + 8 <= kc; k += 8)
                        for (int cI = 0; cI < NR; cI++) {
                            int src = (col0 + cI) * K + pc + k, dst = base + k * NR + cI;
                            for (int kk = 0; kk < 8; kk++) bp[dst + kk * NR] = b[src + kk];
                        }
                    for (; k < kc; k++)
                        for (int cI = 0; cI < NR; cI++) bp[base + k * NR + cI] = b[(col0 + cI) * K + pc + k];
                } else {
                    for (int cI = 0; cI < NR; cI++) {
                        if (cI < cols) {
                            int src = (col0 + cI) * K + pc;
                            for (int k = 0; k < kc; k++) bp[base + k * NR + cI] = b[src + k];
                        } else {
                            for (int k = 0; k < kc; k++) bp[base + k * NR + cI] = 0f;
                        }
                    }
                }
            } else {                                 // B stored [K, N]: contiguous rows
                for (int k = 0; k < kc; k++) {
                    int src = (pc + k) * N + col0, dst = base + k * NR;
                    if (cols == NR) {
                        System.arraycopy(b, src, bp, dst, NR);
                    } else {
                        System.arraycopy(b, src, bp, dst, cols);
                        java.util.Arrays.fill(bp, dst + cols, dst + NR, 0f);
                    }
                }
            }
        }
    }

    /** packB for a weight in a storage format: rows of W are decoded to f32 (one KC or NR segment at a time). */
    private static void packW(Op op, float[] bp, WeightMatrix w, int N, int pc, int kc, int jp, int jpEnd, int jBase, float[] row) {
        for (int j = jp; j < jpEnd; j++) {
            int col0 = j * NR, cols = Math.min(NR, N - col0), base = (j - jBase) * kc * NR;
            if (op == Op.NT) {                       // B column n = row n of W, k along the row
                for (int cI = 0; cI < NR; cI++) {
                    if (cI < cols) {
                        w.decodeRow(col0 + cI, pc, kc, row, 0);
                        for (int k = 0; k < kc; k++) bp[base + k * NR + cI] = row[k];
                    } else {
                        for (int k = 0; k < kc; k++) bp[base + k * NR + cI] = 0f;
                    }
                }
            } else {                                 // NN: B row k = row k of W, columns contiguous
                for (int k = 0; k < kc; k++) {
                    int dst = base + k * NR;
                    w.decodeRow(pc + k, col0, cols, bp, dst);
                    if (cols < NR) java.util.Arrays.fill(bp, dst + cols, dst + NR, 0f);
                }
            }
        }
    }

    // ---- the micro-kernel: a 6 x (2 vectors) tile of C held in registers ----

    /**
     * Full-tile kernel, 6 rows: C[0..6, 0..NR) at cOff (row stride ldc) (+)= packed A sliver · packed B panel.
     * It has no edge cases on purpose: a branch after the k loop makes C2 spill the accumulators
     * (measured 114 vs 48 GFLOP/s on one core), so ragged tiles go through edgeTile instead.
     */
    private static void kernel6(float[] ap, int aOff, float[] bp, int bOff, int kc,
                                float[] c, int cOff, int ldc, boolean load) {
        FloatVector c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (load) {
            c00 = FloatVector.fromArray(S, c, cOff);           c01 = FloatVector.fromArray(S, c, cOff + L);
            c10 = FloatVector.fromArray(S, c, cOff + ldc);     c11 = FloatVector.fromArray(S, c, cOff + ldc + L);
            c20 = FloatVector.fromArray(S, c, cOff + 2 * ldc); c21 = FloatVector.fromArray(S, c, cOff + 2 * ldc + L);
            c30 = FloatVector.fromArray(S, c, cOff + 3 * ldc); c31 = FloatVector.fromArray(S, c, cOff + 3 * ldc + L);
            c40 = FloatVector.fromArray(S, c, cOff + 4 * ldc); c41 = FloatVector.fromArray(S, c, cOff + 4 * ldc + L);
            c50 = FloatVector.fromArray(S, c, cOff + 5 * ldc); c51 = FloatVector.fromArray(S, c, cOff + 5 * ldc + L);
        } else {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = FloatVector.zero(S);
        }
        for (int k = 0; k < kc; k++) {
            int bi = bOff + k * NR, ai = aOff + k * 6;
            FloatVector b0 = FloatVector.fromArray(S, bp, bi);
            FloatVector b1 = FloatVector.fromArray(S, bp, bi + L);
            FloatVector a0 = FloatVector.broadcast(S, ap[ai]);
            c00 = a0.fma(b0, c00); c01 = a0.fma(b1, c01);
            FloatVector a1 = FloatVector.broadcast(S, ap[ai + 1]);
            c10 = a1.fma(b0, c10); c11 = a1.fma(b1, c11);
            FloatVector a2 = FloatVector.broadcast(S, ap[ai + 2]);
            c20 = a2.fma(b0, c20); c21 = a2.fma(b1, c21);
            FloatVector a3 = FloatVector.broadcast(S, ap[ai + 3]);
            c30 = a3.fma(b0, c30); c31 = a3.fma(b1, c31);
            FloatVector a4 = FloatVector.broadcast(S, ap[ai + 4]);
            c40 = a4.fma(b0, c40); c41 = a4.fma(b1, c41);
            FloatVector a5 = FloatVector.broadcast(S, ap[ai + 5]);
            c50 = a5.fma(b0, c50); c51 = a5.fma(b1, c51);
        }
        c00.intoArray(c, cOff);           c01.intoArray(c, cOff + L);
        c10.intoArray(c, cOff + ldc);     c11.intoArray(c, cOff + ldc + L);
        c20.intoArray(c, cOff + 2 * ldc); c21.intoArray(c, cOff + 2 * ldc + L);
        c30.intoArray(c, cOff + 3 * ldc); c31.intoArray(c, cOff + 3 * ldc + L);
        c40.intoArray(c, cOff + 4 * ldc); c41.intoArray(c, cOff + 4 * ldc + L);
        c50.intoArray(c, cOff + 5 * ldc); c51.intoArray(c, cOff + 5 * ldc + L);
    }

    /** The 8 x (2 vectors) tile: 16 accumulators, for the 32 vector registers of AVX-512. */
    private static void kernel8(float[] ap, int aOff, float[] bp, int bOff, int kc,
                                float[] c, int cOff, int ldc, boolean load) {
        FloatVector c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71;
        if (load) {
            c00 = FloatVector.fromArray(S, c, cOff);           c01 = FloatVector.fromArray(S, c, cOff + L);
            c10 = FloatVector.fromArray(S, c, cOff + ldc);     c11 = FloatVector.fromArray(S, c, cOff + ldc + L);
            c20 = FloatVector.fromArray(S, c, cOff + 2 * ldc); c21 = FloatVector.fromArray(S, c, cOff + 2 * ldc + L);
            c30 = FloatVector.fromArray(S, c, cOff + 3 * ldc); c31 = FloatVector.fromArray(S, c, cOff + 3 * ldc + L);
            c40 = FloatVector.fromArray(S, c, cOff + 4 * ldc); c41 = FloatVector.fromArray(S, c, cOff + 4 * ldc + L);
            c50 = FloatVector.fromArray(S, c, cOff + 5 * ldc); c51 = FloatVector.fromArray(S, c, cOff + 5 * ldc + L);
            c60 = FloatVector.fromArray(S, c, cOff + 6 * ldc); c61 = FloatVector.fromArray(S, c, cOff + 6 * ldc + L);
            c70 = FloatVector.fromArray(S, c, cOff + 7 * ldc); c71 = FloatVector.fromArray(S, c, cOff + 7 * ldc + L);
        } else {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = c60 = c61 = c70 = c71 = FloatVector.zero(S);
        }
        for (int k = 0; k < kc; k++) {
            int bi = bOff + k * NR, ai = aOff + k * 8;
            FloatVector b0 = FloatVector.fromArray(S, bp, bi);
            FloatVector b1 = FloatVector.fromArray(S, bp, bi + L);
            FloatVector a0 = FloatVector.broadcast(S, ap[ai]);
            c00 = a0.fma(b0, c00); c01 = a0.fma(b1, c01);
            FloatVector a1 = FloatVector.broadcast(S, ap[ai + 1]);
            c10 = a1.fma(b0, c10); c11 = a1.fma(b1, c11);
            FloatVector a2 = FloatVector.broadcast(S, ap[ai + 2]);
            c20 = a2.fma(b0, c20); c21 = a2.fma(b1, c21);
            FloatVector a3 = FloatVector.broadcast(S, ap[ai + 3]);
            c30 = a3.fma(b0, c30); c31 = a3.fma(b1, c31);
            FloatVector a4 = FloatVector.broadcast(S, ap[ai + 4]);
            c40 = a4.fma(b0, c40); c41 = a4.fma(b1, c41);
            FloatVector a5 = FloatVector.broadcast(S, ap[ai + 5]);
            c50 = a5.fma(b0, c50); c51 = a5.fma(b1, c51);
            FloatVector a6 = FloatVector.broadcast(S, ap[ai + 6]);
            c60 = a6.fma(b0, c60); c61 = a6.fma(b1, c61);
            FloatVector a7 = FloatVector.broadcast(S, ap[ai + 7]);
            c70 = a7.fma(b0, c70); c71 = a7.fma(b1, c71);
        }
        c00.intoArray(c, cOff);           c01.intoArray(c, cOff + L);
        c10.intoArray(c, cOff + ldc);     c11.intoArray(c, cOff + ldc + L);
        c20.intoArray(c, cOff + 2 * ldc); c21.intoArray(c, cOff + 2 * ldc + L);
        c30.intoArray(c, cOff + 3 * ldc); c31.intoArray(c, cOff + 3 * ldc + L);
        c40.intoArray(c, cOff + 4 * ldc); c41.intoArray(c, cOff + 4 * ldc + L);
        c50.intoArray(c, cOff + 5 * ldc); c51.intoArray(c, cOff + 5 * ldc + L);
        c60.intoArray(c, cOff + 6 * ldc); c61.intoArray(c, cOff + 6 * ldc + L);
        c70.intoArray(c, cOff + 7 * ldc); c71.intoArray(c, cOff + 7 * ldc + L);
    }

    /**
     * C with at most one vector of columns (N <= L): LoRA's rank-r products x·Aᵀ, dy·B and dyᵀ·xa. Each element of A
     * is used once here (there is one column panel), so packing A would only copy it: the kernel reads A where it is,
     * 8 rows at a time (row-major A: 8 rows side by side; A stored [K, M] for TN: 8 consecutive values per k), against
     * the packed B panel; masked loads and stores cover N < L. Rows left over (< 8) go one by one.
     */
    private static void narrow(Op op, float[] c, float[] a, float[] b, WeightMatrix wm, int M, int N, int K, boolean acc,
                               int m0, int m1, float[] bp, float[] row) {
        jdk.incubator.vector.VectorMask<Float> mask = S.indexInRange(0, N);
        int rowStride = op == Op.TN ? 1 : K, kStride = op == Op.TN ? M : 1;
        for (int pc = 0; pc < K; pc += KC) {
            int kc = Math.min(KC, K - pc);
            if (wm == null) packB(op, bp, b, N, K, pc, kc, 0, 1, 0);
            else packW(op, bp, wm, N, pc, kc, 0, 1, 0, row);
            boolean load = acc || pc > 0;
            int i = m0;
            for (; i + 8 <= m1; i += 8)
                narrow8(a, i * rowStride + pc * kStride, rowStride, kStride, bp, kc, c, i * N, N, load, mask);
            for (; i < m1; i++) {
                for (int n = 0; n < N; n++) {
                    float sum = load ? c[i * N + n] : 0f;
                    for (int k = 0; k < kc; k++) sum += a[i * rowStride + (pc + k) * kStride] * bp[k * NR + n];
                    c[i * N + n] = sum;
                }
            }
        }
    }

    /** 8 rows x (N <= L) columns of C (+)= A (element (r, k) at a[aOff + r·rowStride + k·kStride]) · the packed panel. */
    private static void narrow8(float[] a, int aOff, int rowStride, int kStride, float[] bp, int kc,
                                float[] c, int cOff, int ldc, boolean load, jdk.incubator.vector.VectorMask<Float> m) {
        FloatVector c0, c1, c2, c3, c4, c5, c6, c7;
        if (load) {
            c0 = FloatVector.fromArray(S, c, cOff, m);           c1 = FloatVector.fromArray(S, c, cOff + ldc, m);
            c2 = FloatVector.fromArray(S, c, cOff + 2 * ldc, m); c3 = FloatVector.fromArray(S, c, cOff + 3 * ldc, m);
            c4 = FloatVector.fromArray(S, c, cOff + 4 * ldc, m); c5 = FloatVector.fromArray(S, c, cOff + 5 * ldc, m);
            c6 = FloatVector.fromArray(S, c, cOff + 6 * ldc, m); c7 = FloatVector.fromArray(S, c, cOff + 7 * ldc, m);
        } else {
            c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = FloatVector.zero(S);
        }
        int r1 = rowStride, r2 = 2 * rowStride, r3 = 3 * rowStride, r4 = 4 * rowStride, r5 = 5 * rowStride, r6 = 6 * rowStride, r7 = 7 * rowStride;
        for (int k = 0, ai = aOff; k < kc; k++, ai += kStride) {
            FloatVector b0 = FloatVector.fromArray(S, bp, k * NR);
            c0 = FloatVector.broadcast(S, a[ai]).fma(b0, c0);
            c1 = FloatVector.broadcast(S, a[ai + r1]).fma(b0, c1);
            c2 = FloatVector.broadcast(S, a[ai + r2]).fma(b0, c2);
            c3 = FloatVector.broadcast(S, a[ai + r3]).fma(b0, c3);
            c4 = FloatVector.broadcast(S, a[ai + r4]).fma(b0, c4);
            c5 = FloatVector.broadcast(S, a[ai + r5]).fma(b0, c5);
            c6 = FloatVector.broadcast(S, a[ai + r6]).fma(b0, c6);
            c7 = FloatVector.broadcast(S, a[ai + r7]).fma(b0, c7);
        }
        c0.intoArray(c, cOff, m);           c1.intoArray(c, cOff + ldc, m);
        c2.intoArray(c, cOff + 2 * ldc, m); c3.intoArray(c, cOff + 3 * ldc, m);
        c4.intoArray(c, cOff + 4 * ldc, m); c5.intoArray(c, cOff + 5 * ldc, m);
        c6.intoArray(c, cOff + 6 * ldc, m); c7.intoArray(c, cOff + 7 * ldc, m);
    }

    /** A ragged tile (rows < MR or cols < NR): run the full kernel on a scratch tile, copy the valid part. */
    private static void edgeTile(float[] tile, float[] ap, int aOff, float[] bp, int bOff, int kc,
                                 float[] c, int cOff, int ldc, int rows, int cols, boolean load, int mr) {
        java.util.Arrays.fill(tile, 0f);
        if (load) for (int r = 0; r < rows; r++) System.arraycopy(c, cOff + r * ldc, tile, r * NR, cols);
        if (mr == 8) kernel8(ap, aOff, bp, bOff, kc, tile, 0, NR, load); else kernel6(ap, aOff, bp, bOff, kc, tile, 0, NR, load);
        for (int r = 0; r < rows; r++) System.arraycopy(tile, r * NR, c, cOff + r * ldc, cols);
    }

    // ---- small M: one vectorised dot product per output, split over output columns ----

    private static void dotProductsNT(float[] c, float[] a, float[] w, int M, int N, int K, boolean acc) {
        Parallel.RangeBody body = (n0, n1) -> {
            for (int n = n0; n < n1; n++) {
                for (int m = 0; m < M; m++) {
                    float d = dot(a, m * K, w, n * K, K);
                    c[m * N + n] = acc ? c[m * N + n] + d : d;
                }
            }
        };
        if ((long) N * K < PARALLEL_FLOPS || Parallel.threads() == 1) body.run(0, N);
        else Parallel.parallelRange(N, body);
    }

    private static final ThreadLocal<float[][]> ROW = ThreadLocal.withInitial(() -> new float[][] {new float[0]});

    private static void dotProductsNT(float[] c, float[] a, WeightMatrix w, int M, int N, int K, boolean acc) {
        if (w.fusedDot()) {                                               // decode fused into the dot: no f32 row written
            Parallel.RangeBody fused = (n0, n1) -> {
                for (int n = n0; n < n1; n++)
                    for (int m = 0; m < M; m++) {
                        float d = w.dotRow(n, a, m * K);
                        c[m * N + n] = acc ? c[m * N + n] + d : d;
                    }
            };
            if ((long) N * K < PARALLEL_FLOPS || Parallel.threads() == 1) fused.run(0, N);
            else Parallel.parallelRange(N, fused);
            return;
        }
        Parallel.RangeBody body = (n0, n1) -> {
            float[][] holder = ROW.get();
            if (holder[0].length < K) holder[0] = new float[K];
            float[] row = holder[0];
            for (int n = n0; n < n1; n++) {
                w.decodeRow(n, 0, K, row, 0);
                for (int m = 0; m < M; m++) {
                    float d = dot(a, m * K, row, 0, K);
                    c[m * N + n] = acc ? c[m * N + n] + d : d;
                }
            }
        };
        if ((long) N * K < PARALLEL_FLOPS || Parallel.threads() == 1) body.run(0, N);
        else Parallel.parallelRange(N, body);
    }

    /** Σ x[xOff+i]·y[yOff+i] for i in [0, n), four independent vector accumulators. */
    public static float dot(float[] x, int xOff, float[] y, int yOff, int n) {
        FloatVector s0 = FloatVector.zero(S), s1 = FloatVector.zero(S), s2 = FloatVector.zero(S), s3 = FloatVector.zero(S);
        int i = 0;
        for (int up = S.loopBound(n) - 3 * L; i < up; i += 4 * L) {
            s0 = FloatVector.fromArray(S, x, xOff + i).fma(FloatVector.fromArray(S, y, yOff + i), s0);
            s1 = FloatVector.fromArray(S, x, xOff + i + L).fma(FloatVector.fromArray(S, y, yOff + i + L), s1);
            s2 = FloatVector.fromArray(S, x, xOff + i + 2 * L).fma(FloatVector.fromArray(S, y, yOff + i + 2 * L), s2);
            s3 = FloatVector.fromArray(S, x, xOff + i + 3 * L).fma(FloatVector.fromArray(S, y, yOff + i + 3 * L), s3);
        }
        for (int up = S.loopBound(n); i < up; i += L) {
            s0 = FloatVector.fromArray(S, x, xOff + i).fma(FloatVector.fromArray(S, y, yOff + i), s0);
        }
        float sum = VecMath.sum(s0.add(s1).add(s2.add(s3)));
        for (; i < n; i++) sum += x[xOff + i] * y[yOff + i];
        return sum;
    }
}
