/*
 * JsonRecords: reads the records of a training-data file, each with the place it came from, so that
 * every later error can name file and line.
 *
 * Two layouts, told apart by content (the extension only names them in messages):
 *   - a JSON array of objects (first non-blank character '['), e.g. alpaca_en_demo.json: streamed
 *     element by element; a record's place is its 0-based element index and the 1-based line where
 *     it starts;
 *   - JSON Lines (anything else, .jsonl / .ndjson / a .json holding objects one per line): one JSON
 *     value per line, blank lines ignored; a record's place is its 1-based line.
 * A UTF-8 byte-order mark is skipped.
 *
 * Constraints: a line of JSON Lines that does not parse becomes a record with a parse error (the
 * caller skips or reports it); a syntax error inside a JSON array cannot be skipped (the rest of the
 * file cannot be re-synchronised), so it always throws. An empty file throws. Reading stops after
 * `limit` records (0: no limit). Files are read as UTF-8; invalid UTF-8 throws.
 */
package dev.peft4j.data;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

final class JsonRecords {
    private JsonRecords() {}

    /** Plain mapper (records inside an array are read from a shared parser). */
    static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS);

    /** For one JSON Lines line: anything after the first value is an error. */
    private static final ObjectMapper LINE = JSON.copy().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    static final String EXPECTED_LAYOUT = "expected JSON Lines (one JSON object per line) or a JSON array of objects";

    /**
     * Where a record came from.
     *
     * @param file    the file
     * @param line    1-based line where the record starts
     * @param element 0-based index in a JSON array, or -1 for JSON Lines
     */
    record Location(Path file, int line, int element) {
        @Override
        public String toString() {
            return file + ":" + line + (element >= 0 ? " (element [" + element + "])" : "");
        }
    }

    /**
     * One record: its parsed JSON (null when it did not parse) or why it did not parse.
     *
     * @param location   where it came from
     * @param node       the parsed value (any JSON type; the caller checks it is an object)
     * @param parseError the parser's complaint when node is null
     */
    record Raw(Location location, JsonNode node, String parseError) {}

    /** All records of file (at most limit when limit > 0). */
    static List<Raw> read(Path file, int limit) {
        if (!Files.isRegularFile(file)) {
            throw new DataFormatException("data file " + file + " does not exist or is not a regular file; "
                    + "pass the path of a .jsonl or .json file");
        }
        try {
            int first = firstNonBlank(file);
            if (first < 0) {
                throw new DataFormatException(file + " is empty; " + EXPECTED_LAYOUT);
            }
            List<Raw> out = first == '[' ? readArray(file, limit) : readLines(file, limit);
            if (out.isEmpty()) {
                throw new DataFormatException(file + " holds no records (an empty JSON array); " + EXPECTED_LAYOUT);
            }
            return out;
        } catch (CharacterCodingException e) {
            throw new DataFormatException(Utf8Errors.describe(file) + ". " + EXPECTED_LAYOUT + ", saved as UTF-8", e);
        } catch (NoSuchFileException e) {
            throw new DataFormatException("data file " + file + " does not exist", e);
        } catch (IOException e) {
            throw new DataFormatException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** The first character that is not whitespace or a byte-order mark, or -1 for an all-blank file. */
    private static int firstNonBlank(Path file) throws IOException {
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            int c;
            while ((c = r.read()) >= 0) {
                if (c != '\uFEFF' && !Character.isWhitespace(c)) return c;
            }
            return -1;
        }
    }

    private static List<Raw> readLines(Path file, int limit) throws IOException {
        List<Raw> out = new ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String line;
            int lineNo = 0;
            while ((line = r.readLine()) != null) {
                lineNo++;
                if (lineNo == 1 && line.startsWith("\uFEFF")) line = line.substring(1);
                if (line.isBlank()) continue;
                if (limit > 0 && out.size() >= limit) break;
                Location at = new Location(file, lineNo, -1);
                try {
                    out.add(new Raw(at, LINE.readTree(line), null));
                } catch (JsonProcessingException e) {
                    out.add(new Raw(at, null, "invalid JSON: " + e.getOriginalMessage()
                            + (line.length() > 80 ? " in \"" + line.substring(0, 77) + "...\"" : " in \"" + line + "\"")));
                } catch (NumberFormatException e) {   // found by fuzzing: 5E5555555555555 does not fit a BigDecimal
                    out.add(new Raw(at, null, "a number out of range: " + e.getMessage()
                            + "; write it as a string or with a smaller exponent"));
                }
            }
        }
        return out;
    }

    private static List<Raw> readArray(Path file, int limit) throws IOException {
        List<Raw> out = new ArrayList<>();
        try (Reader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8);
             JsonParser p = JSON.createParser(reader)) {
            int element = 0;
            try {
                p.nextToken();   // START_ARRAY (checked by the caller's first-character test)
                JsonToken t;
                while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
                    if (t == null) {
                        throw new DataFormatException(file + ": the JSON array is not closed (file ends after "
                                + element + " elements); " + EXPECTED_LAYOUT);
                    }
                    if (limit > 0 && out.size() >= limit) return out;
                    Location at = new Location(file, (int) p.currentTokenLocation().getLineNr(), element);
                    JsonNode node = JSON.readTree(p);
                    out.add(new Raw(at, node, null));
                    element++;
                }
                if (p.nextToken() != null) {
                    throw new DataFormatException(file + ":" + p.currentTokenLocation().getLineNr()
                            + ": unexpected content after the closing ']' of the JSON array; " + EXPECTED_LAYOUT);
                }
            } catch (NumberFormatException e) {   // found by fuzzing: 5E5555555555555 does not fit a BigDecimal
                throw new DataFormatException(file + ":" + p.currentLocation().getLineNr() + " (element [" + element
                        + "]): a number out of range: " + e.getMessage() + "; write it as a string or with a smaller"
                        + " exponent", e);
            } catch (JsonProcessingException e) {
                long line = e.getLocation() == null ? -1 : e.getLocation().getLineNr();
                throw new DataFormatException(file + ":" + line + " (element [" + element + "]): invalid JSON: "
                        + e.getOriginalMessage() + ". A syntax error inside a JSON array cannot be skipped "
                        + "(even with skipMalformed); fix the file, or convert it to JSON Lines so that bad "
                        + "lines can be skipped", e);
            }
        }
        return out;
    }
}
