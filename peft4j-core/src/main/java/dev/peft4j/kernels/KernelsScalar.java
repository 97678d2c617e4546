/*
 * KernelsScalar: the scalar twins of Kernels — straightforward loops in double precision,
 * written from the formulas, used as the oracle by the kernel tests. Same signatures.
 */
package dev.peft4j.kernels;

public final class KernelsScalar {
    private KernelsScalar() {}

    public static void rmsnorm(float[] out, float[] x, float[] w, int rows, int C, float eps) {
        for (int r = 0; r < rows; r++) {
            double ss = 0;
            for (int i = 0; i < C; i++) ss += (double) x[r * C + i] * x[r * C + i];
            double inv = 1.0 / Math.sqrt(ss / C + eps);
            for (int i = 0; i < C; i++) out[r * C + i] = (float) (x[r * C + i] * inv * w[i]);
        }
    }

    public static void layernorm(float[] out, float[] x, float[] w, float[] b, int rows, int C, float eps) {
        for (int r = 0; r < rows; r++) {
            double mean = 0, var = 0;
            for (int i = 0; i < C; i++) mean += x[r * C + i];
            mean /= C;
            for (int i = 0; i < C; i++) var += (x[r * C + i] - mean) * (x[r * C + i] - mean);
            var /= C;
            double inv = 1.0 / Math.sqrt(var + eps);
            for (int i = 0; i < C; i++) out[r * C + i] = (float) ((x[r * C + i] - mean) * inv * w[i] + b[i]);
        }
    }

    public static void rope(float[] x, int[] pos, float[] cos, float[] sin, int rows, int NH, int HS) {
        int half = HS / 2;
        for (int r = 0; r < rows; r++)
            for (int h = 0; h < NH; h++)
                for (int i = 0; i < half; i++) {
                    int o = (r * NH + h) * HS;
                    double c = cos[pos[r] * half + i], s = sin[pos[r] * half + i];
                    double x1 = x[o + i], x2 = x[o + half + i];
                    x[o + i] = (float) (x1 * c - x2 * s);
                    x[o + half + i] = (float) (x2 * c + x1 * s);
                }
    }

    /** dx += R(-θ)·dy per rotated pair, dx += dy on the pass-through values (rope's backward). */
    public static void ropeBackwardAdd(float[] dx, float[] dy, int[] pos, float[] cos, float[] sin, int rows, int NH, int HS, int R) {
        int half = R / 2;
        for (int r = 0; r < rows; r++)
            for (int h = 0; h < NH; h++) {
                int o = (r * NH + h) * HS;
                for (int i = 0; i < half; i++) {
                    double c = cos[pos[r] * half + i], s = sin[pos[r] * half + i];
                    double d1 = dy[o + i], d2 = dy[o + half + i];
                    dx[o + i] += (float) (d1 * c + d2 * s);
                    dx[o + half + i] += (float) (d2 * c - d1 * s);
                }
                for (int i = R; i < HS; i++) dx[o + i] += dy[o + i];
            }
    }

    public static void swiglu(float[] out, float[] gate, float[] up, int n) {
        for (int i = 0; i < n; i++) out[i] = (float) (gate[i] / (1.0 + Math.exp(-gate[i])) * up[i]);
    }

    public static void geluTanh(float[] out, float[] x, int n) {
        for (int i = 0; i < n; i++) {
            double v = x[i];
            out[i] = (float) (0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))));
        }
    }

    public static void softmax(float[] x, int off, int n) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int i = 0; i < n; i++) max = Math.max(max, x[off + i]);
        double[] e = new double[n];
        for (int i = 0; i < n; i++) { e[i] = Math.exp(x[off + i] - max); sum += e[i]; }
        for (int i = 0; i < n; i++) x[off + i] = (float) (e[i] / sum);
    }

    public static void attention(float[] out, float[] q, float[] k, float[] v, int[] pad,
                                 int B, int T, int NH, int KVH, int HS, int maxT, int start, int window) {
        attention(out, q, k, v, pad, 0, B, T, NH, KVH, HS, maxT, start, window);
    }

    /** Slot j is visible to query slot `last` when j <= last, j is not padding ([virt, virt+pad[b])), and inside the window. */
    public static void attention(float[] out, float[] q, float[] k, float[] v, int[] pad, int virt,
                                 int B, int T, int NH, int KVH, int HS, int maxT, int start, int window) {
        attention(out, q, k, v, pad, virt, B, T, NH, KVH, HS, maxT, start, window, 1.0 / Math.sqrt(HS), 0);
    }

    /** Scores d·scale, soft-capped to softcap·tanh(s / softcap) when softcap > 0 (Gemma 2), before the softmax. */
    public static void attention(float[] out, float[] q, float[] k, float[] v, int[] pad, int virt,
                                 int B, int T, int NH, int KVH, int HS, int maxT, int start, int window,
                                 double scale, double softcap) {
        int group = NH / KVH;
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++)
                for (int t = 0; t < T; t++) {
                    int last = start + t, padLo = virt, padHi = virt + (pad == null ? 0 : pad[b]);
                    boolean paddingQuery = last >= padLo && last < padHi;
                    int qo = ((b * T + t) * NH + h) * HS, kvBase = (b * KVH + h / group) * maxT * HS;
                    double[] s = new double[last + 1];
                    boolean[] visible = new boolean[last + 1];
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int j = 0; j <= last; j++) {
                        visible[j] = paddingQuery ? j == last
                                : !(j >= padLo && j < padHi) && (window <= 0 || j > last - window);
                        if (!visible[j]) continue;
                        double d = 0;
                        for (int i = 0; i < HS; i++) d += (double) q[qo + i] * k[kvBase + j * HS + i];
                        s[j] = d * scale;
                        if (softcap > 0) s[j] = softcap * Math.tanh(s[j] / softcap);
                        max = Math.max(max, s[j]);
                    }
                    for (int j = 0; j <= last; j++) if (visible[j]) { s[j] = Math.exp(s[j] - max); sum += s[j]; }
                    for (int i = 0; i < HS; i++) {
                        double acc = 0;
                        for (int j = 0; j <= last; j++) if (visible[j]) acc += s[j] / sum * v[kvBase + j * HS + i];
                        out[qo + i] = (float) acc;
                    }
                }
    }
}
