/*
 * Qr: thin Householder QR of a small-width dense matrix in double precision, the first step of Svd's
 * low-rank path (Svd.ofProduct). a (m × n, row-major) = Q (m × p) · R (p × n), p = min(m, n), Q with
 * orthonormal columns, R upper triangular (upper trapezoidal when n > m).
 *
 * Reflector j maps column j of the remaining block onto −sign(x₀)·‖x‖·e₀ (the sign that avoids
 * cancellation; sign(0) = +1). A column that is already zero below the diagonal gets no reflector
 * (the identity), so rank-deficient inputs still give an exactly orthonormal Q — its extra columns
 * simply span directions a does not use, and the matching rows of R are zero.
 *
 * Constraints: pure Java, no dependencies, deterministic (a fixed sequential operation order).
 * Cost O(m·n·p); meant for n (the rank dimension) small and m possibly large (4096 … 11008).
 */
package dev.peft4j.kernels;

public final class Qr {
    private Qr() {}

    /** Q (m × p) and R (p × n), row-major, p = min(m, n). */
    public record Result(double[] Q, double[] R, int m, int n, int p) {}

    public static Result thin(double[] a, int m, int n) {
        if (m < 1 || n < 1) throw new IllegalArgumentException("Qr.thin: empty matrix " + m + "x" + n);
        if (a.length != (long) m * n) {
            throw new IllegalArgumentException("Qr.thin: " + a.length + " values for a " + m + "x" + n + " matrix");
        }
        int p = Math.min(m, n);
        // Work column-major (n columns of length m, each contiguous): reflectors act on columns.
        double[][] w = new double[n][m];
        for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) w[j][i] = a[i * n + j];
        double[][] v = new double[p][]; // v[j] has length m - j, unit norm, or null for the identity
        for (int j = 0; j < p; j++) {
            double[] x = w[j];
            double norm = norm(x, j, m);
            if (norm == 0.0) continue;
            double alpha = x[j] >= 0 ? -norm : norm;
            double[] vj = new double[m - j];
            for (int i = j; i < m; i++) vj[i - j] = x[i];
            vj[0] -= alpha;
            double vn = norm(vj, 0, vj.length);
            if (vn == 0.0) continue;
            for (int i = 0; i < vj.length; i++) vj[i] /= vn;
            v[j] = vj;
            for (int c = j; c < n; c++) reflect(vj, w[c], j, m);
            // Column j is now alpha·e_j exactly (up to rounding below the diagonal): store it clean.
            x[j] = alpha;
            for (int i = j + 1; i < m; i++) x[i] = 0.0;
        }
        double[] r = new double[p * n];
        for (int i = 0; i < p; i++) for (int j = i; j < n; j++) r[i * n + j] = w[j][i];
        // Q = H_0 H_1 … H_{p-1} · I[:, :p]: apply the reflectors in reverse order to the unit columns.
        double[][] q = new double[p][m];
        for (int c = 0; c < p; c++) {
            double[] col = q[c];
            col[c] = 1.0;
            for (int j = Math.min(c, p - 1); j >= 0; j--) if (v[j] != null) reflect(v[j], col, j, m);
        }
        double[] qr = new double[m * p];
        for (int c = 0; c < p; c++) for (int i = 0; i < m; i++) qr[i * p + c] = q[c][i];
        return new Result(qr, r, m, n, p);
    }

    /** x[from..m) ← (I − 2·v·vᵀ)·x[from..m), v unit. */
    private static void reflect(double[] v, double[] x, int from, int m) {
        double dot = 0.0;
        for (int i = from; i < m; i++) dot += v[i - from] * x[i];
        if (dot == 0.0) return;
        double f = 2.0 * dot;
        for (int i = from; i < m; i++) x[i] -= f * v[i - from];
    }

    /** Euclidean norm of x[from..to), scaled against overflow/underflow. */
    static double norm(double[] x, int from, int to) {
        double scale = 0.0;
        for (int i = from; i < to; i++) scale = Math.max(scale, Math.abs(x[i]));
        if (scale == 0.0 || !Double.isFinite(scale)) return scale;
        double s = 0.0;
        for (int i = from; i < to; i++) {
            double t = x[i] / scale;
            s += t * t;
        }
        return scale * Math.sqrt(s);
    }
}
