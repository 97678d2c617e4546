/*
 * BaseModelHashes: the identity of a base model directory - the SHA-256 of every file that decides
 * what the model computes: weights (*.safetensors and their index, *.bin, *.gguf), config.json,
 * generation_config.json and the tokenizer files. Weight files can be many gigabytes: each one over
 * 64 MiB is announced on the log before it is hashed, with the rate afterwards.
 */
package dev.peft4j.provenance;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Peft4jException;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

public final class BaseModelHashes {
    private static final Set<String> NAMED = Set.of("config.json", "generation_config.json", "tokenizer.json", "tokenizer.model",
            "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json", "merges.txt", "vocab.txt",
            "chat_template.jinja", "chat_template.json");
    private static final long ANNOUNCE_BYTES = 64L << 20;

    private BaseModelHashes() {}

    /** Hashes the model directory's identifying files (sorted by name); log gets a line per large file. */
    public static Provenance.BaseModel of(Path modelDir, PrintStream log) {
        Path dir = modelDir.toAbsolutePath().normalize();
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(Files::isRegularFile).filter(p -> identifies(p.getFileName().toString())).sorted().toList();
        } catch (IOException e) {
            throw new Peft4jException("cannot list base model directory " + dir + " to hash it: " + e.getMessage(), e);
        }
        List<Provenance.FileHash> hashes = new ArrayList<>();
        for (Path f : files) hashes.add(hash(f, log));
        String modelType = null;
        List<String> architectures = List.of();
        Path config = dir.resolve("config.json");
        if (Files.isRegularFile(config)) {
            try {
                JsonNode c = new ObjectMapper().readTree(config.toFile());
                if (c != null && c.hasNonNull("model_type")) modelType = c.get("model_type").asText();
                if (c != null && c.path("architectures").isArray()) {
                    List<String> a = new ArrayList<>();
                    c.get("architectures").forEach(n -> a.add(n.asText()));
                    architectures = a;
                }
            } catch (IOException e) {
                throw new Peft4jException("cannot parse " + config + ": " + e.getMessage(), e);
            }
        }
        return new Provenance.BaseModel(dir.toString(), modelType, architectures, hashes);
    }

    /** One file's hash; files over 64 MiB are announced ("hashing NAME (SIZE) ...") and timed on log. */
    public static Provenance.FileHash hash(Path file, PrintStream log) {
        long bytes;
        try {
            bytes = Files.size(file);
        } catch (IOException e) {
            throw new Peft4jException("cannot read " + file + ": " + e.getMessage(), e);
        }
        boolean announce = bytes >= ANNOUNCE_BYTES && log != null;
        long t0 = System.nanoTime();
        if (announce) log.printf("provenance: hashing %s (%.2f GiB, SHA-256) ...%n", file.getFileName(), bytes / (double) (1L << 30));
        String sha = Sha256.of(file);
        if (announce) {
            double s = (System.nanoTime() - t0) / 1e9;
            log.printf("provenance: %s hashed in %.1f s (%.0f MiB/s)%n", file.getFileName(), s, bytes / (double) (1L << 20) / Math.max(s, 1e-9));
        }
        return new Provenance.FileHash(file.getFileName().toString(), bytes, sha);
    }

    static boolean identifies(String name) {
        return NAMED.contains(name) || name.endsWith(".safetensors") || name.endsWith(".safetensors.index.json")
                || name.endsWith(".bin") || name.endsWith(".bin.index.json") || name.endsWith(".gguf");
    }
}
