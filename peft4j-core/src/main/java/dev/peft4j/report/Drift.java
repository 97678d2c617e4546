/*
 * Drift: how far an adapter moved the model away from its base. klFromBase is the mean
 * per-token KL(base || variant) on held-out text; forgetting is the drop on a general-ability
 * metric (positive = worse than base). Either may be null when not measured. Lower is better.
 */
package dev.peft4j.report;

public record Drift(Double klFromBase, Double forgetting) {
    public static final Drift NONE = new Drift(null, null);

    public boolean isEmpty() {
        return klFromBase == null && forgetting == null;
    }
}
