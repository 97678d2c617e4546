/*
 * Sample: one validated record of a data file, before tokenization - the text fields of its format
 * and where it came from. Parsing checks the shape (an object, the format's fields present with the
 * right JSON types) and throws Malformed with a reason that says what was expected and found;
 * Dataset turns that into a DataFormatException naming file and line, or skips and counts it.
 *
 * Constraints: records keep strings as read (no trimming); message lists are converted to plain
 * ordered Java maps/lists so the chat template sees every key (e.g. tool_calls, name).
 */
package dev.peft4j.data;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

sealed interface Sample {

    JsonRecords.Location location();

    /** {"text": ...} */
    record Text(JsonRecords.Location location, String text) implements Sample {}

    /** {"prompt": "...", "completion": "..."} */
    record PromptCompletion(JsonRecords.Location location, String prompt, String completion) implements Sample {}

    /**
     * A conversation: {"messages": [...]}, or a conversational prompt/completion (messages = prompt +
     * completion, firstTrainable = number of prompt messages).
     *
     * @param firstTrainable assistant messages at this index or later take loss
     */
    record Chat(JsonRecords.Location location, List<Map<String, Object>> messages, int firstTrainable)
            implements Sample {}

    /** {"instruction": ..., "input": ..., "output": ...}; input is "" when absent or null. */
    record Alpaca(JsonRecords.Location location, String instruction, String input, String output) implements Sample {}

    /** A record that does not have the expected shape; reason says what was expected and found. */
    final class Malformed extends RuntimeException {
        Malformed(String reason) {
            super(reason, null, false, false);
        }
    }

    /**
     * The record's format: fixed, or (AUTO) detected from this record's keys.
     *
     * @throws Malformed when the record is not an object or AUTO cannot tell the format
     */
    static DataFormat formatOf(JsonNode node, DataFormat configured) {
        if (!node.isObject()) throw new Malformed("expected a JSON object, found " + describe(node));
        if (configured != DataFormat.AUTO) return configured;
        List<String> keys = new ArrayList<>();
        node.fieldNames().forEachRemaining(keys::add);
        DataFormat f = DataFormat.detect(keys);
        if (f == null) {
            throw new Malformed("cannot detect the format from the keys " + keys + "; expected \"text\", "
                    + "\"prompt\"+\"completion\", \"messages\", or \"instruction\"+\"output\" (Alpaca). Fix: rename "
                    + "fields with DataConfig.columns (e.g. {\"question\": \"prompt\", \"answer\": \"completion\"}) "
                    + "or set DataConfig.format");
        }
        return f;
    }

    /** Applies the columns renames to a record's top-level keys (a new object; the input is not changed). */
    static JsonNode rename(JsonNode node, Map<String, String> columns) {
        if (columns.isEmpty() || !node.isObject()) return node;
        ObjectNode out = JsonRecords.JSON.createObjectNode();
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            out.set(columns.getOrDefault(e.getKey(), e.getKey()), e.getValue());
        }
        return out;
    }

    /** Parses a record of the given (resolved, non-AUTO) format. */
    static Sample parse(JsonNode node, DataFormat format, JsonRecords.Location at) {
        if (!node.isObject()) throw new Malformed("expected a JSON object, found " + describe(node));
        return switch (format) {
            case TEXT -> new Text(at, string(node, "text"));
            case PROMPT_COMPLETION -> promptCompletion(node, at);
            case MESSAGES -> new Chat(at, messages(node.get("messages"), "messages"), 0);
            case ALPACA -> {
                String input = node.hasNonNull("input") ? string(node, "input") : "";
                yield new Alpaca(at, string(node, "instruction"), input, string(node, "output"));
            }
            case AUTO -> throw new IllegalArgumentException("format must be resolved before parsing");
        };
    }

    private static Sample promptCompletion(JsonNode node, JsonRecords.Location at) {
        JsonNode p = node.get("prompt");
        JsonNode c = node.get("completion");
        if (p != null && p.isArray() && c != null && c.isArray()) {
            List<Map<String, Object>> prompt = messages(p, "prompt");
            List<Map<String, Object>> all = new ArrayList<>(prompt);
            all.addAll(messages(c, "completion"));
            return new Chat(at, all, prompt.size());
        }
        return new PromptCompletion(at, string(node, "prompt"), string(node, "completion"));
    }

    private static String string(JsonNode obj, String field) {
        JsonNode v = obj.get(field);
        if (v == null) {
            List<String> keys = new ArrayList<>();
            obj.fieldNames().forEachRemaining(keys::add);
            throw new Malformed("missing field \"" + field + "\" (the record has " + keys + ")");
        }
        if (!v.isTextual()) {
            throw new Malformed("field \"" + field + "\" must be a string, found " + describe(v));
        }
        return v.asText();
    }

    /** A list of {"role": string, "content": string, ...} objects. */
    private static List<Map<String, Object>> messages(JsonNode list, String field) {
        if (list == null) throw new Malformed("missing field \"" + field + "\"");
        if (!list.isArray()) {
            throw new Malformed("field \"" + field + "\" must be a list of {\"role\", \"content\"} objects, found "
                    + describe(list));
        }
        if (list.isEmpty()) throw new Malformed("field \"" + field + "\" is an empty list; expected messages");
        List<Map<String, Object>> out = new ArrayList<>(list.size());
        for (int i = 0; i < list.size(); i++) {
            JsonNode m = list.get(i);
            String where = field + "[" + i + "]";
            if (!m.isObject()) throw new Malformed(where + " must be an object {\"role\", \"content\"}, found " + describe(m));
            JsonNode role = m.get("role");
            if (role == null || !role.isTextual()) {
                throw new Malformed(where + ".role must be a string such as \"user\" or \"assistant\", found "
                        + (role == null ? "nothing" : describe(role)));
            }
            JsonNode content = m.get("content");
            boolean toolCall = m.has("tool_calls") && (content == null || content.isNull());
            if (!toolCall && (content == null || !content.isTextual())) {
                throw new Malformed(where + ".content must be a string, found "
                        + (content == null ? "nothing" : describe(content)));
            }
            out.add(JsonRecords.JSON.convertValue(m, new TypeReference<LinkedHashMap<String, Object>>() {}));
        }
        return out;
    }

    /** "a number (3)", "a list", ... for messages. */
    static String describe(JsonNode n) {
        String text = n.toString();
        if (text.length() > 40) text = text.substring(0, 37) + "...";
        return switch (n.getNodeType()) {
            case ARRAY -> "a list " + text;
            case OBJECT -> "an object " + text;
            case STRING -> "a string " + text;
            case NUMBER -> "a number " + text;
            case BOOLEAN -> "a boolean " + text;
            case NULL -> "null";
            default -> n.getNodeType().toString().toLowerCase() + " " + text;
        };
    }
}
