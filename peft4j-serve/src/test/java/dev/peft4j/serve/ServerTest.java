package dev.peft4j.serve;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.data.ChatTemplate;
import dev.peft4j.tokenizer.Tokenizer;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The server end to end over HTTP on loopback, with the real stories260K model and four adapters. */
class ServerTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newHttpClient();
    static final String TEMPLATE = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
            + "{% if add_generation_prompt %}assistant:{% endif %}";
    @TempDir static Path tmp;
    static Path model;
    static Map<String, Path> adapters;
    static Peft4jServer server;
    static final ByteArrayOutputStream LOG = new ByteArrayOutputStream();

    @BeforeAll
    static void start() throws Exception {
        model = ServeFixtures.stories();
        adapters = ServeFixtures.writeAdapters(model, tmp);
        Path template = tmp.resolve("chat.jinja");
        Files.writeString(template, TEMPLATE);
        ServerOptions.Builder b = ServerOptions.builder(model).modelName("stories").port(0).maxBatch(8).chatTemplate(template)
                .accessLog(new PrintStream(LOG, true, StandardCharsets.UTF_8));
        adapters.forEach(b::adapter);
        server = Peft4jServer.start(b.build());
    }

    @AfterAll
    static void stop() { if (server != null) server.close(); }

    @Test
    void completionsEqualPeft4jGenerateForTheBaseAndEveryAdapter() throws Exception {
        List<String> texts = new ArrayList<>();
        for (String name : List.of("stories", "lora-a", "lora-b", "dora", "prompt")) {
            String want = ServeFixtures.generate(model, adapters.get(name), "Once upon a time", 24);
            JsonNode r = post(server, "/v1/completions", Map.of("model", name, "prompt", "Once upon a time", "max_tokens", 24, "temperature", 0), 200);
            assertThat(r.at("/choices/0/text").asText()).as(name).isEqualTo(want);
            assertThat(r.at("/object").asText()).isEqualTo("text_completion");
            assertThat(r.at("/model").asText()).isEqualTo(name);
            assertThat(r.at("/usage/total_tokens").asInt()).isEqualTo(r.at("/usage/prompt_tokens").asInt() + r.at("/usage/completion_tokens").asInt());
            texts.add(want);
        }
        assertThat(texts).doesNotHaveDuplicates();                 // every adapter really changes the model
        assertThat(LOG.toString(StandardCharsets.UTF_8)).contains("POST /v1/completions 200").contains("model=lora-a");
    }

    @Test
    void concurrentRequestsForDifferentAdaptersShareDecodeStepsAndStillMatchSoloRuns() throws Exception {
        String[] names = {"lora-a", "stories", "lora-b", "dora", "prompt", "lora-a", "lora-b", "stories"};
        String[] prompts = {"Once upon a time", "The cat", "Lily wanted", "One day", "Tom and", "The sun was", "She saw a big", "He"};
        ExecutorService pool = Executors.newFixedThreadPool(names.length);
        List<Future<JsonNode>> got = new ArrayList<>();
        double before = histogramCount("peft4j_decode_batch_size", "1");
        double stepsBefore = histogramCount("peft4j_decode_batch_size", "+Inf");
        for (int i = 0; i < names.length; i++) {
            Map<String, Object> body = Map.of("model", names[i], "prompt", prompts[i], "max_tokens", 40, "temperature", 0);
            got.add(pool.submit(() -> post(server, "/v1/completions", body, 200)));
        }
        for (int i = 0; i < names.length; i++)
            assertThat(got.get(i).get().at("/choices/0/text").asText()).as(names[i] + " / " + prompts[i])
                    .isEqualTo(ServeFixtures.generate(model, adapters.get(names[i]), prompts[i], 40));
        pool.shutdown();
        double single = histogramCount("peft4j_decode_batch_size", "1") - before;
        double steps = histogramCount("peft4j_decode_batch_size", "+Inf") - stepsBefore;
        assertThat(steps - single).as("decode steps with more than one sequence").isGreaterThan(0);
    }

    @Test
    void streamingSendsOpenAiChunksThatAddUpToTheText() throws Exception {
        String want = post(server, "/v1/completions", Map.of("model", "lora-b", "prompt", "The dog", "max_tokens", 20, "temperature", 0), 200)
                .at("/choices/0/text").asText();
        List<String> events = sse(server, "/v1/completions", Map.of("model", "lora-b", "prompt", "The dog", "max_tokens", 20, "temperature", 0,
                "stream", true, "stream_options", Map.of("include_usage", true)));
        assertThat(events.getLast()).isEqualTo("[DONE]");
        StringBuilder text = new StringBuilder();
        String finish = null;
        JsonNode usage = null;
        for (String e : events.subList(0, events.size() - 1)) {
            JsonNode c = JSON.readTree(e);
            assertThat(c.at("/object").asText()).isEqualTo("text_completion");
            if (c.has("usage")) { usage = c.get("usage"); continue; }
            text.append(c.at("/choices/0/text").asText());
            if (!c.at("/choices/0/finish_reason").isNull()) finish = c.at("/choices/0/finish_reason").asText();
        }
        assertThat(text.toString()).isEqualTo(want);
        assertThat(finish).isIn("length", "stop");
        assertThat(usage.at("/completion_tokens").asInt()).isPositive();
    }

    @Test
    void chatUsesTheChatTemplateAndStreamsDeltas() throws Exception {
        List<Map<String, String>> messages = List.of(Map.of("role", "system", "content", "Tell a story."), Map.of("role", "user", "content", "A girl"));
        String rendered = ChatTemplate.of(TEMPLATE, Map.of()).render(messages, true);
        int[] ids;
        try (Tokenizer tok = Tokenizer.load(model)) { ids = tok.encode(rendered); }
        String want = post(server, "/v1/completions", Map.of("model", "lora-a", "prompt", ids, "max_tokens", 16, "temperature", 0), 200)
                .at("/choices/0/text").asText();
        JsonNode r = post(server, "/v1/chat/completions", Map.of("model", "lora-a", "messages", messages, "max_tokens", 16, "temperature", 0), 200);
        assertThat(r.at("/object").asText()).isEqualTo("chat.completion");
        assertThat(r.at("/choices/0/message/role").asText()).isEqualTo("assistant");
        assertThat(r.at("/choices/0/message/content").asText()).isEqualTo(want).isNotEmpty();
        StringBuilder streamed = new StringBuilder();
        List<String> events = sse(server, "/v1/chat/completions", Map.of("model", "lora-a", "messages", messages, "max_tokens", 16,
                "temperature", 0, "stream", true));
        for (String e : events.subList(0, events.size() - 1)) streamed.append(JSON.readTree(e).at("/choices/0/delta/content").asText(""));
        assertThat(JSON.readTree(events.getFirst()).at("/choices/0/delta/role").asText()).isEqualTo("assistant");
        assertThat(streamed.toString()).isEqualTo(want);
    }

    @Test
    void stopSequencesNChoicesAndSeeds() throws Exception {
        String full = post(server, "/v1/completions", Map.of("model", "stories", "prompt", "Once upon a time", "max_tokens", 30, "temperature", 0), 200)
                .at("/choices/0/text").asText();
        String stop = full.substring(full.length() / 2, full.length() / 2 + 3);
        JsonNode r = post(server, "/v1/completions", Map.of("model", "stories", "prompt", "Once upon a time", "max_tokens", 30,
                "temperature", 0, "stop", List.of(stop)), 200);
        assertThat(r.at("/choices/0/text").asText()).isEqualTo(full.substring(0, full.indexOf(stop)));
        assertThat(r.at("/choices/0/finish_reason").asText()).isEqualTo("stop");
        JsonNode two = post(server, "/v1/completions", Map.of("model", "lora-a", "prompt", "Once", "max_tokens", 12, "n", 2, "temperature", 0), 200);
        assertThat(two.at("/choices/0/text").asText()).isEqualTo(two.at("/choices/1/text").asText());
        assertThat(two.at("/choices/1/index").asInt()).isEqualTo(1);
        Map<String, Object> sampled = Map.of("model", "lora-a", "prompt", "Once", "max_tokens", 20, "temperature", 1.0, "seed", 7);
        assertThat(post(server, "/v1/completions", sampled, 200).at("/choices/0/text").asText())
                .isEqualTo(post(server, "/v1/completions", sampled, 200).at("/choices/0/text").asText());
    }

    @Test
    void errorsAreOpenAiErrorJsonWithTheRightStatus() throws Exception {
        assertThat(post(server, "/v1/completions", Map.of("model", "nope", "prompt", "x"), 404).at("/error/code").asText()).isEqualTo("model_not_found");
        assertThat(post(server, "/v1/completions", Map.of("model", "stories", "prompt", "x", "max_tokens", -1), 400).at("/error/param").asText()).isEqualTo("max_tokens");
        assertThat(post(server, "/v1/completions", Map.of("model", "stories", "prompt", "x", "temperature", "hot"), 400).at("/error/param").asText()).isEqualTo("temperature");
        assertThat(post(server, "/v1/completions", Map.of("model", "stories", "prompt", "x", "max_tokens", 600), 400).at("/error/message").asText())
                .contains("maximum context length is 512");
        assertThat(raw(server, "POST", "/v1/completions", "{\"model\": \"stories\", \"prompt\": ", null).statusCode()).isEqualTo(400);
        assertThat(raw(server, "POST", "/v1/completions", "x".repeat(2 << 20), null).statusCode()).isEqualTo(413);
        assertThat(raw(server, "POST", "/v1/nothing", "{}", null).statusCode()).isEqualTo(404);
        HttpResponse<String> deep = raw(server, "POST", "/v1/completions", "[".repeat(5000) + "]".repeat(5000), null);
        assertThat(deep.statusCode()).isEqualTo(400);
        assertThat(JSON.readTree(deep.body()).at("/error/type").asText()).isEqualTo("invalid_request_error");
        assertThat(post(server, "/v1/chat/completions", Map.of("model", "stories", "messages", List.of(Map.of("role", "wizard", "content", "x"))), 400)
                .at("/error/param").asText()).isEqualTo("messages[0].role");
        // still healthy and correct afterwards
        assertThat(raw(server, "GET", "/health", null, null).body()).contains("ok");
    }

    @Test
    void modelsListAndMetrics() throws Exception {
        JsonNode models = JSON.readTree(raw(server, "GET", "/v1/models", null, null).body());
        List<String> ids = new ArrayList<>();
        models.get("data").forEach(m -> ids.add(m.get("id").asText()));
        assertThat(ids).startsWith("stories").contains("lora-a", "lora-b", "dora", "prompt");
        post(server, "/v1/completions", Map.of("model", "lora-a", "prompt", "Hi", "max_tokens", 3), 200);
        String metrics = raw(server, "GET", "/metrics", null, null).body();
        assertThat(metrics).contains("peft4j_requests_total{endpoint=\"/v1/completions\",model=\"lora-a\",status=\"200\"}")
                .contains("peft4j_generated_tokens_total{model=\"lora-a\"}").contains("peft4j_queue_depth")
                .contains("peft4j_time_to_first_token_seconds_bucket").contains("peft4j_time_per_output_token_seconds_bucket")
                .contains("peft4j_decode_batch_size_bucket");
        assertThat(raw(server, "GET", "/", null, null).body()).contains("<html");
    }

    @Test
    void apiKeysQueueLimitAdaptersAtRunTimeAndGracefulShutdown() throws Exception {
        ServerOptions o = ServerOptions.builder(model).modelName("s").port(0).apiKeys(List.of("k1", "k2")).maxBatch(1).maxQueue(1)
                .maxLoadedAdapters(1).accessLog(new PrintStream(new ByteArrayOutputStream())).build();
        Peft4jServer s = Peft4jServer.start(o);
        try {
            Map<String, Object> hi = Map.of("model", "s", "prompt", "Hi", "max_tokens", 2);
            assertThat(raw(s, "POST", "/v1/completions", JSON.writeValueAsString(hi), null).statusCode()).isEqualTo(401);
            assertThat(raw(s, "POST", "/v1/completions", JSON.writeValueAsString(hi), "wrong").statusCode()).isEqualTo(401);
            assertThat(raw(s, "POST", "/v1/completions", JSON.writeValueAsString(hi), "k2").statusCode()).isEqualTo(200);
            assertThat(raw(s, "GET", "/health", null, null).statusCode()).isEqualTo(200);       // open
            // adapters at run time, one slot: the least recently used idle one is evicted and reloaded on demand
            for (String a : List.of("lora-a", "lora-b"))
                assertThat(raw(s, "POST", "/v1/load_lora_adapter", JSON.writeValueAsString(Map.of("lora_name", a, "lora_path",
                        adapters.get(a).toString())), "k1").statusCode()).isEqualTo(200);
            for (String a : List.of("lora-a", "lora-b", "lora-a")) {
                HttpResponse<String> r = raw(s, "POST", "/v1/completions", JSON.writeValueAsString(Map.of("model", a, "prompt", "Once",
                        "max_tokens", 10, "temperature", 0)), "k1");
                assertThat(JSON.readTree(r.body()).at("/choices/0/text").asText()).isEqualTo(ServeFixtures.generate(model, adapters.get(a), "Once", 10));
                assertThat(s.engine().loadedAdapters()).isEqualTo(1);
            }
            // a request holds the only batch slot (steps held), a second waits in the queue, a third is refused with 429
            Map<String, Object> longOne = Map.of("model", "lora-a", "prompt", "Once", "max_tokens", 40, "temperature", 0);
            s.engine().holdSteps(true);
            CompletableFuture<HttpResponse<String>> first = rawAsync(s, "/v1/completions", JSON.writeValueAsString(longOne), "k1");
            waitFor(() -> s.engine().running() == 1);
            CompletableFuture<HttpResponse<String>> second = rawAsync(s, "/v1/completions", JSON.writeValueAsString(hi), "k1");
            waitFor(() -> s.engine().queueDepth() == 1);
            HttpResponse<String> third = raw(s, "POST", "/v1/completions", JSON.writeValueAsString(hi), "k1");
            assertThat(third.statusCode()).isEqualTo(429);
            assertThat(JSON.readTree(third.body()).at("/error/code").asText()).isEqualTo("queue_full");
            // unloading lora-a waits for the long request that uses it; new requests for it are refused at once
            CompletableFuture<HttpResponse<String>> unload = rawAsync(s, "/v1/unload_lora_adapter",
                    JSON.writeValueAsString(Map.of("lora_name", "lora-a")), "k1");
            waitFor(() -> !s.engine().adapterNames().contains("lora-a"));
            assertThat(raw(s, "POST", "/v1/completions", JSON.writeValueAsString(longOne), "k1").statusCode()).isEqualTo(404);
            Thread.sleep(50);
            assertThat(unload.isDone()).as("unload waits for the request using the adapter").isFalse();
            s.engine().holdSteps(false);
            assertThat(first.get().statusCode()).isEqualTo(200);
            assertThat(JSON.readTree(first.get().body()).at("/usage/completion_tokens").asInt()).isGreaterThan(1);
            assertThat(unload.get().statusCode()).isEqualTo(200);
            assertThat(second.get().statusCode()).isEqualTo(200);
            // graceful shutdown: a running request finishes, a new one is refused
            CompletableFuture<HttpResponse<String>> last = rawAsync(s, "/v1/completions", JSON.writeValueAsString(Map.of("model", "lora-b",
                    "prompt", "Once", "max_tokens", 60, "temperature", 0)), "k1");
            s.engine().holdSteps(true);
            waitFor(() -> s.engine().running() == 1);
            CompletableFuture<Void> closing = CompletableFuture.runAsync(s::close);
            waitFor(() -> s.engine().isDraining());
            assertThat(raw(s, "POST", "/v1/completions", JSON.writeValueAsString(hi), "k1").statusCode()).isEqualTo(503);
            s.engine().holdSteps(false);
            closing.get();
            assertThat(last.get().statusCode()).isEqualTo(200);
            assertThat(JSON.readTree(last.get().body()).at("/choices/0/text").asText())
                    .isEqualTo(ServeFixtures.generate(model, adapters.get("lora-b"), "Once", 60));
        } finally {
            s.close();
        }
    }

    @Test
    void aClientThatHangsUpCancelsItsStreamAndATimeoutEndsARequestWith504() throws Exception {
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        ServerOptions o = ServerOptions.builder(model).modelName("s").port(0).requestTimeout(Duration.ofSeconds(2))
                .accessLog(new PrintStream(log, true, StandardCharsets.UTF_8)).build();
        try (Peft4jServer s = Peft4jServer.start(o)) {
            s.engine().holdSteps(true);
            String body = JSON.writeValueAsString(Map.of("model", "s", "prompt", "Once upon a time", "max_tokens", 300, "stream", true, "ignore_eos", true));
            try (java.net.Socket sock = new java.net.Socket("127.0.0.1", s.port())) {
                sock.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                        + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
                sock.getOutputStream().flush();
                waitFor(() -> s.engine().running() == 1);
            }                                                                    // the client hangs up before any token
            waitFor(() -> log.toString(StandardCharsets.UTF_8).contains("client-disconnected"));
            s.engine().holdSteps(false);
            waitFor(() -> s.engine().running() == 0);
            double generated = 0;                                                // its 300 tokens were never generated
            for (String line : s.metrics().scrape().split("\n"))
                if (line.startsWith("peft4j_generated_tokens_total{model=\"s\"} ")) generated = Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            assertThat(generated).isLessThan(10);
            // a request that cannot finish within --request-timeout gets 504 with an error JSON
            s.engine().holdSteps(true);
            HttpResponse<String> slow = raw(s, "POST", "/v1/completions", JSON.writeValueAsString(Map.of("model", "s", "prompt", "Once", "max_tokens", 5)), null);
            assertThat(slow.statusCode()).isEqualTo(504);
            assertThat(JSON.readTree(slow.body()).at("/error/message").asText()).contains("timeout");
            s.engine().holdSteps(false);
        }
    }

    // ---- HTTP helpers ----------------------------------------------------------------------------------

    static JsonNode post(Peft4jServer s, String path, Object body, int status) throws Exception {
        HttpResponse<String> r = raw(s, "POST", path, JSON.writeValueAsString(body), null);
        assertThat(r.statusCode()).as(path + " " + body + " -> " + r.body()).isEqualTo(status);
        assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith("application/json");
        return JSON.readTree(r.body());
    }

    static HttpResponse<String> raw(Peft4jServer s, String method, String path, String body, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(s.baseUrl() + path)).timeout(Duration.ofSeconds(120))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body))
                .header("Content-Type", "application/json");
        if (key != null) b.header("Authorization", "Bearer " + key);
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static CompletableFuture<HttpResponse<String>> rawAsync(Peft4jServer s, String path, String body, String key) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(s.baseUrl() + path)).timeout(Duration.ofSeconds(120))
                .POST(HttpRequest.BodyPublishers.ofString(body)).header("Content-Type", "application/json");
        if (key != null) b.header("Authorization", "Bearer " + key);
        return HTTP.sendAsync(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** The data lines of a Server-Sent Events response. */
    static List<String> sse(Peft4jServer s, String path, Object body) throws Exception {
        HttpRequest req = HttpRequest.newBuilder(URI.create(s.baseUrl() + path)).POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)))
                .header("Content-Type", "application/json").build();
        HttpResponse<java.io.InputStream> r = HTTP.send(req, HttpResponse.BodyHandlers.ofInputStream());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith("text/event-stream");
        List<String> out = new ArrayList<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) if (line.startsWith("data: ")) out.add(line.substring(6));
        }
        return out;
    }

    double histogramCount(String name, String le) throws Exception {
        String prefix = name + "_bucket{le=\"" + le + "\"} ";
        for (String line : raw(server, "GET", "/metrics", null, null).body().split("\n"))
            if (line.startsWith(prefix)) return Double.parseDouble(line.substring(prefix.length()).trim());
        return 0;
    }

    static void waitFor(java.util.function.BooleanSupplier cond) throws InterruptedException {
        long until = System.nanoTime() + 30_000_000_000L;
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > until) throw new AssertionError("condition not reached in 30 s");
            Thread.sleep(2);
        }
    }
}
