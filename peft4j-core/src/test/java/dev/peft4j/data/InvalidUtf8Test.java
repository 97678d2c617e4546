/*
 * InvalidUtf8Test: a data or task file with bytes that are not UTF-8 is refused with file:line:column
 * and the offending byte (Java's readers alone say only "Input length = 1").
 */
package dev.peft4j.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.Peft4jException;
import dev.peft4j.eval.Tasks;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InvalidUtf8Test {
    @TempDir Path tmp;

    /** Three JSONL lines; the third has a Latin-1 "é" (0xE9) after "caf". */
    private Path latin1Jsonl(String name, String key1, String key2) throws Exception {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(("{\"" + key1 + "\": \"a\", \"" + key2 + "\": \"b\"}\n").getBytes(StandardCharsets.UTF_8));
        b.write(("{\"" + key1 + "\": \"ünï\", \"" + key2 + "\": \"c\"}\n").getBytes(StandardCharsets.UTF_8));
        b.write(("{\"" + key1 + "\": \"caf").getBytes(StandardCharsets.UTF_8));
        b.write(0xE9);
        b.write(("\", \"" + key2 + "\": \"d\"}\n").getBytes(StandardCharsets.UTF_8));
        Path f = tmp.resolve(name);
        Files.write(f, b.toByteArray());
        return f;
    }

    @Test
    void describeNamesLineColumnAndByte() throws Exception {
        Path f = latin1Jsonl("d.jsonl", "prompt", "completion");
        assertThat(Utf8Errors.describe(f)).startsWith(f + ":3:16: not valid UTF-8 (byte 0xE9");
    }

    @Test
    void trainingDataReaderGivesFileAndLine() throws Exception {
        Path f = latin1Jsonl("train.jsonl", "prompt", "completion");
        assertThatThrownBy(() -> JsonRecords.read(f, 0)).isInstanceOf(DataFormatException.class)
                .hasMessageStartingWith(f + ":3:").hasMessageContaining("not valid UTF-8").hasMessageContaining("0xE9");
    }

    @Test
    void evalTaskReaderGivesFileAndLine() throws Exception {
        Path f = latin1Jsonl("gen.jsonl", "prompt", "answer");
        assertThatThrownBy(() -> Tasks.generation(f, null, 0)).isInstanceOf(Peft4jException.class)
                .hasMessageStartingWith(f + ":3:").hasMessageContaining("not valid UTF-8");
    }
}
