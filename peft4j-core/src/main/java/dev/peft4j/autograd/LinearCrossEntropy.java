/*
 * LinearCrossEntropy: the LM head and the cross-entropy loss as one op that never holds the
 * (rows, V) logits. Rows are processed in chunks of CHUNK: logits of the chunk (CHUNK x V), their
 * log-sum-exp and loss terms, and — when a gradient is needed — dlogits = (softmax − onehot)/count
 * for the chunk, folded at once into dh = dlogits·W (and dW += dlogitsᵀ·h for a trainable head).
 * Because the loss is a scalar at the end of the graph, d(loss) = seed is a single number: the
 * backward only scales the precomputed dh (and dW) by it.
 *
 * Memory: one CHUNK x V scratch (at most about 96 MB; GPT-2 at 1024 rows: 3 chunks of 352 rows, 71 MB)
 * instead of two rows x V arrays (GPT-2, B=4, T=256: 412 MB). Each chunk re-packs W inside the GEMMs,
 * so chunks are kept large.
 * Numerics equal Ops.linear + Ops.crossEntropy up to float rounding.
 */
package dev.peft4j.autograd;

import dev.peft4j.Profile;
import dev.peft4j.kernels.Gemm;
import dev.peft4j.kernels.Kernels;
import dev.peft4j.kernels.Parallel;
import dev.peft4j.kernels.VecMath;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

public final class LinearCrossEntropy {
    /**
     * Most rows per chunk: about 24M logits (96 MB), a multiple of 16, at least 16. Every chunk packs W twice
     * (for the logits and for dh), so fewer, larger chunks save most of that traffic: SmolLM2 (V 49152) at
     * 1024 rows packs W 4 times instead of 14 (LM head + loss 616 -> 446 ms per step, BENCHMARKS.md).
     */
    static int chunkRows(int V) { return Math.max(16, Math.min(4096, (3 << 23) / V) / 16 * 16); }

    /** Rows per chunk for `rows` rows: chunks of equal size (a multiple of 16) no larger than chunkRows(V). */
    public static int chunkRows(int V, int rows) {
        int max = chunkRows(V), chunks = (rows + max - 1) / max;
        return Math.min(max, ((rows + chunks - 1) / chunks + 15) / 16 * 16);
    }
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    private LinearCrossEntropy() {}

    /** Mean cross-entropy of (h · Wᵀ + b) against targets (IGNORE_INDEX skipped). h: (rows, C), W: (V, C). */
    public static Tensor forward(Tape tape, Tensor h, Tensor w, Tensor bias, int[] targets) {
        try (var _ = Profile.span(Profile.Kind.LOSS)) {
            int V = w.dim(0), C = w.dim(1), rows = targets.length;
            if (h.size() != rows * C) throw new IllegalArgumentException("hidden states " + h.size() + " != rows " + rows + " x C " + C);
            int count = 0;
            for (int t : targets) {
                if (t == Ops.IGNORE_INDEX) continue;
                if (t < 0 || t >= V) throw new IllegalArgumentException("target " + t + " outside [0, " + V + ")");
                count++;
            }
            boolean grad = Tape.needed(tape, h, w, bias) && count > 0;
            float[] dh = grad && h.requiresGrad ? tape.alloc(h.size()) : null;
            float[] dw = grad && w.requiresGrad ? new float[w.size()] : null;
            float[] db = grad && bias != null && bias.requiresGrad ? new float[V] : null;
            final int CHUNK = chunkRows(V, rows);
            float[] logits = grad ? tape.alloc(Math.min(CHUNK, rows) * V) : new float[Math.min(CHUNK, rows) * V], dhc = dh == null ? null : new float[Math.min(CHUNK, rows) * C];
            double total = 0;
            float inv = count == 0 ? 0f : 1f / count;
            for (int r0 = 0; r0 < rows; r0 += CHUNK) {
                int n = Math.min(CHUNK, rows - r0);
                boolean any = false;
                for (int r = r0; r < r0 + n; r++) any |= targets[r] != Ops.IGNORE_INDEX;
                if (!any) continue;
                float[] hc = java.util.Arrays.copyOfRange(h.data, r0 * C, (r0 + n) * C);
                Gemm.matmulNT(logits, hc, w.matrix(), n, false);                         // (n, V)
                if (bias != null) Kernels.addBias(logits, bias.data, n, V);
                double[] lse = new double[n];
                final int base = r0;
                Parallel.parallelRange(n, (s, e) -> {
                    for (int i = s; i < e; i++) {
                        int tgt = targets[base + i];
                        if (tgt == Ops.IGNORE_INDEX) { java.util.Arrays.fill(logits, i * V, (i + 1) * V, 0f); continue; }
                        lse[i] = Ops.logSumExp(logits, i * V, V);
                        if (grad) softmaxMinusOneHot(logits, i * V, V, (float) lse[i], tgt, inv);
                    }
                });
                for (int i = 0; i < n; i++) {
                    int tgt = targets[r0 + i];
                    if (tgt != Ops.IGNORE_INDEX) total += lse[i] - logitOf(hc, i, w, bias, tgt, C);
                }
                if (!grad) continue;
                if (dh != null) {                                                          // dh = dlogits·W
                    Gemm.matmulNN(dhc, logits, w.matrix(), n, false);
                    System.arraycopy(dhc, 0, dh, r0 * C, n * C);
                }
                if (dw != null) Gemm.matmulTN(dw, logits, hc, V, C, n, true);            // dW += dlogitsᵀ·h
                if (db != null) Ops.biasGrad(db, logits, n, V);
            }
            if (grad) tape.free(logits);                                       // a scratch of the forward only
            float loss = count == 0 ? 0f : (float) (total / count);
            Tensor y = Tensor.activation(new float[] {loss}, grad);
            if (grad) tape.record(y, () -> {
                float[] dy = y.gradOrNull();
                if (dy == null) return;
                float seed = dy[0];
                if (dh != null) Kernels.axpy(h.grad(), 0, seed, dh, 0, dh.length);
                if (dw != null) Kernels.axpy(w.grad(), 0, seed, dw, 0, dw.length);
                if (db != null) Kernels.axpy(bias.grad(), 0, seed, db, 0, db.length);
            }, dh);
            return y;
        }
    }

    /** The target's logit recomputed in double (the chunk buffer now holds gradients). */
    private static double logitOf(float[] hc, int i, Tensor w, Tensor bias, int tgt, int C) {
        double s = bias == null ? 0 : bias.data[tgt];
        float[] row = new float[C];
        w.matrix().decodeRow(tgt, 0, C, row, 0);
        for (int c = 0; c < C; c++) s += (double) hc[i * C + c] * row[c];
        return s;
    }

    /** x[off..off+V) := (softmax(x) − onehot(tgt)) · inv, softmax from the row's log-sum-exp. */
    private static void softmaxMinusOneHot(float[] x, int off, int V, float lse, int tgt, float inv) {
        FloatVector vl = FloatVector.broadcast(S, lse), vi = FloatVector.broadcast(S, inv);
        int i = 0;
        for (int up = S.loopBound(V); i < up; i += S.length())
            VecMath.exp(FloatVector.fromArray(S, x, off + i).sub(vl)).mul(vi).intoArray(x, off + i);
        for (; i < V; i++) x[off + i] = VecMath.expScalar(x[off + i] - lse) * inv;
        x[off + tgt] -= inv;
    }
}
