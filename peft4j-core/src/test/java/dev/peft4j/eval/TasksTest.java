package dev.peft4j.eval;

import static org.junit.jupiter.api.Assertions.*;

import dev.peft4j.Golden;
import dev.peft4j.Peft4jException;
import dev.peft4j.SharedArtefacts;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class TasksTest {
    static Path fixture(String name) {
        return Golden.resource("/eval/" + name);
    }

    @Test
    void genericJsonlAcceptsIndexOrText() {
        List<MultipleChoice.Item> items = Tasks.jsonl(fixture("mc.jsonl"));
        assertEquals(3, items.size());
        assertEquals(0, items.get(0).answer());
        assertEquals(1, items.get(1).answer());
        assertEquals(1, items.get(2).answer()); // "woof" matches " woof" trimmed
        assertEquals(List.of(" 3", " 4", " 5"), items.get(1).choices());
        Peft4jException e = assertThrows(Peft4jException.class, () -> Tasks.jsonl(fixture("mc_bad_answer.jsonl")));
        assertTrue(e.getMessage().contains("mc_bad_answer.jsonl:2"), e.getMessage());
        e = assertThrows(Peft4jException.class, () -> Tasks.jsonl(fixture("mc_bad_json.jsonl")));
        assertTrue(e.getMessage().contains("mc_bad_json.jsonl:2"), e.getMessage());
    }

    @Test
    void pubmedqaFixture() {
        List<MultipleChoice.Item> items = Tasks.pubmedqa(fixture("pubmedqa_small.json"), 0);
        assertEquals(3, items.size());
        assertEquals("Context: X was given. Y followed.\nQuestion: Does X cause Y?\nAnswer:", items.get(0).prompt());
        assertEquals(List.of(" yes", " no", " maybe"), items.get(0).choices());
        assertArrayEquals(new int[] {0, 1, 2}, items.stream().mapToInt(MultipleChoice.Item::answer).toArray());
        assertEquals(2, Tasks.pubmedqa(fixture("pubmedqa_small.json"), 2).size());
        Peft4jException e = assertThrows(Peft4jException.class, () -> Tasks.pubmedqa(fixture("pubmedqa_bad.json"), 0));
        assertTrue(e.getMessage().contains("pubmedqa_bad.json: item 202"), e.getMessage());
    }

    @Test
    void sst2Fixture() {
        List<MultipleChoice.Item> items = Tasks.sst2(fixture("sst2_small.tsv"), 0);
        assertEquals(3, items.size());
        assertEquals("Review: a gripping , funny film\nSentiment:", items.get(0).prompt());
        assertEquals(List.of(" negative", " positive"), items.get(0).choices());
        assertArrayEquals(new int[] {1, 0, 1}, items.stream().mapToInt(MultipleChoice.Item::answer).toArray());
        assertEquals("Review: it is a tab\there\nSentiment:", items.get(2).prompt());
        Peft4jException e = assertThrows(Peft4jException.class, () -> Tasks.sst2(fixture("sst2_bad.tsv"), 0));
        assertTrue(e.getMessage().contains("sst2_bad.tsv:3"), e.getMessage());
    }

    @Test
    void gsm8kFixtureAndAnswerExtraction() {
        List<String[]> pairs = Tasks.gsm8k(fixture("gsm8k_small.jsonl"), 0);
        assertEquals(3, pairs.size());
        assertEquals("Question: Tom has 3 apples and buys 4 more. How many?\nAnswer:", pairs.get(0)[0]);
        assertEquals("7", pairs.get(0)[1]);
        assertEquals("1000", pairs.get(1)[1]);
        assertEquals("-3", pairs.get(2)[1]);
        assertEquals("18", Tasks.gsm8kAnswer("She makes 9 * 2 = $<<9*2=18>>18 every day.\n#### 18"));
        assertNull(Tasks.gsm8kAnswer("no answer here"));
        Peft4jException e = assertThrows(Peft4jException.class, () -> Tasks.gsm8k(fixture("gsm8k_bad.jsonl"), 0));
        assertTrue(e.getMessage().contains("gsm8k_bad.jsonl:2"), e.getMessage());
        GenerationTask t = Tasks.gsm8kTask(fixture("gsm8k_small.jsonl"), 2);
        assertEquals(2, t.pairs().size());
        assertEquals("42", t.extract("so 40 + 2 = 42\n#### 42\nQuestion: next"));
        assertEquals("", t.extract("I don't know"));
    }

    @Test
    void generationTaskExtractors() {
        GenerationTask plain = Tasks.generation(fixture("gen.jsonl"), null, 0);
        assertEquals(2, plain.pairs().size());
        assertEquals("42", plain.pairs().get(1)[1]);
        assertEquals("Paris", plain.extract("  Paris \n"));
        GenerationTask re = Tasks.generation(fixture("gen.jsonl"), Pattern.compile("answer is (\\w+)"), 1);
        assertEquals(1, re.pairs().size());
        assertEquals("Paris", re.extract("I think the answer is Paris."));
        assertEquals("abc", GenerationTask.extract(Pattern.compile("[a-c]+"), "xx abc yy")); // no group: whole match
    }

    @Test
    void realDatasetsFirst20() {
        Path shared = SharedArtefacts.require("datasets");
        Path pq = shared.resolve("pubmedqa/ori_pqal.json");
        Path sst = shared.resolve("sst2/dev.tsv");
        Path gsm = shared.resolve("gsm8k/test.jsonl");
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.exists(pq) && java.nio.file.Files.exists(sst)
                && java.nio.file.Files.exists(gsm), "datasets incomplete");
        List<MultipleChoice.Item> p = Tasks.pubmedqa(pq, 20);
        assertEquals(20, p.size());
        assertTrue(p.get(0).prompt().startsWith("Context: Programmed cell death"), p.get(0).prompt());
        assertTrue(p.get(0).prompt().endsWith("during programmed cell death?\nAnswer:"));
        List<MultipleChoice.Item> s = Tasks.sst2(sst, 20);
        assertEquals(20, s.size());
        assertEquals("Review: the expressive power of the camera\nSentiment:", s.get(0).prompt());
        assertEquals(1, s.get(0).answer());
        List<String[]> g = Tasks.gsm8k(gsm, 20);
        assertEquals(20, g.size());
        assertEquals("18", g.get(0)[1]);
        for (String[] pair : g) assertTrue(pair[1].matches("-?[0-9.]+"), pair[1]);
    }

    @Test
    void jsonlIdsAreReadInItemOrder(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path f = dir.resolve("ids.jsonl");
        java.nio.file.Files.writeString(f, """
                {"id": "q-7", "prompt": "p", "choices": ["a", "b"], "answer": 1}

                {"prompt": "p", "choices": ["a", "b"], "answer": "a"}
                {"id": 42, "prompt": "p", "choices": ["a", "b"], "answer": 0}
                """);
        assertEquals(3, Tasks.jsonl(f).size());
        assertEquals(java.util.Arrays.asList("q-7", null, "42"), Tasks.jsonlIds(f));
        java.nio.file.Path none = dir.resolve("none.jsonl");
        java.nio.file.Files.writeString(none, "{\"prompt\": \"p\", \"choices\": [\"a\"], \"answer\": 0}\n");
        assertNull(Tasks.jsonlIds(none));
    }
}
