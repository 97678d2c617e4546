/*
 * AdapterMath: the per-module arithmetic of HF PEFT's LoraModel.add_weighted_adapter
 * (peft/tuners/lora/model.py: add_weighted_adapter, _check_add_weighted_adapter,
 * _generalized_task_arithmetic_weighted_adapter, _svd_generalized_task_arithmetic_weighted_adapter)
 * for combination_type "linear", "cat" and "svd". Each source adapter i on one module is a Part:
 * A_i (r_i, in), B_i (out, r_i), its scaling s_i (lora_alpha/r, or lora_alpha/√r with rslora) and the
 * user weight w_i. ΔW_i = s_i·B_i·A_i.
 *
 * What PEFT does (and this class replicates), per module:
 *   LINEAR  all r_i equal (else ValueError; here a Peft4jException pointing to cat/svd). new r = r.
 *           A = Σ sgn(w_i s_i)·√|w_i s_i|·A_i,  B = Σ √|w_i s_i|·B_i  (task_arithmetic on A and on B
 *           separately; the sign goes on A only — negative weights since PEFT PR #2811/#2918).
 *           Delta B·A = Σ_i Σ_j √|w_i s_i|·sgn(w_j s_j)√|w_j s_j|·B_i·A_j has cross terms (i ≠ j), so it
 *           is NOT Σ w_i ΔW_i in general; with a single adapter it is exactly w·ΔW.
 *   CAT     any ranks. new r = Σ r_i.  A = [w_1 s_1 A_1; w_2 s_2 A_2; …] (rows concatenated, the weight
 *           and scaling go on A), B = [B_1 | B_2 | …] (columns concatenated). Delta = Σ w_i ΔW_i exactly.
 *   SVD     any ranks. new r = svd_rank, or max r_i when not given (PEFT: `svd_rank or max(ranks)`).
 *           delta = Σ w_i·get_delta_weight(i) = Σ w_i s_i B_i A_i (get_delta_weight includes s_i),
 *           U, S, Vh = svd(delta); B = U[:, :k]·diag(S[:k]), A = Vh[:k, :]; then optionally clamp:
 *           hi = quantile(concat(B.flatten(), A.flatten()), clamp) (torch.quantile, linear
 *           interpolation), both clamped to [−hi, hi]. Computed here without the dense out×in SVD
 *           (Svd.ofProduct on [w_i s_i B_i] · [A_i]). PEFT releases before PR #3111 (2026-03) also
 *           multiplied the weights by s_i (valid_weights = w_i·s_i) on top of get_delta_weight, i.e.
 *           used Σ w_i s_i² B_i A_i; that was a bug, fixed upstream — we follow the fixed behaviour.
 * In every case the new adapter's config is PEFT's `replace(config[adapters[0]], r=new_r,
 * lora_alpha=new_r, use_rslora=False, rank_pattern={}, alpha_pattern={})`, so its scaling is exactly 1
 * (use_rslora=False since PEFT PR #3449; before it an rslora source silently gave scaling √new_r).
 * Combined.scaling is therefore always 1.0; write lora_alpha = r and use_rslora = false.
 *
 * Model-level rules the caller applies (see effectiveType/newRank): with a single source adapter PEFT
 * forces "linear" whatever type was asked (and ignores svd_rank); new r comes from the adapters'
 * config-level ranks (with rank_pattern: max(r, *rank_pattern.values())), which can exceed a module's
 * own Σ r_i for cat — PEFT then zero-pads the module's A rows / B columns (Combined.padRank). An adapter
 * that does not target a module is skipped for that module (pass only the parts present, with their
 * weights). svd_full_matrices / svd_driver only select torch/LAPACK routines and do not apply here.
 * Singular vectors are sign-ambiguous: ours follow Svd's deterministic convention, torch's are
 * arbitrary, so the svd factors match PEFT's up to per-component sign (the delta B·A is identical);
 * with clamp the quantile depends on those signs, so clamped results can differ from PEFT's slightly.
 *
 * All arithmetic is in double; results are rounded to float once at the end (PEFT works in the adapters'
 * dtype, float32 weights included, so values agree with PEFT's to float rounding).
 */
package dev.peft4j.tuner;

