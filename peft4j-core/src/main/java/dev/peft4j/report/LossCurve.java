/*
 * LossCurve: reads a trainer's metrics.jsonl into LossPoints for the report, and bounds a curve's
 * size for the report (downsample).
 * Constraints: blank lines are skipped; a final line that does not parse is skipped too (the
 * trainer may be appending to the file right now); any other bad line is an error naming it.
 */
package dev.peft4j.report;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Peft4jException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

public final class LossCurve {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Most points of one curve the report keeps (JSON and charts). */
    public static final int MAX_POINTS = 500;

    private LossCurve() {
    }

    /** Reads path (a metrics.jsonl file, or a run directory holding one). */
    public static List<LossPoint> read(Path path) {
        Path file = Files.isDirectory(path) ? path.resolve("metrics.jsonl") : path;
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new Peft4jException("cannot read training metrics " + file + ": " + e.getMessage(), e);
        }
        return parse(lines, file.toString());
    }

    /**
     * At most max points of curve, in step order: the first and last point, the point of lowest
     * training loss, the point of lowest validation loss, and evenly spaced points between; rows with
     * a validation loss are kept first (all of them when they fit in half the budget, evenly spaced
     * otherwise). A curve of max points or fewer is returned as is.
     */
    public static List<LossPoint> downsample(List<LossPoint> curve, int max) {
        if (max < 4) throw new IllegalArgumentException("downsample needs max >= 4 (got " + max + ")");
        int n = curve.size();
        if (n <= max) return curve;
        TreeSet<Integer> keep = new TreeSet<>();
        keep.add(0);
        keep.add(n - 1);
        int minTrain = -1, minVal = -1;
        List<Integer> val = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            LossPoint p = curve.get(i);
            if (p.loss() != null && (minTrain < 0 || p.loss() < curve.get(minTrain).loss())) minTrain = i;
            if (p.valLoss() != null) {
                val.add(i);
                if (minVal < 0 || p.valLoss() < curve.get(minVal).valLoss()) minVal = i;
            }
        }
        if (minTrain >= 0) keep.add(minTrain);
        if (minVal >= 0) keep.add(minVal);
        spread(val, max / 2, keep);
        List<Integer> all = new ArrayList<>();
        for (int i = 0; i < n; i++) all.add(i);
        spread(all, max - keep.size(), keep);
        List<LossPoint> out = new ArrayList<>(keep.size());
        for (int i : keep) out.add(curve.get(i));
        return out;
    }

    /** Adds up to budget evenly spaced entries of from to keep. */
    private static void spread(List<Integer> from, int budget, TreeSet<Integer> keep) {
        if (budget <= 0 || from.isEmpty()) return;
        if (from.size() <= budget) {
            keep.addAll(from);
            return;
        }
        for (int k = 0; k < budget; k++) keep.add(from.get((int) Math.round((double) k * (from.size() - 1) / Math.max(1, budget - 1))));
    }

    static List<LossPoint> parse(List<String> lines, String source) {
        int last = lines.size() - 1;
        while (last >= 0 && lines.get(last).isBlank()) last--;
        List<LossPoint> out = new ArrayList<>();
        for (int i = 0; i <= last; i++) {
            String line = lines.get(i);
            if (line.isBlank()) continue;
            JsonNode row;
            try {
                row = JSON.readTree(line);
            } catch (JsonProcessingException e) {
                if (i == last) break; // partial line still being written
                throw new Peft4jException(source + " line " + (i + 1) + " is not JSON: " + e.getOriginalMessage());
            }
            if (row == null || !row.isObject() || !row.path("step").isNumber())
                throw new Peft4jException(source + " line " + (i + 1) + ": expected an object with a numeric \"step\"");
            out.add(new LossPoint(row.get("step").asLong(), num(row, "loss"), num(row, "val_loss"), num(row, "lr"),
                    num(row, "grad_norm"), num(row, "tokens_per_s"), num(row, "epoch"), num(row, "rank_budget")));
        }
        return out;
    }

    private static Double num(JsonNode row, String field) {
        JsonNode v = row.get(field);
        return v != null && v.isNumber() ? v.asDouble() : null;
    }
}
