/*
 * ChatTemplateGoldenTest: the real Qwen3 and Gemma 3 chat templates (../shared/tokenizers/{qwen3,gemma3})
 * render every conversation of scripts/golden/make_chat_template_goldens.py exactly as Python's jinja2 does
 * under transformers' apply_chat_template settings: system / user-only / multi-turn (non-ASCII) / assistant
 * turns with <think> reasoning / an assistant prefix to continue / roles that do not alternate (Gemma raises)
 * / content as typed parts (Gemma), each with and without add_generation_prompt, and Qwen3's
 * enable_thinking=false. Expected strings: src/test/resources/data/chat/template_goldens.json.
 */
package dev.peft4j.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Peft4jException;
import dev.peft4j.SharedArtefacts;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class ChatTemplateGoldenTest {
    record Case(String template, String name, List<Map<String, Object>> messages, boolean add_generation_prompt,
                Map<String, Object> kwargs, String expected, String error) {
        @Override public String toString() {
            return template + ": " + name + (add_generation_prompt ? " + generation prompt" : "") + (kwargs.isEmpty() ? "" : " " + kwargs);
        }
    }

    static Stream<Case> cases() throws IOException {
        List<Case> all = new ObjectMapper().readValue(Fixtures.read("chat/template_goldens.json"), new TypeReference<>() {});
        assertThat(all).hasSizeGreaterThanOrEqualTo(30);
        return all.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void rendersExactlyAsJinja2(Case c) {
        ChatTemplate t = ChatTemplate.fromModelDir(SharedArtefacts.require("tokenizers/" + c.template()));
        if (c.error() != null) {
            assertThatThrownBy(() -> t.render(c.messages(), c.add_generation_prompt(), c.kwargs()))
                    .isInstanceOf(Peft4jException.class).hasMessageContaining(c.error());
        } else {
            assertThat(t.render(c.messages(), c.add_generation_prompt(), c.kwargs())).isEqualTo(c.expected());
        }
    }
}
