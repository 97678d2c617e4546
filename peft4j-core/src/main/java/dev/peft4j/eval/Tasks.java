/*
 * Tasks: readers for the built-in evaluation tasks and generic JSONL task files.
 *   pubmedqa  ori_pqal.json {id: {QUESTION, CONTEXTS:[...], final_decision}} → multiple choice
 *             "Context: <contexts joined by spaces>\nQuestion: <q>\nAnswer:" over " yes"/" no"/" maybe"
 *   sst2      dev.tsv "sentence\tlabel" (header) → "Review: <sentence>\nSentiment:" over " negative"/" positive"
 *   jsonl     {"prompt", "choices": [...], "answer": 0-based index | choice text, optional "id"} → multiple choice
 *   gsm8k     test.jsonl {question, answer ending "#### N"} → ExactMatch pairs
 *             {"Question: <q>\nAnswer:", N} (N without thousands separators)
 *   generation {"prompt", "answer"} JSONL → GenerationTask with a regex extractor
 * Items are read in file order; limit <= 0 reads all. Malformed input raises Peft4jException
 * naming the file and the line (JSONL, TSV) or item id (PubMedQA).
 */
package dev.peft4j.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Peft4jException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public final class Tasks {
    public static final List<String> PUBMEDQA_CHOICES = List.of(" yes", " no", " maybe");
    public static final List<String> SST2_CHOICES = List.of(" negative", " positive");
    /** GSM8K's reference format: the final answer after "#### " (lm-eval's strict-match regex). */
    public static final Pattern GSM8K_ANSWER = Pattern.compile("#### (-?[0-9.,]+)");

    private static final ObjectMapper JSON = new ObjectMapper();

    private Tasks() {}

    public static List<MultipleChoice.Item> pubmedqa(Path oriPqalJson, int limit) {
        JsonNode root;
        try {
            root = JSON.readTree(oriPqalJson.toFile());
        } catch (IOException e) {
            throw new Peft4jException(oriPqalJson + ": not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) throw new Peft4jException(oriPqalJson + ": expected a JSON object {id: {QUESTION, CONTEXTS, final_decision}}");
        List<MultipleChoice.Item> items = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext() && !full(items, limit); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String where = oriPqalJson + ": item " + e.getKey();
            JsonNode q = e.getValue().get("QUESTION"), ctx = e.getValue().get("CONTEXTS"), dec = e.getValue().get("final_decision");
            if (q == null || !q.isTextual()) throw new Peft4jException(where + ": missing text field QUESTION");
            if (ctx == null || !ctx.isArray()) throw new Peft4jException(where + ": missing array field CONTEXTS");
            if (dec == null || !dec.isTextual()) throw new Peft4jException(where + ": missing text field final_decision");
            List<String> parts = new ArrayList<>();
            for (JsonNode c : ctx) {
                if (!c.isTextual()) throw new Peft4jException(where + ": CONTEXTS holds a non-string element");
                parts.add(c.asText());
            }
            int answer = PUBMEDQA_CHOICES.indexOf(" " + dec.asText().trim().toLowerCase(java.util.Locale.ROOT));
            if (answer < 0) throw new Peft4jException(where + ": final_decision must be yes, no or maybe (got \"" + dec.asText() + "\")");
            String prompt = "Context: " + String.join(" ", parts) + "\nQuestion: " + q.asText() + "\nAnswer:";
            items.add(new MultipleChoice.Item(prompt, PUBMEDQA_CHOICES, answer));
        }
        return items;
    }

    /** The item ids (keys) of ori_pqal.json in the order pubmedqa(file, limit) reads them. */
    public static List<String> pubmedqaIds(Path oriPqalJson, int limit) {
        JsonNode root;
        try {
            root = JSON.readTree(oriPqalJson.toFile());
        } catch (IOException e) {
            throw new Peft4jException(oriPqalJson + ": not valid JSON: " + e.getMessage(), e);
        }
        List<String> ids = new ArrayList<>();
        for (Iterator<String> it = root.fieldNames(); it.hasNext() && !full(ids, limit); ) ids.add(it.next());
        return ids;
    }

    public static List<MultipleChoice.Item> sst2(Path devTsv, int limit) {
        List<String> lines = readLines(devTsv);
        if (lines.isEmpty() || !lines.get(0).trim().equals("sentence\tlabel")) {
            throw new Peft4jException(devTsv + ":1: expected the header \"sentence<TAB>label\"");
        }
        List<MultipleChoice.Item> items = new ArrayList<>();
        for (int i = 1; i < lines.size() && !full(items, limit); i++) {
            String line = lines.get(i);
            if (line.isBlank()) continue;
            int tab = line.lastIndexOf('\t');
            if (tab < 0) throw new Peft4jException(devTsv + ":" + (i + 1) + ": expected \"sentence<TAB>label\"");
            String label = line.substring(tab + 1).trim();
            int answer = switch (label) {
                case "0" -> 0;
                case "1" -> 1;
                default -> throw new Peft4jException(devTsv + ":" + (i + 1) + ": label must be 0 or 1 (got \"" + label + "\")");
            };
            items.add(new MultipleChoice.Item("Review: " + line.substring(0, tab).trim() + "\nSentiment:", SST2_CHOICES, answer));
        }
        return items;
    }

    /** Generic multiple choice JSONL: {"prompt", "choices": [...], "answer": index or the text of a choice}. */
    public static List<MultipleChoice.Item> jsonl(Path file) {
        List<MultipleChoice.Item> items = new ArrayList<>();
        List<String> lines = readLines(file);
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).isBlank()) continue;
            String where = file + ":" + (i + 1);
            JsonNode o = parseLine(lines.get(i), where);
            String prompt = text(o, "prompt", where);
            JsonNode ch = o.get("choices");
            if (ch == null || !ch.isArray() || ch.isEmpty()) throw new Peft4jException(where + ": \"choices\" must be a non-empty array of strings");
            List<String> choices = new ArrayList<>();
            for (JsonNode c : ch) {
                if (!c.isTextual()) throw new Peft4jException(where + ": \"choices\" must hold strings only");
                choices.add(c.asText());
            }
            JsonNode a = o.get("answer");
            int answer;
            if (a != null && a.isIntegralNumber()) {
                answer = a.asInt();
                if (answer < 0 || answer >= choices.size()) {
                    throw new Peft4jException(where + ": \"answer\" " + answer + " is not an index of the " + choices.size() + " choices");
                }
            } else if (a != null && a.isTextual()) {
                answer = choices.indexOf(a.asText());
                if (answer < 0) {
                    for (int c = 0; c < choices.size() && answer < 0; c++) if (choices.get(c).trim().equals(a.asText().trim())) answer = c;
                }
                if (answer < 0) throw new Peft4jException(where + ": \"answer\" \"" + a.asText() + "\" is not one of the choices");
            } else {
                throw new Peft4jException(where + ": \"answer\" must be a choice index or the text of a choice");
            }
            items.add(new MultipleChoice.Item(prompt, choices, answer));
        }
        return items;
    }

    /**
     * The "id" of each item of a multiple-choice JSONL file, in the order jsonl(file) reads them
     * (text or number as text; null for an item without one), or null when no item has an id.
     */
    public static List<String> jsonlIds(Path file) {
        List<String> ids = new ArrayList<>();
        boolean any = false;
        List<String> lines = readLines(file);
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).isBlank()) continue;
            JsonNode id = parseLine(lines.get(i), file + ":" + (i + 1)).get("id");
            boolean has = id != null && id.isValueNode() && !id.isNull();
            ids.add(has ? id.asText() : null);
            any |= has;
        }
        return any ? ids : null;
    }

    /** GSM8K as ExactMatch pairs {"Question: q\nAnswer:", final answer}. */
    public static List<String[]> gsm8k(Path testJsonl, int limit) {
        List<String[]> pairs = new ArrayList<>();
        List<String> lines = readLines(testJsonl);
        for (int i = 0; i < lines.size() && (limit <= 0 || pairs.size() < limit); i++) {
            if (lines.get(i).isBlank()) continue;
            String where = testJsonl + ":" + (i + 1);
            JsonNode o = parseLine(lines.get(i), where);
            String q = text(o, "question", where);
            String a = text(o, "answer", where);
            String n = gsm8kAnswer(a);
            if (n == null) throw new Peft4jException(where + ": \"answer\" has no final \"#### N\"");
            pairs.add(new String[] {"Question: " + q + "\nAnswer:", n});
        }
        return pairs;
    }

    /** GSM8K as a generation task whose extractor reads "#### N" out of the generated text. */
    public static GenerationTask gsm8kTask(Path testJsonl, int limit) {
        return new GenerationTask(gsm8k(testJsonl, limit), GSM8K_ANSWER);
    }

    /** The final answer of a GSM8K solution ("... #### 1,234" → "1234"), or null when there is none. */
    public static String gsm8kAnswer(String solution) {
        Matcher m = GSM8K_ANSWER.matcher(solution);
        String last = null;
        while (m.find()) last = m.group(1);
        if (last == null) return null;
        last = last.replace(",", "");
        while (last.endsWith(".")) last = last.substring(0, last.length() - 1);
        return last;
    }

    /** Generic generation JSONL {"prompt", "answer"}; extractor null: the whole trimmed generation. */
    public static GenerationTask generation(Path file, Pattern extractor, int limit) {
        List<String[]> pairs = new ArrayList<>();
        List<String> lines = readLines(file);
        for (int i = 0; i < lines.size() && (limit <= 0 || pairs.size() < limit); i++) {
            if (lines.get(i).isBlank()) continue;
            String where = file + ":" + (i + 1);
            JsonNode o = parseLine(lines.get(i), where);
            JsonNode a = o.get("answer");
            if (a == null || !(a.isTextual() || a.isNumber())) throw new Peft4jException(where + ": missing \"answer\" (text or number)");
            pairs.add(new String[] {text(o, "prompt", where), a.asText()});
        }
        return new GenerationTask(pairs, extractor);
    }

    private static boolean full(List<?> items, int limit) {
        return limit > 0 && items.size() >= limit;
    }

    private static List<String> readLines(Path file) {
        try {
            return Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new Peft4jException(dev.peft4j.data.Utf8Errors.describe(file), e);
        } catch (IOException e) {
            throw new Peft4jException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    private static JsonNode parseLine(String line, String where) {
        JsonNode o;
        try {
            o = JSON.readTree(line);
        } catch (IOException e) {
            throw new Peft4jException(where + ": not valid JSON: " + e.getMessage().lines().findFirst().orElse(""), e);
        }
        if (o == null || !o.isObject()) throw new Peft4jException(where + ": expected a JSON object");
        return o;
    }

    private static String text(JsonNode o, String field, String where) {
        JsonNode n = o.get(field);
        if (n == null || !n.isTextual()) throw new Peft4jException(where + ": missing text field \"" + field + "\"");
        return n.asText();
    }
}
