/*
 * ChatTemplate: renders a conversation to text with a model's Jinja chat template, as transformers'
 * tokenizer.apply_chat_template(messages, tokenize=False) does.
 *
 * The template comes from the model directory: chat_template.jinja when present (newer transformers
 * save it there), else tokenizer_config.json "chat_template" - a string, or the list-of-named-
 * templates form [{"name": "default", "template": ...}, ...] from which "default" is used. It is
 * evaluated by Jinjava, a real Jinja engine, configured like HF's ImmutableSandboxedEnvironment
 * (trim_blocks=True, lstrip_blocks=True, and jinja2's default keep_trailing_newline=False: one
 * trailing newline of the source is dropped) with Jinja2 semantics switched on (operator precedence,
 * `{%- -%}` / `{{- -}}` whitespace control, map-key iteration, nullable loop values) and what HF
 * adds (see JinjaPython): raise_exception, strftime_now, Python's tojson and str methods,
 * {% generation %}. The variables are those HF passes: messages, add_generation_prompt, tools and
 * documents (none), and the tokenizer's special tokens (bos_token, eos_token, unk_token, pad_token,
 * sep_token, cls_token, mask_token, additional_special_tokens) as strings.
 *
 * Constraints: thread-safe (Jinjava creates an interpreter per render); a template that fails to
 * parse is rejected at construction; a render that fails (raise_exception, an error inside the
 * template) throws Peft4jException with the template's message - never a partial string.
 */
package dev.peft4j.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import dev.peft4j.Peft4jException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

public final class ChatTemplate {

    /** The special-token variables HF passes to every chat template. */
    static final List<String> SPECIAL_TOKEN_KEYS = List.of(
            "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token");

    private static final ObjectMapper JSON = new ObjectMapper();

    private final String source;
    private final String body;   // what is rendered: source less one trailing newline (jinja2 keep_trailing_newline=False)
    private final Map<String, Object> specialTokens;
    private final Jinjava jinjava;

    private ChatTemplate(String source, Map<String, Object> specialTokens) {
        this.source = source;
        this.body = namespaceArguments(reversedSlices(dropOneTrailingNewline(source)));
        this.specialTokens = specialTokens;
        this.jinjava = newEngine();
        checkParses();
    }

    /** NAME[::-1] (Python's reversed slice, Qwen3's messages[::-1]), which Jinjava cannot parse, as (NAME|reverse). */
    private static final java.util.regex.Pattern REVERSED_SLICE =
            java.util.regex.Pattern.compile("([A-Za-z_][A-Za-z0-9_]*(?:\\.[A-Za-z_][A-Za-z0-9_]*)*)\\[\\s*:\\s*:\\s*-1\\s*\\]");

    static String reversedSlices(String template) {
        return REVERSED_SLICE.matcher(template).replaceAll("($1|reverse)");
    }

    /**
     * namespace(a=EXPR, ...) with each EXPR in parentheses: Jinjava binds "name=" tighter than operators, so
     * Qwen3's namespace(last_query_index=messages|length - 1) would subtract 1 from the named parameter itself.
     */
    static String namespaceArguments(String template) {
        StringBuilder out = new StringBuilder();
        int from = 0;
        for (int at = template.indexOf("namespace(", from); at >= 0; at = template.indexOf("namespace(", from)) {
            int open = at + "namespace(".length();
            out.append(template, from, open);
            int depth = 0, i = open, argStart = open;
            char quote = 0;
            List<String> args = new ArrayList<>();
            for (; i < template.length(); i++) {
                char ch = template.charAt(i);
                if (quote != 0) { if (ch == '\\') i++; else if (ch == quote) quote = 0; continue; }
                if (ch == '\'' || ch == '"') quote = ch;
                else if (ch == '(' || ch == '[' || ch == '{') depth++;
                else if ((ch == ')' || ch == ']' || ch == '}') && depth > 0) depth--;
                else if (ch == ')' || (ch == ',' && depth == 0)) {
                    args.add(template.substring(argStart, i));
                    argStart = i + 1;
                    if (ch == ')') break;
                }
            }
            if (i >= template.length()) { out.append(template, open, template.length()); return out.toString(); }   // unbalanced: leave it
            List<String> wrapped = new ArrayList<>();
            for (String a : args) {
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("^(\\s*[A-Za-z_][A-Za-z0-9_]*\\s*)=(?!=)(.*)$", java.util.regex.Pattern.DOTALL).matcher(a);
                wrapped.add(m.matches() ? m.group(1) + "=(" + m.group(2).strip() + ")" : a);
            }
            out.append(String.join(",", wrapped)).append(')');
            from = i + 1;
        }
        return out.append(template.substring(from)).toString();
    }