import dev.peft4j.Peft4jException;
import dev.peft4j.kernels.Svd;
import java.util.Arrays;
import java.util.List;

public final class AdapterMath {
    private AdapterMath() {}

    /** One adapter on one module: A (r, in) row-major, B (out, r) row-major, its scaling (alpha/r or alpha/sqrt r). */
    public record Part(float[] A, float[] B, int r, int in, int out, double scaling) {}

    /** The combined adapter on that module, to be used with scaling = newAlpha / newR (PEFT stores lora_alpha = r for the new adapter). */
    public record Combined(float[] A, float[] B, int r, int in, int out, double scaling) {
        /**
         * This adapter with rank newR ≥ r: A gets zero rows, B zero columns appended (PEFT allocates the new
         * adapter at the config-level rank and writes a cat result into its leading rows/columns).
         */
        public Combined padRank(int newR) {
            if (newR < r) throw new Peft4jException("padRank: cannot shrink rank " + r + " to " + newR);
            if (newR == r) return this;
            float[] a = Arrays.copyOf(A, newR * in);
            float[] b = new float[out * newR];
            for (int o = 0; o < out; o++) System.arraycopy(B, o * r, b, o * newR, r);
            return new Combined(a, b, newR, in, out, scaling);
        }

        /** scaling·B·A, (out, in) row-major, in double then rounded to float. */
        public float[] delta() {
            double[] d = new double[in];
            float[] res = new float[out * in];
            for (int o = 0; o < out; o++) {
                Arrays.fill(d, 0.0);
                for (int j = 0; j < r; j++) {
                    double f = scaling * B[o * r + j];
                    if (f == 0.0) continue;
                    int ao = j * in;
                    for (int i = 0; i < in; i++) d[i] += f * A[ao + i];
                }
                for (int i = 0; i < in; i++) res[o * in + i] = (float) d[i];
            }
            return res;
        }
    }

    public enum Type { LINEAR, CAT, SVD }

    /** No clamping of the svd factors (PEFT's svd_clamp=None). */
    public static final double NO_CLAMP = Double.NaN;

    /** PEFT: with a single source adapter every combination type becomes "linear". */
    public static Type effectiveType(Type requested, int adapterCount) {
        if (adapterCount < 1) throw new Peft4jException("add_weighted_adapter needs at least one adapter, got none");
        return adapterCount == 1 ? Type.LINEAR : requested;
    }

    /**
     * The new adapter's r (= its lora_alpha) from the source adapters' config-level ranks, as
     * PEFT's _check_add_weighted_adapter computes it (pass the type from effectiveType; for configs with a
     * rank_pattern pass max(r, *rank_pattern.values())). svdRank ≤ 0 means "not given".
     */
    public static int newRank(Type type, int[] ranks, int svdRank) {
        if (ranks.length == 0) throw new Peft4jException("add_weighted_adapter needs at least one adapter, got none");
        int max = 0, sum = 0;
        for (int r : ranks) {
            if (r < 1) throw new Peft4jException("adapter rank must be >= 1, got " + r);
            max = Math.max(max, r);
            sum += r;
        }
        return switch (type) {
            case LINEAR -> {
                for (int r : ranks) {
                    if (r != ranks[0]) throw unequalRanks(ranks);
                }
                yield ranks[0];
            }
            case CAT -> sum;
            case SVD -> svdRank > 0 ? svdRank : max;
        };
    }

    /** combine(type, parts, weights, svdRank, NO_CLAMP). */
    public static Combined combine(Type type, List<Part> parts, double[] weights, int svdRank /* <= 0: max r_i */) {
        return combine(type, parts, weights, svdRank, NO_CLAMP);
    }

    /**
     * Combines the parts on one module as PEFT does (see the class comment). svdRank and svdClamp only
     * matter for SVD; svdClamp is PEFT's svd_clamp quantile in [0, 1], or NO_CLAMP.
     */
    public static Combined combine(Type type, List<Part> parts, double[] weights, int svdRank, double svdClamp) {
        if (type == null) throw new Peft4jException("combination type is null; use LINEAR, CAT or SVD");
        check(parts, weights);
        int in = parts.get(0).in(), out = parts.get(0).out();
        return switch (type) {
            case LINEAR -> linear(parts, weights, in, out);
            case CAT -> cat(parts, weights, in, out);
            case SVD -> svd(parts, weights, in, out, svdRank, svdClamp);
        };
    }

