package dev.peft4j.kernels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class ParallelTest {
    @Test
    void rangesCoverEveryIndexExactlyOnce() {
        for (int n : new int[] {0, 1, 2, 3, 7, 1000}) {
            AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(n, 1));
            Parallel.parallelRange(n, (s, e) -> { for (int i = s; i < e; i++) hits.incrementAndGet(i); });
            for (int i = 0; i < n; i++) assertThat(hits.get(i)).as("index %d of %d", i, n).isEqualTo(1);
        }
    }

    @Test
    void workerExceptionsReachTheCaller() {
        assertThatThrownBy(() -> Parallel.forEachChunk(4, c -> { if (c == 3) throw new IllegalStateException("boom"); }))
                .isInstanceOf(IllegalStateException.class).hasMessage("boom");
    }
}
