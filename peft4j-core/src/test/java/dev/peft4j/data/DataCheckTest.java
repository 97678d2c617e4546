/*
 * DataCheckTest: the data checker finds planted problems - exact and near duplicates, leakage into
 * validation and test files, empty targets, truncation, label imbalance, chat-format errors - with
 * the right counts and the 1-based lines of the source files; a clean file has no findings.
 */
package dev.peft4j.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.Peft4jException;
import dev.peft4j.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataCheckTest {
    @TempDir Path dir;

    static final DataConfig CFG = DataConfig.defaults();

    /** A prompt/completion line. */
    static String pc(String prompt, String completion) {
        return "{\"prompt\": \"" + prompt + "\", \"completion\": \"" + completion + "\"}";
    }

    Path write(String name, String... lines) throws IOException {
        Path f = dir.resolve(name);
        Files.writeString(f, String.join("\n", lines) + "\n");
        return f;
    }

    /** The line numbers of a finding's example groups. */
    static List<List<Integer>> lines(DataCheck.Finding f) {
        return f.examples().stream().map(g -> g.stream().map(DataCheck.Line::line).toList()).toList();
    }

    /** Distinct records: a question about number i and its answer. */
    static String distinct(int i) {
        return pc("Question " + i + ": what is " + i + " times " + (i + 3) + " in the tables of the book " + (i * 7) + "?",
                " " + (i * (i + 3)));
    }

    @Test
    void aCleanFileHasNoFindings() throws IOException {
        List<String> ls = new ArrayList<>();
        for (int i = 0; i < 30; i++) ls.add(distinct(i));
        DataCheck.Report r = DataCheck.run(write("clean.jsonl", ls.toArray(String[]::new)), null, null, null, CFG);
        assertThat(r.findings()).isEmpty();
        assertThat(r.hasWarnings()).isFalse();
        assertThat(r.files()).singleElement().satisfies(f -> {
            assertThat(f.records()).isEqualTo(30);
            assertThat(f.format()).isEqualTo("prompt_completion");
        });
        assertThat(r.balance()).as("30 distinct answers are not a label set").isNull();
        assertThat(r.summary()).contains("no problems found").contains("give --model");
        DataCheck.failOnWarnings(r);   // does not throw
    }

    @Test
    void exactDuplicatesAreCountedWithTheirLines() throws IOException {
        Path f = write("dup.jsonl",
                distinct(1),                 // 1
                distinct(2),                 // 2
                "",                          // 3 (blank: skipped, still counted as a line)
                distinct(1),                 // 4 = 1
                distinct(3),                 // 5
                distinct(2),                 // 6 = 2
                distinct(1),                 // 7 = 1
                distinct(4));                // 8
        DataCheck.Report r = DataCheck.run(f, null, null, null, CFG);
        DataCheck.Finding d = r.finding("exact-duplicate").orElseThrow();
        assertThat(d.count()).as("copies beyond the first").isEqualTo(3);
        assertThat(d.of()).isEqualTo(7);
        assertThat(lines(d)).containsExactly(List.of(1, 4, 7), List.of(2, 6));
        assertThat(d.severity()).isEqualTo(DataCheck.Severity.WARNING);
        assertThat(d.describe()).contains("dup.jsonl:1 = dup.jsonl:4 = dup.jsonl:7");
        assertThat(r.finding("near-duplicate")).as("exact copies are not also near duplicates").isEmpty();
    }

    @Test
    void nearDuplicatesIgnoreCaseSpacePunctuationAndSmallEdits() throws IOException {
        StringBuilder words = new StringBuilder();
        for (int i = 0; i < 40; i++) words.append("word").append(i).append(' ');
        String longText = words.toString().strip();
        Path f = write("near.jsonl",
                pc("Hello, World! How are you?", " fine"),                        // 1
                distinct(10),                                                     // 2
                pc("hello world   how ARE you", " Fine."));                       // 3 ~ 1 (normalised equal)
        DataCheck.Report r = DataCheck.run(f, null, null, null, CFG);
        DataCheck.Finding n = r.finding("near-duplicate").orElseThrow();
        assertThat(lines(n)).containsExactly(List.of(1, 3));
        assertThat(n.count()).isEqualTo(1);
        Path t = write("near-text.jsonl",
                "{\"text\": \"" + longText + " end\"}",                           // 1
                "{\"text\": \"" + longText.replace("word20", "other") + " end\"}", // 2: a middle word, 5 shingles: Jaccard 32/42
                "{\"text\": \"" + longText + " finish\"}",                        // 3 ~ 1 (one word of 41: Jaccard 36/38)
                "{\"text\": \"" + longText.replace("word0 ", "") + " end\"}");     // 4 ~ 1 (one word fewer: Jaccard 36/37)
        DataCheck.Report rt = DataCheck.run(t, null, null, null, CFG);
        DataCheck.Finding nt = rt.finding("near-duplicate").orElseThrow();
        assertThat(lines(nt)).containsExactly(List.of(1, 3, 4));
        assertThat(nt.count()).isEqualTo(2);
        assertThat(rt.findings()).hasSize(1);
        assertThat(r.finding("exact-duplicate")).isEmpty();
    }

    @Test
    void templatedDataKeepsTheSearchBoundedAndSaysSo() throws IOException {
        String pre = "Read the following sentence carefully and decide whether the named entity in it refers to a person a place or an organisation";
        String post = "think about the context in which the entity usually appears in news articles before you answer the question";
        List<String> ls = new ArrayList<>();
        for (int i = 0; i < 700; i++) ls.add(pc(pre + " entity" + (i * 7919) + " " + post, " place"));
        ls.add(pc(pre.toUpperCase() + " ENTITY0, " + post + "!", " place"));   // line 701 ~ line 1: equal after normalisation
        DataCheck.Report r = DataCheck.run(write("templ.jsonl", ls.toArray(String[]::new)), null, null, null, CFG);
        DataCheck.Finding note = r.finding("near-duplicate-search-capped").orElseThrow();
        assertThat(note.severity()).isEqualTo(DataCheck.Severity.INFO);
        assertThat(note.count()).isPositive().isLessThan(701);
        assertThat(lines(r.finding("near-duplicate").orElseThrow())).containsExactly(List.of(1, 701));
        assertThat(r.warnings()).extracting(DataCheck.Finding::check).containsExactly("near-duplicate");
    }

    @Test
    void jaccardAndNormalisationFollowTheDocumentedRule() {
        assertThat(DataCheck.normalize("  Héllo,\tWORLD!! ﬁne ")).isEqualTo("héllo world fine");
        long[] a = DataCheck.shingles("a b c d e f"), b = DataCheck.shingles("a b c d e g");
        assertThat(a).hasSize(2);
        assertThat(DataCheck.jaccard(a, b)).isEqualTo(1.0 / 3);
        assertThat(DataCheck.jaccard(DataCheck.shingles("a b"), DataCheck.shingles("a b"))).isEqualTo(1.0);
        assertThat(DataCheck.rank(new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.95)).isEqualTo(10);
        assertThat(DataCheck.rank(new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.5)).isEqualTo(5);
    }

    @Test
    void leakageIntoValidationAndTestFilesNamesBothLines() throws IOException {
        List<String> train = new ArrayList<>();
        for (int i = 0; i < 20; i++) train.add(distinct(i));
        Path t = write("train.jsonl", train.toArray(String[]::new));
        Path v = write("val.jsonl",
                distinct(100),                                           // 1
                distinct(7),                                             // 2 = train line 8
                distinct(101));                                          // 3
        // an mc evaluation file: prompts compared; line 2 repeats train line 4's prompt with other punctuation
        Path test = write("test.jsonl",
                "{\"prompt\": \"Unrelated question?\", \"choices\": [\"a\", \"b\"], \"answer\": 0}",
                "{\"prompt\": \"question 3 what is 3 times 6 in the tables of the book 21\", \"choices\": [\" 18\", \" 17\"], \"answer\": 0}");
        DataCheck.Report r = DataCheck.run(t, test, null, null, DataConfig.builder().validationFile(v).build());
        List<DataCheck.Finding> leaks = r.findings().stream().filter(f -> f.check().equals("leakage")).toList();
        assertThat(leaks).hasSize(2);
        assertThat(leaks.get(0).message()).contains("1 of 3 validation records");
        assertThat(leaks.get(0).examples()).containsExactly(List.of(new DataCheck.Line(v.toString(), 2), new DataCheck.Line(t.toString(), 8)));
        assertThat(leaks.get(1).message()).contains("1 of 2 test records");
        assertThat(lines(leaks.get(1))).containsExactly(List.of(2, 4));
        assertThat(r.files()).extracting(DataCheck.FileInfo::role).containsExactly("train", "validation", "test");
        assertThat(r.files().get(2).format()).isEqualTo("prompts");
    }

    @Test
    void theValidationSplitIsTheOneTrainingMakes() throws IOException {
        List<String> ls = new ArrayList<>();
        for (int i = 0; i < 20; i++) ls.add(distinct(i % 10));     // every record twice: lines k and k + 10
        Path f = write("twice.jsonl", ls.toArray(String[]::new));
        DataConfig cfg = DataConfig.builder().validationFraction(0.2).build();
        DataCheck.Report r = DataCheck.run(f, null, null, null, cfg);
        // Split's held-out records, as Dataset holds them out: each leaks iff its twin stayed in train
        List<Integer> idx = new ArrayList<>();
        for (int i = 0; i < 20; i++) idx.add(i);
        Split.Parts<Integer> parts = Split.split(idx, 0.2, cfg.seed());
        long leaking = parts.validation().stream().filter(i -> parts.train().contains((i + 10) % 20)).count();
        assertThat(leaking).isPositive();
        DataCheck.Finding leak = r.finding("leakage").orElseThrow();
        assertThat(leak.count()).isEqualTo((int) leaking);
        assertThat(leak.message()).contains("validation split");
    }

    @Test
    void emptyTargetsInEveryFormat() throws IOException {
        Path f = write("empty.jsonl",
                distinct(1),                                                          // 1
                pc("What is it?", "   "),                                             // 2
                distinct(2),                                                          // 3
                pc("And this?", ""));                                                 // 4
        DataCheck.Report r = DataCheck.run(f, null, null, null, CFG);
        DataCheck.Finding e = r.finding("empty-target").orElseThrow();
        assertThat(e.count()).isEqualTo(2);
        assertThat(lines(e)).containsExactly(List.of(2), List.of(4));

        Path a = write("alpaca.jsonl",
                "{\"instruction\": \"Say hi\", \"input\": \"\", \"output\": \"hi\"}",
                "{\"instruction\": \"Say nothing\", \"input\": \"\", \"output\": \" \\n \"}");
        assertThat(lines(DataCheck.run(a, null, null, null, CFG).finding("empty-target").orElseThrow())).containsExactly(List.of(2));
    }

    @Test
    void labelBalanceOfASmallClassSet() throws IOException {
        List<String> ls = new ArrayList<>();
        for (int i = 0; i < 100; i++) ls.add(pc("Review " + i + " of the film number " + i * 13 + ", sentiment:", i < 85 ? " positive" : " negative"));
        DataCheck.Report r = DataCheck.run(write("skewed.jsonl", ls.toArray(String[]::new)), null, null, null, CFG);
        assertThat(r.balance()).isNotNull();
        assertThat(r.balance().classes()).extracting(DataCheck.LabelCount::label).containsExactly("positive", "negative");
        assertThat(r.balance().classes()).extracting(DataCheck.LabelCount::count).containsExactly(85, 15);
        assertThat(r.balance().classes().get(0).share()).isEqualTo(0.85);
        DataCheck.Finding w = r.finding("label-imbalance").orElseThrow();
        assertThat(w.message()).contains("\"positive\" is 85.0%");
        assertThat(w.count()).isEqualTo(85);

        ls.clear();
        for (int i = 0; i < 100; i++) ls.add(pc("Item " + i + " of the list, number " + i * 13 + ", class:", i < 48 ? " a" : i < 96 ? " b" : " c"));
        DataCheck.Report r2 = DataCheck.run(write("rare.jsonl", ls.toArray(String[]::new)), null, null, null, CFG);
        assertThat(r2.finding("label-imbalance").orElseThrow().message()).contains("1 class under 5%: \"c\" 4 (4.0%)");

        ls.clear();
        for (int i = 0; i < 100; i++) ls.add(pc("Item " + i + " of the list, number " + i * 13 + ", class:", i % 2 == 0 ? " a" : " b"));
        DataCheck.Report r3 = DataCheck.run(write("even.jsonl", ls.toArray(String[]::new)), null, null, null, CFG);
        assertThat(r3.balance().classes()).extracting(DataCheck.LabelCount::count).containsExactly(50, 50);
        assertThat(r3.findings()).isEmpty();
        assertThat(r3.summary()).contains("labels (2 classes): \"a\" 50 (50.0%) \"b\" 50 (50.0%)");
    }

    @Test
    void chatFormatErrors() throws IOException {
        Path f = write("chat.jsonl",
                "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"hello\"}]}",        // 1 ok
                "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"user\", \"content\": \"again\"}, {\"role\": \"assistant\", \"content\": \"yes\"}]}", // 2 order
                "{\"messages\": [{\"role\": \"human\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yes\"}]}",        // 3 role
                "{\"messages\": [{\"role\": \"system\", \"content\": \"be brief\"}, {\"role\": \"user\", \"content\": \"hi\"}]}",       // 4 no assistant
                "{\"messages\": [{\"role\": \"user\", \"content\": \"  \"}, {\"role\": \"assistant\", \"content\": \"what?\"}]}",       // 5 empty user
                "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"\"}]}",            // 6 empty target
                "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}, {\"role\": \"user\", \"content\": \"c\"}]}", // 7 ends with user
                "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"system\", \"content\": \"late\"}, {\"role\": \"assistant\", \"content\": \"b\"}]}"); // 8 order
        DataCheck.Report r = DataCheck.run(f, null, null, null, CFG);
        assertThat(lines(r.finding("chat-order").orElseThrow())).containsExactly(List.of(2), List.of(8));
        assertThat(r.finding("chat-order").orElseThrow().message()).contains("chat.jsonl:2: two user messages in a row at [0] and [1]");
        assertThat(lines(r.finding("chat-role").orElseThrow())).containsExactly(List.of(3));
        assertThat(lines(r.finding("chat-no-assistant").orElseThrow())).containsExactly(List.of(4));
        assertThat(lines(r.finding("chat-empty-content").orElseThrow())).containsExactly(List.of(5));
        assertThat(lines(r.finding("empty-target").orElseThrow())).containsExactly(List.of(6));
        assertThat(lines(r.finding("chat-ends-with-user").orElseThrow())).containsExactly(List.of(7));
        assertThat(r.finding("chat-order").orElseThrow().of()).isEqualTo(8);
    }

    @Test
    void malformedRecordsAreFindingsNotFailures() throws IOException {
        Path f = write("bad.jsonl", distinct(1), "{not json", distinct(2), "{\"prompt\": \"x\"}");
        DataCheck.Report r = DataCheck.run(f, null, null, null, CFG);
        DataCheck.Finding m = r.finding("malformed").orElseThrow();
        assertThat(m.count()).isEqualTo(2);
        assertThat(lines(m)).containsExactly(List.of(2), List.of(4));
        assertThat(r.findings().getFirst().check()).isEqualTo("malformed");
    }

    @Test
    void jsonArrayRecordsAreNamedByTheLineTheyStartOn() throws IOException {
        Path f = dir.resolve("arr.json");
        Files.writeString(f, "[\n  {\"instruction\": \"a\", \"output\": \"b\"},\n  {\"instruction\": \"c\",\n   \"output\": \"d\"},\n"
                + "  {\"instruction\": \"a\", \"output\": \"b\"}\n]\n");
        DataCheck.Finding d = DataCheck.run(f, null, null, null, CFG).finding("exact-duplicate").orElseThrow();
        assertThat(lines(d)).containsExactly(List.of(2, 5));
    }

    @Test
    void strictFailsOnAnyWarning() throws IOException {
        Path f = write("dup2.jsonl", distinct(1), distinct(1));
        DataCheck.Report r = DataCheck.run(f, null, null, null, CFG);
        assertThatThrownBy(() -> DataCheck.failOnWarnings(r)).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("exact-duplicate 1").hasMessageContaining("nothing was trained");
    }

    @Test
    void truncationAndTokenLengthsWithTheStoriesTokenizer() throws IOException {
        Path model = Fixtures.stories260K();
        StringBuilder longPrompt = new StringBuilder();
        for (int i = 0; i < 60; i++) longPrompt.append("Once upon a time there was a cat. ");
        Path f = write("long.jsonl",
                pc("Tom saw a dog.", " The dog said woof."),        // 1
                pc(longPrompt.toString(), " The end."),             // 2: long, its target cut off entirely
                pc("Sue saw a cow.", " The cow said moo."),          // 3
                pc("Lily had a cat" + " and a cat".repeat(30) + ".", " Yes."), // 4: long
                pc("Ben ran.", " Fast."));                           // 5
        try (Tokenizer tok = Tokenizer.load(model)) {
            DataConfig cfg = DataConfig.builder().maxLength(64).build();
            DataCheck.Report r = DataCheck.run(f, null, tok, model, cfg);
            DataCheck.Finding t = r.finding("truncated").orElseThrow();
            assertThat(t.count()).isEqualTo(2);
            assertThat(lines(t)).containsExactly(List.of(2), List.of(4));
            assertThat(t.message()).contains("2 of 5 training examples (40.0%)").contains("lose their whole target");
            DataCheck.Lengths l = r.lengths();
            // the same lengths Dataset sees: its truncated count agrees
            Dataset ds = Dataset.load(f, tok, model, cfg);
            assertThat(ds.stats().truncated()).isEqualTo(l.truncated());
            assertThat(l.truncatedAllTargets()).isEqualTo(ds.stats().droppedNoLoss());
            int[] lens = new int[5];
            ExampleEncoder enc = new ExampleEncoder(tok, cfg, model);
            List<JsonRecords.Raw> raws = JsonRecords.read(f, 0);
            for (int i = 0; i < 5; i++) lens[i] = enc.encode(Sample.parse(raws.get(i).node(), DataFormat.PROMPT_COMPLETION, raws.get(i).location())).length();
            int[] sorted = lens.clone();
            java.util.Arrays.sort(sorted);
            assertThat(l.min()).isEqualTo(sorted[0]);
            assertThat(l.median()).isEqualTo(sorted[2]);
            assertThat(l.p95()).isEqualTo(sorted[4]);
            assertThat(l.max()).isEqualTo(sorted[4]);
            assertThat(r.summary()).contains("longer than max-length 64");

            DataCheck.Report packed = DataCheck.run(f, null, tok, model, cfg.toBuilder().packing(true).build());
            assertThat(packed.finding("truncated")).isEmpty();
        }
    }
}
