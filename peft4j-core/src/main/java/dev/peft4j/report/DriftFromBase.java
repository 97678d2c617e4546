/*
 * DriftFromBase: how far an adapter moved the model away from its base, as two numbers for the
 * report: klFromBase, the mean per-position KL between the variant's and the base's next-token
 * distributions (nats; dev.peft4j.eval.Drift.kl), and forgetting, the loss increase on general
 * text (nats/token, > 0 = worse than base; dev.peft4j.eval.Drift.forgetting). Either may be null
 * when not measured. Lower is better.
 */
package dev.peft4j.report;

import dev.peft4j.eval.Drift;

public record DriftFromBase(Double klFromBase, Double forgetting) {
    public static final DriftFromBase NONE = new DriftFromBase(null, null);

    public static DriftFromBase of(Drift.KlResult kl, Drift.Forgetting forgetting) {
        return new DriftFromBase(kl == null ? null : kl.mean(), forgetting == null ? null : forgetting.delta());
    }

    public boolean isEmpty() {
        return klFromBase == null && forgetting == null;
    }
}
