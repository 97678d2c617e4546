/*
 * Svd: singular value decomposition in double precision, pure Java, for the small matrices adapter
 * combination needs (AdapterMath's "svd" combination, PEFT's add_weighted_adapter).
 *
 *   svd(a, m, n)                 a (m × n) = U (m × k) · diag(S) · Vt (k × n), k = min(m, n).
 *   ofProduct(b, m, r, a, n, k)  the leading k singular triplets of the product b (m × r) · a (r × n)
 *                                without ever forming the m × n product.
 *
 * Small dense SVD: one-sided (Hestenes) Jacobi. The columns of a (of aᵀ when m < n, then U and V swap)
 * are rotated pairwise until every pair is orthogonal to |gᵢ·gⱼ| ≤ tol·‖gᵢ‖‖gⱼ‖, tol = max(m, n)·ε;
 * the rotations accumulate into V, the column norms are the singular values and the normalised
 * columns are U. This is accurate to ε relative to ‖a‖ and robust to rank deficiency: columns whose
 * norm falls below max(m, n)·ε·σ₁ (or is exactly zero) are numerically null, and their U columns are
 * replaced by an orthonormal completion (Gram–Schmidt, twice, on unit vectors e₀, e₁, … in order),
 * so U and Vt always have orthonormal columns/rows. Their singular values are kept as computed (tiny).
 *
 * Low-rank product: delta = B·A with R = r small and m, n large (4096 × 11008). Thin Householder QR of
 * B = Qb·Rb and of Aᵀ = Qa·Ra (Qr), SVD of the small core M = Rb·Raᵀ (p × q, p = min(m, R),
 * q = min(n, R)) = U'·S·V'ᵀ, then delta = (Qb·U')·S·(Qa·V')ᵀ. Cost O((m + n)·R² + R³). If k exceeds
 * min(m, n, R) the extra components have S = 0 and orthonormal completion vectors (what a full SVD would
 * return for a null space, up to the arbitrary choice of basis).
 *
 * Conventions (both entry points): S descending (ties keep the lower original index first); signs made
 * deterministic by making the largest-magnitude component of each right singular vector (row of Vt)
 * positive (first such index on exact ties), flipping the matching U column. LAPACK/torch choose signs
 * arbitrarily, so U and Vt match them only up to these per-component signs.
 */
package dev.peft4j.kernels;

import java.util.Arrays;

public final class Svd {
    private Svd() {}

    private static final double EPS = Math.ulp(1.0); // 2^-52
    private static final int MAX_SWEEPS = 80;

    /** U (m × k), S (k, descending), Vt (k × n), row-major. */
    public record Result(double[] U, double[] S, double[] Vt, int m, int n, int k) {
        /** U·diag(S)·Vt, (m × n) row-major. */
        public double[] reconstruct() {
            double[] out = new double[m * n];
            for (int i = 0; i < m; i++) {
                for (int c = 0; c < k; c++) {
                    double f = U[i * k + c] * S[c];
                    if (f == 0.0) continue;
                    int vo = c * n, oo = i * n;
                    for (int j = 0; j < n; j++) out[oo + j] += f * Vt[vo + j];
                }
            }
            return out;
        }
    }

    /** Full thin SVD of a (m × n, row-major); k = min(m, n). */
    public static Result svd(double[] a, int m, int n) {
        if (m < 1 || n < 1) throw new IllegalArgumentException("Svd.svd: empty matrix " + m + "x" + n);
        if (a.length != (long) m * n) {
            throw new IllegalArgumentException("Svd.svd: " + a.length + " values for a " + m + "x" + n + " matrix");
        }
        for (double x : a) {
            if (!Double.isFinite(x)) throw new IllegalArgumentException("Svd.svd: matrix has a non-finite value " + x);
        }
        Result r;
        if (m >= n) {
            r = jacobi(a, m, n, false);
        } else {
            r = jacobi(a, m, n, true); // works on aᵀ (n × m): U and V swap roles
        }
        return r;
    }

