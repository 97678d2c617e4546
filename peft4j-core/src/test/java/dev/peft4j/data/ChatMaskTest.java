/*
 * ChatMaskTest: assistant-only loss masks on the real Qwen2.5 and Llama-3 tokenizers and chat
 * templates: exactly the assistant content and the end-of-turn token the template writes after it
 * (<|im_end|> / <|eot_id|>) take loss - not the role headers, not the newline after <|im_end|>,
 * not the assistant header Llama-3's template appends after every conversation.
 */
package dev.peft4j.data;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChatMaskTest {
    static final int I = Example.IGNORE;

    @TempDir
    Path tmp;

    // loaded once per class (Qwen2.5's 151k merges take a moment); skipped when ../shared is absent
    private static Tokenizer qwen;
    private static Tokenizer llama;

    static Tokenizer qwen() {
        if (qwen == null) qwen = Tokenizer.load(Fixtures.qwen25());
        return qwen;
    }

    static Tokenizer llama() {
        if (llama == null) llama = Tokenizer.load(Fixtures.llama3());
        return llama;
    }

    @AfterAll
    static void close() {
        if (qwen != null) qwen.close();
        if (llama != null) llama.close();
    }

    Path jsonl(List<?>... conversations) throws IOException {
        ObjectMapper om = new ObjectMapper();
        List<String> lines = new ArrayList<>();
        for (List<?> c : conversations) lines.add(om.writeValueAsString(Map.of("messages", c)));
        Path f = tmp.resolve("chat.jsonl");
        Files.write(f, lines);
        return f;
    }

    static List<String> runs(Tokenizer tok, Example e) {
        List<String> out = new ArrayList<>();
        int t = 0;
        while (t < e.length()) {
            if (e.labels()[t] == I) {
                t++;
                continue;
            }
            int s = t;
            while (t < e.length() && e.labels()[t] != I) t++;
            out.add(tok.decode(Arrays.copyOfRange(e.labels(), s, t), false));
        }
        return out;
    }

    static int[] cat(int[] a, int b) {
        int[] out = Arrays.copyOf(a, a.length + 1);
        out[a.length] = b;
        return out;
    }

    @Test
    void qwen25MasksAssistantContentAndImEnd() throws IOException {
        Path dir = Fixtures.qwen25();
        Tokenizer tok = qwen();
        Dataset d = Dataset.load(jsonl(ChatTemplateTest.conversation()), tok, dir, DataConfig.defaults());
        Example e = d.train().get(0);
        // the ids are the tokenization of the rendering HF produces (add_special_tokens=False)
        assertThat(e.inputIds()).containsExactly(tok.encode(Fixtures.read("chat/qwen2.5.expected.txt")));
        int imEnd = tok.idOf("<|im_end|>").orElseThrow();
        int[] expectedLabelled = cat(tok.encode("2+2 equals 4."), imEnd);
        assertThat(Arrays.stream(e.labels()).filter(l -> l != I).toArray()).containsExactly(expectedLabelled);
        assertThat(runs(tok, e)).containsExactly("2+2 equals 4.<|im_end|>");
        // the labelled run is followed only by the template's trailing "\n"
        assertThat(e.labels()[e.length() - 1]).isEqualTo(I);
        assertThat(e.labels()[e.length() - 2]).isEqualTo(imEnd);
        assertThat(d.stats().lossTokens()).isEqualTo(expectedLabelled.length);
    }

    @Test
    void llama3MasksAssistantContentAndEotButNotTheAppendedHeader() throws IOException {
        Path dir = Fixtures.llama3();
        Tokenizer tok = llama();
        Dataset d = Dataset.load(jsonl(ChatTemplateTest.conversation()), tok, dir, DataConfig.defaults());
        Example e = d.train().get(0);
        assertThat(e.inputIds()).containsExactly(tok.encode(Fixtures.read("chat/llama3.expected.txt")));
        assertThat(e.inputIds()[0]).isEqualTo(tok.idOf("<|begin_of_text|>").orElseThrow());
        int eot = tok.idOf("<|eot_id|>").orElseThrow();
        assertThat(Arrays.stream(e.labels()).filter(l -> l != I).toArray())
                .containsExactly(cat(tok.encode("2+2 equals 4."), eot));
        assertThat(runs(tok, e)).containsExactly("2+2 equals 4.<|eot_id|>");
        // "<|start_header_id|>assistant<|end_header_id|>\n\n" (4 tokens) closes the text, unlabelled
        int[] tail = Arrays.copyOfRange(e.labels(), e.length() - 4, e.length());
        assertThat(tail).containsOnly(I);
    }

    @Test
    void multiTurnMasksEveryAssistantTurn() throws IOException {
        List<Map<String, Object>> conv = List.of(
                ChatTemplateTest.msg("system", "Be brief."),
                ChatTemplateTest.msg("user", "Hi"),
                ChatTemplateTest.msg("assistant", "  Hello!  "),
                ChatTemplateTest.msg("user", "2+2?"),
                ChatTemplateTest.msg("assistant", "4 <|im_end|> is not the end"));
        Example q = Dataset.load(jsonl(conv), qwen(), Fixtures.qwen25(), DataConfig.defaults()).train().get(0);
        // Qwen keeps content verbatim; an end-of-turn marker typed inside content does not end the turn
        assertThat(runs(qwen(), q)).containsExactly("  Hello!  <|im_end|>", "4 <|im_end|> is not the end<|im_end|>");
        Example l = Dataset.load(jsonl(conv), llama(), Fixtures.llama3(), DataConfig.defaults()).train().get(0);
        // Llama-3 trims content
        assertThat(runs(llama(), l)).containsExactly("Hello!<|eot_id|>", "4 <|im_end|> is not the end<|eot_id|>");
    }

    @Test
    void anAssistantFirstConversationIsMasked() throws IOException {
        // Qwen2.5's template with no messages still writes its default system turn (messages[0] is
        // undefined, so its role is not "system"), which is a prefix of the full rendering
        Example e = Dataset.load(jsonl(List.of(ChatTemplateTest.msg("assistant", "Hello"))), qwen(), Fixtures.qwen25(),
                DataConfig.defaults()).train().get(0);
        assertThat(runs(qwen(), e)).containsExactly("Hello<|im_end|>");
    }

    @Test
    void offsetsMapTokensBackToJavaStringIndices() {
        // 🙂 is one code point but two Java chars: spans after it must be shifted by one
        String text = "héllo 🙂 wörld<|eot_id|>ok";
        for (Tokenizer tok : List.of(llama(), qwen())) {
            Tokenizer.Encoded enc = tok.encodeWithOffsets(text);
            assertThat(enc.ids()).containsExactly(tok.encode(text));
            StringBuilder covered = new StringBuilder();
            int last = 0;
            for (int k = 0; k < enc.ids().length; k++) {
                assertThat(enc.starts()[k]).isBetween(0, text.length());
                assertThat(enc.ends()[k]).isBetween(enc.starts()[k], text.length());
                if (enc.starts()[k] >= last) covered.append(text, enc.starts()[k], enc.ends()[k]);
                last = Math.max(last, enc.ends()[k]);
            }
            assertThat(covered.toString()).isEqualTo(text);
            int eot = Arrays.stream(enc.ids()).boxed().toList().indexOf(tok.idOf("<|eot_id|>").orElse(-1));
            if (eot >= 0) {
                assertThat(text.substring(enc.starts()[eot], enc.ends()[eot])).isEqualTo("<|eot_id|>");
            }
        }
    }

    @Test
    void lossOnAllTokensLabelsTheWholeRendering() throws IOException {
        Tokenizer tok = qwen();
        Example e = Dataset.load(jsonl(ChatTemplateTest.conversation()), tok, Fixtures.qwen25(),
                DataConfig.builder().completionOnlyLoss(false).build()).train().get(0);
        assertThat(e.labels()).containsExactly(e.inputIds());
    }

    @Test
    void aConversationWithoutAssistantTurnIsDroppedAndCounted() throws IOException {
        Tokenizer tok = qwen();
        Dataset d = Dataset.load(jsonl(ChatTemplateTest.conversation(), List.of(ChatTemplateTest.msg("user", "Hi"))),
                tok, Fixtures.qwen25(), DataConfig.defaults());
        assertThat(d.train()).hasSize(1);
        assertThat(d.stats().droppedNoLoss()).isEqualTo(1);
        assertThat(d.stats().recordsRead()).isEqualTo(2);
    }

    @Test
    void templateErrorsAreMalformedRecords() throws IOException {
        String alternating = "{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
                + "{{ raise_exception('roles must alternate') }}{% endif %}{{ m['content'] + eos_token }}{% endfor %}";
        Tokenizer tok = qwen();
        Path f = jsonl(List.of(ChatTemplateTest.msg("user", "a"), ChatTemplateTest.msg("assistant", "b")),
                List.of(ChatTemplateTest.msg("assistant", "b")));
        DataConfig cfg = DataConfig.builder().chatTemplate(alternating).build();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Dataset.load(f, tok, Fixtures.qwen25(), cfg))
                .isInstanceOf(DataFormatException.class)
                .hasMessageContaining("chat.jsonl:2: chat template raised: roles must alternate");
        Dataset d = Dataset.load(f, tok, Fixtures.qwen25(), cfg.toBuilder().skipMalformed(true).build());
        assertThat(d.train()).hasSize(1);
        assertThat(d.stats().skipped()).isEqualTo(1);
        assertThat(d.stats().skipReasons().get(0)).contains("chat.jsonl:2").contains("roles must alternate");
        assertThat(runs(tok, d.train().get(0))).containsExactly("b<|im_end|>");
    }
}
