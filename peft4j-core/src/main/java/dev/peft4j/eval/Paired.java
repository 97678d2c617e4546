/*
 * Paired: significance of the difference between two model versions scored on the SAME items.
 *   mcNemar(a, b): for per-item correctness (0/1). b01 = items A got right and B wrong, b10 = items
 *     A got wrong and B right. With fewer than EXACT_BELOW discordant items the two-sided exact
 *     binomial test (p = min(1, 2·P[X <= min(b01, b10)]), X ~ Bin(b01 + b10, 1/2)); otherwise the
 *     chi-square test with continuity correction, χ² = (|b01 − b10| − 1)² / (b01 + b10), 1 degree of
 *     freedom (p = erfc(sqrt(χ²/2))). No discordant item: p = 1.
 *   bootstrap(a, b, weights): paired percentile bootstrap over items (or documents) of
 *     mean_w(b) − mean_w(a): each resample draws the same item indices for both versions; 95% interval
 *     from the 2.5th/97.5th percentiles; two-sided p = min(1, 2·min(#{d* <= 0}, #{d* >= 0}) / R).
 *     Deterministic: SplittableRandom(seed), Ci.DEFAULT_SEED and Ci.DEFAULT_RESAMPLES by default.
 * A difference is "significant" at 5%: McNemar p < 0.05, or for the bootstrap an interval that
 * excludes 0.
 */
package dev.peft4j.eval;

import dev.peft4j.Peft4jException;
import java.util.Arrays;
import java.util.SplittableRandom;

public final class Paired {
    /** Below this many discordant items McNemar uses the exact binomial test, else chi-square with continuity correction. */
    public static final int EXACT_BELOW = 25;
    public static final double ALPHA = 0.05;

    /**
     * A paired comparison of B against A. diff = B − A (for accuracy: accB − accA), [lo, hi] its 95%
     * interval, p the two-sided p-value, n the paired items; onlyA/onlyB: McNemar's discordant counts
     * (items only A / only B got right; -1 for the bootstrap).
     */
    public record Test(String method, double diff, double lo, double hi, double p, int n, int onlyA, int onlyB) {
        public boolean significant() {
            return method.startsWith("mcnemar") ? p < ALPHA : !(lo <= 0 && hi >= 0);
        }
    }

    private Paired() {}

    /** McNemar's test on per-item correctness, with the paired-bootstrap interval of the accuracy difference. */
    public static Test mcNemar(boolean[] a, boolean[] b) {
        check(a.length, b.length);
        int onlyA = 0, onlyB = 0;
        double[] x = new double[a.length], y = new double[b.length];
        for (int i = 0; i < a.length; i++) {
            if (a[i] && !b[i]) onlyA++;
            if (!a[i] && b[i]) onlyB++;
            x[i] = a[i] ? 1 : 0;
            y[i] = b[i] ? 1 : 0;
        }
        Test boot = bootstrap(x, y, null, Ci.DEFAULT_RESAMPLES, Ci.DEFAULT_SEED);
        int d = onlyA + onlyB;
        String method;
        double p;
        if (d == 0) {
            method = "mcnemar-exact";
            p = 1;
        } else if (d < EXACT_BELOW) {
            method = "mcnemar-exact";
            p = Math.min(1, 2 * binomialCdfHalf(Math.min(onlyA, onlyB), d));
        } else {
            method = "mcnemar-chi2-cc";
            double chi2 = Math.pow(Math.abs(onlyA - onlyB) - 1, 2) / d;
            p = erfc(Math.sqrt(chi2 / 2));
        }
        return new Test(method, boot.diff(), boot.lo(), boot.hi(), p, a.length, onlyA, onlyB);
    }

