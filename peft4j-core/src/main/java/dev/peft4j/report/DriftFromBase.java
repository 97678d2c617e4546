/*
 * DriftFromBase: how far an adapter moved the model away from its base, for the report:
 * klFromBase, the mean per-position KL between the variant's and the base's next-token
 * distributions (nats/position; dev.peft4j.eval.Drift.kl), and forgetting, the loss increase on
 * general text (nats/token, > 0 = worse than base; dev.peft4j.eval.Drift.forgetting), each with a
 * 95% bootstrap interval over the reference documents (klLo/klHi, forgettingLo/forgettingHi), and
 * the base model's own loss on that text (baseNll, nats/token, with its interval) so the numbers
 * have a scale. docs/tokens: the reference documents and predicted tokens. Any number may be null
 * when not measured. Lower is better.
 */
package dev.peft4j.report;

import dev.peft4j.eval.Drift;

public record DriftFromBase(Double klFromBase, Double forgetting, Double klLo, Double klHi, Double forgettingLo,
                            Double forgettingHi, Double baseNll, Double baseNllLo, Double baseNllHi, int docs, long tokens) {
    public static final DriftFromBase NONE = new DriftFromBase(null, null);

    public DriftFromBase(Double klFromBase, Double forgetting) {
        this(klFromBase, forgetting, null, null, null, null, null, null, null, 0, 0);
    }

    public static DriftFromBase of(Drift.KlResult kl, Drift.Forgetting forgetting) {
        return new DriftFromBase(kl == null ? null : kl.mean(), forgetting == null ? null : forgetting.delta(),
                kl == null ? null : kl.ci().lo(), kl == null ? null : kl.ci().hi(),
                forgetting == null ? null : forgetting.deltaCi().lo(), forgetting == null ? null : forgetting.deltaCi().hi(),
                forgetting == null ? null : forgetting.before().nll(),
                forgetting == null ? null : forgetting.before().nllCi().lo(), forgetting == null ? null : forgetting.before().nllCi().hi(),
                forgetting != null ? forgetting.deltaCi().n() : kl == null ? 0 : kl.ci().n(),
                forgetting == null ? 0 : forgetting.before().tokens());
    }

    public boolean isEmpty() {
        return klFromBase == null && forgetting == null;
    }
}