    /**
     * A template from its Jinja source and the special-token strings it may reference
     * (e.g. "bos_token" -> "&lt;s&gt;"; absent keys render as empty, like an undefined variable).
     *
     * @throws Peft4jException when the template does not parse
     */
    public static ChatTemplate of(String source, Map<String, ?> specialTokens) {
        Objects.requireNonNull(source, "source");
        if (source.isBlank()) {
            throw new Peft4jException("chat template is blank; expected Jinja source such as the "
                    + "\"chat_template\" of a model's tokenizer_config.json");
        }
        return new ChatTemplate(source, Map.copyOf(specialTokens == null ? Map.of() : specialTokens));
    }

    /**
     * The chat template of a HuggingFace model (or tokenizer) directory, with its special tokens.
     *
     * @throws Peft4jException when the directory has no chat template (message says how to supply one)
     */
    public static ChatTemplate fromModelDir(Path dir) {
        return fromModelDir(dir, null);
    }

    /**
     * As {@link #fromModelDir(Path)}, but with override (when non-null) used instead of the
     * directory's template; the directory (may be null then) still provides the special tokens.
     */
    public static ChatTemplate fromModelDir(Path dir, String override) {
        if (dir != null) dir = dev.peft4j.model.GgufModel.view(dir);           // a GGUF file: tokenizer.chat_template
        JsonNode config = dir == null ? null : readJson(dir.resolve("tokenizer_config.json"));
        JsonNode map = dir == null ? null : readJson(dir.resolve("special_tokens_map.json"));
        Map<String, Object> specials = new HashMap<>();
        for (String key : SPECIAL_TOKEN_KEYS) {
            Optional<String> t = tokenText(config, key);
            if (t.isEmpty() && (config == null || !config.has(key))) t = tokenText(map, key);
            t.ifPresent(v -> specials.put(key, v));
        }
        List<String> extra = new ArrayList<>();
        JsonNode add = config != null && config.has("additional_special_tokens") ? config.get("additional_special_tokens")
                : map == null ? null : map.get("additional_special_tokens");
        if (add != null && add.isArray()) for (JsonNode n : add) tokenText(n).ifPresent(extra::add);
        specials.put("additional_special_tokens", List.copyOf(extra));

        if (override != null) return of(override, specials);
        String source = dir == null ? null : templateSource(dir, config);
        if (source == null) {
            throw new Peft4jException("no chat template for " + (dir == null ? "this model" : dir)
                    + ": expected \"chat_template\" in tokenizer_config.json or a chat_template.jinja file. "
                    + "Fix: use a chat (instruct) model, pass DataConfig.chatTemplate(...), or use the "
                    + "prompt/completion or text format instead of messages");
        }
        return of(source, specials);
    }

    /** Whether the directory holds a chat template (chat_template.jinja or tokenizer_config.json's). */
    public static boolean exists(Path dir) {
        if (dir != null) dir = dev.peft4j.model.GgufModel.view(dir);
        return dir != null && templateSource(dir, readJson(dir.resolve("tokenizer_config.json"))) != null;
    }

