/*
 * SplitMix64: the small seeded generator behind every shuffle in dev.peft4j.data (the
 * train/validation split and the DataLoader's epoch order), spelled out here so the orders are a
 * documented function of the seed on every JDK rather than a property of java.util's generators.
 *
 * next(): state += 0x9E3779B97F4A7C15; then the "mix13" finaliser (Steele, Lea, Flood, "Fast
 * splittable pseudorandom number generators", OOPSLA 2014; constants by S. Vigna's splitmix64.c).
 * nextInt(bound): Lemire's multiply-shift with rejection ("Fast random integer generation in an
 * interval", 2019) on the high 32 bits - exactly uniform.
 * shuffle: Fisher-Yates (Durstenfeld): for i = n-1 down to 1, swap a[i] and a[nextInt(i + 1)].
 *
 * Constraints: not thread-safe; not for cryptography.
 */
package dev.peft4j.data;

import java.util.Arrays;

final class SplitMix64 {
    private long state;

    SplitMix64(long seed) {
        this.state = seed;
    }

    long next() {
        long z = (state += 0x9E3779B97F4A7C15L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Uniform in [0, bound). */
    int nextInt(int bound) {
        if (bound <= 0) throw new IllegalArgumentException("bound must be > 0 (got " + bound + ")");
        long m = (next() >>> 32) * bound;
        long low = m & 0xFFFFFFFFL;
        if (low < bound) {
            long threshold = (0x1_0000_0000L - bound) % bound;
            while (low < threshold) {
                m = (next() >>> 32) * bound;
                low = m & 0xFFFFFFFFL;
            }
        }
        return (int) (m >>> 32);
    }

    /** 0..n-1 in the order a Fisher-Yates shuffle driven by SplitMix64(seed) leaves them. */
    static int[] permutation(int n, long seed) {
        int[] a = new int[n];
        Arrays.setAll(a, i -> i);
        SplitMix64 r = new SplitMix64(seed);
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
        return a;
    }
}
