/*
 * Kernels: the non-GEMM building blocks of a transformer forward pass, vectorised with the
 * Vector API. Argument order everywhere: outputs first, then inputs, then sizes. Every kernel
 * has a scalar twin in KernelsScalar with the same signature; the tests hold them equal.
 *
 * Shapes use one alphabet: B batch, T time, C channels, NH heads, KVH key/value heads,
 * HS head size, V vocabulary. Matrices are row-major float[]; "rows" is the flattened B*T.
 */
package dev.peft4j.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

public final class Kernels {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int L = S.length();
    private static final float SQRT_2_OVER_PI = (float) Math.sqrt(2.0 / Math.PI);

    private Kernels() {}

    /** out[r,:] = x[r,:] / sqrt(mean(x[r,:]²) + eps) * w   (RMSNorm; out may alias x). x: (rows, C). */
    public static void rmsnorm(float[] out, float[] x, float[] w, int rows, int C, float eps) {
        for (int r = 0; r < rows; r++) {
            int o = r * C;
            float ss = sumSquares(x, o, C);
            float inv = (float) (1.0 / Math.sqrt(ss / C + eps));
            int i = 0;
            for (int up = S.loopBound(C); i < up; i += L) {
                FloatVector.fromArray(S, x, o + i).mul(inv).mul(FloatVector.fromArray(S, w, i)).intoArray(out, o + i);
            }
            for (; i < C; i++) out[o + i] = x[o + i] * inv * w[i];
        }
    }

    /** out[r,:] = (x[r,:] - mean) / sqrt(var + eps) * w + b   (LayerNorm, biased variance). x: (rows, C). */
    public static void layernorm(float[] out, float[] x, float[] w, float[] b, int rows, int C, float eps) {
        for (int r = 0; r < rows; r++) {
            int o = r * C;
            float mean = sum(x, o, C) / C;
            FloatVector vm = FloatVector.broadcast(S, mean), acc = FloatVector.zero(S);
            int i = 0;
            for (int up = S.loopBound(C); i < up; i += L) {
                FloatVector d = FloatVector.fromArray(S, x, o + i).sub(vm);
                acc = d.fma(d, acc);
            }
            float var = VecMath.sum(acc);
            for (; i < C; i++) { float d = x[o + i] - mean; var += d * d; }
            var /= C;
            float inv = (float) (1.0 / Math.sqrt(var + eps));
            i = 0;
            for (int up = S.loopBound(C); i < up; i += L) {
                FloatVector.fromArray(S, x, o + i).sub(vm).mul(inv).mul(FloatVector.fromArray(S, w, i))
                        .add(FloatVector.fromArray(S, b, i)).intoArray(out, o + i);
            }
            for (; i < C; i++) out[o + i] = (x[o + i] - mean) * inv * w[i] + b[i];
        }
    }

    /**
     * Rotary embedding in place, HF "rotate_half" layout: within each head, element i pairs with
     * i + HS/2. x: (rows, NH*HS); pos[r] is the position of row r; cos/sin: (maxPos, HS/2).
     */
    public static void rope(float[] x, int[] pos, float[] cos, float[] sin, int rows, int NH, int HS) {
        rope(x, pos, cos, sin, rows, NH, HS, HS);
    }

    /**
     * Partial rotary embedding: only the first R of each head's HS values are turned (element i pairs
     * with i + R/2, i < R/2), the other HS - R pass through. cos/sin: (maxPos, R/2).
     */
    public static void rope(float[] x, int[] pos, float[] cos, float[] sin, int rows, int NH, int HS, int R) {
        Parallel.parallelRange(rows, (r0, r1) -> ropeRows(x, pos, cos, sin, r0, r1, NH, HS, R));
    }