    /**
     * The leading k singular triplets of b (m × r) · a (r × n), both row-major, 1 ≤ k ≤ min(m, n).
     * Components beyond the product's rank have S = 0 (or rounding-level values).
     */
    public static Result ofProduct(double[] b, int m, int r, double[] a, int n, int k) {
        if (m < 1 || n < 1 || r < 1) throw new IllegalArgumentException("Svd.ofProduct: empty dimension m=" + m + " r=" + r + " n=" + n);
        if (b.length != (long) m * r) throw new IllegalArgumentException("Svd.ofProduct: b has " + b.length + " values, expected " + m + "x" + r);
        if (a.length != (long) r * n) throw new IllegalArgumentException("Svd.ofProduct: a has " + a.length + " values, expected " + r + "x" + n);
        if (k < 1 || k > Math.min(m, n)) throw new IllegalArgumentException("Svd.ofProduct: k=" + k + " outside [1, min(m, n) = " + Math.min(m, n) + "]");
        for (double x : b) if (!Double.isFinite(x)) throw new IllegalArgumentException("Svd.ofProduct: b has a non-finite value " + x);
        for (double x : a) if (!Double.isFinite(x)) throw new IllegalArgumentException("Svd.ofProduct: a has a non-finite value " + x);

        Qr.Result qb = Qr.thin(b, m, r); // Qb (m × p), Rb (p × r)
        double[] at = new double[n * r];
        for (int i = 0; i < r; i++) for (int j = 0; j < n; j++) at[j * r + i] = a[i * n + j];
        Qr.Result qa = Qr.thin(at, n, r); // Qa (n × q), Ra (q × r)
        int p = qb.p(), q = qa.p();
        double[] core = new double[p * q]; // M = Rb · Raᵀ
        for (int i = 0; i < p; i++) {
            for (int j = 0; j < q; j++) {
                double s = 0.0;
                for (int l = 0; l < r; l++) s += qb.R()[i * r + l] * qa.R()[j * r + l];
                core[i * q + j] = s;
            }
        }
        Result small = svd(core, p, q);
        int kk = small.k(); // min(p, q)
        int kUse = Math.min(k, kk);
        // U = Qb · U'[:, :kUse] (m × k), V = Qa · V'[:, :kUse] (n × k); the rest is completed below.
        double[][] uc = new double[k][];
        double[][] vc = new double[k][];
        double[] s = new double[k];
        for (int c = 0; c < kUse; c++) {
            double[] u = new double[m];
            for (int i = 0; i < m; i++) {
                double acc = 0.0;
                for (int l = 0; l < p; l++) acc += qb.Q()[i * p + l] * small.U()[l * kk + c];
                u[i] = acc;
            }
            double[] v = new double[n];
            for (int j = 0; j < n; j++) {
                double acc = 0.0;
                for (int l = 0; l < q; l++) acc += qa.Q()[j * q + l] * small.Vt()[c * q + l];
                v[j] = acc;
            }
            uc[c] = u;
            vc[c] = v;
            s[c] = small.S()[c];
        }
        if (kUse < k) {
            complete(uc, kUse, k, m);
            complete(vc, kUse, k, n);
        }
        return assemble(uc, s, vc, m, n, k);
    }

    // ------------------------------------------------------------------------------------------

