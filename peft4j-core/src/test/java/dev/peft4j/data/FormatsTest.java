/*
 * FormatsTest: every record shape read from the committed fixtures and tokenized with the tiny
 * stories260K Llama tokenizer (BOS 1, EOS 2, adds BOS). The ids were checked by hand against its
 * vocabulary: "Tom had a ball." = ▁T om ▁had ▁a ▁b all . = 274 287 381 261 268 388 426 and, tokenized
 * on its own, "It was red." = ▁I t ▁was ▁r ed . = 359 413 286 352 266 426.
 */
package dev.peft4j.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class FormatsTest {
    static final int I = Example.IGNORE;
    static final int[] TOM_HAD_A_BALL = {274, 287, 381, 261, 268, 388, 426};
    static final int[] IT_WAS_RED = {359, 413, 286, 352, 266, 426};

    /** A minimal chat template for a model without one: "role: content", EOS after assistant turns. */
    static final String SIMPLE_TEMPLATE = "{{ bos_token }}{% for m in messages %}{{ m['role'] + ': ' + m['content'] }}"
            + "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\\n' }}{% endfor %}"
            + "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}";

    static Tokenizer tok;

    @BeforeAll
    static void load() {
        tok = Tokenizer.load(Fixtures.stories260K());
    }

    @AfterAll
    static void close() {
        if (tok != null) tok.close();
    }

    static int[] cat(int[]... parts) {
        int n = 0;
        for (int[] p : parts) n += p.length;
        int[] out = new int[n];
        int at = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    static int[] ignore(int n) {
        int[] a = new int[n];
        Arrays.fill(a, I);
        return a;
    }

    static Dataset load(String fixture, DataConfig cfg) {
        return Dataset.load(Fixtures.resource(fixture), tok, null, cfg);
    }

    static int[] labelled(Example e) {
        return Arrays.stream(e.labels()).filter(l -> l != I).toArray();
    }

    @Test
    void promptCompletionIdsAndLabelsExactly() {
        Dataset d = load("prompt_completion.jsonl", DataConfig.defaults());
        Example e = d.train().get(0);
        // [BOS] encode(prompt + completion) [EOS] (joint, as TRL); loss after the 1 + 7 prompt tokens
        int[] joint = tok.encode("Tom had a ball." + "It was red.");
        assertThat(Arrays.copyOf(joint, 7)).containsExactly(TOM_HAD_A_BALL);
        assertThat(e.inputIds()).containsExactly(cat(new int[] {1}, joint, new int[] {2}));
        int[] completionPart = Arrays.copyOfRange(joint, 7, joint.length);
        assertThat(e.labels()).containsExactly(cat(ignore(8), completionPart, new int[] {2}));
        assertThat(e.lossTokens()).isEqualTo(completionPart.length + 1);
        assertThat(d.stats().formats()).containsValue(DataFormat.PROMPT_COMPLETION);
        assertThat(d.stats().examples()).isEqualTo(2);
        assertThat(d.stats().tokens()).isEqualTo(d.train().stream().mapToInt(Example::length).sum());
    }

    @Test
    void promptCompletionWithLossOnAllTokensAndWithoutEos() {
        Example all = load("prompt_completion.jsonl", DataConfig.builder().completionOnlyLoss(false).build()).train().get(0);
        assertThat(all.labels()).containsExactly(all.inputIds());

        Example noEos = load("prompt_completion.jsonl", DataConfig.builder().addEos(false).build()).train().get(0);
        int[] joint = tok.encode("Tom had a ball.It was red.");
        assertThat(noEos.inputIds()).containsExactly(cat(new int[] {1}, joint));
        assertThat(noEos.labels()).containsExactly(cat(ignore(8), Arrays.copyOfRange(joint, 7, joint.length)));
    }

    @Test
    void jointTokenizationAddsNoSecondWordPrefixAtTheSeam(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path f = dir.resolve("seam.jsonl");
        java.nio.file.Files.writeString(f, "{\"prompt\": \"The owl said\", \"completion\": \" hoot!\"}\n");
        Example e = Dataset.load(f, tok, null, DataConfig.builder().addEos(false).build()).train().get(0);
        assertThat(e.inputIds()).containsExactly(cat(new int[] {1}, tok.encode("The owl said hoot!")));
        // the completion starts with the "▁h" piece itself, not a lone "▁" (the decoder drops the leading space)
        assertThat(tok.tokenText(labelled(e)[0])).isEqualTo("▁h");
        assertThat(tok.decode(labelled(e))).isEqualTo("hoot!");
    }

    @Test
    void textTakesLossOnEveryToken() {
        Dataset d = load("text.jsonl", DataConfig.defaults());
        assertThat(d.stats().formats()).containsValue(DataFormat.TEXT);
        assertThat(d.train()).hasSize(2);   // the blank line is ignored
        Example e = d.train().get(0);
        assertThat(e.inputIds()).containsExactly(cat(new int[] {1}, TOM_HAD_A_BALL, new int[] {2}));
        assertThat(e.labels()).containsExactly(e.inputIds());
        assertThat(d.train().get(1).inputIds()).containsExactly(cat(new int[] {1}, IT_WAS_RED, new int[] {2}));
    }

    @Test
    void alpacaUsesTheFixedPromptAndOmitsAnEmptyInput() {
        assertThat(ExampleEncoder.alpacaPrompt("Say what Tom had.", ""))
                .isEqualTo("### Instruction:\nSay what Tom had.\n\n### Response:\n");
        assertThat(ExampleEncoder.alpacaPrompt("Name the color.", "The ball was red."))
                .isEqualTo("### Instruction:\nName the color.\n\n### Input:\nThe ball was red.\n\n### Response:\n");
        assertThat(ExampleEncoder.alpacaPrompt("Use {input} and $1", "  "))
                .isEqualTo("### Instruction:\nUse {input} and $1\n\n### Response:\n");

        Dataset d = load("alpaca.json", DataConfig.defaults());   // a JSON array
        assertThat(d.stats().formats()).containsValue(DataFormat.ALPACA);
        Example e = d.train().get(0);
        int[] prompt = tok.encode("### Instruction:\nSay what Tom had.\n\n### Response:\n");
        int[] joint = tok.encode("### Instruction:\nSay what Tom had.\n\n### Response:\nA ball.");
        assertThat(e.inputIds()).containsExactly(cat(new int[] {1}, joint, new int[] {2}));
        assertThat(e.labels()).containsExactly(cat(ignore(1 + prompt.length), Arrays.copyOfRange(joint, prompt.length, joint.length), new int[] {2}));
        Example withInput = d.train().get(1);
        assertThat(tok.decode(withInput.inputIds())).contains("### Input:\nThe ball was red.");
        assertThat(tok.decode(labelled(withInput))).isEqualTo("Red.");
    }

    @Test
    void messagesTakeLossOnAssistantTurnsAndTheirEndOfTurn() {
        DataConfig cfg = DataConfig.builder().chatTemplate(SIMPLE_TEMPLATE).build();
        Dataset d = load("messages.jsonl", cfg);
        assertThat(d.stats().formats()).containsValue(DataFormat.MESSAGES);

        // "<s>user: Tom had a ball.\nassistant: It was red.</s>\n": loss on "▁It was red." and </s>
        Example e = d.train().get(0);
        assertThat(e.inputIds()[0]).isEqualTo(1);
        assertThat(tok.decode(e.inputIds(), false)).isEqualTo("<s> user: Tom had a ball.\nassistant: It was red.</s> \n");
        assertThat(labelled(e)).containsExactly(cat(IT_WAS_RED, new int[] {2}));
        // the labelled tokens are one contiguous run that ends on </s>
        int first = indexOfFirstLabel(e);
        assertThat(Arrays.stream(e.labels(), first, first + 7).allMatch(l -> l != I)).isTrue();

        // two assistant turns: both labelled, the user/system turns not
        Example two = d.train().get(1);
        List<String> runs = labelledRuns(two);
        assertThat(runs).containsExactly("Hello!</s>", "Bye bye.</s>");
    }

    @Test
    void messagesWithLossOnAllTokens() {
        DataConfig cfg = DataConfig.builder().chatTemplate(SIMPLE_TEMPLATE).completionOnlyLoss(false).build();
        Example e = load("messages.jsonl", cfg).train().get(1);
        assertThat(e.labels()).containsExactly(e.inputIds());
    }

    @Test
    void conversationalPromptCompletionLabelsOnlyTheCompletion() {
        DataConfig cfg = DataConfig.builder().chatTemplate(SIMPLE_TEMPLATE).build();
        Dataset d = load("conversational_pc.jsonl", cfg);
        assertThat(d.stats().formats()).containsValue(DataFormat.PROMPT_COMPLETION);
        // the prompt's assistant turn ("What color?") takes no loss
        assertThat(labelledRuns(d.train().get(0))).containsExactly("It was red.</s>");
    }

    @Test
    void messagesNeedAChatTemplate() {
        assertThatThrownBy(() -> load("messages.jsonl", DataConfig.defaults()))
                .isInstanceOf(DataFormatException.class)
                .hasMessageContaining("no chat template")
                .hasMessageContaining("DataConfig.chatTemplate");
        assertThatThrownBy(() -> Dataset.load(Fixtures.resource("messages.jsonl"), tok, Fixtures.stories260K(),
                DataConfig.defaults()))
                .hasMessageContaining("no chat template for " + Fixtures.stories260K());
    }

    @Test
    void columnsRenameFieldsBeforeDetection() {
        assertThatThrownBy(() -> load("qa.jsonl", DataConfig.defaults()))
                .isInstanceOf(DataFormatException.class)
                .hasMessageContaining("qa.jsonl:1")
                .hasMessageContaining("cannot detect the format from the keys [question, answer]");
        Dataset d = load("qa.jsonl", DataConfig.builder().columns(Map.of("question", "prompt", "answer", "completion")).build());
        Example e = d.train().get(0);
        assertThat(tok.decode(labelled(e))).isEqualTo("It was red.");
    }

    @Test
    void aFixedFormatThatDoesNotFitIsReportedPerRecord() {
        assertThatThrownBy(() -> load("prompt_completion.jsonl", DataConfig.builder().format(DataFormat.TEXT).build()))
                .isInstanceOf(DataFormatException.class)
                .hasMessageContaining("prompt_completion.jsonl:1: missing field \"text\"")
                .hasMessageContaining("reading as TEXT");
    }

    @Test
    void aSeparateValidationFileHasItsOwnFormat() {
        DataConfig cfg = DataConfig.builder().validationFile(Fixtures.resource("text.jsonl")).build();
        Dataset d = load("prompt_completion.jsonl", cfg);
        assertThat(d.train()).hasSize(2);
        assertThat(d.validation()).hasSize(2);
        assertThat(d.validation().get(0).labels()).containsExactly(d.validation().get(0).inputIds());
        assertThat(d.stats().formats()).containsValues(DataFormat.PROMPT_COMPLETION, DataFormat.TEXT);
        assertThat(d.stats().recordsRead()).isEqualTo(4);
        assertThat(d.stats().validationExamples()).isEqualTo(2);
    }

    @Test
    void limitReadsOnlyTheFirstRecords() {
        Dataset d = load("prompt_completion.jsonl", DataConfig.builder().limit(1).build());
        assertThat(d.train()).hasSize(1);
        assertThat(d.stats().recordsRead()).isEqualTo(1);
    }

    static int indexOfFirstLabel(Example e) {
        for (int t = 0; t < e.length(); t++) if (e.labels()[t] != I) return t;
        return -1;
    }

    /** The decoded text (special tokens kept) of each maximal run of labelled positions. */
    static List<String> labelledRuns(Example e) {
        List<String> runs = new ArrayList<>();
        int t = 0;
        while (t < e.length()) {
            if (e.labels()[t] == I) {
                t++;
                continue;
            }
            int s = t;
            while (t < e.length() && e.labels()[t] != I) t++;
            runs.add(tok.decode(Arrays.copyOfRange(e.labels(), s, t), false));
        }
        return runs;
    }
}
