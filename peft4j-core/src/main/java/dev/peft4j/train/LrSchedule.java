/*
 * Learning-rate schedules as transformers' optimization.py defines them (get_*_schedule_with_warmup):
 * the multiplier of the base lr at optimizer step s (0-based; the first update uses s = 0, so with
 * warmup it runs at lr 0, exactly as LambdaLR does).
 *   constant: 1 after warmup;  linear: decays to 0 at total;  cosine: ½(1 + cos(π·progress)).
 * Warmup multiplies by s / warmup.
 */
package dev.peft4j.train;

import dev.peft4j.Peft4jException;
import java.util.Locale;

public record LrSchedule(Kind kind, int warmupSteps, int totalSteps) {
    public enum Kind { CONSTANT, LINEAR, COSINE }

    public LrSchedule {
        if (warmupSteps < 0) throw new Peft4jException("warmup steps must be >= 0 (got " + warmupSteps + ")");
        if (totalSteps <= 0) throw new Peft4jException("total steps must be > 0 (got " + totalSteps + ")");
    }

    public static Kind parse(String s) {
        try {
            return Kind.valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new Peft4jException("unknown lr schedule '" + s + "'; use constant, linear or cosine");
        }
    }

    /** The lr multiplier at 0-based optimizer step s. */
    public double factor(long s) {
        if (s < warmupSteps) return (double) s / Math.max(1, warmupSteps);
        return switch (kind) {
            case CONSTANT -> 1.0;
            case LINEAR -> Math.max(0.0, (double) (totalSteps - s) / Math.max(1, totalSteps - warmupSteps));
            case COSINE -> {
                double progress = (double) (s - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
                yield Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * 0.5 * 2.0 * progress)));
            }
        };
    }
}
