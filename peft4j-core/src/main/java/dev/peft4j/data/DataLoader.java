/*
 * DataLoader: yields training batches from a list of examples, epoch after epoch, with an exactly
 * resumable position.
 *
 * Order: each epoch visits every example once. With shuffle, epoch e uses the permutation of
 * 0..n-1 that a Fisher-Yates shuffle driven by SplitMix64(seed + e) produces (see SplitMix64);
 * without, file order. Consecutive runs of B examples form a batch; the last batch of an epoch
 * is smaller when B does not divide n (unless dropLast, which skips it). Batches are right-padded
 * to their longest example (see Batch: pad id in inputs, IGNORE in labels, no attention mask needed).
 *
 * Resume: state() is (epoch, position in that epoch's order, seed); a loader over the same
 * examples restored from it yields exactly the batches the original would have yielded next,
 * because the order is a pure function of (seed, epoch). Save it alongside a training checkpoint.
 *
 * Constraints: not thread-safe; examples are shared, never copied or modified.
 */
package dev.peft4j.data;

import dev.peft4j.Peft4jException;
import dev.peft4j.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

public final class DataLoader {

    /**
     * Where a loader stands.
     *
     * @param epoch    current epoch (0-based)
     * @param position examples of this epoch's order already yielded
     * @param seed     shuffle seed
     */
    public record State(int epoch, int position, long seed) {
        public State {
            if (epoch < 0 || position < 0) {
                throw new IllegalArgumentException("epoch and position must be >= 0 (got epoch " + epoch
                        + ", position " + position + ")");
            }
        }
    }

    private final List<Example> examples;
    private final int batchSize;
    private final boolean shuffle;
    private final boolean dropLast;
    private final int padId;
    private long seed;
    private int epoch;
    private int position;
    private int[] order;   // this epoch's order

    /**
     * @param examples  the examples (at least one)
     * @param batchSize B, examples per batch (>= 1)
     * @param shuffle   shuffle each epoch; false keeps the list order
     * @param seed      shuffle seed (epoch e uses seed + e)
     * @param padId     id written into padding positions (labels there are IGNORE)
     * @param dropLast  skip an epoch's last batch when it would hold fewer than B examples
     */
    public DataLoader(List<Example> examples, int batchSize, boolean shuffle, long seed, int padId, boolean dropLast) {
        this.examples = List.copyOf(Objects.requireNonNull(examples, "examples"));
        if (this.examples.isEmpty()) {
            throw new Peft4jException("cannot batch an empty example list; check the dataset (DatasetStats "
                    + "says how many records were read, skipped and dropped)");
        }
        if (batchSize < 1) throw new Peft4jException("batch size must be >= 1 (got " + batchSize + "); try 4");
        if (dropLast && batchSize > this.examples.size()) {
            throw new Peft4jException("batch size " + batchSize + " with dropLast exceeds the " + this.examples.size()
                    + " examples, so no batch would ever be yielded; lower the batch size or set dropLast=false");
        }
        if (padId < 0) throw new Peft4jException("pad id must be >= 0 (got " + padId + ")");
        this.batchSize = batchSize;
        this.shuffle = shuffle;
        this.dropLast = dropLast;
        this.padId = padId;
        this.seed = seed;
        startEpoch(0, 0);
    }

    /** A loader padding with {@link #padIdOf(Tokenizer)}, keeping the last partial batch. */
    public DataLoader(List<Example> examples, int batchSize, boolean shuffle, long seed, Tokenizer tok) {
        this(examples, batchSize, shuffle, seed, padIdOf(tok), false);
    }

    /** The padding id for a tokenizer: its pad token, else its EOS, else 0 (as TRL's SFTTrainer chooses). */
    public static int padIdOf(Tokenizer tok) {
        if (tok.padId().isPresent()) return tok.padId().getAsInt();
        if (tok.eosId().isPresent()) return tok.eosId().getAsInt();
        return 0;
    }

    /** Batches in one epoch. */
    public int batchesPerEpoch() {
        int n = examples.size();
        return dropLast ? n / batchSize : (n + batchSize - 1) / batchSize;
    }

    /** Number of examples. */
    public int size() {
        return examples.size();
    }

    /** The current epoch (0-based; advances when a batch is taken after the previous epoch's last). */
    public int epoch() {
        return epoch;
    }

    /** The next batch; moves to the next epoch (reshuffled) after the last batch of one. */
    public Batch next() {
        int n = examples.size();
        int remaining = n - position;
        if (remaining == 0 || (dropLast && remaining < batchSize)) {
            startEpoch(epoch + 1, 0);
            remaining = n;
        }
        int B = Math.min(batchSize, remaining);
        int T = 0;
        for (int b = 0; b < B; b++) T = Math.max(T, examples.get(order[position + b]).length());
        int[] ids = new int[B * T];
        int[] labels = new int[B * T];
        int[] lengths = new int[B];
        Arrays.fill(ids, padId);
        Arrays.fill(labels, Example.IGNORE);
        for (int b = 0; b < B; b++) {
            Example e = examples.get(order[position + b]);
            System.arraycopy(e.inputIds(), 0, ids, b * T, e.length());
            System.arraycopy(e.labels(), 0, labels, b * T, e.length());
            lengths[b] = e.length();
        }
        position += B;
        return new Batch(ids, labels, B, T, lengths);
    }

    /** Where the loader stands; {@link #restore} continues from exactly here. */
    public State state() {
        return new State(epoch, position, seed);
    }

    /**
     * Continues from a state taken from a loader over the same examples (same list, batch size and
     * shuffle setting); the state's seed replaces this loader's.
     */
    public void restore(State state) {
        Objects.requireNonNull(state, "state");
        if (state.position() > examples.size()) {
            throw new Peft4jException("cannot restore loader state " + state + ": position " + state.position()
                    + " is past the " + examples.size() + " examples of this dataset; the state comes from a "
                    + "different dataset - resume with the same data and settings");
        }
        this.seed = state.seed();
        startEpoch(state.epoch(), state.position());
    }

    private void startEpoch(int e, int pos) {
        epoch = e;
        position = pos;
        int n = examples.size();
        if (shuffle) {
            order = SplitMix64.permutation(n, seed + e);
        } else {
            order = new int[n];
            Arrays.setAll(order, i -> i);
        }
    }
}
