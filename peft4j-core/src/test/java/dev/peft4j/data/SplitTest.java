/*
 * SplitTest: SplitMix64 against its published reference outputs, and the deterministic
 * train/validation split (sizes, disjointness, file order, seed dependence).
 */
package dev.peft4j.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.Peft4jException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class SplitTest {

    @Test
    void splitMix64MatchesTheReferenceImplementation() {
        // splitmix64.c (Vigna) seeded with 0
        SplitMix64 r = new SplitMix64(0);
        assertThat(r.next()).isEqualTo(0xE220A8397B1DCDAFL);
        assertThat(r.next()).isEqualTo(0x6E789E6AA1B965F4L);
        assertThat(r.next()).isEqualTo(0x06C45D188009454FL);
    }

    @Test
    void nextIntIsInRangeAndRoughlyUniform() {
        SplitMix64 r = new SplitMix64(7);
        int[] counts = new int[7];
        for (int i = 0; i < 70_000; i++) counts[r.nextInt(7)]++;
        for (int c : counts) assertThat(c).isBetween(9_500, 10_500);
        assertThatThrownBy(() -> r.nextInt(0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void permutationIsAPermutationAndDependsOnTheSeed() {
        int[] p = SplitMix64.permutation(1000, 42);
        assertThat(Arrays.stream(p).sorted().toArray()).containsExactly(IntStream.range(0, 1000).toArray());
        assertThat(SplitMix64.permutation(1000, 42)).containsExactly(p);
        assertThat(SplitMix64.permutation(1000, 43)).isNotEqualTo(p);
        assertThat(SplitMix64.permutation(1, 5)).containsExactly(0);
        assertThat(SplitMix64.permutation(0, 5)).isEmpty();
    }

    @Test
    void splitIsDeterministicDisjointAndInFileOrder() {
        List<Integer> items = IntStream.range(0, 101).boxed().toList();
        Split.Parts<Integer> a = Split.split(items, 0.1, 42);
        Split.Parts<Integer> b = Split.split(items, 0.1, 42);
        assertThat(a).isEqualTo(b);
        assertThat(a.validation()).hasSize(11);   // ceil(0.1 * 101)
        assertThat(a.train()).hasSize(90);
        Set<Integer> all = new HashSet<>(a.train());
        all.addAll(a.validation());
        assertThat(all).hasSize(101);
        assertThat(a.train()).isSorted();
        assertThat(a.validation()).isSorted();
        assertThat(Split.split(items, 0.1, 43).validation()).isNotEqualTo(a.validation());
    }

    @Test
    void validationIsASpreadNotABlock() {
        List<Integer> items = IntStream.range(0, 1000).boxed().toList();
        List<Integer> v = Split.split(items, 0.2, 1).validation();
        // a shuffled pick reaches both halves of the file
        assertThat(v.stream().filter(i -> i < 500).count()).isBetween(60L, 140L);
    }

    @Test
    void edgeCases() {
        List<Integer> items = new ArrayList<>(List.of(1, 2, 3));
        assertThat(Split.split(items, 0, 1).train()).containsExactly(1, 2, 3);
        assertThat(Split.split(items, 0, 1).validation()).isEmpty();
        assertThat(Split.split(items, 0.01, 1).validation()).hasSize(1);
        assertThatThrownBy(() -> Split.split(List.of(1), 0.5, 1)).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("leaving nothing to train on");
    }
}
