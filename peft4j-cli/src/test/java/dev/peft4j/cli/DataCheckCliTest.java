package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `peft4j data check` and the data check `train` runs (--strict stops it before anything is trained or written). */
class DataCheckCliTest {
    @TempDir Path tmp;

    static String pc(String prompt, String completion) {
        return "{\"prompt\": \"" + prompt + "\", \"completion\": \"" + completion + "\"}";
    }

    /** 12 distinct stories with planted problems: line 5 repeats line 2, line 8 has an empty completion, line 11 is long. */
    Path planted() throws IOException {
        List<String> ls = new ArrayList<>();
        String[] names = {"Tom", "Sue", "Ben", "Mia", "Max", "Zoe", "Lily", "Sam", "Kim", "Dan", "Amy", "Bob"};
        for (int i = 0; i < names.length; i++) ls.add(pc(names[i] + " saw a dog in the park number " + i + ". The dog said", " woof to " + names[i] + "!"));
        ls.set(4, ls.get(1));
        ls.set(7, pc("Mia saw a cat in the garden. The cat said", " "));
        ls.set(10, pc("Once upon a time there was a little girl who liked to play in the park with her friends every day.".repeat(2), " The end."));
        Path f = tmp.resolve("train.jsonl");
        Files.writeString(f, String.join("\n", ls) + "\n");
        return f;
    }

    @Test
    void dataCheckReportsPlantedProblemsWithLineNumbers() throws IOException {
        Path f = planted();
        Path test = tmp.resolve("test.jsonl");
        Files.writeString(test, "{\"prompt\": \"Someone else saw a cow. The cow said\", \"choices\": [\" moo!\", \" woof!\"], \"answer\": 0}\n"
                + "{\"prompt\": \"tom saw a dog in the park number 0 - the dog said\", \"choices\": [\" moo!\", \" woof!\"], \"answer\": 1}\n");
        Path json = tmp.resolve("check.json");
        String[] r = CliTest.run("data", "check", f.toString(), "--test-data", test.toString(), "--json", json.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).contains("warning: 1 exact duplicate in the training set").contains("train.jsonl:2 = train.jsonl:5")
                .contains("warning: 1 record with an empty or whitespace-only target").contains("train.jsonl:8")
                .contains("1 of 2 test records").contains("test.jsonl:2 = train.jsonl:1");
        JsonNode j = new ObjectMapper().readTree(json.toFile());
        assertThat(j.get("warnings").asInt()).isEqualTo(3);
        JsonNode dup = j.get("findings").get(0);
        assertThat(dup.get("check").asText()).isEqualTo("exact-duplicate");
        assertThat(dup.get("examples").get(0).get(1).get("line").asInt()).isEqualTo(5);

        String[] strict = CliTest.run("data", "check", f.toString(), "--strict");
        assertThat(strict[0]).isEqualTo("1");
        assertThat(strict[2]).contains("--strict: 2 warnings");   // no --test-data: no leakage

        String[] missing = CliTest.run("data", "check", tmp.resolve("nope.jsonl").toString());
        assertThat(missing[0]).isEqualTo("2");
        assertThat(missing[2]).startsWith("error: ").contains("does not exist");
    }

    @Test
    void truncationWithTheModelsTokenizer() throws IOException {
        Path model = CliTest.shared("models/stories260K");
        String[] r = CliTest.run("data", "check", planted().toString(), "--model", model.toString(), "--max-length", "40");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).contains("tokens per training example: min ").contains("1 of 12 training examples (8.3%) are longer than max-length 40")
                .contains("train.jsonl:11");
    }

    @Test
    void trainPrintsTheCheckAndStrictStopsBeforeTraining() throws IOException {
        Path model = CliTest.shared("models/stories260K");
        Path f = planted();
        Path out = tmp.resolve("adapter");
        Path test = tmp.resolve("test.jsonl");
        Files.writeString(test, pc("Tom saw a dog in the park number 0. The dog said", " woof!") + "\n");
        String[] r = CliTest.run("train", "--model", model.toString(), "--data", f.toString(), "--output", out.toString(), "--steps", "2",
                "--test-data", test.toString(), "--strict");
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[1]).contains("data check:").contains("train.jsonl:2 = train.jsonl:5").contains("test.jsonl:1 = train.jsonl:1");
        assertThat(r[2]).contains("--strict: the data check found 3 problems (exact-duplicate 1, leakage 1, empty-target 1)");
        assertThat(r[1]).doesNotContain("step 1/2");
        assertThat(!Files.exists(out) || Files.list(out).findAny().isEmpty()).as("nothing written to " + out).isTrue();

        String[] ok = CliTest.run("train", "--model", model.toString(), "--data", f.toString(), "--output", tmp.resolve("a2").toString(),
                "--steps", "2", "--log-every", "1");
        assertThat(ok[0]).as(ok[2]).isEqualTo("0");
        assertThat(ok[1]).contains("data check:").contains("warning: 1 exact duplicate").contains("step 2/2");
    }
}
