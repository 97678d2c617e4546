/*
 * FlashAttention: causal (optionally sliding-window) grouped-query attention over whole sequences
 * with memory linear in T — the math behind autograd.Attention.
 *
 * Layouts (row-major): q, out: (B*T, NH*HS); k, v: (B*T, KVH*HS); lse: (B, NH, T).
 *
 * Forward (FlashAttention-2): per (batch, head) and per block of BQ queries, walk the key blocks
 * the block can see (causal, window), keeping a running row max m, row sum l and an unnormalised
 * output O: S = Q·Kᵀ·scale, m' = max(m, rowmax S), P = e^(S − m'), l = l·e^(m − m') + rowsum P,
 * O = O·e^(m − m') + P·V; at the end out = O / l and lse = m + ln l, one float per query row.
 * The (T x T) probability matrix never exists; the largest buffers are (T, HS) head slices.
 *
 * Backward (FlashAttention-2): D = rowsum(dO ∘ O); per key block j, per query block i that sees
 * it: S = Q·Kᵀ·scale, P = e^(S − lse), dV_j += Pᵀ·dO, dP = dO·Vᵀ, dS = P ∘ (dP − D),
 * dQ_i += dS·K·scale, dK_j += dSᵀ·Q·scale.
 *
 * Blocks entirely above the diagonal or left of the window are skipped, and inside a block the
 * products run only over the key (or query) range some row of the 8-row tile can see, so causal
 * attention does about half the work of full attention. The block products use one hand-written
 * register tile (8 rows x 2 vectors, like Gemm's micro-kernel but reading its operands in place
 * with arbitrary strides, so transposed operands need no copy and nothing is packed per block).
 * Head slices are copied once per (batch, head) into zero-padded buffers (HS up to a multiple of
 * two vectors, T up to a multiple of the block), so every vector load is full width: Q times the
 * scale (then dK = dSᵀ·(scale·Q) directly), dO, K and V row-major, and Kᵀ, Vᵀ as one contiguous
 * (HS, BK) panel per key block. The buffers are per-thread and reused across calls (Work).
 * Measured against Gemm on per-block copies (packing per 64x64x64 product): the tile runs the
 * block products at about 100 GFLOP/s per core against Gemm's 40-60, and the whole op 2x faster.
 *
 * Determinism: work is split over (batch, KV head) only — the query heads sharing a KV head run
 * in one chunk, so nothing races on dK, dV — and every sum runs in a fixed order (blocks in
 * order, VecMath.exp / VecMath.sum, no reduceLanes(ADD)), so results are bit-identical for any
 * thread count and JIT tier.
 */
package dev.peft4j.kernels;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

public final class FlashAttention {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int L = S.length();
    static final int W2 = 2 * L;           // tile width: two vectors
    static final int R = 8;                // tile height
    static final int BQ = 64, BK = 64;     // query / key block (a 64x64 score block is 16 KB; 128 x 64 measured within 3%)
    private static final float NEG_INF = Float.NEGATIVE_INFINITY;

    static {
        if (BK % W2 != 0 || BQ % R != 0 || BK % R != 0) throw new AssertionError("block sizes must fit the tile");
    }

    private FlashAttention() {}

    /** Smallest multiple of m that is >= n. */
    private static int roundUp(int n, int m) { return (n + m - 1) / m * m; }

    /**
     * out = softmax(mask(q·kᵀ/√HS))·v; lse (may be null) receives each row's log-sum-exp of the
     * scaled, masked scores, (B, NH, T), which the backward needs.
     */
    public static void forward(float[] out, float[] lse, float[] q, float[] k, float[] v,
                               int B, int T, int NH, int KVH, int HS, int window) {
        forward(out, lse, q, k, v, B, T, NH, KVH, HS, window, (float) (1.0 / Math.sqrt(HS)), 0f);
    }

