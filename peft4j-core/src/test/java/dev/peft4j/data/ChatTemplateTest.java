/*
 * ChatTemplateTest: the real Qwen2.5 and Llama-3 chat templates from ../shared/tokenizers render a
 * system/user/assistant conversation exactly as HF's apply_chat_template does, plus the Jinja /
 * HF-environment features templates rely on.
 *
 * The expected strings (src/test/resources/data/chat/*.expected.txt) were derived by hand from the
 * templates, for messages = [system "You are a helpful assistant.", user "What is 2+2?\n",
 * assistant "2+2 equals 4."], add_generation_prompt=False, tools=None:
 *
 * Qwen2.5: `tools` is none, so the else branch: messages[0].role is "system", which writes
 * "<|im_start|>system\n" + content + "<|im_end|>\n". The loop skips message 0 (a system message
 * that is loop.first matches no branch), then user and assistant (no tool_calls) each write
 * "<|im_start|>" + role + "\n" + content + "<|im_end|>\n" - content untouched, so the user's
 * trailing "\n" stays. No generation prompt.
 *
 * Llama-3: for each message, content = "<|start_header_id|>" + role + "<|end_header_id|>\n\n" +
 * (message.content | trim) + "<|eot_id|>" - the filter binds tighter than +, so only the content is
 * trimmed (the user's "\n" goes); bos_token "<|begin_of_text|>" is prepended at loop.index0 == 0;
 * after the loop the template writes "<|start_header_id|>assistant<|end_header_id|>\n\n"
 * unconditionally (it ignores add_generation_prompt).
 */
