/*
 * ServeMetrics: what GET /metrics shows, in Prometheus' text format (prometheus-metrics-core):
 * requests and tokens by adapter and status, queue depth, running sequences, loaded adapters,
 * decode batch sizes, time to first token and time per output token.
 */
package dev.peft4j.serve;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;

public final class ServeMetrics {
    private final PrometheusRegistry registry = new PrometheusRegistry();
    final Counter requests, promptTokens, generatedTokens;
    final Histogram batchSize, ttft, perToken;

    ServeMetrics(Engine engine) {
        requests = Counter.builder().name("peft4j_requests_total").help("HTTP requests by endpoint, model (base or adapter) and status")
                .labelNames("endpoint", "model", "status").register(registry);
        promptTokens = Counter.builder().name("peft4j_prompt_tokens_total").help("Prompt tokens processed, by model")
                .labelNames("model").register(registry);
        generatedTokens = Counter.builder().name("peft4j_generated_tokens_total").help("Tokens generated, by model")
                .labelNames("model").register(registry);
        batchSize = Histogram.builder().name("peft4j_decode_batch_size").help("Sequences decoded together per decode step")
                .classicUpperBounds(1, 2, 4, 8, 16, 32, 64).register(registry);
        ttft = Histogram.builder().name("peft4j_time_to_first_token_seconds").help("From request received to its first token")
                .labelNames("model").classicUpperBounds(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30).register(registry);
        perToken = Histogram.builder().name("peft4j_time_per_output_token_seconds").help("Between consecutive tokens of a sequence")
                .labelNames("model").classicUpperBounds(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5).register(registry);
        GaugeWithCallback.builder().name("peft4j_queue_depth").help("Sequences waiting to be admitted")
                .callback(cb -> cb.call(engine.queueDepth())).register(registry);
        GaugeWithCallback.builder().name("peft4j_running_sequences").help("Sequences in the running batch")
                .callback(cb -> cb.call(engine.running())).register(registry);
        GaugeWithCallback.builder().name("peft4j_loaded_adapters").help("Adapters in memory")
                .callback(cb -> cb.call(engine.loadedAdapters())).register(registry);
        engine.setStepObserver(batchSize::observe);
    }

    /** The exposition text. */
    public String scrape() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            PrometheusTextFormatWriter.create().write(out, registry.scrape());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString(java.nio.charset.StandardCharsets.UTF_8);
    }

    public static String contentType() { return PrometheusTextFormatWriter.CONTENT_TYPE; }
}
