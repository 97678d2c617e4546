package dev.peft4j.serve;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * 1,200 generated hostile requests — random bytes, wrong types in every field, huge numbers, deep
 * nesting, oversized bodies, unknown adapters and endpoints, missing and wrong API keys — each must get
 * a 4xx with OpenAI's error JSON, and the server must answer a good request correctly afterwards with
 * nothing left running or queued.
 */
class HostileInputTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String KEY = "hostile-test-key";
    static final int PER_KIND = 100;

    record Bad(String kind, String method, String path, byte[] body, String key) {}

    @Test
    void everyMalformedRequestGetsA4xxErrorJsonAndTheServerStaysCorrect(@TempDir Path tmp) throws Exception {
        Path model = ServeFixtures.stories();
        Map<String, Path> adapters = ServeFixtures.writeAdapters(model, tmp);
        ServerOptions o = ServerOptions.builder(model).modelName("base").port(0).apiKeys(List.of(KEY)).maxBodyBytes(64 * 1024)
                .adapter("lora-a", adapters.get("lora-a")).accessLog(new PrintStream(new ByteArrayOutputStream())).build();
        Random r = new Random(2026);
        List<Bad> bad = generate(r);
        assertThat(bad).hasSizeGreaterThanOrEqualTo(1000);
        HttpClient http = HttpClient.newHttpClient();
        Map<String, Integer> statuses = new TreeMap<>();
        try (Peft4jServer s = Peft4jServer.start(o)) {
            for (Bad b : bad) {
                HttpRequest.Builder req = HttpRequest.newBuilder(URI.create(s.baseUrl() + b.path())).timeout(Duration.ofSeconds(30))
                        .method(b.method(), b.body() == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(b.body()));
                if (b.key() != null) req.header("Authorization", "Bearer " + b.key());
                // an oversized body is refused from its Content-Length: with Expect: 100-continue the client learns it
                // before sending the body (without it the server's early 413 can meet a half-sent body as a broken pipe)
                if (b.body() != null && b.body().length > 64 * 1024) req.expectContinue(true);
                HttpResponse<String> resp;
                try {
                    resp = http.send(req.build(), HttpResponse.BodyHandlers.ofString());
                } catch (java.io.IOException e) {
                    throw new AssertionError(b.kind() + " " + b.method() + " " + b.path() + " " + preview(b.body()) + ": " + e, e);
                }
                String what = b.kind() + " " + b.method() + " " + b.path() + " " + preview(b.body()) + " -> " + resp.statusCode() + " " + resp.body();
                assertThat(resp.statusCode()).as(what).isBetween(400, 499);
                JsonNode err = JSON.readTree(resp.body());
                assertThat(err.at("/error/message").asText()).as(what).isNotBlank();
                assertThat(err.at("/error/type").asText()).as(what).isNotBlank();
                statuses.merge(b.kind() + " " + resp.statusCode(), 1, Integer::sum);
            }
            System.out.println("hostile requests by kind and status: " + statuses);
            // still correct afterwards, nothing stuck
            HttpResponse<String> ok = http.send(HttpRequest.newBuilder(URI.create(s.baseUrl() + "/v1/completions")).header("Authorization", "Bearer " + KEY)
                    .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(Map.of("model", "lora-a", "prompt", "Once upon a time",
                            "max_tokens", 20, "temperature", 0)))).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(ok.statusCode()).as(ok.body() + " " + ok.headers().map() + " " + ok.version()).isEqualTo(200);
            assertThat(JSON.readTree(ok.body()).at("/choices/0/text").asText())
                    .isEqualTo(ServeFixtures.generate(model, adapters.get("lora-a"), "Once upon a time", 20));
            assertThat(s.engine().running()).isZero();
            assertThat(s.engine().queueDepth()).isZero();
        }
    }

    static List<Bad> generate(Random r) throws Exception {
        List<Bad> out = new ArrayList<>();
        Map<String, Supplier<Object>> wrong = new LinkedHashMap<>();
        wrong.put("model", () -> pick(r, 42, List.of("base"), Map.of("id", "base"), true, "", "no-such-adapter-" + r.nextInt(1000), "../etc/passwd"));
        wrong.put("prompt", () -> pick(r, 7, Map.of("text", "x"), List.of(), List.of(1, "a"), List.of(-1), List.of(1L << 40), List.of(600000), true, 1.5,
                List.of(List.of(1, 2)), List.of(List.of())));
        wrong.put("max_tokens", () -> pick(r, "ten", -1, 0, 1e30, 3.5, List.of(1), "9".repeat(40), Long.MAX_VALUE, 100000, Map.of()));
        wrong.put("temperature", () -> pick(r, "hot", -0.1, 2.5, 1e308, List.of(0), true, Map.of("t", 1)));
        wrong.put("top_p", () -> pick(r, 0, -1, 1.5, "all", List.of(), false));
        wrong.put("n", () -> pick(r, 0, -3, 17, 1000000, 1.5, "two", List.of(2)));
        wrong.put("seed", () -> pick(r, "lucky", 1.5, "1".repeat(30), List.of(7), Map.of()));
        wrong.put("stop", () -> pick(r, 7, List.of("a", "b", "c", "d", "e"), List.of(1), "", List.of(""), Map.of("s", "x"), true));
        wrong.put("stream", () -> pick(r, "yes", 1, List.of(true), Map.of()));
        wrong.put("stream_options", () -> pick(r, "usage", List.of(), 3));
        wrong.put("logprobs", () -> pick(r, 5, true));
        wrong.put("echo", () -> pick(r, true));
        for (Map.Entry<String, Supplier<Object>> w : wrong.entrySet())
            for (int i = 0; i < PER_KIND / 2; i++) {
                Map<String, Object> body = new LinkedHashMap<>(Map.of("model", "base", "prompt", "Hello", "max_tokens", 4));
                body.put(w.getKey(), w.getValue().get());
                out.add(json("wrong-" + w.getKey(), "/v1/completions", body));
            }
        // chat: bad messages
        List<Object> badMessages = List.of("hi", List.of(), List.of("hi"), List.of(Map.of("role", "user")), List.of(Map.of("role", "robot", "content", "x")),
                List.of(Map.of("role", "user", "content", 5)), List.of(Map.of("role", "user", "content", List.of(Map.of("type", "image_url", "image_url", "x")))),
                List.of(Map.of("content", "x")), Map.of("role", "user", "content", "x"));
        for (int i = 0; i < PER_KIND; i++) {
            Map<String, Object> body = new LinkedHashMap<>(Map.of("model", "base", "max_tokens", 4));
            body.put("messages", badMessages.get(r.nextInt(badMessages.size())));
            out.add(json("chat-messages", "/v1/chat/completions", body));
        }
        // random bytes and random text that is not a JSON object
        for (int i = 0; i < PER_KIND; i++) {
            byte[] b = new byte[1 + r.nextInt(300)];
            r.nextBytes(b);
            out.add(new Bad("random-bytes", "POST", r.nextBoolean() ? "/v1/completions" : "/v1/chat/completions", b, KEY));
        }
        String[] notObjects = {"", "null", "[]", "42", "\"prompt\"", "{", "{\"model\": }", "{\"model\": \"base\", \"prompt\": \"x\"", "{'model': 'base'}",
                "{\"model\": \"base\", \"prompt\": \"x\", \"max_tokens\": 1e999999}", "{\"model\": \"base\", \"prompt\": \"\\ud800\"}x"};
        for (int i = 0; i < PER_KIND; i++)
            out.add(new Bad("not-an-object", "POST", "/v1/completions", notObjects[r.nextInt(notObjects.length)].getBytes(), KEY));
        // deep nesting and huge numbers
        for (int i = 0; i < PER_KIND / 2; i++) {
            int depth = 65 + r.nextInt(20000);
            String deep = r.nextBoolean() ? "[".repeat(depth) + "]".repeat(depth) : "{\"a\":".repeat(depth) + "1" + "}".repeat(depth);
            out.add(new Bad("deep-nesting", "POST", "/v1/completions",
                    ("{\"model\": \"base\", \"prompt\": \"x\", \"extra\": " + deep + "}").getBytes(), KEY));
        }
        for (int i = 0; i < PER_KIND / 2; i++) {
            String num = r.nextBoolean() ? "9".repeat(70 + r.nextInt(1000)) : "1e" + (400 + r.nextInt(100000));
            out.add(new Bad("huge-number", "POST", "/v1/completions",
                    ("{\"model\": \"base\", \"prompt\": \"x\", \"max_tokens\": " + num + "}").getBytes(), KEY));
        }
        // oversized bodies
        for (int i = 0; i < 20; i++) {
            String big = "{\"model\": \"base\", \"prompt\": \"" + "a".repeat(64 * 1024 + r.nextInt(200_000)) + "\"}";
            out.add(new Bad("oversized", "POST", "/v1/completions", big.getBytes(), KEY));
        }
        // prompts past the context, unknown adapters, unknown endpoints and methods
        for (int i = 0; i < PER_KIND / 2; i++)
            out.add(json("past-context", "/v1/completions", Map.of("model", "base", "prompt", "Once upon a time ".repeat(130 + r.nextInt(50)), "max_tokens", 8)));
        for (int i = 0; i < PER_KIND / 2; i++)
            out.add(json("unknown-adapter", r.nextBoolean() ? "/v1/completions" : "/v1/chat/completions",
                    Map.of("model", "adapter-" + r.nextInt(1_000_000), "prompt", "x", "messages", List.of(Map.of("role", "user", "content", "x")))));
        String[] endpoints = {"/v1/engines", "/v1/completions/x", "/v2/completions", "/v1/embeddings", "/admin"};
        for (int i = 0; i < PER_KIND / 2; i++)
            out.add(new Bad("unknown-endpoint", r.nextBoolean() ? "POST" : "GET", endpoints[r.nextInt(endpoints.length)], "{}".getBytes(), KEY));
        for (int i = 0; i < 20; i++) out.add(new Bad("wrong-method", r.nextBoolean() ? "GET" : "PUT", "/v1/completions", null, KEY));
        // adapter management with bad input
        List<Object> badLoads = List.of(Map.of(), Map.of("lora_name", "x"), Map.of("lora_name", "x", "lora_path", "/nonexistent/dir"),
                Map.of("lora_name", 5, "lora_path", "/tmp"), Map.of("lora_name", "base", "lora_path", "/tmp"), Map.of("lora_name", "x", "lora_path", "/tmp"));
        for (int i = 0; i < 30; i++) {
            Object body = badLoads.get(r.nextInt(badLoads.size()));
            out.add(json("bad-load", "/v1/load_lora_adapter", body));
        }
        for (int i = 0; i < 20; i++)
            out.add(json("bad-unload", "/v1/unload_lora_adapter", r.nextBoolean() ? Map.of() : Map.of("lora_name", "never-loaded-" + i)));
        // missing and wrong keys
        String[] wrongKeys = {null, "", "hostile-test-ke", "hostile-test-key2", "HOSTILE-TEST-KEY", "x".repeat(5000), "Bearer " + KEY};
        for (int i = 0; i < PER_KIND; i++) {
            String k = wrongKeys[r.nextInt(wrongKeys.length)];
            byte[] body = JSON.writeValueAsBytes(Map.of("model", "base", "prompt", "x", "max_tokens", 2));
            String path = List.of("/v1/completions", "/v1/models", "/metrics", "/v1/load_lora_adapter").get(r.nextInt(4));
            out.add(new Bad("wrong-key", path.equals("/v1/models") || path.equals("/metrics") ? "GET" : "POST", path,
                    path.startsWith("/v1/c") || path.contains("load") ? body : null, k));
        }
        return out;
    }

    static Bad json(String kind, String path, Object body) throws Exception {
        return new Bad(kind, "POST", path, JSON.writeValueAsBytes(body), KEY);
    }

    static Object pick(Random r, Object... options) { return options[r.nextInt(options.length)]; }

    static String preview(byte[] b) {
        if (b == null) return "";
        String s = new String(b, 0, Math.min(b.length, 120));
        return s + (b.length > 120 ? "...(" + b.length + " bytes)" : "");
    }
}
