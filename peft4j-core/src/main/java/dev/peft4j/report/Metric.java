/*
 * Metric: one measured number of one model variant, with its confidence interval.
 * Constraints: lo/hi may be NaN when no interval is known (the report then shows the value
 * alone); n is the number of examples the estimate came from (0 when unknown); samples (may be
 * null) are the per-item values behind the number, for paired tests between variants.
 */
package dev.peft4j.report;

import dev.peft4j.eval.Ci;

import java.util.Objects;

public record Metric(String name, double value, double lo, double hi, int n, boolean higherIsBetter, Samples samples) {
    /**
     * Per-item values whose (weighted) mean is the metric, or is its logarithm (perplexity: scale
     * "nll (nats/token)"). binary: 0/1 correctness (McNemar applies). weights may be null (equal).
     * scale: what a difference of two variants is expressed in ("accuracy", "nll (nats/token)").
     */
    public record Samples(double[] values, double[] weights, boolean binary, String scale) {
        public Samples {
            Objects.requireNonNull(values, "values");
            if (weights != null && weights.length != values.length)
                throw new IllegalArgumentException(values.length + " sample values but " + weights.length + " weights");
            scale = scale == null ? "" : scale;
        }

        public static Samples correctness(boolean[] correct, String scale) {
            double[] v = new double[correct.length];
            for (int i = 0; i < v.length; i++) v[i] = correct[i] ? 1 : 0;
            return new Samples(v, null, true, scale);
        }
    }

    public Metric {
        Objects.requireNonNull(name, "metric name");
        if (name.isBlank()) throw new IllegalArgumentException("metric name is blank");
        if (n < 0) throw new IllegalArgumentException("metric " + name + ": n < 0 (" + n + ")");
    }

    public Metric(String name, double value, double lo, double hi, int n, boolean higherIsBetter) {
        this(name, value, lo, hi, n, higherIsBetter, null);
    }

    /** From an evaluation estimate (dev.peft4j.eval.Ci). */
    public static Metric of(String name, Ci.Estimate e, boolean higherIsBetter) {
        return new Metric(name, e.value(), e.lo(), e.hi(), e.n(), higherIsBetter);
    }

    /** From an evaluation estimate with the per-item values behind it. */
    public static Metric of(String name, Ci.Estimate e, boolean higherIsBetter, Samples samples) {
        return new Metric(name, e.value(), e.lo(), e.hi(), e.n(), higherIsBetter, samples);
    }

    /** A metric with no confidence interval. */
    public static Metric of(String name, double value, boolean higherIsBetter) {
        return new Metric(name, value, Double.NaN, Double.NaN, 0, higherIsBetter);
    }

    public boolean hasInterval() {
        return Double.isFinite(lo) && Double.isFinite(hi);
    }
}