    /**
     * One-sided Jacobi on the columns of a (transposed = false, m ≥ n) or of aᵀ (transposed = true,
     * m < n). Returns the SVD of a itself in both cases.
     */
    private static Result jacobi(double[] a, int m, int n, boolean transposed) {
        int rows = transposed ? n : m; // length of each working column
        int cols = transposed ? m : n; // number of working columns (≤ rows)
        double[][] g = new double[cols][rows];
        if (transposed) {
            for (int i = 0; i < m; i++) System.arraycopy(a, i * n, g[i], 0, n); // columns of aᵀ = rows of a
        } else {
            for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) g[j][i] = a[i * n + j];
        }
        double[][] v = new double[cols][cols];
        for (int j = 0; j < cols; j++) v[j][j] = 1.0;
        double tol = Math.max(rows, cols) * EPS;
        double[] nrm = new double[cols];
        for (int j = 0; j < cols; j++) nrm[j] = dot(g[j], g[j]);
        for (int sweep = 0; sweep < MAX_SWEEPS; sweep++) {
            boolean rotated = false;
            for (int p = 0; p < cols - 1; p++) {
                for (int q = p + 1; q < cols; q++) {
                    double alpha = nrm[p], beta = nrm[q];
                    if (alpha == 0.0 || beta == 0.0) continue;
                    double gamma = dot(g[p], g[q]);
                    if (Math.abs(gamma) <= tol * Math.sqrt(alpha) * Math.sqrt(beta)) continue;
                    rotated = true;
                    double zeta = (beta - alpha) / (2.0 * gamma);
                    double t = (zeta >= 0 ? 1.0 : -1.0) / (Math.abs(zeta) + Math.sqrt(1.0 + zeta * zeta));
                    double c = 1.0 / Math.sqrt(1.0 + t * t);
                    double sn = c * t;
                    rotate(g[p], g[q], c, sn);
                    rotate(v[p], v[q], c, sn);
                    nrm[p] = dot(g[p], g[p]);
                    nrm[q] = dot(g[q], g[q]);
                }
            }
            if (!rotated) break;
        }
        double[] sigma = new double[cols];
        double smax = 0.0;
        for (int j = 0; j < cols; j++) {
            sigma[j] = Qr.norm(g[j], 0, rows);
            smax = Math.max(smax, sigma[j]);
        }
        Integer[] order = new Integer[cols];
        for (int j = 0; j < cols; j++) order[j] = j;
        Arrays.sort(order, (x, y) -> sigma[x] != sigma[y] ? Double.compare(sigma[y], sigma[x]) : Integer.compare(x, y));
        double nullTol = Math.max(rows, cols) * EPS * smax;
        double[][] left = new double[cols][]; // normalised working columns (length rows)
        double[][] right = new double[cols][]; // matching columns of V (length cols)
        double[] s = new double[cols];
        int good = 0;
        for (int idx = 0; idx < cols; idx++) {
            int j = order[idx];
            s[idx] = sigma[j];
            right[idx] = v[j];
            if (sigma[j] > nullTol && sigma[j] > 0.0) {
                double[] u = g[j].clone();
                for (int i = 0; i < rows; i++) u[i] /= sigma[j];
                left[idx] = u;
                good = idx + 1; // sorted: all earlier ones are good too
            }
        }
        complete(left, good, cols, rows);
        // Working columns are U of the matrix we rotated; V holds its right vectors.
        return transposed ? assemble(right, s, left, m, n, cols) : assemble(left, s, right, m, n, cols);
    }

    /** x ← c·x − s·y, y ← s·x + c·y. */
    private static void rotate(double[] x, double[] y, double c, double s) {
        for (int i = 0; i < x.length; i++) {
            double xi = x[i], yi = y[i];
            x[i] = c * xi - s * yi;
            y[i] = s * xi + c * yi;
        }
    }

    private static double dot(double[] x, double[] y) {
        double s = 0.0;
        for (int i = 0; i < x.length; i++) s += x[i] * y[i];
        return s;
    }

    /**
     * Fills vecs[from..to) (each of length dim) with unit vectors orthogonal to vecs[0..from) and to
     * each other: Gram–Schmidt, two passes, on e₀, e₁, … in order, accepting the first candidate whose
     * residual norm is at least 1/√(2·dim) (one always exists while fewer than dim vectors are taken).
     */
    static void complete(double[][] vecs, int from, int to, int dim) {
        double accept = 1.0 / Math.sqrt(2.0 * dim);
        int next = 0;
        for (int c = from; c < to; c++) {
            double[] found = null;
            while (found == null) {
                if (next >= dim) throw new IllegalStateException("Svd: cannot complete an orthonormal basis (" + to + " > " + dim + ")");
                double[] e = new double[dim];
                e[next++] = 1.0;
                for (int pass = 0; pass < 2; pass++) {
                    for (int o = 0; o < c; o++) {
                        double d = dot(vecs[o], e);
                        if (d != 0.0) for (int i = 0; i < dim; i++) e[i] -= d * vecs[o][i];
                    }
                }
                double nrm = Qr.norm(e, 0, dim);
                if (nrm >= accept) {
                    for (int i = 0; i < dim; i++) e[i] /= nrm;
                    found = e;
                }
            }
            vecs[c] = found;
        }
    }

    /** Packs columns u[c] (length m), values s, rows v[c] (length n) into a Result, normalising signs. */
    private static Result assemble(double[][] u, double[] s, double[][] v, int m, int n, int k) {
        double[] uo = new double[m * k];
        double[] vt = new double[k * n];
        for (int c = 0; c < k; c++) {
            double[] vr = v[c];
            int arg = 0;
            double best = -1.0;
            for (int j = 0; j < n; j++) {
                double av = Math.abs(vr[j]);
                if (av > best) {
                    best = av;
                    arg = j;
                }
            }
            double sign = vr[arg] < 0 ? -1.0 : 1.0;
            for (int j = 0; j < n; j++) vt[c * n + j] = sign * vr[j];
            double[] ur = u[c];
            for (int i = 0; i < m; i++) uo[i * k + c] = sign * ur[i];
        }
        return new Result(uo, s.clone(), vt, m, n, k);
    }
}
