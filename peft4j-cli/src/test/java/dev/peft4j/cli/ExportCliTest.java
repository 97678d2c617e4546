package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.io.GgufFile;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** peft4j export follows the output policy: an existing --output is kept unless --overwrite; a directory is refused. */
class ExportCliTest {
    @Test
    void anExistingOutputIsKeptUnlessOverwrite(@TempDir Path tmp) throws Exception {
        Path stories = CliTest.shared("models/stories260K");
        Path out = tmp.resolve("s.gguf");
        String[] r = CliTest.run("export", "gguf", "--model", stories.toString(), "--type", "q8_0", "--output", out.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[2]).contains("ffn_down").contains("written as F16");          // 172-wide rows do not fill 32-blocks
        byte[] first = Files.readAllBytes(out);
        r = CliTest.run("export", "gguf", "--model", stories.toString(), "--type", "f32", "--output", out.toString());
        assertThat(r[0]).isNotEqualTo("0");
        assertThat(r[2]).contains("exists; pass --overwrite");
        assertThat(Files.readAllBytes(out)).isEqualTo(first);
        r = CliTest.run("export", "gguf", "--model", stories.toString(), "--type", "f32", "--output", out.toString(), "--overwrite");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        try (GgufFile g = GgufFile.open(out)) {
            assertThat(g.tensor("blk.0.attn_q.weight").type()).isEqualTo(dev.peft4j.io.GgmlType.F32);
        }
        r = CliTest.run("export", "gguf", "--model", stories.toString(), "--output", tmp.toString());
        assertThat(r[2]).contains("is a directory");
        try (var files = Files.list(tmp)) {
            assertThat(files.map(p -> p.getFileName().toString()).toList()).containsExactly("s.gguf");   // no temporary left behind
        }
    }
}