    /** Paired bootstrap of the weighted mean difference B − A (weights null: plain means; NaN items are skipped). */
    public static Test bootstrap(double[] a, double[] b, double[] weights, int resamples, long seed) {
        check(a.length, b.length);
        if (weights != null && weights.length != a.length)
            throw new Peft4jException("paired bootstrap: " + a.length + " items but " + weights.length + " weights");
        int n = 0;
        for (int i = 0; i < a.length; i++) if (usable(a, b, weights, i)) n++;
        double[] x = new double[n], y = new double[n], w = new double[n];
        for (int i = 0, k = 0; i < a.length; i++)
            if (usable(a, b, weights, i)) {
                x[k] = a[i];
                y[k] = b[i];
                w[k++] = weights == null ? 1 : weights[i];
            }
        if (n == 0) return new Test("paired-bootstrap", Double.NaN, Double.NaN, Double.NaN, Double.NaN, 0, -1, -1);
        double diff = meanDiff(x, y, w, null);
        SplittableRandom rnd = new SplittableRandom(seed);
        double[] stats = new double[resamples];
        int[] idx = new int[n];
        int le = 0, ge = 0;
        for (int r = 0; r < resamples; r++) {
            for (int i = 0; i < n; i++) idx[i] = rnd.nextInt(n);
            double d = meanDiff(x, y, w, idx);
            stats[r] = Double.isNaN(d) ? diff : d;
            if (stats[r] <= 0) le++;
            if (stats[r] >= 0) ge++;
        }
        Arrays.sort(stats);
        double p = resamples == 0 ? Double.NaN : Math.min(1, 2.0 * Math.min(le, ge) / resamples);
        return new Test("paired-bootstrap", diff, Ci.percentile(stats, 2.5), Ci.percentile(stats, 97.5), p, n, -1, -1);
    }

    public static Test bootstrap(double[] a, double[] b, double[] weights) {
        return bootstrap(a, b, weights, Ci.DEFAULT_RESAMPLES, Ci.DEFAULT_SEED);
    }

    private static boolean usable(double[] a, double[] b, double[] w, int i) {
        return Double.isFinite(a[i]) && Double.isFinite(b[i]) && (w == null || w[i] > 0);
    }

    private static double meanDiff(double[] x, double[] y, double[] w, int[] idx) {
        double sx = 0, sy = 0, sw = 0;
        int n = idx == null ? x.length : idx.length;
        for (int k = 0; k < n; k++) {
            int i = idx == null ? k : idx[k];
            sx += w[i] * x[i];
            sy += w[i] * y[i];
            sw += w[i];
        }
        return sw == 0 ? Double.NaN : (sy - sx) / sw;
    }

    private static void check(int a, int b) {
        if (a != b)
            throw new Peft4jException("a paired test needs the same items for both versions; got " + a + " and " + b + " items");
    }

    /** P[X <= k] for X ~ Binomial(n, 1/2), summed in log space (exact to double precision for any n). */
    static double binomialCdfHalf(int k, int n) {
        double sum = 0, logTerm = -n * Math.log(2); // log C(n,0) 2^-n
        for (int i = 0; i <= k; i++) {
            sum += Math.exp(logTerm);
            logTerm += Math.log((double) (n - i) / (i + 1));
        }
        return Math.min(1, sum);
    }

    /**
     * Complementary error function: the Maclaurin series of erf below 3 (alternating terms, at most
     * e^9 of cancellation, so ~1e-12 absolute), Lentz's continued fraction
     * erfc(x) = e^{-x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))) from 3 on.
     */
    static double erfc(double x) {
        if (x < 0) return 2 - erfc(-x);
        if (x < 3) {
            double term = x, sum = x;
            for (int n = 1; n < 200; n++) {
                term *= -x * x / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
            }
            return 1 - 2 / Math.sqrt(Math.PI) * sum;
        }
        // continued fraction b0 + a1/(b1 + a2/(b2 + ...)) with b = x, a_k = k/2, evaluated by modified Lentz
        double tiny = 1e-300, f = x, c = x, d = 0;
        for (int k = 1; k < 500; k++) {
            double a = k / 2.0;
            d = x + a * d;
            d = Math.abs(d) < tiny ? tiny : d;
            c = x + a / c;
            c = Math.abs(c) < tiny ? tiny : c;
            d = 1 / d;
            double delta = c * d;
            f *= delta;
            if (Math.abs(delta - 1) < 1e-16) break;
        }
        return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
    }
}
