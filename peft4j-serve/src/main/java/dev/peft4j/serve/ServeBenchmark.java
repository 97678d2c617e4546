/*
 * ServeBenchmark: HTTP clients on loopback against a running server, for `peft4j bench serve` and the
 * load test. Two measurements:
 *   streams(...)  N concurrent streaming completions started together (each its own model name, or all
 *                 the same): aggregate decode tokens/s (the sum over streams of (tokens - 1) / (last token -
 *                 first token)), time to first token and time per output token percentiles;
 *   load(...)     C clients looping for a duration over random models, prompts, lengths, streaming or not,
 *                 some disconnecting mid-stream: counts by outcome.
 */
package dev.peft4j.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

public final class ServeBenchmark {
    private static final ObjectMapper JSON = new ObjectMapper();

    private ServeBenchmark() {}

    /** One round of concurrent streams. */
    public record Round(int streams, double decodeTokensPerS, double ttftP50, double ttftP99, double tpotP50, double tpotP99, int tokens) {}

    /** What one stream saw. */
    private record Stream(long sent, List<Long> chunks, int tokens) {}

    /**
     * models.get(i % models.size()) for stream i; each stream: promptIds (token ids), maxTokens new tokens
     * (EOS ignored), greedy.
     */
    public static Round streams(String baseUrl, String apiKey, List<String> models, int streams, int[] promptIds, int maxTokens) throws Exception {
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<Stream>> futures = new ArrayList<>();
            for (int i = 0; i < streams; i++) {
                String model = models.get(i % models.size());
                futures.add(pool.submit(() -> stream(http, baseUrl, apiKey, model, promptIds, maxTokens)));
            }
            double rate = 0;
            int tokens = 0;
            List<Double> ttft = new ArrayList<>(), tpot = new ArrayList<>();
            for (Future<Stream> f : futures) {
                Stream s = f.get();
                List<Long> c = s.chunks();
                tokens += s.tokens();
                ttft.add((c.getFirst() - s.sent()) / 1e9);
                for (int i = 1; i < c.size(); i++) tpot.add((c.get(i) - c.get(i - 1)) / 1e9);
                if (c.size() > 1) rate += (s.tokens() - 1) / ((c.getLast() - c.getFirst()) / 1e9);
            }
            return new Round(streams, rate, pct(ttft, 50), pct(ttft, 99), pct(tpot, 50), pct(tpot, 99), tokens);
        }
    }

    private static Stream stream(HttpClient http, String baseUrl, String apiKey, String model, int[] prompt, int maxTokens) throws Exception {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", model);
        body.put("prompt", prompt);
        body.put("max_tokens", maxTokens);
        body.put("temperature", 0);
        body.put("ignore_eos", true);
        body.put("stream", true);
        body.put("stream_options", Map.of("include_usage", true));
        long sent = System.nanoTime();
        HttpResponse<InputStream> r = http.send(request(baseUrl + "/v1/completions", apiKey, body), HttpResponse.BodyHandlers.ofInputStream());
        if (r.statusCode() != 200) throw new IllegalStateException("HTTP " + r.statusCode() + ": " + new String(r.body().readAllBytes(), StandardCharsets.UTF_8));
        List<Long> chunks = new ArrayList<>();
        int tokens = 0;
        try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                if (!line.startsWith("data: ") || line.equals("data: [DONE]")) continue;
                JsonNode e = JSON.readTree(line.substring(6));
                if (e.has("error")) throw new IllegalStateException("stream error: " + e);
                if (e.has("usage")) { tokens = e.at("/usage/completion_tokens").asInt(); continue; }
                if (!e.at("/choices/0/text").asText("").isEmpty()) chunks.add(System.nanoTime());
            }
        }
        if (chunks.isEmpty()) throw new IllegalStateException("no tokens streamed for " + model);
        return new Stream(sent, chunks, tokens);
    }

    /** Outcomes of a load run. */
    public record Load(long ok, long rejected429, long disconnected, long errors, long tokens, Map<String, Long> byStatus, List<String> errorSamples) {}

    /**
     * clients loop for duration: each request picks a random model, a prompt of 4-40 random token ids
     * below vocab, 4-48 new tokens; half stream; one stream in ten is dropped after its first chunk.
     * A 429 waits 20-100 ms before the next request.
     */
    public static Load load(String baseUrl, String apiKey, List<String> models, int clients, Duration duration, int vocab, long seed) throws Exception {
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        AtomicLong ok = new AtomicLong(), rejected = new AtomicLong(), dropped = new AtomicLong(), errors = new AtomicLong(), tokens = new AtomicLong();
        Map<String, Long> byStatus = new ConcurrentHashMap<>();
        List<String> samples = Collections.synchronizedList(new ArrayList<>());
        long until = System.nanoTime() + duration.toNanos();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int c = 0; c < clients; c++) {
                SplittableRandom rng = new SplittableRandom(seed + c);
                pool.submit(() -> {
                    while (System.nanoTime() < until) {
                        int[] prompt = new int[4 + rng.nextInt(37)];
                        for (int i = 0; i < prompt.length; i++) prompt[i] = rng.nextInt(vocab);
                        boolean stream = rng.nextBoolean(), drop = stream && rng.nextInt(10) == 0;
                        Map<String, Object> body = new LinkedHashMap<>();
                        body.put("model", models.get(rng.nextInt(models.size())));
                        body.put("prompt", prompt);
                        body.put("max_tokens", 4 + rng.nextInt(45));
                        body.put("temperature", rng.nextBoolean() ? 0 : 0.8);
                        body.put("stream", stream);
                        try {
                            HttpResponse<InputStream> r = http.send(request(baseUrl + "/v1/completions", apiKey, body), HttpResponse.BodyHandlers.ofInputStream());
                            byStatus.merge(String.valueOf(r.statusCode()), 1L, Long::sum);
                            try (InputStream in = r.body()) {
                                if (r.statusCode() == 429) {
                                    in.readAllBytes();
                                    rejected.incrementAndGet();
                                    Thread.sleep(20 + rng.nextInt(80));
                                    continue;
                                }
                                if (r.statusCode() != 200) {
                                    errors.incrementAndGet();
                                    if (samples.size() < 5) samples.add(r.statusCode() + " " + new String(in.readAllBytes(), StandardCharsets.UTF_8));
                                    continue;
                                }
                                if (drop) {                                  // read one chunk, then hang up
                                    BufferedReader br = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
                                    for (String line; (line = br.readLine()) != null; ) if (line.startsWith("data: {")) break;
                                    dropped.incrementAndGet();
                                    continue;
                                }
                                String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                                if (text.contains("\"error\"")) {
                                    errors.incrementAndGet();
                                    if (samples.size() < 5) samples.add(text.length() > 300 ? text.substring(0, 300) : text);
                                    continue;
                                }
                                if (!stream) tokens.addAndGet(JSON.readTree(text).at("/usage/completion_tokens").asLong());
                                else tokens.addAndGet(text.split("\"text\":\"", -1).length - 1);
                                ok.incrementAndGet();
                            }
                        } catch (Exception e) {
                            errors.incrementAndGet();
                            if (samples.size() < 5) samples.add(e.toString());
                        }
                    }
                    return null;
                });
            }
        }
        return new Load(ok.get(), rejected.get(), dropped.get(), errors.get(), tokens.get(), Map.copyOf(byStatus), List.copyOf(samples));
    }

    private static HttpRequest request(String url, String apiKey, Object body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofMinutes(5))
                .POST(HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(body))).header("Content-Type", "application/json");
        if (apiKey != null) b.header("Authorization", "Bearer " + apiKey);
        return b.build();
    }

    static double pct(List<Double> xs, int p) {
        if (xs.isEmpty()) return Double.NaN;
        List<Double> s = new ArrayList<>(xs);
        Collections.sort(s);
        return s.get(Math.min(s.size() - 1, (int) Math.ceil(p / 100.0 * s.size()) - 1));
    }
}
