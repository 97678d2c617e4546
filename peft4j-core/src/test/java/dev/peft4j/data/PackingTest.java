/*
 * PackingTest: truncation (counted, keep-start, completion fully cut -> dropped) and packing
 * invariants (rows exactly maxLength, tokens and labels conserved in order except the tail).
 */
package dev.peft4j.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PackingTest {

    static List<Example> synthetic(int n, long seed) {
        SplitMix64 r = new SplitMix64(seed);
        List<Example> out = new ArrayList<>();
        int next = 10;
        for (int i = 0; i < n; i++) {
            int len = 1 + r.nextInt(40);
            int[] ids = new int[len];
            int[] labels = new int[len];
            for (int t = 0; t < len; t++) {
                ids[t] = next++;
                labels[t] = t < len / 2 ? Example.IGNORE : ids[t];
            }
            out.add(new Example(ids, labels));
        }
        return out;
    }

    static int[] flatten(List<Example> xs, boolean labels) {
        return xs.stream().flatMapToInt(e -> Arrays.stream(labels ? e.labels() : e.inputIds())).toArray();
    }

    @Test
    void rowsAreExactlyRowLengthAndConserveTokensExceptTheTail() {
        for (int rowLength : new int[] {2, 7, 16, 64, 1000}) {
            List<Example> xs = synthetic(57, rowLength);
            Packing.Result r = Packing.pack(xs, rowLength);
            int total = xs.stream().mapToInt(Example::length).sum();
            assertThat(r.rows()).allSatisfy(row -> assertThat(row.length()).isEqualTo(rowLength));
            assertThat(r.rows().size()).isEqualTo(total / rowLength);
            assertThat(r.droppedTokens()).isEqualTo(total % rowLength);
            int kept = r.rows().size() * rowLength;
            assertThat(flatten(r.rows(), false)).containsExactly(Arrays.copyOf(flatten(xs, false), kept));
            assertThat(flatten(r.rows(), true)).containsExactly(Arrays.copyOf(flatten(xs, true), kept));
        }
        assertThat(Packing.pack(List.of(), 8).rows()).isEmpty();
        assertThatThrownBy(() -> Packing.pack(List.of(), 1)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void truncationKeepsTheStartAndDropsExamplesWithoutLoss(@TempDir Path dir) throws IOException {
        // "Tom had a ball." -> 8 tokens with BOS; "It was red." + EOS -> 7 tokens: 15 in all
        Path f = dir.resolve("pc.jsonl");
        Files.writeString(f, """
                {"prompt": "Tom had a ball.", "completion": "It was red."}
                {"prompt": "Tom had a ball. Tom had a ball.", "completion": "It was red."}
                {"prompt": "Tom", "completion": "It was red."}
                """);
        try (Tokenizer tok = Tokenizer.load(Fixtures.stories260K())) {
            Dataset d = Dataset.load(f, tok, null, DataConfig.builder().maxLength(10).build());
            // record 1: cut to 10, 2 completion tokens left; record 2: prompt alone > 10 -> dropped;
            // record 3: BOS, ▁T, om + 7 = 10 tokens, fits
            assertThat(d.stats().truncated()).isEqualTo(2);
            assertThat(d.stats().droppedNoLoss()).isEqualTo(1);
            assertThat(d.train()).hasSize(2);
            Example first = d.train().get(0);
            int[] joint = tok.encode("Tom had a ball.It was red.");
            assertThat(first.inputIds()).containsExactly(1, joint[0], joint[1], joint[2], joint[3], joint[4], joint[5], joint[6], joint[7], joint[8]);
            assertThat(first.labels()).containsExactly(-100, -100, -100, -100, -100, -100, -100, -100, joint[7], joint[8]);
            assertThat(d.train().get(1).length()).isEqualTo(10);
            assertThat(d.stats().tokens()).isEqualTo(20);
            assertThat(d.stats().lossTokens()).isEqualTo(2 + 7);
        }
    }

    @Test
    void packedDatasetRowsAreMaxLength(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("t.jsonl");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 30; i++) sb.append("{\"text\": \"Tom had a ball number ").append(i).append(".\"}\n");
        Files.writeString(f, sb);
        try (Tokenizer tok = Tokenizer.load(Fixtures.stories260K())) {
            Dataset plain = Dataset.load(f, tok, null, DataConfig.defaults());
            Dataset packed = Dataset.load(f, tok, null, DataConfig.builder().packing(true).maxLength(32).build());
            long total = plain.train().stream().mapToInt(Example::length).sum();
            assertThat(packed.train()).allSatisfy(r -> assertThat(r.length()).isEqualTo(32));
            assertThat(packed.train().size() * 32L + packed.stats().packedDroppedTokens()).isEqualTo(total);
            assertThat(packed.stats().trainExamples()).isEqualTo(packed.train().size());
            // every example ends in EOS, so row boundaries between examples are visible to the model
            assertThat(plain.train()).allSatisfy(e -> assertThat(e.inputIds()[e.length() - 1]).isEqualTo(2));
            assertThat(flatten(packed.train(), false))
                    .containsExactly(Arrays.copyOf(flatten(plain.train(), false), packed.train().size() * 32));

            assertThatThrownBy(() -> Dataset.load(f, tok, null, DataConfig.builder().packing(true).maxLength(100_000).build()))
                    .hasMessageContaining("gives no full row");
        }
    }
}
