/*
 * Example: one tokenized training sequence and its labels, ready for a causal LM.
 *
 * Labels are aligned with the inputs, as in HuggingFace: labels[t] is the token the model should
 * have seen at position t, and the model shifts internally (logits at t-1 are scored against
 * labels[t]), so labels[0] never contributes. Positions that take no loss (prompt, system/user
 * turns, padding) hold IGNORE (-100, PyTorch's CrossEntropyLoss ignore_index).
 * Constraints: both arrays have the same length >= 1; the record does not copy them, callers
 * must not mutate them after construction.
 */
package dev.peft4j.data;

import java.util.Arrays;

/**
 * A tokenized example.
 *
 * @param inputIds token ids (T)
 * @param labels   target ids aligned with inputIds (T); {@link #IGNORE} where no loss is taken
 */
public record Example(int[] inputIds, int[] labels) {

    /** Label of a position that takes no loss (PyTorch / HuggingFace ignore_index). */
    public static final int IGNORE = -100;

    public Example {
        if (inputIds == null || labels == null) {
            throw new IllegalArgumentException("inputIds and labels must not be null");
        }
        if (inputIds.length == 0) {
            throw new IllegalArgumentException("an example needs at least one token (got 0)");
        }
        if (inputIds.length != labels.length) {
            throw new IllegalArgumentException("inputIds and labels must have the same length (got "
                    + inputIds.length + " ids and " + labels.length + " labels)");
        }
    }

    /** An example whose every token takes loss (labels = inputIds). */
    public static Example allTokens(int[] ids) {
        return new Example(ids, ids.clone());
    }

    /** Number of tokens. */
    public int length() {
        return inputIds.length;
    }

    /**
     * Number of positions that contribute to the loss after the model's shift: labels[t] != IGNORE
     * for t >= 1 (labels[0] has no preceding position to predict it).
     */
    public int lossTokens() {
        int n = 0;
        for (int t = 1; t < labels.length; t++) if (labels[t] != IGNORE) n++;
        return n;
    }

    /** The first maxLength tokens (this example when it is not longer). */
    public Example truncate(int maxLength) {
        if (inputIds.length <= maxLength) return this;
        return new Example(Arrays.copyOf(inputIds, maxLength), Arrays.copyOf(labels, maxLength));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Example e && Arrays.equals(inputIds, e.inputIds) && Arrays.equals(labels, e.labels);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(inputIds) + Arrays.hashCode(labels);
    }

    @Override
    public String toString() {
        return "Example[T=" + inputIds.length + ", lossTokens=" + lossTokens() + ", inputIds="
                + Arrays.toString(inputIds) + ", labels=" + Arrays.toString(labels) + "]";
    }
}