    /**
     * The same with an explicit score scale (Gemma: query_pre_attn_scalar^-0.5) and logit soft-capping
     * (Gemma 2): s = softcap·tanh(q·kᵀ·scale / softcap) before the mask; softcap 0 = none.
     */
    public static void forward(float[] out, float[] lse, float[] q, float[] k, float[] v,
                               int B, int T, int NH, int KVH, int HS, int window, float scale, float softcap) {
        check(B, T, NH, KVH, HS, window);
        if (B == 0 || T == 0) return;
        int group = NH / KVH, HSP = roundUp(HS, W2), TP = roundUp(T, Math.max(BQ, BK));
        Parallel.forEachChunk(B * KVH, bk -> {
            int b = bk / KVH, kvh = bk % KVH;
            Work w = WORK.get();
            float[] kt = transposed(w.get(0, HS * TP), k, b, T, KVH, kvh, HS, TP);            // (TP/BK) panels (HS, BK)
            float[] vp = fillPadded(w.get(1, TP * HSP), v, b, T, KVH, kvh, HS, HSP, TP, 1f);   // (TP, HSP)
            float[] qs = w.get(2, TP * HSP);
            float[] s = w.get(3, BQ * BK), o = w.get(4, BQ * HSP), m = w.get(5, BQ), l = w.get(6, BQ * L);   // l: per-lane row sums
            for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                fillPadded(qs, q, b, T, NH, h, HS, HSP, TP, scale);
                for (int i0 = 0; i0 < T; i0 += BQ) {
                    int i1 = i0 + BQ;
                    Arrays.fill(m, 0, BQ, NEG_INF);
                    Arrays.fill(l, 0, BQ * L, 0f);
                    Arrays.fill(o, 0, BQ * HSP, 0f);
                    int jFirst = window > 0 ? Math.max(0, i0 - window + 1) / BK * BK : 0;
                    int jLast = Math.min(T, i1) - 1;                             // last key any real row sees
                    for (int j0 = jFirst; j0 <= jLast; j0 += BK) {
                        int j1 = j0 + BK;
                        scores(s, qs, i0, HSP, kt, j0, HS, window);
                        if (softcap > 0) softcap(s, null, softcap);
                        onlineSoftmax(s, o, m, l, i0, j0, HSP, window);
                        // O += P·V over the keys each 8-row tile can see
                        for (int r0 = 0; r0 < BQ; r0 += R) {
                            int q0 = i0 + r0;
                            int kLo = Math.max(j0, window > 0 ? q0 - window + 1 : 0) - j0, kHi = Math.min(j1, q0 + R) - j0;
                            if (kLo >= kHi) continue;
                            for (int c = 0; c < HSP; c += W2)
                                tile(o, r0 * HSP + c, HSP, s, r0 * BK, BK, 1, vp, j0 * HSP + c, HSP, kLo, kHi, true);
                        }
                    }
                    for (int r = 0; r < BQ && i0 + r < T; r++) {
                        int t = i0 + r, dst = ((b * T + t) * NH + h) * HS;
                        float sum = VecMath.sum(FloatVector.fromArray(S, l, r * L)), inv = 1f / sum;
                        int c = 0;
                        for (int up = S.loopBound(HS); c < up; c += L)
                            FloatVector.fromArray(S, o, r * HSP + c).mul(inv).intoArray(out, dst + c);
                        for (; c < HS; c++) out[dst + c] = o[r * HSP + c] * inv;
                        if (lse != null) lse[(b * NH + h) * T + t] = m[r] + (float) StrictMath.log(sum);
                    }
                }
            }
        });
    }

    /**
     * Accumulates (+=) the input gradients given dOut, the forward's out and lse; dq, dk, dv may
     * each be null (not needed).
     */
    public static void backward(float[] dq, float[] dk, float[] dv, float[] dOut, float[] out, float[] lse,
                                float[] q, float[] k, float[] v, int B, int T, int NH, int KVH, int HS, int window) {
        backward(dq, dk, dv, dOut, out, lse, q, k, v, B, T, NH, KVH, HS, window, (float) (1.0 / Math.sqrt(HS)), 0f);
    }

    /**
     * The backward of the scale / soft-capping forward: with c = softcap and u = tanh(s_raw/c), the capped score
     * is c·u and d(c·u)/ds_raw = 1 − u², so dS_raw = dS ∘ (1 − u²) (u kept per block while P is recomputed).
     */
    public static void backward(float[] dq, float[] dk, float[] dv, float[] dOut, float[] out, float[] lse,
                                float[] q, float[] k, float[] v, int B, int T, int NH, int KVH, int HS, int window,
                                float scale, float softcap) {
        check(B, T, NH, KVH, HS, window);
        if (B == 0 || T == 0 || (dq == null && dk == null && dv == null)) return;
        int group = NH / KVH, HSP = roundUp(HS, W2), TP = roundUp(T, Math.max(BQ, BK));
        Parallel.forEachChunk(B * KVH, bk -> {
            int b = bk / KVH, kvh = bk % KVH;
            Work w = WORK.get();
            float[] kt = transposed(w.get(0, HS * TP), k, b, T, KVH, kvh, HS, TP);            // (TP/BK) panels (HS, BK)
            float[] vt = transposed(w.get(1, HS * TP), v, b, T, KVH, kvh, HS, TP);            // (TP/BK) panels (HS, BK)
            float[] kp = fillPadded(w.get(2, TP * HSP), k, b, T, KVH, kvh, HS, HSP, TP, 1f);   // (TP, HSP)
            float[] dK = w.get(3, TP * HSP), dV = w.get(4, TP * HSP);
            float[] qs = w.get(5, TP * HSP), dO = w.get(6, TP * HSP), dQ = w.get(7, TP * HSP);
            float[] rowLse = w.get(8, TP), rowD = w.get(9, TP);
            float[] p = w.get(10, BQ * BK), ds = w.get(11, BQ * BK), u = softcap > 0 ? w.get(12, BQ * BK) : null;
            Arrays.fill(dK, 0, TP * HSP, 0f);
            Arrays.fill(dV, 0, TP * HSP, 0f);
            for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                fillPadded(qs, q, b, T, NH, h, HS, HSP, TP, scale);
                fillPadded(dO, dOut, b, T, NH, h, HS, HSP, TP, 1f);
                Arrays.fill(dQ, 0, TP * HSP, 0f);
                for (int t = 0; t < TP; t++) {
                    if (t >= T) { rowLse[t] = Float.POSITIVE_INFINITY; rowD[t] = 0f; continue; }   // padding rows: P = 0
                    rowLse[t] = lse[(b * NH + h) * T + t];
                    rowD[t] = dotRow(dO, t * HSP, out, ((b * T + t) * NH + h) * HS, HS);   // D = rowsum(dO ∘ O)
                }
                for (int j0 = 0; j0 < T; j0 += BK) {
                    int j1 = j0 + BK;
                    int iLast = window > 0 ? Math.min(T - 1, j1 - 1 + window - 1) : T - 1;   // last query that sees the block
                    for (int i0 = j0 / BQ * BQ; i0 <= iLast; i0 += BQ) {
                        int i1 = i0 + BQ;
                        boolean edge = isEdge(i0, j0, window);
                        scores(p, qs, i0, HSP, kt, j0, HS, window);
                        if (softcap > 0) softcap(p, u, softcap);                 // p = c·u, u = tanh(s_raw / c)
                        // P = e^(S − lse), masked entries 0
                        for (int r = 0; r < BQ; r++) {
                            FloatVector vl = FloatVector.broadcast(S, rowLse[i0 + r]);
                            for (int c = 0; c < BK; c += L)
                                VecMath.exp(FloatVector.fromArray(S, p, r * BK + c).sub(vl)).intoArray(p, r * BK + c);
                            if (edge) maskRow(p, r * BK, i0 + r, j0, window, 0f);
                        }
                        // dV_j += Pᵀ·dO_i and dK_j += dSᵀ·(scale·Q_i) below: rows are keys, k runs over the queries that see them
                        if (dv != null) keyRowsProduct(dV, p, dO, i0, i1, j0, HSP, window);
                        // dP = dO·Vᵀ
                        for (int r0 = 0; r0 < BQ; r0 += R) {
                            if (!tileVisible(i0 + r0, j0, BK, window)) continue;
                            for (int c = 0; c < BK; c += W2)
                                if (tileVisible(i0 + r0, j0 + c, W2, window))
                                    tile(ds, r0 * BK + c, BK, dO, (i0 + r0) * HSP, HSP, 1, vt, j0 * HS + c, BK, 0, HS, false);
                        }
                        // dS = P ∘ (dP − D)
                        for (int r = 0; r < BQ; r++) {
                            FloatVector vd = FloatVector.broadcast(S, rowD[i0 + r]);
                            for (int c = 0; c < BK; c += L) {
                                FloatVector pv = FloatVector.fromArray(S, p, r * BK + c);
                                pv.mul(FloatVector.fromArray(S, ds, r * BK + c).sub(vd)).intoArray(ds, r * BK + c);
                            }
                            if (edge) maskRow(ds, r * BK, i0 + r, j0, window, 0f);
                        }
                        if (softcap > 0)                                        // through the cap: dS_raw = dS ∘ (1 − u²)
                            for (int c = 0; c < BQ * BK; c += L) {
                                FloatVector uv = FloatVector.fromArray(S, u, c);
                                FloatVector.fromArray(S, ds, c).mul(uv.mul(uv).neg().add(1f)).intoArray(ds, c);
                            }
                        // dQ_i += dS·K_j (times scale when written out)
                        if (dq != null) {
                            for (int r0 = 0; r0 < BQ; r0 += R) {
                                int q0 = i0 + r0;
                                int kLo = Math.max(j0, window > 0 ? q0 - window + 1 : 0) - j0, kHi = Math.min(j1, q0 + R) - j0;
                                if (kLo >= kHi) continue;
                                for (int c = 0; c < HSP; c += W2)
                                    tile(dQ, q0 * HSP + c, HSP, ds, r0 * BK, BK, 1, kp, j0 * HSP + c, HSP, kLo, kHi, true);
                            }
                        }
                        if (dk != null) keyRowsProduct(dK, ds, qs, i0, i1, j0, HSP, window);
                    }
                }
                if (dq != null) unpad(dq, dQ, b, T, NH, h, HS, HSP, scale);
            }
            if (dk != null) unpad(dk, dK, b, T, KVH, kvh, HS, HSP, 1f);
            if (dv != null) unpad(dv, dV, b, T, KVH, kvh, HS, HSP, 1f);
        });
    }

    private static void check(int B, int T, int NH, int KVH, int HS, int window) {
        if (B < 0 || T < 0 || NH <= 0 || KVH <= 0 || HS <= 0 || window < 0 || NH % KVH != 0)
            throw new IllegalArgumentException("attention shape B=" + B + " T=" + T + " NH=" + NH + " KVH=" + KVH
                    + " HS=" + HS + " window=" + window + " (NH must be a multiple of KVH)");
    }

    // ---- block pieces ----

    /** True if some entry of block (i0, j0) is masked (diagonal block, or one crossing the window's left edge). */
    private static boolean isEdge(int i0, int j0, int window) {
        return j0 + BK - 1 > i0 || (window > 0 && j0 < i0 + BQ - 1 - window + 1);
    }

    /** True if some query in [q0, q0+R) sees some key in [c0, c0+n). */
    private static boolean tileVisible(int q0, int c0, int n, int window) {
        return c0 <= q0 + R - 1 && (window == 0 || c0 + n - 1 >= q0 - window + 1);
    }

    /** Sets the entries of score row x[off, off+BK) (query t, keys j0..) that t must not see to fill. */
    private static void maskRow(float[] x, int off, int t, int j0, int window, float fill) {
        int lo = Math.max(0, (window > 0 ? t - window + 1 : 0) - j0), hi = Math.min(BK, t - j0 + 1);   // visible: [lo, hi)
        if (lo >= hi) { Arrays.fill(x, off, off + BK, fill); return; }
        Arrays.fill(x, off, off + lo, fill);
        Arrays.fill(x, off + hi, off + BK, fill);
    }

    /**
     * s = (scale·Q)[i0 .. i0+BQ)·K[j0 .. j0+BK)ᵀ, tiles nobody can see skipped (the row masking
     * that follows overwrites whatever they hold).
     */
    private static void scores(float[] s, float[] qs, int i0, int HSP, float[] kt, int j0, int HS, int window) {
        for (int r0 = 0; r0 < BQ; r0 += R) {
            if (!tileVisible(i0 + r0, j0, BK, window)) continue;
            for (int c = 0; c < BK; c += W2)
                if (tileVisible(i0 + r0, j0 + c, W2, window))
                    tile(s, r0 * BK + c, BK, qs, (i0 + r0) * HSP, HSP, 1, kt, j0 * HS + c, BK, 0, HS, false);
        }
    }

    /**
     * Soft-capping of a score block in place: s = c·tanh(s / c); u (or null) receives tanh(s / c) for the
     * backward. Tiles scores() skipped hold stale but finite values, masked afterwards as before.
     */
    private static void softcap(float[] s, float[] u, float c) {
        float inv = 1f / c;
        for (int i = 0; i < BQ * BK; i += L) {
            FloatVector t = VecMath.tanh(FloatVector.fromArray(S, s, i).mul(inv));
            if (u != null) t.intoArray(u, i);
            t.mul(c).intoArray(s, i);
        }
    }

    /**
     * Online-softmax update of one score block: masks it, advances the running max m and the
     * running sum of each row (kept per lane in l[r·L ..], so no horizontal sum per block), turns s into e^(s − m) (masked entries 0) and rescales the rows of o.
     */
    private static void onlineSoftmax(float[] s, float[] o, float[] m, float[] l, int i0, int j0, int HSP, int window) {
        boolean edge = isEdge(i0, j0, window);
        for (int r = 0; r < BQ; r++) {
            int off = r * BK;
            if (edge) maskRow(s, off, i0 + r, j0, window, NEG_INF);
            FloatVector vmax = FloatVector.fromArray(S, s, off);
            for (int c = L; c < BK; c += L) vmax = vmax.max(FloatVector.fromArray(S, s, off + c));
            float mNew = Math.max(m[r], vmax.reduceLanes(VectorOperators.MAX));
            if (mNew == NEG_INF) { Arrays.fill(s, off, off + BK, 0f); continue; }      // nothing visible yet
            FloatVector vm = FloatVector.broadcast(S, mNew), sum = FloatVector.zero(S);
            for (int c = 0; c < BK; c += L) {
                FloatVector e = VecMath.exp(FloatVector.fromArray(S, s, off + c).sub(vm));
                e.intoArray(s, off + c);
                sum = sum.add(e);
            }
            float alpha = VecMath.expScalar(m[r] - mNew);
            FloatVector.fromArray(S, l, r * L).mul(alpha).add(sum).intoArray(l, r * L);   // summed across lanes once, at the end
            m[r] = mNew;
            if (alpha != 1f)
                for (int c = 0; c < HSP; c += L) FloatVector.fromArray(S, o, r * HSP + c).mul(alpha).intoArray(o, r * HSP + c);
        }
    }

    /**
     * acc[keys of block j0] += aᵀ·b over the block's queries, a: (BQ, BK) block (P or dS), b: query
     * rows (dO or scale·Q, (TP, HSP)); each 8-key tile runs only over the queries that see it.
     */
    private static void keyRowsProduct(float[] acc, float[] a, float[] b, int i0, int i1, int j0, int HSP, int window) {
        for (int r0 = 0; r0 < BK; r0 += R) {
            int c0 = j0 + r0;
            int kLo = Math.max(i0, c0) - i0, kHi = (window > 0 ? Math.min(i1, c0 + R - 1 + window) : i1) - i0;
            if (kLo >= kHi) continue;
            for (int c = 0; c < HSP; c += W2)
                tile(acc, c0 * HSP + c, HSP, a, r0, 1, BK, b, i0 * HSP + c, HSP, kLo, kHi, true);
        }
    }

    // ---- the register tile ----

    /**
     * C[r][0 .. 2L) at cOff + r·ldc, r < 8, (+)= Σ_{k0 <= k < k1} A(r, k) · B[k][0 .. 2L), where
     * A(r, k) = a[aOff + r·ars + k·aks] (any layout: row-major, or transposed with ars = 1) and
     * B[k] starts at bOff + k·ldb. 16 accumulators, one broadcast and two FMAs per row and k.
     */
    static void tile(float[] c, int cOff, int ldc, float[] a, int aOff, int ars, int aks,
                     float[] b, int bOff, int ldb, int k0, int k1, boolean acc) {
        FloatVector c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71;
        if (acc) {
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
        int a1 = ars, a2 = 2 * ars, a3 = 3 * ars, a4 = 4 * ars, a5 = 5 * ars, a6 = 6 * ars, a7 = 7 * ars;
        int ai = aOff + k0 * aks, bi = bOff + k0 * ldb;
        for (int k = k0; k < k1; k++, ai += aks, bi += ldb) {
            FloatVector b0 = FloatVector.fromArray(S, b, bi), b1 = FloatVector.fromArray(S, b, bi + L);
            FloatVector x = FloatVector.broadcast(S, a[ai]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, a[ai + a1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, a[ai + a2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, a[ai + a3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(S, a[ai + a4]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(S, a[ai + a5]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51);
            x = FloatVector.broadcast(S, a[ai + a6]);
            c60 = x.fma(b0, c60); c61 = x.fma(b1, c61);
            x = FloatVector.broadcast(S, a[ai + a7]);
            c70 = x.fma(b0, c70); c71 = x.fma(b1, c71);
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

    // ---- head slices ----

    /** Head h of batch b of x: (B*T, H*HS), times mul, into dst: (TP, HSP), zero padded; returns dst. */
    private static float[] fillPadded(float[] dst, float[] x, int b, int T, int H, int h, int HS, int HSP, int TP, float mul) {
        for (int t = 0; t < T; t++) {
            int src = ((b * T + t) * H + h) * HS, d = t * HSP;
            if (mul == 1f) System.arraycopy(x, src, dst, d, HS);
            else {
                int c = 0;
                for (int up = S.loopBound(HS); c < up; c += L) FloatVector.fromArray(S, x, src + c).mul(mul).intoArray(dst, d + c);
                for (; c < HS; c++) dst[d + c] = x[src + c] * mul;
            }
            if (HS < HSP) Arrays.fill(dst, d + HS, d + HSP, 0f);
        }
        Arrays.fill(dst, T * HSP, TP * HSP, 0f);
        return dst;
    }

    /**
     * Head h of batch b of x: (B*T, H*HS), transposed block by block into dst: the keys [j0, j0+BK)
     * become a contiguous (HS, BK) panel at j0·HS (row stride BK, not TP: a power-of-two stride of
     * several KB would map every row of a panel to the same L1 set). Zero padded up to TP keys.
     */
    private static float[] transposed(float[] dst, float[] x, int b, int T, int H, int h, int HS, int TP) {
        if (T < TP) Arrays.fill(dst, (TP - BK) * HS, TP * HS, 0f);
        int stride = H * HS;
        for (int t0 = 0; t0 < T; t0 += 16) {                 // 16 rows at a time: reads stay in 16 lines, writes run along dst
            int n = Math.min(16, T - t0), src0 = ((b * T + t0) * H + h) * HS;
            int base = t0 / BK * BK * HS + t0 % BK;           // BK is a multiple of 16: the 16 keys share a panel
            for (int c = 0; c < HS; c++) {
                int d = base + c * BK, src = src0 + c;
                for (int tt = 0; tt < n; tt++) dst[d + tt] = x[src + tt * stride];
            }
        }
        return dst;
    }

    /**
     * Per-thread buffers, reused across calls (every layer of every step has the same shapes) so
     * the head slices stay in cache instead of being fresh, cold allocations each time. A buffer
     * is only kept up to CACHED floats; larger ones are allocated per call.
     */
    private static final class Work {
        private static final int CACHED = 1 << 18;            // 1 MB per buffer (T·HS up to 256K)
        private final float[][] slots = new float[13][];

        /** A buffer of at least n floats; its contents are arbitrary. */
        float[] get(int slot, int n) {
            float[] x = slots[slot];
            if (x != null && x.length >= n) return x;
            x = new float[n];
            if (n <= CACHED) slots[slot] = x;
            return x;
        }
    }

    private static final ThreadLocal<Work> WORK = ThreadLocal.withInitial(Work::new);

    /** x[head h of batch b] += mul · part (TP, HSP), real rows and columns only. */
    private static void unpad(float[] x, float[] part, int b, int T, int H, int h, int HS, int HSP, float mul) {
        for (int t = 0; t < T; t++) Kernels.axpy(x, ((b * T + t) * H + h) * HS, mul, part, t * HSP, HS);
    }

    /** Σ_c a[aOff + c]·b[bOff + c] over n, vector lanes then VecMath.sum then the tail (fixed order). */
    private static float dotRow(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector acc = FloatVector.zero(S);
        int c = 0;
        for (int up = S.loopBound(n); c < up; c += L)
            acc = FloatVector.fromArray(S, a, aOff + c).fma(FloatVector.fromArray(S, b, bOff + c), acc);
        float s = VecMath.sum(acc);
        for (; c < n; c++) s += a[aOff + c] * b[bOff + c];
        return s;
    }
}
