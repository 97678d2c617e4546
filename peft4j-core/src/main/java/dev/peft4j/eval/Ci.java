/*
 * Ci: confidence intervals for evaluation numbers. Wilson score intervals for proportions
 * (accuracy, exact match) and percentile-bootstrap intervals for (weighted) means (per-document
 * losses, KL). Everything is deterministic: the bootstrap draws from a SplittableRandom seeded by
 * the caller, so the same inputs and seed give the same interval.
 */
package dev.peft4j.eval;

import java.util.Arrays;
import java.util.SplittableRandom;

public final class Ci {
    /** z for a two-sided 95% interval. */
    public static final double Z95 = 1.959964;
    /** Resamples and seed the evaluators use for their bootstrap intervals. */
    public static final int DEFAULT_RESAMPLES = 1000;
    public static final long DEFAULT_SEED = 1234;

    /** A point estimate with its interval [lo, hi] and the number of observations it rests on. */
    public record Estimate(double value, double lo, double hi, int n) {
        @Override
        public String toString() {
            return String.format(java.util.Locale.ROOT, "%.4f [%.4f, %.4f] (n=%d)", value, lo, hi, n);
        }
    }

    private Ci() {}

    /** Wilson score interval for successes/n. n = 0 gives value 0 and the uninformative [0, 1]. */
    public static Estimate wilson(int successes, int n, double z) {
        if (n < 0 || successes < 0 || successes > n) {
            throw new IllegalArgumentException("need 0 <= successes <= n (got " + successes + "/" + n + ")");
        }
        if (n == 0) return new Estimate(0, 0, 1, 0);
        double p = (double) successes / n;
        double z2 = z * z;
        double denom = 1 + z2 / n;
        double centre = (p + z2 / (2.0 * n)) / denom;
        double half = z * Math.sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / denom;
        return new Estimate(p, Math.max(0, centre - half), Math.min(1, centre + half), n);
    }

    /** 95% Wilson interval. */
    public static Estimate wilson(int successes, int n) {
        return wilson(successes, n, Z95);
    }

    /**
     * Percentile bootstrap (2.5th and 97.5th percentiles, linearly interpolated as numpy's default)
     * of the weighted mean Σwᵢvᵢ / Σwᵢ (weights null: plain mean). Each resample draws n items with
     * replacement; a resample whose weights sum to 0 counts as the full-sample estimate.
     */
    public static Estimate bootstrap(double[] values, double[] weights, int resamples, long seed) {
        int n = values.length;
        if (weights != null && weights.length != n) {
            throw new IllegalArgumentException("values and weights differ in length: " + n + " vs " + weights.length);
        }
        if (n == 0) return new Estimate(Double.NaN, Double.NaN, Double.NaN, 0);
        double value = weightedMean(values, weights, null);
        if (resamples <= 0) return new Estimate(value, value, value, n);
        SplittableRandom rnd = new SplittableRandom(seed);
        double[] stats = new double[resamples];
        int[] idx = new int[n];
        for (int r = 0; r < resamples; r++) {
            for (int i = 0; i < n; i++) idx[i] = rnd.nextInt(n);
            double m = weightedMean(values, weights, idx);
            stats[r] = Double.isNaN(m) ? value : m;
        }
        Arrays.sort(stats);
        return new Estimate(value, percentile(stats, 2.5), percentile(stats, 97.5), n);
    }

    /** Bootstrap with the default resamples and seed. */
    public static Estimate bootstrap(double[] values, double[] weights) {
        return bootstrap(values, weights, DEFAULT_RESAMPLES, DEFAULT_SEED);
    }

    private static double weightedMean(double[] v, double[] w, int[] idx) {
        double num = 0, den = 0;
        int n = idx == null ? v.length : idx.length;
        for (int k = 0; k < n; k++) {
            int i = idx == null ? k : idx[k];
            double wi = w == null ? 1 : w[i];
            num += wi * v[i];
            den += wi;
        }
        return den == 0 ? Double.NaN : num / den;
    }

    /** q-th percentile (0..100) of sorted values, linear interpolation between order statistics. */
    static double percentile(double[] sorted, double q) {
        double pos = q / 100.0 * (sorted.length - 1);
        int lo = (int) Math.floor(pos);
        int hi = Math.min(sorted.length - 1, lo + 1);
        double frac = pos - lo;
        return sorted[lo] + frac * (sorted[hi] - sorted[lo]);
    }
}
