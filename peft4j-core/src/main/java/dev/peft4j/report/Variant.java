/*
 * Variant: one model version in a comparison ("base", "adapter-a", ...): its metrics, its
 * training-loss curve (empty for the base), its drift from the base (DriftFromBase.NONE if
 * unknown), its per-item results (ItemResult, for the predictions table and the confusion
 * matrices) and the training settings that decide whether its losses are comparable with another
 * run's (from train_config.json: data, completion-only-loss, max-length, format; empty if unknown).
 * Constraints: metric names are unique within a variant.
 */
package dev.peft4j.report;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;

public record Variant(String name, List<Metric> metrics, List<LossPoint> lossCurve, DriftFromBase drift,
                      List<ItemResult> items, Map<String, String> lossSettings) {
    public Variant {
        Objects.requireNonNull(name, "variant name");
        metrics = List.copyOf(metrics == null ? List.of() : metrics);
        lossCurve = List.copyOf(lossCurve == null ? List.of() : lossCurve);
        drift = drift == null ? DriftFromBase.NONE : drift;
        items = List.copyOf(items == null ? List.of() : items);
        lossSettings = lossSettings == null ? Map.of() : java.util.Collections.unmodifiableMap(new java.util.TreeMap<>(lossSettings));
        var seen = new HashSet<String>();
        for (Metric m : metrics)
            if (!seen.add(m.name()))
                throw new IllegalArgumentException("variant " + name + ": metric " + m.name() + " given twice");
    }

    public Variant(String name, List<Metric> metrics, List<LossPoint> lossCurve, DriftFromBase drift) {
        this(name, metrics, lossCurve, drift, List.of(), Map.of());
    }

    public Variant(String name, List<Metric> metrics) {
        this(name, metrics, List.of(), DriftFromBase.NONE);
    }

    public Metric metric(String metricName) {
        for (Metric m : metrics) if (m.name().equals(metricName)) return m;
        return null;
    }
}
