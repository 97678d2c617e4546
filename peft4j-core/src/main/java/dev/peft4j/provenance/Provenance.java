/*
 * Provenance: what an adapter is and how it came to be, written by `peft4j train` as
 * provenance.json next to the adapter's files: the base model (path, model_type, architectures,
 * SHA-256 of its weight, config and tokenizer files), every data file (SHA-256, examples and tokens
 * per split), the full resolved configuration, the peft4j version and git commit, seed, threads,
 * the machine, start/end and wall time, steps, tokens seen, final losses, CPU time and an energy /
 * CO2e estimate. `inspect ADAPTER`, the model card and `runs DIR` read it back.
 *
 * Constraints: JSON keys are snake_case; a loss that is not a finite number is null; the file is
 * written atomically (temp + rename); reading ignores unknown keys (newer writers may add some).
 */
package dev.peft4j.provenance;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.peft4j.Peft4jException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;

@JsonIgnoreProperties(ignoreUnknown = true)
public record Provenance(String format, Adapter adapter, BaseModel baseModel, List<DataFile> data, Map<String, Object> config,
                         BuildInfo peft4j, long seed, int threads, Machine machine, Run run, Energy energy) {
    public static final String FILE = "provenance.json", FORMAT = "peft4j-provenance/1";

    /** A file from elsewhere may leave out anything: lists and maps are never null and hold no null element. */
    public Provenance {
        data = nonNull(data);
        config = config == null ? Map.of() : java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(config));
    }

    /** The adapter trained: PEFT method (peft_type) and its trainable parameters. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Adapter(String method, long trainableParams, String trainableSummary) {}

    /** A file and its SHA-256 (name relative to its directory). */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record FileHash(String name, long bytes, String sha256) {}

    /** The base model: its directory, config.json's model_type and architectures, and its files' hashes. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record BaseModel(String path, String modelType, List<String> architectures, List<FileHash> files) {
        public BaseModel {
            architectures = nonNull(architectures);
            files = nonNull(files);
        }
    }

    /** Examples and tokens of one split (after truncation; packed rows when packing). */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Split(int examples, long tokens) {}

    /** A data file: its role ("train", "train+validation" when the validation split comes from it, "validation"), hash, and splits. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record DataFile(String role, String path, String name, long bytes, String sha256, Split train, Split validation) {}

    /** The run: times (ISO-8601 UTC), steps, tokens the model read (padding excluded), final losses (null when unknown). */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Run(String startedAt, String finishedAt, double wallSeconds, int steps, long tokensSeen,
                      Double finalTrainLoss, Double finalValidationLoss, boolean resumed) {
        public Run {
            finalTrainLoss = finite(finalTrainLoss);
            finalValidationLoss = finite(finalValidationLoss);
        }
    }

    static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    /** Writes dir/provenance.json atomically. */
    public void write(Path dir) {
        Path file = dir.resolve(FILE), tmp = dir.resolve("." + FILE + ".tmp");
        try {
            Files.writeString(tmp, JSON.writeValueAsString(this) + "\n", StandardCharsets.UTF_8);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            try { Files.deleteIfExists(tmp); } catch (IOException ignored) { }
            throw new Peft4jException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    /** dir/provenance.json, or null when the adapter has none (trained elsewhere or by an older peft4j). */
    public static Provenance read(Path dir) {
        Path file = dir.resolve(FILE);
        if (!Files.isRegularFile(file)) return null;
        try {
            Provenance p = JSON.readValue(file.toFile(), Provenance.class);
            if (p == null) throw new IOException("the file holds JSON null");
            return p;
        } catch (IOException e) {
            throw new Peft4jException(file + " is not a readable peft4j provenance record (" + e.getMessage()
                    + "); it is written by peft4j train. Delete it or train the adapter again", e);
        }
    }

    /** The final validation loss, else the final train loss: the loss a version is best judged by. */
    public Double keyLoss() {
        return run == null ? null : run.finalValidationLoss() != null ? run.finalValidationLoss() : run.finalTrainLoss();
    }

    static <T> List<T> nonNull(List<T> list) {
        return list == null ? List.of() : list.stream().filter(java.util.Objects::nonNull).toList();
    }

    static Double finite(Double d) {
        return d == null || !Double.isFinite(d) ? null : d;
    }
}