package dev.peft4j.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Peft4jException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChatTemplateTest {

    static List<Map<String, Object>> conversation() throws IOException {
        return new ObjectMapper().readValue(Fixtures.read("chat/conversation.json"), new TypeReference<>() {});
    }

    static Map<String, Object> msg(String role, String content) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("role", role);
        m.put("content", content);
        return m;
    }

    @Test
    void qwen25RendersExactlyAsHf() throws IOException {
        ChatTemplate t = ChatTemplate.fromModelDir(Fixtures.qwen25());
        String expected = Fixtures.read("chat/qwen2.5.expected.txt");
        assertThat(t.render(conversation(), false)).isEqualTo(expected);
        assertThat(t.render(conversation(), true)).isEqualTo(expected + "<|im_start|>assistant\n");
        // without a system message the template supplies Qwen's default one
        assertThat(t.render(List.of(msg("user", "Hi")), true)).isEqualTo(
                "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
                        + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
        assertThat(t.specialTokens()).containsEntry("eos_token", "<|im_end|>").containsEntry("pad_token", "<|endoftext|>")
                .doesNotContainKey("bos_token");
    }

    @Test
    void llama3RendersExactlyAsHf() throws IOException {
        ChatTemplate t = ChatTemplate.fromModelDir(Fixtures.llama3());
        String expected = Fixtures.read("chat/llama3.expected.txt");
        assertThat(t.render(conversation(), false)).isEqualTo(expected);
        assertThat(t.render(conversation(), true)).isEqualTo(expected);   // add_generation_prompt is ignored
        assertThat(t.specialTokens()).containsEntry("bos_token", "<|begin_of_text|>");
    }

    @Test
    void listFormUsesTheDefaultTemplate(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("tokenizer_config.json"), """
                {"bos_token": {"content": "<s>", "special": true}, "eos_token": "</s>",
                 "chat_template": [{"name": "tool_use", "template": "TOOLS"},
                                   {"name": "default", "template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}{{ eos_token }}"}]}
                """);
        ChatTemplate t = ChatTemplate.fromModelDir(dir);
        assertThat(t.render(List.of(msg("user", "a"), msg("assistant", "b")), false)).isEqualTo("<s>ab</s>");

        Files.writeString(dir.resolve("tokenizer_config.json"), """
                {"chat_template": [{"name": "tool_use", "template": "TOOLS"}]}
                """);
        assertThatThrownBy(() -> ChatTemplate.fromModelDir(dir)).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("[tool_use]").hasMessageContaining("none named \"default\"");
    }

    @Test
    void chatTemplateJinjaFileWins(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"chat_template\": \"CONFIG\"}");
        Files.writeString(dir.resolve("chat_template.jinja"), "FILE{{ messages|length }}");
        assertThat(ChatTemplate.fromModelDir(dir).render(List.of(msg("user", "x")), false)).isEqualTo("FILE1");
    }

    @Test
    void missingTemplateSaysHowToFix(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"eos_token\": \"</s>\"}");
        assertThat(ChatTemplate.exists(dir)).isFalse();
        assertThatThrownBy(() -> ChatTemplate.fromModelDir(dir)).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("no chat template for " + dir).hasMessageContaining("DataConfig.chatTemplate");
        // an override needs no template in the directory, and still gets its special tokens
        assertThat(ChatTemplate.fromModelDir(dir, "{{ eos_token }}").render(List.of(), false)).isEqualTo("</s>");
    }

    @Test
    void raiseExceptionAbortsTheRender() {
        String mistral = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != "
                + "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
                + "{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
                + "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}";
        ChatTemplate t = ChatTemplate.of(mistral, Map.of("bos_token", "<s>", "eos_token", "</s>"));
        assertThat(t.render(List.of(msg("user", "Hi"), msg("assistant", "Hello")), false))
                .isEqualTo("<s>[INST] Hi [/INST]Hello</s>");
        assertThatThrownBy(() -> t.render(List.of(msg("assistant", "Hello")), false))
                .isInstanceOf(Peft4jException.class)
                .hasMessage("chat template raised: Conversation roles must alternate user/assistant/user/assistant/...");
        // the next render on the same thread is not affected
        assertThat(t.render(List.of(msg("user", "Hi")), false)).isEqualTo("<s>[INST] Hi [/INST]");
    }

    @Test
    void syntaxErrorsAreRejectedAtConstruction() {
        assertThatThrownBy(() -> ChatTemplate.of("{% for m in messages %}{{ m.content }}", Map.of()))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("does not parse");
        assertThatThrownBy(() -> ChatTemplate.of(" ", Map.of())).hasMessageContaining("blank");
    }

    @Test
    void jinja2SemanticsHfTemplatesRelyOn() {
        List<Map<String, Object>> m = List.of(msg("system", " Be brief. "), msg("user", "What is 2+2?"),
                msg("assistant", "4"));
        // whitespace control, trim_blocks / lstrip_blocks, loop variables, slicing, namespace
        String t1 = """
                {%- set ns = namespace(n=0) %}
                {%- if messages[0]['role'] == 'system' %}
                    {%- set sys = messages[0]['content'] | trim %}
                    {%- set rest = messages[1:] %}
                {%- endif %}
                [{{ sys }}]
                {% for message in rest %}
                    {% if message.role == 'assistant' %}{% set ns.n = ns.n + 1 %}{% endif %}
                    {{ loop.index0 }}{{ '!' if loop.first }}{{ '$' if loop.last }}:{{ message['content'] }}
                {% endfor %}
                {{- ns.n }}
                """;
        // jinja2 (trim_blocks, lstrip_blocks; lstrip does not apply before {{ }}; the template's final
        // newline is dropped, keep_trailing_newline=False) gives:
        assertThat(ChatTemplate.of(t1, Map.of()).render(m, false))
                .isEqualTo("[Be brief.]\n    0!:What is 2+2?\n    1$:4\n1");

        // `a + b | f` filters b only; `tools is none`; `is defined`; `is string`
        String t2 = "{{ 'x' + ' y ' | trim }}|{{ tools is none }}|{{ tools is not none }}|{{ messages[0].tool_calls is defined }}"
                + "|{{ messages[2].content is string }}";
        assertThat(ChatTemplate.of(t2, Map.of()).render(m, false)).isEqualTo("xy|true|false|false|true");
    }

    /** Expected values from Python's jinja2 (which prints booleans as True/False; Jinjava prints true/false). */
    @Test
    void pythonStringMethods() {
        String t = "{% set s = messages[0].content %}{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ s.strip(' .') }}"
                + "|{{ s.startswith(' <think>') }}|{{ s.strip().endswith(('x', '</think>')) }}"
                + "|{{ s.split('</think>')[-1].strip() }}|{{ s.split()|length }}|{{ s.upper() }}|{{ s.lower() }}"
                + "|{{ 'a,b,,c'.split(',') }}|{{ 'a-b-c'.rsplit('-', 1) }}|{{ 'hello world'.title() }}"
                + "|{{ 'aaa'.replace('a', 'b', 2) }}|{{ 'abc'[-1] }}|{{ 'abcabc'.find('c') }}|{{ 'abcabc'.count('bc') }}"
                + "|{{ '-'.join(['x', 'y']) }}|{{ 'prefix-body'.removeprefix('prefix-') }}|{{ '  '.isspace() }}";
        String content = " <think>Hmm.</think> Answer. ";
        assertThat(ChatTemplate.of(t, Map.of()).render(List.of(msg("assistant", content)), false)).isEqualTo(
                "<think>Hmm.</think> Answer.|<think>Hmm.</think> Answer. | <think>Hmm.</think> Answer.|<think>Hmm.</think> Answer"
                        + "|true|false|Answer.|2| <THINK>HMM.</THINK> ANSWER. | <think>hmm.</think> answer. "
                        + "|['a', 'b', '', 'c']|['a-b', 'c']|Hello World|bba|c|2|2|x-y|body|true");
    }

    @Test
    void tojsonMatchesPythonJsonDumps() {
        Map<String, Object> call = new LinkedHashMap<>();
        call.put("name", "get_weather");
        call.put("arguments", new LinkedHashMap<>(Map.of("city", "Zürich \"ZH\"")));
        Map<String, Object> m = msg("assistant", "");
        m.put("tool_calls", List.of(Map.of("function", call)));
        String t = "{{ messages[0].tool_calls[0].function | tojson }}\n{{ messages[0].tool_calls[0].function.arguments | tojson(indent=2) }}"
                + "\n{{ [1, 2.5, 1e-05, true, 'x'] | tojson }}|{{ [] | tojson }}|{{ {} | tojson }}";
        // Python: json.dumps(x, ensure_ascii=False) / indent=2
        assertThat(ChatTemplate.of(t, Map.of()).render(List.of(m), false)).isEqualTo(
                "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich \\\"ZH\\\"\"}}\n"
                        + "{\n  \"city\": \"Zürich \\\"ZH\\\"\"\n}\n[1, 2.5, 1e-05, true, \"x\"]|[]|{}");
    }

    @Test
    void generationBlocksRenderTheirBody() {
        String t = "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}<end>{% endgeneration %}"
                + "{% else %}{{ m.content }}{% endif %}{% endfor %}";
        assertThat(ChatTemplate.of(t, Map.of()).render(List.of(msg("user", "q"), msg("assistant", "a")), false))
                .isEqualTo("qa<end>");
    }

    @Test
    void trimStripsUnicodeWhitespaceLikePython() {
        // Python: "\u00a0\u3000 x \u2003\n".strip() == "x"; Jinjava's own trim keeps the non-ASCII spaces
        assertThat(ChatTemplate.of("[{{ messages[0].content|trim }}][{{ messages[0].content.strip() }}][{{ 'xxaxx'|trim('x') }}]", Map.of())
                .render(List.of(msg("user", "\u00a0\u3000 x \u2003\n")), false)).isEqualTo("[x][x][a]");
    }

    @Test
    void lengthCountsCodePointsLikePython() {
        assertThat(ChatTemplate.of("{{ messages[0].content|length }}", Map.of())
                .render(List.of(msg("user", "héllo 🙂")), false)).isEqualTo("7");
    }
}
