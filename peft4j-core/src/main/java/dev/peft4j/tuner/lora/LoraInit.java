/*
 * LoraInit: the data-driven LoRA initialisations of PEFT 0.14 (peft/tuners/lora/layer.py), which take A
 * and B from the base weight W (out, in) and residualise W so that the model is unchanged at start.
 * Every recipe works on W in f32 as PEFT does (weight.to(torch.float32)); peft4j decomposes in double
 * and rounds A and B to f32. s is the adapter's scaling (alpha/r, or alpha/√r with use_rslora).
 *
 *   pissa (pissa_init, full SVD): W = V·diag(S)·Uh (torch.linalg.svd, full_matrices=False);
 *       Sr = S[:r] / s;  A = diag(√Sr)·Uh[:r]  (r, in);  B = V[:, :r]·diag(√Sr)  (out, r);
 *       so s·B·A = V_r·diag(S_r)·Uh_r, the best rank-r approximation of W.
 *   pissa_niter_K (fast SVD): the same with (V_r, S_r, U_r) = torch.svd_lowrank(W, q = r, niter = K)
 *       (Halko et al. 2009, Algorithm 5.1 as torch/_lowrank.py runs it): for W (m × n) with m < n or n > r
 *       — every practical case — Q = orth(Wᵀ·G), G (m × r) standard normal; K times Q = orth(W·Q),
 *       Q = orth(Wᵀ·Q); then svd(W·Q) = U·S·Vhᵀ and V = Q·Vhᵀ; otherwise the transposed recipe.
 *       G is drawn from the seed (Lora's documented stream, Box–Muller), not from torch's global RNG,
 *       which PEFT does not seed: PEFT's own pissa_niter_K is not reproducible across runs either.
 *       What matters is the top-r subspace; with K ≥ 2 on a weight with a spectral gap it agrees with the
 *       full SVD to far below training noise (LoraInitPissaTest measures it).
 *   olora (olora_init): Q, R = torch.linalg.qr(W) (reduced); A = R[:r] (r, in); B = Q[:, :r] (out, r).
 *
 * Then W_res = W − s·B·A in f32, stored back in the weight's own format (bf16 re-rounded, as PEFT's
 * weight.to(dtype)). A quantised base (NF4/int8) is refused: PEFT's pissa_init raises for it and its
 * olora_init re-quantises the residual, which changes the model's outputs at step 0 — initialise on an
 * f32/bf16 base and quantise the residual model afterwards. r must not exceed min(out, in).
 *
 * Signs: SVD and QR factors are unique only up to a sign per component (LAPACK's choice vs peft4j's
 * Svd/Qr conventions); B·A, the residual and the whole training trajectory (the sign flips of a
 * component cancel in B·A and in every gradient step) do not depend on it.
 */
package dev.peft4j.tuner.lora;

import dev.peft4j.Peft4jException;
import dev.peft4j.kernels.Qr;
import dev.peft4j.kernels.Svd;
import dev.peft4j.nn.Linear;
import java.util.SplittableRandom;

public final class LoraInit {
    private LoraInit() {}

    /** A (r × in) and B (out × r), row-major f32. */
    public record Factors(float[] a, float[] b) {}

    /** A, B for lin's current base weight under init (PISSA, PISSA_NITER or OLORA); does not touch the base. */
    public static Factors factors(Linear lin, int r, double scaling, InitLoraWeights init, SplittableRandom rnd) {
        if (lin.weight().compact() && lin.weight().matrix().quantized())
            throw new Peft4jException("init_lora_weights=" + init + " on " + lin.name + ": the base weight is quantised ("
                    + lin.weight().matrix().getClass().getSimpleName() + "); PiSSA/OLoRA must residualise it, and re-quantising "
                    + "W - scaling*B*A would change the model's outputs. Initialise on the f32/bf16 base (no --quantize), "
                    + "then quantise the residual model");
        int m = lin.out, n = lin.in;
        if (r > Math.min(m, n))
            throw new Peft4jException("init_lora_weights=" + init + " on " + lin.name + ": r = " + r + " exceeds min(out, in) = "
                    + Math.min(m, n) + " of its " + m + "x" + n + " weight; use r <= " + Math.min(m, n) + " (rank_pattern for this module)");
        float[] wf = lin.weight().floats();
        double[] w = new double[m * n];
        for (int i = 0; i < w.length; i++) w[i] = wf[i];
        return factors(w, m, n, r, scaling, init, rnd);
    }

