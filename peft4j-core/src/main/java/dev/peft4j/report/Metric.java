/*
 * Metric: one measured number of one model variant, with its confidence interval.
 * Constraints: lo/hi may be NaN when no interval is known (the report then shows the value
 * alone); n is the number of examples the estimate came from (0 when unknown).
 */
package dev.peft4j.report;

import dev.peft4j.eval.Ci;

import java.util.Objects;

public record Metric(String name, double value, double lo, double hi, int n, boolean higherIsBetter) {
    public Metric {
        Objects.requireNonNull(name, "metric name");
        if (name.isBlank()) throw new IllegalArgumentException("metric name is blank");
        if (n < 0) throw new IllegalArgumentException("metric " + name + ": n < 0 (" + n + ")");
    }

    /** From an evaluation estimate (dev.peft4j.eval.Ci). */
    public static Metric of(String name, Ci.Estimate e, boolean higherIsBetter) {
        return new Metric(name, e.value(), e.lo(), e.hi(), e.n(), higherIsBetter);
    }

    /** A metric with no confidence interval. */
    public static Metric of(String name, double value, boolean higherIsBetter) {
        return new Metric(name, value, Double.NaN, Double.NaN, 0, higherIsBetter);
    }

    public boolean hasInterval() {
        return Double.isFinite(lo) && Double.isFinite(hi);
    }
}