    private static void ropeRows(float[] x, int[] pos, float[] cos, float[] sin, int r0, int r1, int NH, int HS, int R) {
        int half = R / 2;
        for (int r = r0; r < r1; r++) {
            int t = pos[r] * half;
            for (int h = 0; h < NH; h++) {
                int o = (r * NH + h) * HS;
                int i = 0;
                for (int up = S.loopBound(half); i < up; i += L) {
                    FloatVector x1 = FloatVector.fromArray(S, x, o + i), x2 = FloatVector.fromArray(S, x, o + half + i);
                    FloatVector c = FloatVector.fromArray(S, cos, t + i), s = FloatVector.fromArray(S, sin, t + i);
                    x1.mul(c).sub(x2.mul(s)).intoArray(x, o + i);
                    x2.mul(c).add(x1.mul(s)).intoArray(x, o + half + i);
                }
                for (; i < half; i++) {
                    float x1 = x[o + i], x2 = x[o + half + i], c = cos[t + i], s = sin[t + i];
                    x[o + i] = x1 * c - x2 * s;
                    x[o + half + i] = x2 * c + x1 * s;
                }
            }
        }
    }

    /**
     * The backward of rope(): dx += R(-θ)·dy per pair (dx1 += dy1·c + dy2·s, dx2 += dy2·c − dy1·s), and
     * dx += dy on the HS − R values that pass through; in one pass, without a copy of dy.
     */
    public static void ropeBackwardAdd(float[] dx, float[] dy, int[] pos, float[] cos, float[] sin, int rows, int NH, int HS, int R) {
        Parallel.parallelRange(rows, (r0, r1) -> {
            int half = R / 2;
            for (int r = r0; r < r1; r++) {
                int t = pos[r] * half;
                for (int h = 0; h < NH; h++) {
                    int o = (r * NH + h) * HS;
                    int i = 0;
                    for (int up = S.loopBound(half); i < up; i += L) {
                        FloatVector d1 = FloatVector.fromArray(S, dy, o + i), d2 = FloatVector.fromArray(S, dy, o + half + i);
                        FloatVector c = FloatVector.fromArray(S, cos, t + i), s = FloatVector.fromArray(S, sin, t + i);
                        d1.fma(c, d2.mul(s)).add(FloatVector.fromArray(S, dx, o + i)).intoArray(dx, o + i);
                        d2.fma(c, d1.mul(s).neg()).add(FloatVector.fromArray(S, dx, o + half + i)).intoArray(dx, o + half + i);
                    }
                    for (; i < half; i++) {
                        float d1 = dy[o + i], d2 = dy[o + half + i], c = cos[t + i], s = sin[t + i];
                        dx[o + i] += d1 * c + d2 * s;
                        dx[o + half + i] += d2 * c - d1 * s;
                    }
                    for (i = R; i < HS; i++) dx[o + i] += dy[o + i];
                }
            }
        });
    }

