/*
 * Packing: concatenates examples, in order, into rows of exactly rowLength tokens, carrying labels
 * along - TRL's original "wrapped" packing (ConstantLengthDataset / pack_dataset strategy "wrapped").
 * An example may continue from the end of one row into the next; the last partial row (fewer than
 * rowLength tokens) is dropped and counted.
 *
 * Attention crosses example boundaries inside a row: positions run 0..rowLength-1 with no reset,
 * so a token may attend to the end of the previous example, as in TRL's default packing without
 * position-id resets (padding_free). Each example should end in EOS (DataConfig.addEos) so the
 * model sees where one ends. The first label of a row is never scored (the model's shift), which
 * costs one loss token per row where an example is split.
 *
 * Constraints: pure function of its inputs; rows are fresh arrays.
 */
package dev.peft4j.data;

import java.util.ArrayList;
import java.util.List;

public final class Packing {
    private Packing() {}

    /**
     * Packed rows and what did not fit.
     *
     * @param rows          rows of exactly rowLength tokens
     * @param droppedTokens tokens of the final partial row that were dropped (< rowLength)
     */
    public record Result(List<Example> rows, long droppedTokens) {}

    /** Packs examples into rows of rowLength tokens. */
    public static Result pack(List<Example> examples, int rowLength) {
        if (rowLength <= 1) {
            throw new IllegalArgumentException("rowLength must be > 1 (got " + rowLength + ")");
        }
        List<Example> rows = new ArrayList<>();
        int[] ids = new int[rowLength];
        int[] labels = new int[rowLength];
        int fill = 0;
        for (Example e : examples) {
            int[] src = e.inputIds();
            int[] lab = e.labels();
            int at = 0;
            while (at < src.length) {
                int n = Math.min(rowLength - fill, src.length - at);
                System.arraycopy(src, at, ids, fill, n);
                System.arraycopy(lab, at, labels, fill, n);
                fill += n;
                at += n;
                if (fill == rowLength) {
                    rows.add(new Example(ids, labels));
                    ids = new int[rowLength];
                    labels = new int[rowLength];
                    fill = 0;
                }
            }
        }
        return new Result(List.copyOf(rows), fill);
    }
}
