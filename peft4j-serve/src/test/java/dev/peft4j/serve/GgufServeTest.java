package dev.peft4j.serve;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * `serve --model file.gguf`: the server runs the GGUF file (its tokenizer from tokenizer.ggml.*), and its greedy
 * completions, for the base and for PEFT adapters trained on the HuggingFace model, equal peft4j generate on that model.
 */
class GgufServeTest {
    @TempDir Path tmp;

    @Test
    void aGgufBaseServesTheCompletionsOfTheSafetensorsModelWithAndWithoutAdapters() throws Exception {
        Path hf = ServeFixtures.stories();
        Path gguf = hf.resolve("tinyllamas-stories-260k-f32.gguf");
        Map<String, Path> adapters = ServeFixtures.writeAdapters(hf, tmp);
        ServerOptions.Builder b = ServerOptions.builder(gguf).modelName("stories-gguf").port(0).maxBatch(4)
                .accessLog(new PrintStream(new ByteArrayOutputStream()));
        adapters.forEach(b::adapter);
        try (Peft4jServer server = Peft4jServer.start(b.build())) {
            JsonNode models = ServerTest.JSON.readTree(ServerTest.raw(server, "GET", "/v1/models", null, null).body());
            assertThat(models.toString()).contains("stories-gguf");
            for (String name : List.of("stories-gguf", "lora-a", "dora")) {
                String want = ServeFixtures.generate(hf, name.equals("stories-gguf") ? null : adapters.get(name), "Once upon a time", 24);
                JsonNode r = ServerTest.post(server, "/v1/completions",
                        Map.of("model", name, "prompt", "Once upon a time", "max_tokens", 24, "temperature", 0), 200);
                assertThat(r.at("/choices/0/text").asText()).as(name).isEqualTo(want);
            }
        }
    }
}