    /** out = silu(gate) * up = gate / (1 + e^-gate) * up   (SwiGLU; out may alias gate). */
    public static void swiglu(float[] out, float[] gate, float[] up, int n) {
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector g = FloatVector.fromArray(S, gate, i);
            FloatVector sig = VecMath.exp(g.neg()).add(1f);
            g.div(sig).mul(FloatVector.fromArray(S, up, i)).intoArray(out, i);
        }
        for (; i < n; i++) out[i] = gate[i] / (1f + VecMath.expScalar(-gate[i])) * up[i];
    }

    /** dg += dy·u·σ(g)·(1 + g·(1 − σ(g))), du += dy·silu(g) over [from, to); either output may be null. */
    public static void swigluBackward(float[] dg, float[] du, float[] dy, float[] g, float[] u, int from, int to) {
        int i = from;
        for (int bound = from + S.loopBound(to - from); i < bound; i += L) {
            FloatVector gv = FloatVector.fromArray(S, g, i), d = FloatVector.fromArray(S, dy, i);
            FloatVector sig = FloatVector.broadcast(S, 1f).div(VecMath.exp(gv.neg()).add(1f));
            if (dg != null) {
                FloatVector grad = d.mul(FloatVector.fromArray(S, u, i)).mul(sig).mul(gv.mul(sig.neg().add(1f)).add(1f));
                grad.add(FloatVector.fromArray(S, dg, i)).intoArray(dg, i);
            }
            if (du != null) d.mul(gv).mul(sig).add(FloatVector.fromArray(S, du, i)).intoArray(du, i);
        }
        for (; i < to; i++) {
            float gv = g[i], sig = 1f / (1f + VecMath.expScalar(-gv));
            if (dg != null) dg[i] += dy[i] * u[i] * sig * (1f + gv * (1f - sig));
            if (du != null) du[i] += dy[i] * gv * sig;
        }
    }

    /** dx += dy · d/dx[½x(1 + tanh(k(x + 0.044715x³)))] over [from, to). */
    public static void geluTanhBackward(float[] dx, float[] dy, float[] x, int from, int to) {
        int i = from;
        for (int bound = from + S.loopBound(to - from); i < bound; i += L) {
            FloatVector v = FloatVector.fromArray(S, x, i), v2 = v.mul(v);
            FloatVector t = VecMath.tanh(v2.mul(0.044715f).add(1f).mul(v).mul(SQRT_2_OVER_PI));
            FloatVector d = t.add(1f).mul(0.5f).add(v.mul(0.5f).mul(t.mul(t).neg().add(1f)).mul(SQRT_2_OVER_PI)
                    .mul(v2.mul(3 * 0.044715f).add(1f)));
            d.mul(FloatVector.fromArray(S, dy, i)).add(FloatVector.fromArray(S, dx, i)).intoArray(dx, i);
        }
        for (; i < to; i++) {
            float v = x[i], t = VecMath.tanhScalar(SQRT_2_OVER_PI * (v + 0.044715f * v * v * v));
            dx[i] += dy[i] * (0.5f * (1 + t) + 0.5f * v * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715f * v * v));
        }
    }

    /** out = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))   (GPT-2's gelu_new; out may alias x). */
    public static void geluTanh(float[] out, float[] x, int n) {
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector v = FloatVector.fromArray(S, x, i);
            FloatVector inner = v.mul(v).mul(v).mul(0.044715f).add(v).mul(SQRT_2_OVER_PI);
            v.mul(0.5f).mul(VecMath.tanh(inner).add(1f)).intoArray(out, i);
        }
        for (; i < n; i++) {
            float v = x[i];
            out[i] = 0.5f * v * (1f + VecMath.tanhScalar(SQRT_2_OVER_PI * (v + 0.044715f * v * v * v)));
        }
    }

    /** Softmax in place over x[off, off+n). */
    public static void softmax(float[] x, int off, int n) {
        FloatVector vmax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (int up = S.loopBound(n); i < up; i += L) vmax = vmax.max(FloatVector.fromArray(S, x, off + i));
        float max = vmax.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) max = Math.max(max, x[off + i]);
        FloatVector vm = FloatVector.broadcast(S, max), vsum = FloatVector.zero(S);
        i = 0;
        for (int up = S.loopBound(n); i < up; i += L) {
            FloatVector e = VecMath.exp(FloatVector.fromArray(S, x, off + i).sub(vm));
            e.intoArray(x, off + i);
            vsum = vsum.add(e);
        }
        float sum = VecMath.sum(vsum);
        for (; i < n; i++) { float e = VecMath.expScalar(x[off + i] - max); x[off + i] = e; sum += e; }
        float inv = 1f / sum;
        i = 0;
        for (int up = S.loopBound(n); i < up; i += L) FloatVector.fromArray(S, x, off + i).mul(inv).intoArray(x, off + i);
        for (; i < n; i++) x[off + i] *= inv;
    }

    /** y[off..] += a · x[off..] over n elements. */
    public static void axpy(float[] y, int yOff, float a, float[] x, int xOff, int n) {
        FloatVector va = FloatVector.broadcast(S, a);
        int i = 0;
        for (int up = S.loopBound(n); i < up; i += L) {
            FloatVector.fromArray(S, x, xOff + i).fma(va, FloatVector.fromArray(S, y, yOff + i)).intoArray(y, yOff + i);
        }
        for (; i < n; i++) y[yOff + i] += a * x[xOff + i];
    }

    /** y += x elementwise over n elements (residual add). */
    public static void add(float[] y, float[] x, int n) {
        int i = 0;
        for (int up = S.loopBound(n); i < up; i += L) {
            FloatVector.fromArray(S, y, i).add(FloatVector.fromArray(S, x, i)).intoArray(y, i);
        }
        for (; i < n; i++) y[i] += x[i];
    }

    /** out[r, :] += bias for each of rows rows of width n. */
    public static void addBias(float[] out, float[] bias, int rows, int n) {
        for (int r = 0; r < rows; r++) axpy(out, r * n, 1f, bias, 0, n);
    }

    /**
     * Causal attention with grouped-query heads over a key/value cache.
     * q:   (B, T, NH, HS)         queries of the T new positions, RoPE already applied
     * k,v: (B, KVH, maxT, HS)     the cache, already holding the T new keys/values at [start, start+T)
     * out: (B, T, NH, HS)
     * Query t of batch b sits at cache index start+t and sees keys [0, start+t] except row b's
     * left-padding slots [virt, virt + pad[b]) (pad may be null; virt = the virtual-token / prefix slots a
     * prompt-learning adapter put before the padding, 0 without one), and with a sliding window W > 0
     * (Mistral) only the last W slots. A padding query sees only itself (its output is unused).
     * Query head h reads KV head h / (NH/KVH).
     */
    public static void attention(float[] out, float[] q, float[] k, float[] v, int[] pad,
                                 int B, int T, int NH, int KVH, int HS, int maxT, int start, int window) {
        attention(out, q, k, v, pad, 0, B, T, NH, KVH, HS, maxT, start, window);
    }

    public static void attention(float[] out, float[] q, float[] k, float[] v, int[] pad, int virt,
                                 int B, int T, int NH, int KVH, int HS, int maxT, int start, int window) {
        attention(out, q, k, v, pad, virt, B, T, NH, KVH, HS, maxT, start, window, (float) (1.0 / Math.sqrt(HS)), 0f);
    }

    /** With an explicit score scale and Gemma 2's soft-capping of the scores, softcap·tanh(s / softcap) (0: none). */
    public static void attention(float[] out, float[] q, float[] k, float[] v, int[] pad, int virt,
                                 int B, int T, int NH, int KVH, int HS, int maxT, int start, int window,
                                 float scale, float softcap) {
        int group = NH / KVH;
        Parallel.forEachChunk(B * NH, bh -> {
            int b = bh / NH, h = bh % NH, kvh = h / group;
            int padHi = virt + (pad == null ? 0 : pad[b]);          // masked slots: [virt, padHi)
            float[] scores = ATT_SCRATCH.get();
            if (scores.length < maxT) { scores = new float[maxT]; ATT_SCRATCH.set(scores); }
            int kvBase = (b * KVH + kvh) * maxT * HS;
            for (int t = 0; t < T; t++) {
                int qo = ((b * T + t) * NH + h) * HS, last = start + t;
                boolean paddingQuery = last >= virt && last < padHi;   // sees only itself (its output is unused)
                int lo = paddingQuery ? last : window > 0 ? Math.max(0, last - window + 1) : 0;
                // two runs of visible slots: [lo, aEnd) before the padding, [bLo, last] after it
                int aEnd = paddingQuery ? lo : Math.max(lo, Math.min(virt, last + 1));
                int bLo = paddingQuery ? lo : Math.max(lo, padHi);
                int n = 0;
                for (int j = lo; j < aEnd; j++) scores[n++] = Gemm.dot(q, qo, k, kvBase + j * HS, HS) * scale;
                for (int j = bLo; j <= last; j++) scores[n++] = Gemm.dot(q, qo, k, kvBase + j * HS, HS) * scale;
                if (softcap > 0) for (int j = 0; j < n; j++) scores[j] = softcap * VecMath.tanhScalar(scores[j] / softcap);
                softmax(scores, 0, n);
                java.util.Arrays.fill(out, qo, qo + HS, 0f);
                n = 0;
                for (int j = lo; j < aEnd; j++) axpy(out, qo, scores[n++], v, kvBase + j * HS, HS);
                for (int j = bLo; j <= last; j++) axpy(out, qo, scores[n++], v, kvBase + j * HS, HS);
            }
        });
    }

    private static final ThreadLocal<float[]> ATT_SCRATCH = ThreadLocal.withInitial(() -> new float[256]);

    private static float sum(float[] x, int off, int n) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int up = S.loopBound(n); i < up; i += L) acc = acc.add(FloatVector.fromArray(S, x, off + i));
        float s = VecMath.sum(acc);
        for (; i < n; i++) s += x[off + i];
        return s;
    }

    private static float sumSquares(float[] x, int off, int n) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int up = S.loopBound(n); i < up; i += L) {
            FloatVector v = FloatVector.fromArray(S, x, off + i);
            acc = v.fma(v, acc);
        }
        float s = VecMath.sum(acc);
        for (; i < n; i++) s += x[off + i] * x[off + i];
        return s;
    }
}
