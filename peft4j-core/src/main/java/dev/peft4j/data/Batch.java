/*
 * Batch: B examples right-padded to the longest of them, row-major (B, T), ready for a causal LM.
 *
 * Padding sits at the end of each row: pad id in inputIds (the tokenizer's pad token, else its EOS,
 * else 0) and Example.IGNORE in labels. Right padding needs no attention mask for a causal LM:
 * a real token attends only to positions at or before it, so it never sees the pads after it,
 * positions of real tokens are unchanged (0..length-1), and the pads' own outputs take no loss.
 *
 * Constraints: arrays are not copied (the DataLoader builds fresh ones per batch).
 */
package dev.peft4j.data;

import java.util.Arrays;

/**
 * A padded batch.
 *
 * @param inputIds (B, T) token ids, row-major
 * @param labels   (B, T) labels, Example.IGNORE at padding and wherever no loss is taken
 * @param B        rows
 * @param T        columns: the longest example's length
 * @param lengths  (B) real (unpadded) length of each row
 */
public record Batch(int[] inputIds, int[] labels, int B, int T, int[] lengths) {

    public Batch {
        if (B <= 0 || T <= 0) throw new IllegalArgumentException("B and T must be > 0 (got B=" + B + ", T=" + T + ")");
        if (inputIds.length != B * T || labels.length != B * T) {
            throw new IllegalArgumentException("inputIds and labels must hold B*T = " + (B * T) + " values (got "
                    + inputIds.length + " and " + labels.length + ")");
        }
        if (lengths.length != B) {
            throw new IllegalArgumentException("lengths must hold B = " + B + " values (got " + lengths.length + ")");
        }
    }

    /** A batch whose rows are all full (no padding), e.g. packed rows. */
    public Batch(int[] inputIds, int[] labels, int B, int T) {
        this(inputIds, labels, B, T, full(B, T));
    }

    private static int[] full(int B, int T) {
        int[] l = new int[B];
        Arrays.fill(l, T);
        return l;
    }

    /** Real (non-padding) tokens in the batch. */
    public long tokensInBatch() {
        long n = 0;
        for (int l : lengths) n += l;
        return n;
    }

    /** Positions that take loss after the model's shift: labels[b, t] != IGNORE for t >= 1. */
    public long lossTokens() {
        long n = 0;
        for (int b = 0; b < B; b++) {
            for (int t = 1; t < T; t++) if (labels[b * T + t] != Example.IGNORE) n++;
        }
        return n;
    }

    /** Row b's ids, without padding. */
    public int[] row(int b) {
        return Arrays.copyOfRange(inputIds, b * T, b * T + lengths[b]);
    }

    /** Row b's labels, without padding. */
    public int[] rowLabels(int b) {
        return Arrays.copyOfRange(labels, b * T, b * T + lengths[b]);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Batch x && B == x.B && T == x.T && Arrays.equals(inputIds, x.inputIds)
                && Arrays.equals(labels, x.labels) && Arrays.equals(lengths, x.lengths);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Arrays.hashCode(inputIds) + Arrays.hashCode(labels)) + Arrays.hashCode(lengths);
    }

    @Override
    public String toString() {
        return "Batch[B=" + B + ", T=" + T + ", tokens=" + tokensInBatch() + ", lossTokens=" + lossTokens() + "]";
    }
}
