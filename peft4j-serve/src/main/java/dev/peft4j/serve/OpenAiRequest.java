/*
 * OpenAiRequest: the body of POST /v1/completions or /v1/chat/completions, read strictly — every
 * field of the wrong type or out of range is a 400 naming the parameter, never a crash.
 * Supported: model, prompt (a string, a list of strings, a list of token ids), messages (chat: role +
 * string content or text parts), max_tokens / max_completion_tokens, temperature, top_p, seed, n,
 * stop (a string or up to 4), stream, stream_options.include_usage, and vLLM's ignore_eos extension. Unsupported options that change
 * the output (logprobs, echo, best_of > n, suffix, tools, logit_bias...) are refused rather than ignored.
 */
package dev.peft4j.serve;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

public record OpenAiRequest(String model, List<String> prompts, List<int[]> promptIds, List<Map<String, Object>> messages,
                            Integer maxTokens, float temperature, float topP, Long seed, int n, List<String> stop,
                            boolean stream, boolean includeUsage, boolean ignoreEos) {
    static final int MAX_N = 16, MAX_PROMPTS = 16;

    public boolean chat() { return messages != null; }

    /** The number of prompts (chat: 1). */
    public int promptCount() { return chat() ? 1 : prompts != null ? prompts.size() : promptIds.size(); }

    public static OpenAiRequest parse(JsonNode body, boolean chat) {
        if (body == null || !body.isObject()) throw ApiError.invalid(null, "the request body must be a JSON object");
        String model = string(body, "model", true);
        List<String> prompts = null;
        List<int[]> promptIds = null;
        List<Map<String, Object>> messages = null;
        if (chat) {
            messages = messages(body.get("messages"));
            refuse(body, "tools", "functions", "logit_bias", "response_format", "tool_choice");
            if (has(body, "logprobs") && body.get("logprobs").asBoolean(false)) throw ApiError.invalid("logprobs", "logprobs are not supported");
        } else {
            JsonNode p = body.get("prompt");
            if (p == null || p.isNull()) throw ApiError.invalid("prompt", "'prompt' is required: a string, a list of strings or a list of token ids");
            if (p.isTextual()) prompts = List.of(p.asText());
            else if (p.isArray() && !p.isEmpty() && p.get(0).isTextual()) {
                if (p.size() > MAX_PROMPTS) throw ApiError.invalid("prompt", "at most " + MAX_PROMPTS + " prompts per request, got " + p.size());
                prompts = new ArrayList<>();
                for (JsonNode e : p) {
                    if (!e.isTextual()) throw ApiError.invalid("prompt", "'prompt' mixes strings and other values; give a list of strings");
                    prompts.add(e.asText());
                }
            } else if (p.isArray() && !p.isEmpty() && p.get(0).isIntegralNumber()) {
                int[] ids = new int[p.size()];
                for (int i = 0; i < ids.length; i++) {
                    JsonNode e = p.get(i);
                    if (!e.isIntegralNumber() || !e.canConvertToInt() || e.asInt() < 0)
                        throw ApiError.invalid("prompt", "'prompt' token ids must be non-negative integers; element " + i + " is " + abbreviate(e));
                    ids[i] = e.asInt();
                }
                promptIds = List.of(ids);
            } else throw ApiError.invalid("prompt", "'prompt' must be a non-empty string, list of strings or list of token ids; got " + abbreviate(p));
            if (has(body, "echo") && body.get("echo").asBoolean(false)) throw ApiError.invalid("echo", "echo is not supported");
            if (has(body, "logprobs")) throw ApiError.invalid("logprobs", "logprobs are not supported");
            if (has(body, "suffix")) throw ApiError.invalid("suffix", "suffix (insertion) is not supported");
            refuse(body, "logit_bias");
        }
        Integer maxTokens = integer(body, chat && has(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens", 1, Integer.MAX_VALUE);
        if (maxTokens == null && !chat) maxTokens = 16;                              // OpenAI's completions default
        Double temperature = number(body, "temperature", 0, 2);
        Double topP = number(body, "top_p", 0, 1);
        if (topP != null && topP == 0) throw ApiError.invalid("top_p", "'top_p' must be > 0 (got 0); use temperature 0 for greedy");
        Long seed = null;
        if (has(body, "seed")) {
            JsonNode s = body.get("seed");
            if (!s.isIntegralNumber() || !s.canConvertToLong()) throw ApiError.invalid("seed", "'seed' must be an integer, got " + abbreviate(s));
            seed = s.asLong();
        }
        Integer n = integer(body, "n", 1, MAX_N);
        if (has(body, "best_of")) {
            Integer bestOf = integer(body, "best_of", 1, MAX_N);
            if (bestOf != null && bestOf != (n == null ? 1 : n)) throw ApiError.invalid("best_of", "best_of other than n is not supported");
        }
        List<String> stop = new ArrayList<>();
        if (has(body, "stop")) {
            JsonNode s = body.get("stop");
            if (s.isTextual()) stop.add(s.asText());
            else if (s.isArray()) {
                if (s.size() > 4) throw ApiError.invalid("stop", "'stop' takes at most 4 sequences, got " + s.size());
                for (JsonNode e : s) {
                    if (!e.isTextual()) throw ApiError.invalid("stop", "'stop' must be a string or a list of strings; got " + abbreviate(e));
                    stop.add(e.asText());
                }
            } else throw ApiError.invalid("stop", "'stop' must be a string or a list of up to 4 strings; got " + abbreviate(s));
            for (String x : stop) if (x.isEmpty()) throw ApiError.invalid("stop", "'stop' sequences must be non-empty");
        }
        boolean stream = bool(body, "stream");
        boolean includeUsage = false;
        if (has(body, "stream_options")) {
            JsonNode so = body.get("stream_options");
            if (!so.isObject()) throw ApiError.invalid("stream_options", "'stream_options' must be an object");
            if (!stream) throw ApiError.invalid("stream_options", "'stream_options' is only allowed with stream: true");
            includeUsage = bool(so, "include_usage");
        }
        return new OpenAiRequest(model, prompts, promptIds, messages, maxTokens, temperature == null ? 1f : temperature.floatValue(),
                topP == null ? 1f : topP.floatValue(), seed, n == null ? 1 : n, List.copyOf(stop), stream, includeUsage, bool(body, "ignore_eos"));
    }

    private static List<Map<String, Object>> messages(JsonNode m) {
        if (m == null || !m.isArray() || m.isEmpty())
            throw ApiError.invalid("messages", "'messages' is required: a non-empty list of {\"role\", \"content\"} objects");
        List<Map<String, Object>> out = new ArrayList<>();
        for (int i = 0; i < m.size(); i++) {
            JsonNode e = m.get(i);
            String where = "messages[" + i + "]";
            if (!e.isObject()) throw ApiError.invalid(where, where + " must be an object with 'role' and 'content'");
            JsonNode role = e.get("role");
            if (role == null || !role.isTextual() || !List.of("system", "user", "assistant", "developer").contains(role.asText()))
                throw ApiError.invalid(where + ".role", where + ".role must be one of system, developer, user, assistant; got " + abbreviate(role));
            JsonNode c = e.get("content");
            String text;
            if (c != null && c.isTextual()) text = c.asText();
            else if (c != null && c.isArray()) {
                StringBuilder sb = new StringBuilder();
                for (JsonNode part : c) {
                    if (!part.isObject() || !"text".equals(part.path("type").asText()) || !part.path("text").isTextual())
                        throw ApiError.invalid(where + ".content", where + ".content parts must be {\"type\": \"text\", \"text\": ...}; "
                                + "other parts (images, audio) are not supported");
                    sb.append(part.get("text").asText());
                }
                text = sb.toString();
            } else throw ApiError.invalid(where + ".content", where + ".content must be a string or a list of text parts; got " + abbreviate(c));
            String r = role.asText().equals("developer") ? "system" : role.asText();
            out.add(Map.of("role", r, "content", text));
        }
        return out;
    }

    private static void refuse(JsonNode body, String... fields) {
        for (String f : fields)
            if (has(body, f)) throw ApiError.invalid(f, "'" + f + "' is not supported by this server");
    }

    static boolean has(JsonNode body, String f) { return body.has(f) && !body.get(f).isNull(); }

    private static String string(JsonNode body, String f, boolean required) {
        JsonNode v = body.get(f);
        if (v == null || v.isNull()) {
            if (required) throw ApiError.invalid(f, "'" + f + "' is required");
            return null;
        }
        if (!v.isTextual()) throw ApiError.invalid(f, "'" + f + "' must be a string, got " + abbreviate(v));
        return v.asText();
    }

    private static Integer integer(JsonNode body, String f, int min, int max) {
        if (!has(body, f)) return null;
        JsonNode v = body.get(f);
        if (!v.isIntegralNumber() && !(v.isNumber() && v.asDouble() == Math.rint(v.asDouble())))
            throw ApiError.invalid(f, "'" + f + "' must be an integer, got " + abbreviate(v));
        if (!v.canConvertToLong() || v.asLong() < min || v.asLong() > max)
            throw ApiError.invalid(f, "'" + f + "' must be in [" + min + ", " + max + "], got " + abbreviate(v));
        return (int) v.asLong();
    }

    private static Double number(JsonNode body, String f, double min, double max) {
        if (!has(body, f)) return null;
        JsonNode v = body.get(f);
        if (!v.isNumber()) throw ApiError.invalid(f, "'" + f + "' must be a number, got " + abbreviate(v));
        double d = v.asDouble();
        if (!(d >= min && d <= max)) throw ApiError.invalid(f, "'" + f + "' must be in [" + min + ", " + max + "], got " + abbreviate(v));
        return d;
    }

    private static boolean bool(JsonNode body, String f) {
        if (!has(body, f)) return false;
        JsonNode v = body.get(f);
        if (!v.isBoolean()) throw ApiError.invalid(f, "'" + f + "' must be true or false, got " + abbreviate(v));
        return v.asBoolean();
    }

    static String abbreviate(JsonNode v) {
        if (v == null) return "nothing";
        String s = v.toString();
        return s.length() > 60 ? s.substring(0, 57) + "..." : s;
    }
}