    /** The dense delta Σ w_i · scaling_i · B_i·A_i, (out, in) row-major, in double then rounded to float. */
    public static float[] weightedDelta(List<Part> parts, double[] weights) {
        check(parts, weights);
        int in = parts.get(0).in(), out = parts.get(0).out();
        double[] row = new double[in];
        float[] res = new float[out * in];
        for (int o = 0; o < out; o++) {
            Arrays.fill(row, 0.0);
            for (int p = 0; p < parts.size(); p++) {
                Part pt = parts.get(p);
                double ws = weights[p] * pt.scaling();
                int r = pt.r();
                for (int j = 0; j < r; j++) {
                    double f = ws * pt.B()[o * r + j];
                    if (f == 0.0) continue;
                    int ao = j * in;
                    for (int i = 0; i < in; i++) row[i] += f * pt.A()[ao + i];
                }
            }
            for (int i = 0; i < in; i++) res[o * in + i] = (float) row[i];
        }
        return res;
    }

    // ------------------------------------------------------------------------------------------

    private static Combined linear(List<Part> parts, double[] weights, int in, int out) {
        int r = parts.get(0).r();
        for (Part p : parts) {
            if (p.r() != r) {
                int[] ranks = parts.stream().mapToInt(Part::r).toArray();
                throw unequalRanks(ranks);
            }
        }
        double[] a = new double[r * in];
        double[] b = new double[out * r];
        for (int p = 0; p < parts.size(); p++) {
            Part pt = parts.get(p);
            double ws = weights[p] * pt.scaling();
            double mag = Math.sqrt(Math.abs(ws));
            double fa = ws >= 0 ? mag : -mag; // the sign goes on A only
            for (int i = 0; i < a.length; i++) a[i] += fa * pt.A()[i];
            for (int i = 0; i < b.length; i++) b[i] += mag * pt.B()[i];
        }
        return new Combined(toFloat(a), toFloat(b), r, in, out, 1.0);
    }

    private static Combined cat(List<Part> parts, double[] weights, int in, int out) {
        int total = 0;
        for (Part p : parts) total += p.r();
        float[] a = new float[total * in];
        float[] b = new float[out * total];
        int off = 0;
        for (int p = 0; p < parts.size(); p++) {
            Part pt = parts.get(p);
            double ws = weights[p] * pt.scaling();
            int r = pt.r();
            for (int i = 0; i < r * in; i++) a[off * in + i] = (float) (ws * pt.A()[i]);
            for (int o = 0; o < out; o++) System.arraycopy(pt.B(), o * r, b, o * total + off, r);
            off += r;
        }
        return new Combined(a, b, total, in, out, 1.0);
    }

    private static Combined svd(List<Part> parts, double[] weights, int in, int out, int svdRank, double clamp) {
        int maxR = 0, total = 0;
        for (Part p : parts) {
            maxR = Math.max(maxR, p.r());
            total += p.r();
        }
        int k = svdRank > 0 ? svdRank : maxR;
        int lim = Math.min(in, out);
        if (k > lim) {
            throw new Peft4jException("svd combination rank " + k + (svdRank > 0 ? " (svd_rank)" : " (max adapter rank)")
                    + " exceeds min(in, out) = " + lim + " of a " + out + "x" + in + " module; pass an svd rank between 1 and " + lim);
        }
        if (!Double.isNaN(clamp) && !(clamp >= 0.0 && clamp <= 1.0)) {
            throw new Peft4jException("svd clamp is a quantile and must be in [0, 1], got " + clamp);
        }
        // delta = Bcat (out × R) · Acat (R × in), Bcat = [w_i s_i B_i], Acat = [A_i].
        double[] bcat = new double[out * total];
        double[] acat = new double[total * in];
        int off = 0;
        for (int p = 0; p < parts.size(); p++) {
            Part pt = parts.get(p);
            double ws = weights[p] * pt.scaling();
            int r = pt.r();
            for (int o = 0; o < out; o++) {
                for (int j = 0; j < r; j++) bcat[o * total + off + j] = ws * pt.B()[o * r + j];
            }
            for (int i = 0; i < r * in; i++) acat[off * in + i] = pt.A()[i];
            off += r;
        }
        Svd.Result s = Svd.ofProduct(bcat, out, total, acat, in, k);
        double[] b = new double[out * k];
        for (int o = 0; o < out; o++) for (int c = 0; c < k; c++) b[o * k + c] = s.U()[o * k + c] * s.S()[c];
        double[] a = s.Vt().clone(); // (k × in)
        if (!Double.isNaN(clamp)) {
            double[] dist = new double[b.length + a.length];
            System.arraycopy(b, 0, dist, 0, b.length);
            System.arraycopy(a, 0, dist, b.length, a.length);
            double hi = quantile(dist, clamp);
            double lo = -hi;
            clampInPlace(b, lo, hi);
            clampInPlace(a, lo, hi);
        }
        return new Combined(toFloat(a), toFloat(b), k, in, out, 1.0);
    }

