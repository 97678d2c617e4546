/*
 * MalformedInputTest: bad records raise DataFormatException naming file and 1-based line (element
 * index for JSON arrays) and what was expected; with skipMalformed they are skipped and counted.
 * The reading layer (JsonRecords, Sample) is checked without a tokenizer; the Dataset-level
 * behaviour with the stories260K tokenizer.
 */
package dev.peft4j.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MalformedInputTest {

    static final DataConfig STRICT = DataConfig.defaults();
    static final DataConfig SKIP = DataConfig.builder().skipMalformed(true).build();

    private static Tokenizer tok;

    /** The stories260K tokenizer, loaded once; call it outside assertThatThrownBy so a missing ../shared skips. */
    static Tokenizer tok() {
        if (tok == null) tok = Tokenizer.load(Fixtures.stories260K());
        return tok;
    }

    @AfterAll
    static void close() {
        if (tok != null) tok.close();
    }

    static Dataset load(String fixture, DataConfig cfg) {
        return Dataset.load(Fixtures.resource(fixture), tok(), null, cfg);
    }

    // ---------------------------------------------------------------- reading layer (no tokenizer)

    @Test
    void jsonLinesKeepLineNumbersAndParseErrors() {
        List<JsonRecords.Raw> raws = JsonRecords.read(Fixtures.resource("malformed/bad_json.jsonl"), 0);
        assertThat(raws).hasSize(3);
        assertThat(raws.get(0).location().line()).isEqualTo(1);
        assertThat(raws.get(1).node()).isNull();
        assertThat(raws.get(1).parseError()).startsWith("invalid JSON");
        assertThat(raws.get(1).location().toString()).endsWith("bad_json.jsonl:2");
        assertThat(raws.get(2).location().line()).isEqualTo(3);
    }

    @Test
    void blankLinesAreSkippedButCounted(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("b.jsonl");
        Files.writeString(f, "\uFEFF{\"text\": \"a\"}\n\n   \n{\"text\": \"b\"}\r\n", StandardCharsets.UTF_8);
        List<JsonRecords.Raw> raws = JsonRecords.read(f, 0);
        assertThat(raws).extracting(r -> r.location().line()).containsExactly(1, 4);
        assertThat(raws.get(0).node().get("text").asText()).isEqualTo("a");
    }

    @Test
    void jsonArrayElementsKnowTheirIndexAndLine() {
        List<JsonRecords.Raw> raws = JsonRecords.read(Fixtures.resource("malformed/non_object.json"), 0);
        assertThat(raws).extracting(r -> r.location().element()).containsExactly(0, 1, 2, 3);
        assertThat(raws).extracting(r -> r.location().line()).containsExactly(2, 3, 4, 5);
        assertThat(raws.get(1).location().toString()).endsWith("non_object.json:3 (element [1])");
    }

    @Test
    void limitStopsEarly() {
        assertThat(JsonRecords.read(Fixtures.resource("malformed/wrong_type.jsonl"), 2)).hasSize(2);
        assertThat(JsonRecords.read(Fixtures.resource("malformed/non_object.json"), 3)).hasSize(3);
    }

    @Test
    void sampleShapeErrorsSayWhatWasExpected() {
        var at = new JsonRecords.Location(Path.of("x.jsonl"), 1, -1);
        assertThatThrownBy(() -> Sample.parse(JsonRecords.JSON.readTree("{\"text\": 42}"), DataFormat.TEXT, at))
                .hasMessage("field \"text\" must be a string, found a number 42");
        assertThatThrownBy(() -> Sample.parse(JsonRecords.JSON.readTree("{\"prompt\": \"p\"}"), DataFormat.PROMPT_COMPLETION, at))
                .hasMessage("missing field \"completion\" (the record has [prompt])");
        assertThatThrownBy(() -> Sample.parse(JsonRecords.JSON.readTree("[1]"), DataFormat.TEXT, at))
                .hasMessage("expected a JSON object, found a list [1]");
        assertThatThrownBy(() -> Sample.parse(JsonRecords.JSON.readTree("{\"messages\": [{\"role\": \"user\"}]}"),
                DataFormat.MESSAGES, at))
                .hasMessage("messages[0].content must be a string, found nothing");
        assertThatThrownBy(() -> Sample.parse(JsonRecords.JSON.readTree("{\"instruction\": \"i\", \"output\": null}"),
                DataFormat.ALPACA, at))
                .hasMessage("field \"output\" must be a string, found null");
    }

    // ---------------------------------------------------------------- Dataset level

    @Test
    void badJsonLine() {
        tok();
        assertThatThrownBy(() -> load("malformed/bad_json.jsonl", STRICT))
                .isInstanceOf(DataFormatException.class)
                .hasMessageContaining("bad_json.jsonl:2: invalid JSON")
                .hasMessageContaining("set skipMalformed");
        Dataset d = load("malformed/bad_json.jsonl", SKIP);
        assertThat(d.train()).hasSize(2);
        assertThat(d.stats().recordsRead()).isEqualTo(3);
        assertThat(d.stats().skipped()).isEqualTo(1);
        assertThat(d.stats().skipReasons()).singleElement().asString().contains("bad_json.jsonl:2: invalid JSON");
    }

    @Test
    void missingField() {
        tok();
        assertThatThrownBy(() -> load("malformed/missing_field.jsonl", STRICT))
                .isInstanceOf(DataFormatException.class)
                .hasMessageContaining("missing_field.jsonl:2: missing field \"completion\" (the record has [prompt])")
                .hasMessageContaining("reading as PROMPT_COMPLETION");
        Dataset d = load("malformed/missing_field.jsonl", SKIP);
        assertThat(d.train()).hasSize(2);
        assertThat(d.stats().skipped()).isEqualTo(1);
    }

    @Test
    void wrongType() {
        tok();
        assertThatThrownBy(() -> load("malformed/wrong_type.jsonl", STRICT))
                .isInstanceOf(DataFormatException.class)
                .hasMessageContaining("wrong_type.jsonl:2: field \"text\" must be a string, found a number 42");
        Dataset d = load("malformed/wrong_type.jsonl", SKIP);
        assertThat(d.train()).hasSize(2);
        assertThat(d.stats().skipped()).isEqualTo(2);
        assertThat(d.stats().skipReasons()).hasSize(2);
        assertThat(d.stats().skipReasons().get(1)).contains("wrong_type.jsonl:3").contains("found a list [\"a\",\"b\"]");
    }

    @Test
    void emptyFile() {
        tok();
        assertThatThrownBy(() -> load("malformed/empty.jsonl", STRICT))
                .isInstanceOf(DataFormatException.class)
                .hasMessageContaining("empty.jsonl is empty; expected JSON Lines (one JSON object per line) or a JSON array");
        // skipping does not make an empty file acceptable
        assertThatThrownBy(() -> load("malformed/empty.jsonl", SKIP)).isInstanceOf(DataFormatException.class);
    }

    @Test
    void emptyArrayAndMissingFile(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("e.json");
        Files.writeString(f, " [ ] ");
        assertThatThrownBy(() -> JsonRecords.read(f, 0)).hasMessageContaining("holds no records");
        assertThatThrownBy(() -> JsonRecords.read(dir.resolve("nope.jsonl"), 0))
                .isInstanceOf(DataFormatException.class).hasMessageContaining("does not exist");
    }

    @Test
    void nonObjectArrayElement() {
        tok();
        assertThatThrownBy(() -> load("malformed/non_object.json", STRICT))
                .isInstanceOf(DataFormatException.class)
                .hasMessageContaining("non_object.json:3 (element [1]): expected a JSON object, found a string \"just a string\"");
        Dataset d = load("malformed/non_object.json", SKIP);
        assertThat(d.train()).hasSize(2);
        assertThat(d.stats().skipped()).isEqualTo(2);
        assertThat(d.stats().skipReasons().get(1)).contains("non_object.json:5 (element [3])");
    }

    @Test
    void syntaxErrorInsideAnArrayIsAlwaysFatal() {
        tok();
        assertThatThrownBy(() -> load("malformed/array_syntax.json", SKIP))
                .isInstanceOf(DataFormatException.class)
                .hasMessageContaining("array_syntax.json:3 (element [1]): invalid JSON")
                .hasMessageContaining("cannot be skipped");
    }

    @Test
    void badMessages() {
        tok();
        DataConfig cfg = SKIP.toBuilder().chatTemplate(FormatsTest.SIMPLE_TEMPLATE).build();
        Dataset d = load("malformed/bad_messages.jsonl", cfg);
        assertThat(d.train()).hasSize(1);
        assertThat(d.stats().skipped()).isEqualTo(4);
        assertThat(d.stats().skipReasons()).satisfiesExactly(
                r -> assertThat(r).contains(":1: messages[1].content must be a string, found a number 7"),
                r -> assertThat(r).contains(":2: field \"messages\" must be a list"),
                r -> assertThat(r).contains(":3: messages[0].role must be a string"),
                r -> assertThat(r).contains(":4: field \"messages\" is an empty list"));
    }

    @Test
    void nothingLeftIsAnError() {
        tok();
        DataConfig cfg = DataConfig.builder().skipMalformed(true).format(DataFormat.ALPACA).build();
        assertThatThrownBy(() -> load("text.jsonl", cfg))
                .isInstanceOf(DataFormatException.class)
                .hasMessageContaining("no training examples remain (2 records read, 2 skipped as malformed")
                .hasMessageContaining("missing field \"instruction\"");
    }
}
