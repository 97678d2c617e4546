/*
 * peft4j serve: the OpenAI-compatible server (peft4j-serve) for one base model and many adapters.
 */
package dev.peft4j.cli;

import dev.peft4j.Peft4jException;
import dev.peft4j.serve.Peft4jServer;
import dev.peft4j.serve.ServerOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Serve a base model and any number of adapters over an OpenAI-compatible HTTP API",
                "(/v1/completions, /v1/chat/completions, /v1/models, /v1/load_lora_adapter, /v1/unload_lora_adapter),",
                "with continuous batching across adapters, a comparison page at /, /health and /metrics.",
                "Example: peft4j serve --model ../shared/models/stories260K --adapter tales=runs/quickstart/adapter --port 8000"})
final class ServeCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Base model directory (config.json, safetensors, tokenizer).")
    Path model;

    @Option(names = "--model-name", paramLabel = "NAME", description = "The base model's id in the API (default: the directory's name).")
    String modelName;

    @Option(names = "--adapter", paramLabel = "NAME=DIR", description = "An adapter to serve under NAME (repeatable; any PEFT method peft4j reads).")
    List<String> adapters = new ArrayList<>();

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address to bind (default ${DEFAULT-VALUE}: this machine only).")
    String host;

    @Option(names = "--port", defaultValue = "8000", description = "Port (default ${DEFAULT-VALUE}; 0: any free port).")
    int port;

    @Option(names = "--api-key-file", paramLabel = "FILE", description = "File with one API key per line: requests must send 'Authorization: Bearer KEY'.")
    Path apiKeyFile;

    @Option(names = "--max-batch", defaultValue = "16", description = "Most sequences decoded together (default ${DEFAULT-VALUE}).")
    int maxBatch;

    @Option(names = "--max-queue", defaultValue = "64", description = "Most sequences waiting; more get HTTP 429 (default ${DEFAULT-VALUE}).")
    int maxQueue;

    @Option(names = "--max-loaded-adapters", defaultValue = "8", description = "Adapters kept in memory; the least recently used idle one is evicted (default ${DEFAULT-VALUE}).")
    int maxLoadedAdapters;

    @Option(names = "--prefill-chunk", defaultValue = "64", description = "Prompt tokens per scheduler step, so long prompts do not stall decoding (default ${DEFAULT-VALUE}).")
    int prefillChunk;

    @Option(names = "--quantize", defaultValue = "none", description = "Hold the base model as nf4 or int8 (default ${DEFAULT-VALUE}).")
    String quantize;

    @Option(names = "--prepack-weights", arity = "0..1", defaultValue = "true",
            description = "Keep GEMM-ready packed copies of f32 base weights: about 2x faster batched decode for 2x the weight memory (default ${DEFAULT-VALUE}; --prepack-weights=false to save memory).")
    boolean prepackWeights;

    @Option(names = "--threads", description = "Compute threads (default: all cores).")
    Integer threads;

    @Option(names = "--max-body-bytes", defaultValue = "1048576", description = "Largest request body (default ${DEFAULT-VALUE}).")
    long maxBodyBytes;

    @Option(names = "--request-timeout", defaultValue = "300", description = "Seconds a request may take, queueing included (default ${DEFAULT-VALUE}).")
    int requestTimeout;

    @Option(names = "--chat-template", paramLabel = "FILE", description = "Jinja chat template to use instead of the model's.")
    Path chatTemplate;

    @Override
    public Integer call() throws Exception {
        ServerOptions.Builder b = ServerOptions.builder(model).modelName(modelName).host(host).port(port).maxBatch(maxBatch).maxQueue(maxQueue)
                .maxLoadedAdapters(maxLoadedAdapters).prefillChunk(prefillChunk).quantize(quantize).prepackWeights(prepackWeights).threads(threads)
                .maxBodyBytes(maxBodyBytes).requestTimeout(Duration.ofSeconds(requestTimeout)).chatTemplate(chatTemplate);
        for (String a : adapters) {
            int eq = a.indexOf('=');
            if (eq <= 0 || eq == a.length() - 1)
                throw new Peft4jException("--adapter expects NAME=DIR (e.g. --adapter medical=runs/pubmedqa/adapter), got '" + a + "'");
            b.adapter(a.substring(0, eq), Path.of(a.substring(eq + 1)));
        }
        if (apiKeyFile != null) b.apiKeys(readKeys(apiKeyFile));
        Peft4jServer server = Peft4jServer.start(b.build());
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {                 // Ctrl-C / SIGTERM: finish in-flight requests first
            System.err.println("[peft4j serve] shutting down: finishing in-flight requests");
            server.close();
            stopped.countDown();
        }));
        System.err.printf("[peft4j serve] %s with %d adapter(s) %s at %s/v1 (comparison page: %s/)%s%n", server.engine().baseName(),
                server.engine().adapterNames().size(), server.engine().adapterNames(), server.baseUrl(), server.baseUrl(),
                apiKeyFile == null ? "" : " — API keys required");
        stopped.await();
        return 0;
    }

    static List<String> readKeys(Path file) {
        try {
            List<String> keys = new ArrayList<>();
            for (String line : Files.readAllLines(file)) if (!line.isBlank() && !line.startsWith("#")) keys.add(line.trim());
            if (keys.isEmpty()) throw new Peft4jException("--api-key-file " + file + " holds no key; put one key per line");
            return keys;
        } catch (IOException e) {
            throw new Peft4jException("cannot read --api-key-file " + file + ": " + e.getMessage());
        }
    }
}