    /** torch.quantile(x, q) with the default linear interpolation: sorted x at position q·(n − 1). */
    static double quantile(double[] x, double q) {
        double[] v = x.clone();
        Arrays.sort(v);
        double pos = q * (v.length - 1);
        int below = (int) Math.floor(pos);
        int above = Math.min(below + 1, v.length - 1);
        double w = pos - below;
        // torch.lerp: start + w·(end − start), evaluated from the nearer end.
        return w < 0.5 ? v[below] + w * (v[above] - v[below]) : v[above] - (v[above] - v[below]) * (1.0 - w);
    }

    /** torch.clamp(x, lo, hi) = min(max(x, lo), hi) (so hi wins if lo > hi). */
    private static void clampInPlace(double[] x, double lo, double hi) {
        for (int i = 0; i < x.length; i++) x[i] = Math.min(Math.max(x[i], lo), hi);
    }

    private static void check(List<Part> parts, double[] weights) {
        if (parts == null || parts.isEmpty()) throw new Peft4jException("no adapter parts to combine; pass at least one");
        if (weights == null || weights.length != parts.size()) {
            throw new Peft4jException("got " + (weights == null ? 0 : weights.length) + " weights for " + parts.size()
                    + " adapters; pass exactly one weight per adapter");
        }
        Part first = parts.get(0);
        for (int p = 0; p < parts.size(); p++) {
            Part pt = parts.get(p);
            if (pt.r() < 1 || pt.in() < 1 || pt.out() < 1) {
                throw new Peft4jException("adapter " + p + ": invalid shape r=" + pt.r() + " in=" + pt.in() + " out=" + pt.out());
            }
            if (pt.A() == null || pt.A().length != (long) pt.r() * pt.in()) {
                throw new Peft4jException("adapter " + p + ": A has " + (pt.A() == null ? 0 : pt.A().length)
                        + " values, expected r x in = " + pt.r() + "x" + pt.in());
            }
            if (pt.B() == null || pt.B().length != (long) pt.out() * pt.r()) {
                throw new Peft4jException("adapter " + p + ": B has " + (pt.B() == null ? 0 : pt.B().length)
                        + " values, expected out x r = " + pt.out() + "x" + pt.r());
            }
            if (pt.in() != first.in() || pt.out() != first.out()) {
                throw new Peft4jException("adapter " + p + " has shape out x in = " + pt.out() + "x" + pt.in()
                        + " but adapter 0 has " + first.out() + "x" + first.in() + "; adapters combined on one module must have the same in/out");
            }
            if (!Double.isFinite(pt.scaling())) throw new Peft4jException("adapter " + p + ": scaling is " + pt.scaling());
            if (!Double.isFinite(weights[p])) throw new Peft4jException("adapter " + p + ": weight is " + weights[p]);
        }
    }

    private static Peft4jException unequalRanks(int[] ranks) {
        return new Peft4jException("combination type linear needs all adapters to have the same r, got "
                + Arrays.toString(ranks) + "; use cat (rank = sum of ranks) or svd (rank = svd_rank or max rank) instead");
    }

    private static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }
}