    /** A, B for a weight w (m = out × n = in, row-major). */
    public static Factors factors(double[] w, int m, int n, int r, double scaling, InitLoraWeights init, SplittableRandom rnd) {
        float[] a = new float[r * n], b = new float[m * r];
        switch (init.kind()) {
            case PISSA, PISSA_NITER -> {
                if (!(scaling > 0))
                    throw new Peft4jException("init_lora_weights=" + init + ": PiSSA takes sqrt(S / scaling), so scaling = alpha/r must be > 0 "
                            + "(got " + scaling + "); use lora_alpha > 0");
                double[] u, s, vt;                    // u (m × r), s (r), vt (r × n)
                if (init.kind() == InitLoraWeights.Kind.PISSA) {
                    Svd.Result res = Svd.svd(w, m, n);
                    u = cols(res.U(), m, res.k(), r);
                    s = java.util.Arrays.copyOf(res.S(), r);
                    vt = java.util.Arrays.copyOf(res.Vt(), r * n);
                } else {
                    double[][] usv = svdLowrank(w, m, n, r, init.niter(), rnd);
                    u = usv[0]; s = usv[1]; vt = usv[2];
                }
                for (int c = 0; c < r; c++) {
                    double sq = Math.sqrt(s[c] / scaling);
                    for (int j = 0; j < n; j++) a[c * n + j] = (float) (sq * vt[c * n + j]);
                    for (int i = 0; i < m; i++) b[i * r + c] = (float) (u[i * r + c] * sq);
                }
            }
            case OLORA -> {
                Qr.Result qr = Qr.thin(w, m, n);
                int p = qr.p();
                for (int i = 0; i < m; i++) for (int c = 0; c < r; c++) b[i * r + c] = (float) qr.Q()[i * p + c];
                for (int c = 0; c < r; c++) for (int j = 0; j < n; j++) a[c * n + j] = (float) qr.R()[c * n + j];
            }
            default -> throw new IllegalArgumentException("LoraInit: " + init + " is not a data-driven initialisation");
        }
        return new Factors(a, b);
    }

    /** W ← W − scaling·B·A on lin's base weight (in its own storage format). */
    public static void residualise(Linear lin, Factors f, int r, double scaling) {
        int m = lin.out, n = lin.in;
        float[] a = f.a(), b = f.b();
        lin.updateWeight(w -> {
            float[] ba = new float[n];
            for (int i = 0; i < m; i++) {
                java.util.Arrays.fill(ba, 0f);
                for (int c = 0; c < r; c++) {                 // f32 product as torch's f32 matmul
                    float bic = b[i * r + c];
                    for (int j = 0; j < n; j++) ba[j] += bic * a[c * n + j];
                }
                for (int j = 0; j < n; j++) w[i * n + j] = (float) (w[i * n + j] - scaling * ba[j]);
            }
        });
    }

    /**
     * torch.svd_lowrank(W, q, niter) (torch/_lowrank.py): {U (m × q), S (q), Vt (q × n)}, W ≈ U·diag(S)·Vt,
     * with the Gaussian test matrix drawn from rnd.
     */
    public static double[][] svdLowrank(double[] w, int m, int n, int q, int niter, SplittableRandom rnd) {
        double[] wt = transpose(w, m, n);
        if (m < n || n > q) {
            // Q = basis(Wᵀ (n × m)): G (m × q); Q = orth(Wᵀ G) (n × q); K × { Q = orth(W Q) (m × q); Q = orth(Wᵀ Q) }
            double[] q0 = basis(wt, n, m, w, q, niter, rnd);           // n × q
            double[] bt = matmul(w, q0, m, n, q);                        // W Q: m × q
            Svd.Result res = Svd.svd(bt, m, q);                          // U (m × q), S, Vh (q × q)
            double[] v = matmul(q0, transpose(res.Vt(), q, q), n, q, q); // V = Q · Vhᵀ: n × q
            return new double[][] {res.U(), res.S(), transpose(v, n, q)};
        }
        double[] q0 = basis(w, m, n, wt, q, niter, rnd);                 // m × q
        double[] bt = transpose(matmul(wt, q0, n, m, q), n, q);          // (Wᵀ Q)ᵀ: q × n
        Svd.Result res = Svd.svd(bt, q, n);                              // U (q × k), S, Vh (k × n), k = min(q, n)
        int k = res.k();
        double[] u = matmul(q0, res.U(), m, q, k);                       // Q · U: m × k
        return new double[][] {u, res.S(), res.Vt()};
    }

    /** get_approximate_basis(A (rows × cols), q, niter): orthonormal Q (rows × q); aT is Aᵀ. */
    private static double[] basis(double[] a, int rows, int cols, double[] aT, int q, int niter, SplittableRandom rnd) {
        float[] g = new float[cols * q];
        Lora.normal(g, 1.0, rnd);                                         // torch.randn(cols, q)
        double[] gd = new double[g.length];
        for (int i = 0; i < g.length; i++) gd[i] = g[i];
        double[] qm = orth(matmul(a, gd, rows, cols, q), rows, q);
        for (int it = 0; it < niter; it++) {
            qm = orth(matmul(aT, qm, cols, rows, q), cols, q);
            qm = orth(matmul(a, qm, rows, cols, q), rows, q);
        }
        return qm;
    }

    private static double[] orth(double[] x, int rows, int cols) {
        Qr.Result r = Qr.thin(x, rows, cols);
        if (r.p() != cols) throw new Peft4jException("svd_lowrank: q = " + cols + " exceeds the matrix size " + rows);
        return r.Q();
    }

    private static double[] matmul(double[] x, double[] y, int m, int k, int n) {
        double[] out = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int l = 0; l < k; l++) {
                double xv = x[i * k + l];
                if (xv == 0.0) continue;
                for (int j = 0; j < n; j++) out[i * n + j] += xv * y[l * n + j];
            }
        return out;
    }

    private static double[] transpose(double[] x, int m, int n) {
        double[] t = new double[m * n];
        for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) t[j * m + i] = x[i * n + j];
        return t;
    }

    private static double[] cols(double[] x, int m, int k, int r) {
        double[] out = new double[m * r];
        for (int i = 0; i < m; i++) System.arraycopy(x, i * k, out, i * r, r);
        return out;
    }
}
