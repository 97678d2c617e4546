package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** peft4j tokenize: HuggingFace's ids on real tokenizers, counts, and file summaries computed by hand. */
class TokenizeCliTest {
    @TempDir Path tmp;

    /** ../shared/tokenizers/hf-vectors: strings and the ids of HF AutoTokenizer.encode(text, add_special_tokens=False). */
    static List<Object[]> vectors(String name) throws Exception {
        String sep = "\n__ggml_vocab_test__\n";
        String all = Files.readString(CliTest.shared("tokenizers/hf-vectors/ggml-vocab-" + name + ".gguf.inp"), StandardCharsets.UTF_8);
        List<String> texts = Arrays.asList(all.substring(0, all.length() - sep.length()).split(Pattern.quote(sep), -1));
        List<String> out = Files.readAllLines(CliTest.shared("tokenizers/hf-vectors/ggml-vocab-" + name + ".gguf.out"), StandardCharsets.UTF_8);
        List<Object[]> cases = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            String t = out.get(i).strip();
            cases.add(new Object[] {texts.get(i), t.isEmpty() ? new int[0] : Arrays.stream(t.split(" +")).mapToInt(Integer::parseInt).toArray()});
        }
        return cases;
    }

    static int[] ids(String stdout) {
        Matcher m = Pattern.compile("(?m)^ids: \\[(.*)]$").matcher(stdout);
        assertThat(m.find()).as(stdout).isTrue();
        return m.group(1).isEmpty() ? new int[0] : Arrays.stream(m.group(1).split(", ")).mapToInt(Integer::parseInt).toArray();
    }

    /** Strings i = 0, step, 2·step, ... of the 46, through the command line, against HF's ids. */
    static void checkIds(int step) throws Exception {
        for (String[] pair : new String[][] {{"gpt-2", "tokenizers/gpt2"}, {"llama-spm", "tokenizers/llama2"}}) {
            List<Object[]> cases = vectors(pair[0]);
            Path model = CliTest.shared(pair[1]);
            for (int i = 0; i < cases.size(); i += step) {
                String text = (String) cases.get(i)[0];
                if (!text.isEmpty() && !text.contains("\n") && Files.exists(Path.of(text))) continue;
                String[] r = CliTest.run("tokenize", "--model", model.toString(), "--add-special-tokens", "false", text);
                assertThat(r[0]).as(r[2]).isEqualTo("0");
                assertThat(ids(r[1])).as("%s %s", pair[0], text).isEqualTo((int[]) cases.get(i)[1]);
                assertThat(r[1]).startsWith(((int[]) cases.get(i)[1]).length + " tokens");
            }
        }
    }

    /** "ied 4 ½ months", " Hello World", "    Hello\n    Hello" (spaces, unicode, newlines). */
    @Test
    void idsAreHuggingFacesOnGpt2AndLlama2() throws Exception { checkIds(14); }

    /** All 46 strings (a tokenizer load per string: slow). */
    @Test
    @Tag("slow")
    void idsAreHuggingFacesOnAll46Strings() throws Exception { checkIds(1); }

    @Test
    void defaultAddsTheSpecialTokensAndCountPrintsOnlyTheNumber() {
        Path llama2 = CliTest.shared("tokenizers/llama2");
        String[] r = CliTest.run("tokenize", "--model", llama2.toString(), "Hello world");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(ids(r[1])).containsExactly(1, 15043, 3186);       // <s> + HF's "Hello world"
        assertThat(r[1]).contains("tokens: [\"<s>\", \"▁Hello\", \"▁world\"]");
        String[] c = CliTest.run("tokenize", "--model", llama2.toString(), "--count", "Hello world");
        assertThat(c[1].strip()).isEqualTo("3");
        c = CliTest.run("tokenize", "--model", llama2.toString(), "--count", "--add-special-tokens=false", "Hello world");
        assertThat(c[1].strip()).isEqualTo("2");
    }

    /** The quickstart's word-level tokenizer: one token per word or punctuation mark, so counts are known by hand. */
    Path wordLevel() throws Exception {
        Path dir = tmp.resolve("wordlevel");
        Files.createDirectories(dir);
        QuickstartTask.writeTokenizer(dir);
        return dir;
    }

    @Test
    void textFileGivesPerLineCountsAndTheSummary() throws Exception {
        Path f = tmp.resolve("lines.txt");
        String w = "the ";
        // 3, 4, (blank: skipped), 6, 8, 20 words
        Files.writeString(f, w.repeat(3) + "\n" + w.repeat(4) + "\n\n" + w.repeat(6) + "\n" + w.repeat(8) + "\n" + w.repeat(20) + "\n");
        String[] r = CliTest.run("tokenize", "--model", wordLevel().toString(), "--add-special-tokens", "false", "--max-length", "7", f.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).contains("line 1: 3\n").contains("line 2: 4\n").contains("line 4: 6\n").contains("line 6: 20\n").doesNotContain("line 3:");
        // sorted 3 4 6 8 20: total 41, mean 8.2, median 6, p95 at 0.95*4 = 3.8 -> 8 + 0.8*12 = 17.6 (numpy.percentile)
        assertThat(r[1]).contains(": 5 lines, total 41 tokens, mean 8.2, min 3, median 6, p95 17.6, max 20")
                .contains("longer than --max-length 7: 2 of 5 lines (40.0%); lines 5, 6");
        String[] c = CliTest.run("tokenize", "--model", wordLevel().toString(), "--count", f.toString());
        assertThat(c[1]).doesNotContain("line 1:").contains("5 lines, total 46 tokens");   // + <s> per line (add_bos_token)
    }

    @Test
    void jsonlCountsEachTextField() throws Exception {
        Path f = tmp.resolve("data.jsonl");
        Files.writeString(f, """
                {"prompt": "Tom went to the park", "completion": " woof!"}
                {"messages": [{"role": "user", "content": "the dog said"}, {"role": "assistant", "content": "woof !"}]}
                {"text": "the cat said meow ."}
                """);
        String[] r = CliTest.run("tokenize", "--model", wordLevel().toString(), f.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).contains("line 1: 8  (prompt 5, completion 2, special 1)")
                .contains("line 2: 6  (messages 5, special 1)")
                .contains("line 3: 6  (text 5, special 1)")
                .contains("3 lines, total 20 tokens, mean 6.7, min 6, median 6, p95 7.8, max 8")
                .contains("prompt:      total 5 tokens").contains("(in 1 lines)");
    }

    @Test
    void badInputIsAClearError() throws Exception {
        Path f = tmp.resolve("bad.jsonl");
        Files.writeString(f, "{\"text\": \"the\"}\n{oops\n");
        String[] r = CliTest.run("tokenize", "--model", wordLevel().toString(), f.toString());
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2]).contains("bad.jsonl:2: invalid JSON");
        r = CliTest.run("tokenize", "--model", tmp.resolve("nope").toString(), "hello");
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2]).contains("does not exist");
    }
}
