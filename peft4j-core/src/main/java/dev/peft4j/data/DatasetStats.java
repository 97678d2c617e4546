/*
 * DatasetStats: what loading a dataset did - records read and skipped (with reasons), examples kept,
 * truncated and dropped, token counts, the split and packing - for the training log and for tests.
 *
 * Constraints: immutable; skip reasons are kept for the first MAX_REASONS skipped records (the count
 * is always exact). Token counts are over the examples kept, after truncation and before packing.
 */
package dev.peft4j.data;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Loading statistics.
 *
 * @param formats            the format used for each file read
 * @param recordsRead        records seen in all files (including malformed ones)
 * @param skipped            malformed records skipped (skipMalformed)
 * @param skipReasons        "file:line: reason" for the first {@link #MAX_REASONS} skipped records
 * @param examples           examples kept (train + validation, before packing)
 * @param truncated          examples cut to maxLength (never when packing)
 * @param droppedNoLoss      examples dropped because no token took loss (e.g. the completion was
 *                           truncated away, or a chat had no assistant turn)
 * @param tokens             tokens in the kept examples
 * @param lossTokens         tokens that take loss (completion / assistant / all, after the shift)
 * @param trainExamples      training sequences (packed rows when packing)
 * @param validationExamples validation sequences (packed rows when packing)
 * @param packedDroppedTokens tokens of the final partial rows dropped by packing (train + validation)
 */
public record DatasetStats(Map<Path, DataFormat> formats, int recordsRead, int skipped, List<String> skipReasons,
                           int examples, int truncated, int droppedNoLoss, long tokens, long lossTokens,
                           int trainExamples, int validationExamples, long packedDroppedTokens) {

    /** Skip reasons kept in {@link #skipReasons()}; later ones are only counted. */
    public static final int MAX_REASONS = 100;

    public DatasetStats {
        formats = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(formats));
        skipReasons = List.copyOf(skipReasons);
    }

    /** A few lines for a training log. */
    public String summary() {
        StringBuilder sb = new StringBuilder();
        sb.append("data: ").append(recordsRead).append(" records read");
        formats.forEach((f, fmt) -> sb.append(", ").append(f.getFileName()).append(" as ").append(fmt));
        sb.append('\n');
        sb.append("      ").append(examples).append(" examples, ").append(tokens).append(" tokens (")
                .append(lossTokens).append(" with loss); ").append(truncated).append(" truncated, ")
                .append(droppedNoLoss).append(" dropped without loss tokens, ").append(skipped).append(" malformed skipped\n");
        sb.append("      train ").append(trainExamples).append(", validation ").append(validationExamples);
        if (packedDroppedTokens > 0) sb.append(" (packing dropped ").append(packedDroppedTokens).append(" tail tokens)");
        for (String r : skipReasons.subList(0, Math.min(5, skipReasons.size()))) sb.append("\n      skipped ").append(r);
        if (skipped > 5) sb.append("\n      ... ").append(skipped - 5).append(" more skipped");
        return sb.toString();
    }

    @Override
    public String toString() {
        return summary();
    }

    /** Mutable tally used while loading. */
    static final class Tally {
        final Map<Path, DataFormat> formats = new LinkedHashMap<>();
        int recordsRead;
        int skipped;
        final List<String> skipReasons = new ArrayList<>();
        int examples;
        int truncated;
        int droppedNoLoss;
        long tokens;
        long lossTokens;

        void skip(Object location, String reason) {
            skipped++;
            if (skipReasons.size() < MAX_REASONS) skipReasons.add(location + ": " + reason);
        }

        DatasetStats build(int train, int validation, long packedDropped) {
            return new DatasetStats(formats, recordsRead, skipped, skipReasons, examples, truncated, droppedNoLoss,
                    tokens, lossTokens, train, validation, packedDropped);
        }
    }
}
