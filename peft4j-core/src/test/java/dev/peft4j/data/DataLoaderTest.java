/*
 * DataLoaderTest: batching, right padding, per-epoch seeded shuffles, and exact resume from a saved
 * state - including across an epoch boundary.
 */
package dev.peft4j.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.Peft4jException;
import dev.peft4j.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import org.junit.jupiter.api.Test;

class DataLoaderTest {

    /** 10 examples; example k has length k+1 and ids 100k .. 100k+k (so rows identify examples). */
    static List<Example> examples(int n) {
        List<Example> xs = new ArrayList<>();
        for (int k = 0; k < n; k++) {
            int[] ids = new int[k + 1];
            int[] labels = new int[k + 1];
            for (int t = 0; t <= k; t++) {
                ids[t] = 100 * k + t;
                labels[t] = t == 0 ? Example.IGNORE : ids[t];
            }
            xs.add(new Example(ids, labels));
        }
        return xs;
    }

    static int exampleOf(Batch b, int row) {
        return b.inputIds()[row * b.T()] / 100;
    }

    @Test
    void batchesAreRightPaddedToTheLongestRow() {
        DataLoader dl = new DataLoader(examples(10), 3, false, 0, 7, false);
        Batch b = dl.next();   // examples 0, 1, 2 -> lengths 1, 2, 3
        assertThat(b.B()).isEqualTo(3);
        assertThat(b.T()).isEqualTo(3);
        assertThat(b.inputIds()).containsExactly(0, 7, 7, 100, 101, 7, 200, 201, 202);
        assertThat(b.labels()).containsExactly(-100, -100, -100, -100, 101, -100, -100, 201, 202);
        assertThat(b.lengths()).containsExactly(1, 2, 3);
        assertThat(b.tokensInBatch()).isEqualTo(6);
        assertThat(b.lossTokens()).isEqualTo(3);
        assertThat(b.row(1)).containsExactly(100, 101);
        assertThat(b.rowLabels(2)).containsExactly(-100, 201, 202);
    }

    @Test
    void withoutShuffleTheOrderIsFixedAndTheLastBatchIsSmaller() {
        DataLoader dl = new DataLoader(examples(10), 4, false, 0, 0, false);
        assertThat(dl.batchesPerEpoch()).isEqualTo(3);
        List<Integer> seen = new ArrayList<>();
        List<Integer> sizes = new ArrayList<>();
        for (int s = 0; s < 6; s++) {
            Batch b = dl.next();
            sizes.add(b.B());
            for (int r = 0; r < b.B(); r++) seen.add(exampleOf(b, r));
        }
        assertThat(sizes).containsExactly(4, 4, 2, 4, 4, 2);
        assertThat(seen).containsExactly(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
        assertThat(dl.epoch()).isEqualTo(1);
    }

    @Test
    void dropLastSkipsThePartialBatch() {
        DataLoader dl = new DataLoader(examples(10), 4, false, 0, 0, true);
        assertThat(dl.batchesPerEpoch()).isEqualTo(2);
        List<Integer> firsts = new ArrayList<>();
        for (int s = 0; s < 4; s++) firsts.add(exampleOf(dl.next(), 0));
        assertThat(firsts).containsExactly(0, 4, 0, 4);
        assertThatThrownBy(() -> new DataLoader(examples(3), 4, false, 0, 0, true)).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("no batch would ever be yielded");
    }

    @Test
    void eachShuffledEpochVisitsEveryExampleOnceInANewOrder() {
        DataLoader dl = new DataLoader(examples(10), 3, true, 42, 0, false);
        List<List<Integer>> epochs = new ArrayList<>();
        for (int e = 0; e < 3; e++) {
            List<Integer> order = new ArrayList<>();
            for (int s = 0; s < dl.batchesPerEpoch(); s++) {
                Batch b = dl.next();
                for (int r = 0; r < b.B(); r++) order.add(exampleOf(b, r));
            }
            assertThat(new HashSet<>(order)).hasSize(10);
            epochs.add(order);
        }
        assertThat(epochs.get(0)).isNotEqualTo(epochs.get(1));
        assertThat(epochs.get(1)).isNotEqualTo(epochs.get(2));
        // epoch e's order is the SplitMix64(seed + e) permutation
        assertThat(epochs.get(2)).containsExactly(Arrays.stream(SplitMix64.permutation(10, 44)).boxed().toArray(Integer[]::new));
        // same seed, same stream
        DataLoader again = new DataLoader(examples(10), 3, true, 42, 0, false);
        assertThat(exampleOf(again.next(), 0)).isEqualTo(epochs.get(0).get(0));
    }

    @Test
    void restoredLoaderYieldsExactlyTheSameBatchesAcrossAnEpochBoundary() {
        List<Example> xs = examples(10);
        DataLoader original = new DataLoader(xs, 3, true, 1234, 0, false);   // 4 batches per epoch
        for (int s = 0; s < 7; s++) original.next();                         // into epoch 1
        DataLoader.State saved = original.state();
        assertThat(saved.epoch()).isEqualTo(1);
        assertThat(saved.seed()).isEqualTo(1234);
        List<Batch> expected = new ArrayList<>();
        for (int s = 0; s < 5; s++) expected.add(original.next());          // crosses into epoch 2
        assertThat(original.epoch()).isEqualTo(2);

        DataLoader fresh = new DataLoader(xs, 3, true, 999, 0, false);       // seed comes from the state
        fresh.restore(saved);
        List<Batch> got = new ArrayList<>();
        for (int s = 0; s < 5; s++) got.add(fresh.next());
        assertThat(got).isEqualTo(expected);
        assertThat(fresh.state()).isEqualTo(original.state());
    }

    @Test
    void restoreAtAnEpochEndAndRejectingForeignStates() {
        List<Example> xs = examples(10);
        DataLoader a = new DataLoader(xs, 5, true, 3, 0, false);
        a.next();
        a.next();                                   // exactly at the end of epoch 0
        DataLoader.State end = a.state();
        assertThat(end.position()).isEqualTo(10);
        DataLoader b = new DataLoader(xs, 5, true, 3, 0, false);
        b.restore(end);
        assertThat(b.next()).isEqualTo(a.next());
        assertThatThrownBy(() -> b.restore(new DataLoader.State(0, 11, 3))).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("different dataset");
        assertThatThrownBy(() -> new DataLoader.State(-1, 0, 0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void invalidArguments() {
        assertThatThrownBy(() -> new DataLoader(List.of(), 2, false, 0, 0, false)).hasMessageContaining("empty");
        assertThatThrownBy(() -> new DataLoader(examples(2), 0, false, 0, 0, false))
                .hasMessageContaining("batch size must be >= 1 (got 0)");
    }

    @Test
    void padIdFromTheTokenizer() {
        try (Tokenizer stories = Tokenizer.load(Fixtures.stories260K())) {
            assertThat(stories.padId()).isEmpty();
            assertThat(DataLoader.padIdOf(stories)).isEqualTo(2);   // no pad token -> EOS
        }
        try (Tokenizer qwen = Tokenizer.load(Fixtures.qwen25())) {
            assertThat(DataLoader.padIdOf(qwen)).isEqualTo(qwen.idOf("<|endoftext|>").orElseThrow());   // pad_token
        }
    }

    @Test
    void batchInvariants() {
        assertThatThrownBy(() -> new Batch(new int[5], new int[6], 2, 3)).isInstanceOf(IllegalArgumentException.class);
        Batch full = new Batch(new int[6], new int[6], 2, 3);
        assertThat(full.lengths()).containsExactly(3, 3);
        assertThat(full.tokensInBatch()).isEqualTo(6);
    }
}
