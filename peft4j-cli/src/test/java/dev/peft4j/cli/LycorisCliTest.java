package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** train --method loha|lokr: the --loha.* / --lokr.* flags reach PEFT's config fields; targets are required. */
class LycorisCliTest {
    @TempDir Path tmp;

    Path data() throws Exception {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 16; i++) s.append("{\"prompt\": \"Once upon a time\", \"completion\": \" there was a cat.\"}\n");
        Path f = tmp.resolve("train.jsonl");
        Files.writeString(f, s.toString());
        return f;
    }

    JsonNode train(String... extra) throws Exception {
        Path model = CliTest.shared("models/stories260K"), out = tmp.resolve("out-" + extra[1]);
        String[] base = {"train", "--model", model.toString(), "--data", data().toString(), "--output", out.toString(), "--steps", "2",
                "--batch-size", "4", "--lr", "1e-3"};
        String[] args = new String[base.length + extra.length];
        System.arraycopy(base, 0, args, 0, base.length);
        System.arraycopy(extra, 0, args, base.length, extra.length);
        String[] r = CliTest.run(args);
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        return new ObjectMapper().readTree(out.resolve("adapter_config.json").toFile());
    }

    @Test
    void lohaFlags() throws Exception {
        JsonNode c = train("--method", "loha", "--loha.r", "2", "--loha.alpha", "6", "--loha.target-modules", "q_proj,v_proj");
        assertThat(c.get("peft_type").asText()).isEqualTo("LOHA");
        assertThat(c.get("r").asInt()).isEqualTo(2);
        assertThat(c.get("alpha").asInt()).isEqualTo(6);
    }

    @Test
    void lokrFlags() throws Exception {
        JsonNode c = train("--method", "lokr", "--lokr.r", "2", "--lokr.alpha", "4", "--lokr.decompose-factor", "4",
                "--lokr.target-modules", "down_proj");
        assertThat(c.get("peft_type").asText()).isEqualTo("LOKR");
        assertThat(c.get("r").asInt()).isEqualTo(2);
        assertThat(c.get("alpha").asInt()).isEqualTo(4);
        assertThat(c.get("decompose_factor").asInt()).isEqualTo(4);
    }

    @Test
    void targetModulesAreRequired() {
        String[] r = CliTest.run("train", "--model", tmp.toString(), "--data", tmp.resolve("x.jsonl").toString(), "--output",
                tmp.resolve("o").toString(), "--method", "lokr");
        assertThat(r[0]).isNotEqualTo("0");
        assertThat(r[2]).contains("--lokr.target-modules");
    }
}