    private static String templateSource(Path dir, JsonNode config) {
        Path jinja = dir.resolve("chat_template.jinja");
        if (Files.isRegularFile(jinja)) {
            try {
                return Files.readString(jinja, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new Peft4jException("cannot read " + jinja + ": " + e.getMessage(), e);
            }
        }
        if (config == null) return null;
        JsonNode t = config.get("chat_template");
        if (t == null || t.isNull()) return null;
        if (t.isTextual()) return t.asText();
        if (t.isArray()) {
            List<String> names = new ArrayList<>();
            for (JsonNode named : t) {
                String name = named.path("name").asText("");
                names.add(name);
                if ("default".equals(name) && named.path("template").isTextual()) return named.get("template").asText();
            }
            throw new Peft4jException(dir.resolve("tokenizer_config.json") + " lists chat templates " + names
                    + " but none named \"default\"; pass the one to use with DataConfig.chatTemplate(...)");
        }
        throw new Peft4jException(dir.resolve("tokenizer_config.json") + " \"chat_template\" must be a string or a "
                + "list of {name, template} (found " + t.getNodeType() + ")");
    }

    private static JsonNode readJson(Path file) {
        if (!Files.isRegularFile(file)) return null;
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new Peft4jException("cannot parse " + file + " as JSON: " + e.getMessage() + "; fix or delete it", e);
        }
    }

    private static Optional<String> tokenText(JsonNode obj, String key) {
        return obj == null ? Optional.empty() : tokenText(obj.get(key));
    }

    private static Optional<String> tokenText(JsonNode n) {
        if (n == null) return Optional.empty();
        if (n.isTextual()) return Optional.of(n.asText());
        if (n.isObject() && n.path("content").isTextual()) return Optional.of(n.get("content").asText());
        return Optional.empty();
    }

    /**
     * This template with special-token variables added where it has none (e.g. bos_token taken from
     * the tokenizer when no tokenizer_config.json was given); existing values are kept.
     */
    public ChatTemplate withSpecialTokenDefaults(Map<String, ?> defaults) {
        Map<String, Object> merged = new HashMap<>(defaults);
        merged.putAll(specialTokens);
        return merged.equals(specialTokens) ? this : new ChatTemplate(source, Map.copyOf(merged));
    }

    // ---------------------------------------------------------------- rendering

    /** The Jinja source. */
    public String source() {
        return source;
    }

    /** The special-token variables passed to the template. */
    public Map<String, Object> specialTokens() {
        return specialTokens;
    }

    /**
     * The conversation as text (HF apply_chat_template(messages, tokenize=False,
     * add_generation_prompt=...)).
     *
     * @param messages            list of {"role": ..., "content": ..., ...} maps (any extra keys are visible to the template)
     * @param addGenerationPrompt append the header that starts an assistant reply
     * @throws Peft4jException when the template raises (raise_exception) or fails
     */
    public String render(List<? extends Map<String, ?>> messages, boolean addGenerationPrompt) {
        return render(messages, addGenerationPrompt, Map.of());
    }

    /** As {@link #render(List, boolean)} with extra template variables (HF's **template_kwargs, e.g. enable_thinking). */
    public String render(List<? extends Map<String, ?>> messages, boolean addGenerationPrompt, Map<String, ?> extra) {
        Objects.requireNonNull(messages, "messages");
        Map<String, Object> vars = new HashMap<>(specialTokens);
        vars.put("messages", messages);
        vars.put("add_generation_prompt", addGenerationPrompt);
        vars.put("tools", null);
        vars.put("documents", null);
        vars.putAll(extra);
        JinjaPython.takeRaised();   // clear anything a previous failed render on this thread left
        RenderResult result;
        try {
            result = jinjava.renderForResult(body, vars);
        } catch (RuntimeException e) {
            String raised = JinjaPython.takeRaised();
            if (raised != null) throw new Peft4jException("chat template raised: " + raised, e);
            throw new Peft4jException("chat template failed: " + e.getMessage(), e);
        }
        String raised = JinjaPython.takeRaised();
        if (raised != null) {
            throw new Peft4jException("chat template raised: " + raised);
        }
        List<String> fatal = new ArrayList<>();
        for (TemplateError e : result.getErrors()) {
            if (e.getSeverity() == TemplateError.ErrorType.FATAL) fatal.add(describe(e));
        }
        if (!fatal.isEmpty()) {
            throw new Peft4jException("chat template failed: " + String.join("; ", fatal)
                    + ". If the template uses a Jinja feature Jinjava lacks (e.g. slices with a step, "
                    + "messages[::-1]), pass a rewritten template with DataConfig.chatTemplate(...)");
        }
        return result.getOutput();
    }

