/*
 * OpenAiRequestFuzzTest: coverage-guided fuzzing (Jazzer) of the server's request reader — the bytes of a
 * POST body through the server's body reading (strict UTF-8, then JSON with  nesting, number and trailing-token limits) and
 * OpenAiRequest.parse for both completions and chat. The only exceptions allowed out are ApiError (a 4xx
 * with a message); anything else is a finding (CI found a UTF-32-looking body raising CharConversionException).
 * Seeds: src/test/resources/dev/peft4j/serve/OpenAiRequestFuzzTestInputs/requestBody/; fuzzing: bin/fuzz.
 */
package dev.peft4j.serve;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class OpenAiRequestFuzzTest {
    @FuzzTest
    void requestBody(byte[] data) {
        if (data.length > 1 << 16) return;
        JsonNode node;
        try {
            node = Peft4jServer.parseBody(Peft4jServer.requestJson(), data);
        } catch (ApiError e) {                               // the server answers 400 (not UTF-8, not JSON, not an object)
            assertThat(e.status).isEqualTo(400);
            return;
        }
        for (boolean chat : new boolean[] {false, true}) {
            try {
                OpenAiRequest r = OpenAiRequest.parse(node, chat);
                assertThat(r.model()).isNotNull();
                assertThat(r.n()).isBetween(1, OpenAiRequest.MAX_N);
                assertThat(r.promptCount()).isPositive();
                if (r.maxTokens() != null) assertThat(r.maxTokens()).isPositive();
                assertThat(r.temperature()).isBetween(0f, 2f);
                assertThat(r.topP()).isGreaterThan(0f).isLessThanOrEqualTo(1f);
                assertThat(r.stop()).hasSizeLessThanOrEqualTo(4);
            } catch (ApiError e) {
                assertThat(e.status).isBetween(400, 499);
                assertThat(e.getMessage()).isNotBlank();
            }
        }
    }

    @Test
    void seedsParse() throws Exception {
        Path dir = Path.of(OpenAiRequestFuzzTest.class.getResource("OpenAiRequestFuzzTestInputs/requestBody").toURI());
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                if (f.getFileName().toString().startsWith("crash-")) {            // past findings: a 400, nothing else
                    byte[] bytes = Files.readAllBytes(f);
                    org.assertj.core.api.Assertions.assertThatThrownBy(() -> Peft4jServer.parseBody(Peft4jServer.requestJson(), bytes))
                            .isInstanceOf(ApiError.class);
                    continue;
                }
                JsonNode node = Peft4jServer.parseBody(Peft4jServer.requestJson(), Files.readAllBytes(f));
                OpenAiRequest r = OpenAiRequest.parse(node, node.has("messages"));
                assertThat(r.model()).as(f.toString()).isNotBlank();
            }
        }
    }
}
