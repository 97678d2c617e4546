/*
 * Split: the deterministic train/validation split of a list of records.
 *
 * Algorithm: a Fisher-Yates (Durstenfeld) shuffle of the indices 0..n-1 driven by SplitMix64
 * seeded with seed ^ SALT - for i from n-1 down to 1, swap a[i] with a[nextInt(i + 1)] - and the
 * first ceil(fraction * n) shuffled indices are held out (HF's train_test_split also rounds the
 * test size up). Both parts are then put back in file order, so packing and shuffle-free loading
 * see records as the file lists them. SplitMix64 is our own few lines (no java.util.Random), so the
 * split is the same on every JDK. SALT keeps the split's stream apart from the DataLoader's epoch
 * shuffles, which are seeded with seed + epoch.
 *
 * Constraints: throws when a nonzero fraction would leave no training records.
 */
package dev.peft4j.data;

import dev.peft4j.Peft4jException;
import java.util.ArrayList;
import java.util.List;

public final class Split {
    private Split() {}

    static final long SALT = 0x5851F42D4C957F2DL;

    /**
     * The two parts, each in the original order.
     *
     * @param train      training items
     * @param validation held-out items
     */
    public record Parts<T>(List<T> train, List<T> validation) {}

    /** Splits items: ceil(fraction * n) of them, chosen by the seeded shuffle, go to validation. */
    public static <T> Parts<T> split(List<T> items, double fraction, long seed) {
        if (!(fraction >= 0 && fraction < 1)) {
            throw new Peft4jException("validationFraction must be in [0, 1) (got " + fraction + ")");
        }
        int n = items.size();
        if (fraction == 0 || n == 0) return new Parts<>(List.copyOf(items), List.of());
        int nVal = (int) Math.ceil(fraction * n);
        if (nVal >= n) {
            throw new Peft4jException("validationFraction " + fraction + " of " + n + " records holds out " + nVal
                    + ", leaving nothing to train on; use a smaller fraction or more data");
        }
        int[] order = SplitMix64.permutation(n, seed ^ SALT);
        boolean[] held = new boolean[n];
        for (int k = 0; k < nVal; k++) held[order[k]] = true;
        List<T> train = new ArrayList<>(n - nVal);
        List<T> validation = new ArrayList<>(nVal);
        for (int i = 0; i < n; i++) (held[i] ? validation : train).add(items.get(i));
        return new Parts<>(List.copyOf(train), List.copyOf(validation));
    }
}