    /** jinja2 (keep_trailing_newline=False, HF's setting) drops a single trailing newline of the template source. */
    static String dropOneTrailingNewline(String s) {
        if (s.endsWith("\r\n")) return s.substring(0, s.length() - 2);
        if (s.endsWith("\n") || s.endsWith("\r")) return s.substring(0, s.length() - 1);
        return s;
    }

    private static String describe(TemplateError e) {
        return e.getMessage() + (e.getLineno() > 0 ? " (template line " + e.getLineno() + ")" : "");
    }

    private void checkParses() {
        JinjavaInterpreter interpreter = jinjava.newInterpreter();
        JinjavaInterpreter.pushCurrent(interpreter);
        try {
            interpreter.parse(body);
        } finally {
            JinjavaInterpreter.popCurrent();
        }
        List<String> fatal = new ArrayList<>();
        for (TemplateError e : interpreter.getErrors()) {
            if (e.getSeverity() == TemplateError.ErrorType.FATAL) fatal.add(describe(e));
        }
        if (!fatal.isEmpty()) {
            throw new Peft4jException("chat template does not parse: " + String.join("; ", fatal)
                    + ". Fix the template (or pass a corrected one with DataConfig.chatTemplate(...))");
        }
    }

    private static Jinjava newEngine() {
        LegacyOverrides jinja2Semantics = LegacyOverrides.newBuilder()
                .withUseNaturalOperatorPrecedence(true)        // a + b | f  ==  a + (b | f)
                .withParseWhitespaceControlStrictly(true)
                .withUseTrimmingForNotesAndExpressions(true)   // {{- x }} strips like {%- %}
                .withEvaluateMapKeys(true)
                .withIterateOverMapKeys(true)
                .withKeepNullableLoopValues(true)
                .withUsePyishObjectMapper(true)
                .build();
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withLegacyOverrides(jinja2Semantics)
                .withElResolver(JinjaPython.resolver(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY))
                .build();
        Jinjava j = new Jinjava(config);
        try {
            j.registerFunction(new ELFunctionDefinition("", "raise_exception", JinjaPython.class,
                    "raiseException", Object.class));
            j.registerFunction(new ELFunctionDefinition("", "strftime_now", JinjaPython.class,
                    "strftimeNow", String.class));
        } catch (RuntimeException e) {
            throw new IllegalStateException("cannot register chat-template functions", e);
        }
        j.registerFilter(new JinjaPython.ToJsonFilter());
        j.registerFilter(new JinjaPython.TrimFilter());
        j.registerFilter(new JinjaPython.LengthFilter("length"));
        j.registerFilter(new JinjaPython.LengthFilter("count"));
        j.registerTag(new JinjaPython.GenerationTag());
        return j;
    }

    /** Deep copy of messages as plain, ordered Java maps/lists (what {@link #render} expects from JSON). */
    static List<Map<String, Object>> plain(List<? extends Map<String, ?>> messages) {
        List<Map<String, Object>> out = new ArrayList<>(messages.size());
        for (Map<String, ?> m : messages) out.add(new LinkedHashMap<>(m));
        return out;
    }
}
