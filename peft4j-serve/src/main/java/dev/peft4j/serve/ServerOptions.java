/*
 * ServerOptions: everything peft4j serve is started with (the CLI's flags, or a builder in Java).
 */
package dev.peft4j.serve;

import dev.peft4j.Peft4jException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public record ServerOptions(Path model, String modelName, Map<String, Path> adapters, String host, int port, List<String> apiKeys,
                            int maxBatch, int maxQueue, int maxLoadedAdapters, int prefillChunk, String quantize, boolean prepackWeights, Integer threads,
                            long maxBodyBytes, Duration requestTimeout, Duration shutdownGrace, Path chatTemplate,
                            PrintStream accessLog) {
    public ServerOptions {
        if (model == null) throw new Peft4jException("--model is required: a HuggingFace model directory");
        if (port < 0 || port > 65535) throw new Peft4jException("--port must be in [0, 65535] (0: any free port), got " + port);
        if (maxBodyBytes < 1024) throw new Peft4jException("--max-body-bytes must be >= 1024, got " + maxBodyBytes);
        if (requestTimeout.isNegative() || requestTimeout.isZero()) throw new Peft4jException("--request-timeout must be > 0");
        if (quantize != null && !List.of("none", "nf4", "int8", "q8_0", "q4_k").contains(quantize))
            throw new Peft4jException("--quantize must be none, nf4, int8, q8_0 or q4_k (got " + quantize + ")");
        adapters = Map.copyOf(adapters);
        apiKeys = List.copyOf(apiKeys);
        if (modelName == null || modelName.isBlank()) modelName = model.toAbsolutePath().normalize().getFileName().toString();
    }

    public static Builder builder(Path model) { return new Builder(model); }

    public static final class Builder {
        private final Path model;
        private String modelName;
        private final Map<String, Path> adapters = new LinkedHashMap<>();
        private String host = "127.0.0.1";
        private int port = 8000;
        private List<String> apiKeys = List.of();
        private int maxBatch = 16, maxQueue = 64, maxLoadedAdapters = 8, prefillChunk = 64;
        private String quantize = "none";
        private boolean prepackWeights = true;
        private Integer threads;
        private long maxBodyBytes = 1 << 20;
        private Duration requestTimeout = Duration.ofMinutes(5), shutdownGrace = Duration.ofSeconds(10);
        private Path chatTemplate;
        private PrintStream accessLog = System.err;

        Builder(Path model) { this.model = model; }

        public Builder modelName(String v) { modelName = v; return this; }
        public Builder adapter(String name, Path dir) { adapters.put(name, dir); return this; }
        public Builder host(String v) { host = v; return this; }
        public Builder port(int v) { port = v; return this; }
        public Builder apiKeys(List<String> v) { apiKeys = v; return this; }
        public Builder maxBatch(int v) { maxBatch = v; return this; }
        public Builder maxQueue(int v) { maxQueue = v; return this; }
        public Builder maxLoadedAdapters(int v) { maxLoadedAdapters = v; return this; }
        public Builder prefillChunk(int v) { prefillChunk = v; return this; }
        public Builder quantize(String v) { quantize = v; return this; }
        /** Keep GEMM-ready packed copies of the f32 base weights (default on: ~2x faster batched decode, 2x weight memory). */
        public Builder prepackWeights(boolean v) { prepackWeights = v; return this; }
        public Builder threads(Integer v) { threads = v; return this; }
        public Builder maxBodyBytes(long v) { maxBodyBytes = v; return this; }
        public Builder requestTimeout(Duration v) { requestTimeout = v; return this; }
        public Builder shutdownGrace(Duration v) { shutdownGrace = v; return this; }
        public Builder chatTemplate(Path v) { chatTemplate = v; return this; }
        public Builder accessLog(PrintStream v) { accessLog = v; return this; }

        public ServerOptions build() {
            return new ServerOptions(model, modelName, adapters, host, port, apiKeys, maxBatch, maxQueue, maxLoadedAdapters, prefillChunk,
                    quantize, prepackWeights, threads, maxBodyBytes, requestTimeout, shutdownGrace, chatTemplate, accessLog);
        }
    }
}
