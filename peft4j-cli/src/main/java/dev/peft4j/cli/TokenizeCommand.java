/*
 * peft4j tokenize: a model's token ids and counts, for sizing prompts and data.
 *   TEXT   the ids and their tokens (HF tokenizer(text): with the BOS/EOS the tokenizer config adds,
 *          unless --add-special-tokens false); --count prints only the number.
 *   FILE   (an existing file) one count per non-blank line and a summary: lines, total, mean, min,
 *          median, p95, max (percentiles interpolated as numpy's default), and with --max-length L
 *          how many lines exceed L. A .jsonl line counts its text fields separately (text, prompt,
 *          completion, instruction/input/output, messages[].content; other string fields when none
 *          of those), its total being their sum plus the special tokens; other files count each
 *          line as text. --count prints the summary only.
 */
package dev.peft4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Peft4jException;
import dev.peft4j.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "tokenize", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Token ids and counts of a text, or per-line counts and a summary of a file, for sizing prompts and data.",
                "Example: peft4j tokenize --model ../shared/models/stories260K \"Once upon a time\"",
                "         peft4j tokenize --model ../shared/models/stories260K --max-length 512 train.jsonl"})
final class TokenizeCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Model (or tokenizer-only) directory with tokenizer.json or vocab.json + merges.txt.")
    Path model;
    @Option(names = "--count", description = "Only the count (text) or only the summary (file).")
    boolean count;
    @Option(names = "--add-special-tokens", arity = "0..1", defaultValue = "true",
            description = "Add the BOS/EOS the tokenizer config asks for, as HF tokenizer(text) does (default ${DEFAULT-VALUE}).")
    boolean addSpecial;
    @Option(names = "--max-length", paramLabel = "L", description = "File: also count the lines longer than L tokens (e.g. train --max-length).")
    Integer maxLength;
    @Parameters(paramLabel = "TEXT|FILE", description = "Text to tokenize, or an existing file (.jsonl: per-record fields; else per line).")
    String input;

    /** Fields counted in a JSONL record, in this order, when present (else every string field). */
    static final List<String> FIELDS = List.of("text", "prompt", "completion", "instruction", "input", "output", "messages");

    @Override
    public Integer call() throws IOException {
        if (maxLength != null && maxLength < 1) throw new Peft4jException("--max-length must be >= 1 (got " + maxLength + ")");
        try (Tokenizer tok = Tokenizer.load(model)) {
            if (!input.isEmpty() && input.indexOf('\n') < 0 && isFile(input)) tokenizeFile(tok, Path.of(input));
            else tokenizeText(tok, input);
        }
        return 0;
    }

    private static boolean isFile(String s) {
        try {
            return Files.isRegularFile(Path.of(s));
        } catch (java.nio.file.InvalidPathException e) {
            return false;
        }
    }

    private void tokenizeText(Tokenizer tok, String text) {
        int[] ids = addSpecial ? tok.encodeWithSpecial(text) : tok.encode(text);
        if (count) {
            System.out.println(ids.length);
            return;
        }
        System.out.println(ids.length + " tokens");
        System.out.println("ids: " + Arrays.toString(ids));
        List<String> tokens = new ArrayList<>(ids.length);
        for (int id : ids) tokens.add(quote(tok.tokenText(id)));
        System.out.println("tokens: [" + String.join(", ", tokens) + "]");
    }

    /** A token as a JSON string: its spaces, newlines and control bytes visible. */
    private static String quote(String token) {
        try {
            return new ObjectMapper().writeValueAsString(token);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private void tokenizeFile(Tokenizer tok, Path file) throws IOException {
        boolean jsonl = file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".jsonl");
        int special = addSpecial ? tok.encodeWithSpecial("").length - tok.encode("").length : 0;
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new Peft4jException(dev.peft4j.data.Utf8Errors.describe(file), e);
        }
        ObjectMapper om = new ObjectMapper();
        List<Integer> totals = new ArrayList<>();
        Map<String, List<Integer>> perField = new LinkedHashMap<>();
        List<Integer> tooLong = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isBlank()) continue;
            int total;
            String detail = "";
            if (jsonl) {
                JsonNode n;
                try {
                    n = om.readTree(line);
                } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                    throw new Peft4jException(file + ":" + (i + 1) + ": invalid JSON (" + e.getOriginalMessage() + "); one JSON object per line");
                }
                if (n == null || !n.isObject()) throw new Peft4jException(file + ":" + (i + 1) + ": expected a JSON object per line");
                Map<String, Integer> fields = fieldCounts(tok, n);
                if (fields.isEmpty()) throw new Peft4jException(file + ":" + (i + 1) + ": no text field to count (expected e.g. "
                        + "\"text\", \"prompt\"/\"completion\" or \"messages\")");
                total = special;
                List<String> parts = new ArrayList<>();
                for (var e : fields.entrySet()) {
                    total += e.getValue();
                    perField.computeIfAbsent(e.getKey(), k -> new ArrayList<>()).add(e.getValue());
                    parts.add(e.getKey() + " " + e.getValue());
                }
                detail = "  (" + String.join(", ", parts) + (special > 0 ? ", special " + special : "") + ")";
            } else {
                total = tok.encode(line).length + special;
            }
            totals.add(total);
            if (maxLength != null && total > maxLength) tooLong.add(i + 1);
            if (!count) System.out.printf("line %d: %d%s%n", i + 1, total, detail);
        }
        if (totals.isEmpty()) throw new Peft4jException(file + " has no non-blank line to count");
        System.out.printf("%s: %d lines, %s%n", file, totals.size(), Summary.of(totals));
        if (perField.size() > 1)
            perField.forEach((k, v) -> System.out.printf("  %-12s %s%s%n", k + ":", Summary.of(v),
                    v.size() < totals.size() ? " (in " + v.size() + " lines)" : ""));
        if (maxLength != null)
            System.out.printf(Locale.ROOT, "longer than --max-length %d: %d of %d lines (%.1f%%)%s%n", maxLength, tooLong.size(), totals.size(),
                    100.0 * tooLong.size() / totals.size(), tooLong.isEmpty() ? "" : "; lines " + first(tooLong, 10));
    }

    private static String first(List<Integer> xs, int n) {
        List<String> s = xs.stream().limit(n).map(String::valueOf).toList();
        return String.join(", ", s) + (xs.size() > n ? ", ..." : "");
    }

    /** Token counts of a record's text fields (no special tokens). */
    static Map<String, Integer> fieldCounts(Tokenizer tok, JsonNode n) {
        Map<String, Integer> out = new LinkedHashMap<>();
        for (String f : FIELDS) {
            JsonNode v = n.get(f);
            if (v == null || v.isNull()) continue;
            if (f.equals("messages") && v.isArray()) {
                int sum = 0;
                for (JsonNode m : v) if (m.hasNonNull("content")) sum += tok.encode(m.get("content").asText()).length;
                out.put(f, sum);
            } else if (v.isTextual()) {
                out.put(f, tok.encode(v.asText()).length);
            }
        }
        if (out.isEmpty())
            for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
                var e = it.next();
                if (e.getValue().isTextual()) out.put(e.getKey(), tok.encode(e.getValue().asText()).length);
            }
        return out;
    }

    /** total, mean, min, median, p95, max of token counts; percentiles interpolated linearly (numpy's default). */
    record Summary(long total, double mean, int min, double median, double p95, int max) {
        static Summary of(List<Integer> counts) {
            int[] a = counts.stream().mapToInt(Integer::intValue).sorted().toArray();
            long total = 0;
            for (int x : a) total += x;
            return new Summary(total, (double) total / a.length, a[0], percentile(a, 0.5), percentile(a, 0.95), a[a.length - 1]);
        }

        static double percentile(int[] sorted, double p) {
            double pos = p * (sorted.length - 1);
            int lo = (int) Math.floor(pos), hi = (int) Math.ceil(pos);
            return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "total %,d tokens, mean %.1f, min %d, median %s, p95 %s, max %d", total, mean, min, num(median),
                    num(p95), max);
        }

        private static String num(double x) {
            return x == Math.rint(x) ? String.valueOf((long) x) : String.format(Locale.ROOT, "%.1f", x);
        }
    }
}
