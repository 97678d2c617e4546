/*
 * LossCurve: reads a trainer's metrics.jsonl into LossPoints for the report.
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

public final class LossCurve {
    private static final ObjectMapper JSON = new ObjectMapper();

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
