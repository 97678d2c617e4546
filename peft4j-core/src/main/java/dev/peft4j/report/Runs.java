/*
 * Runs: the version history of a directory - every adapter under it (a directory holding
 * adapter_config.json; the search does not descend into an adapter, so a run's checkpoints are not
 * listed as versions of their own), each summarised from its provenance.json, metrics.jsonl,
 * adapter_config.json and eval_results.json, in date order (the provenance's finish time, else the
 * adapter weights' modification time). An adapter without provenance (trained elsewhere or by an
 * older peft4j) is listed with what its other files say; the rest is null ('-' in the table).
 */
package dev.peft4j.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Peft4jException;
import dev.peft4j.provenance.EvalResults;
import dev.peft4j.provenance.Provenance;
import dev.peft4j.tuner.ModelCard;
import dev.peft4j.tuner.PeftAdapter;
import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public final class Runs {
    private Runs() {}

    /**
     * One version. metrics: every number the history can chart, by name (train_loss, val_loss, steps,
     * tokens_seen, wall_s, cpu_s, energy_wh, co2e_g, trainable_params and each recorded eval metric);
     * notes: what could not be read (the row is still listed).
     */
    public record Run(Path dir, String name, Instant date, String method, Integer rank, Long trainableParams, List<String> data,
                      Integer steps, Double trainLoss, Double valLoss, Map<String, Double> evalMetrics, Double energyWh,
                      Double co2eGrams, boolean hasProvenance, Map<String, Double> metrics, List<String> notes) {}

    /** The metrics every run may have, in the order the table shows them. */
    public static final List<String> STANDARD_METRICS = List.of("val_loss", "train_loss", "steps", "tokens_seen", "trainable_params",
            "wall_s", "cpu_s", "energy_wh", "co2e_g");

    /** Adapter directories under dir (dir itself when it is one), oldest first. */
    public static List<Path> adapterDirs(Path dir) {
        if (!Files.isDirectory(dir))
            throw new Peft4jException(dir + " is not a directory; expected an adapter directory or a directory of adapters (runs)");
        if (isAdapter(dir)) return List.of(dir);
        List<Path> found = new ArrayList<>();
        try {
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes attrs) {
                    if (!d.equals(dir) && d.getFileName().toString().startsWith(".")) return FileVisitResult.SKIP_SUBTREE;  // staging, hidden
                    if (isAdapter(d)) {
                        found.add(d);
                        return FileVisitResult.SKIP_SUBTREE;
                    }
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            throw new Peft4jException("cannot search " + dir + " for adapters: " + e.getMessage(), e);
        }
        found.sort(Comparator.comparing(Runs::dateOf).thenComparing(Path::toString));
        return found;
    }

    /** Each path as given when it is an adapter; a directory of adapters expands to them, oldest first (compare --adapter DIR). */
    public static List<Path> adapterDirs(List<Path> paths) {
        List<Path> out = new ArrayList<>();
        for (Path p : paths) {
            if (isAdapter(p) || !Files.isDirectory(p)) {
                out.add(p);            // an adapter, or a wrong path the adapter loader reports as it always did
                continue;
            }
            List<Path> under = adapterDirs(p);
            if (under.isEmpty())
                throw new Peft4jException(p + " holds no adapter: neither it nor any directory under it has " + PeftAdapter.CONFIG
                        + "; give an adapter directory or a directory of trained runs");
            out.addAll(under);
        }
        return out;
    }

    /** Every adapter under dir, summarised, oldest first. */
    public static List<Run> read(Path dir) {
        Path root = dir.toAbsolutePath().normalize();
        List<Run> runs = new ArrayList<>();
        for (Path d : adapterDirs(root)) runs.add(summarise(root, d));
        return runs;
    }

    static boolean isAdapter(Path d) {
        return Files.isRegularFile(d.resolve(PeftAdapter.CONFIG));
    }

    /** When the version was made: provenance finish time, else the weights' (or config's) modification time. */
    static Instant dateOf(Path d) {
        try {
            Provenance p = Provenance.read(d);
            if (p != null && p.run() != null && p.run().finishedAt() != null) return Instant.parse(p.run().finishedAt());
        } catch (RuntimeException e) {
            // unreadable provenance: fall back to the files' times
        }
        try {
            Path w = d.resolve(PeftAdapter.WEIGHTS);
            return Files.getLastModifiedTime(Files.exists(w) ? w : d.resolve(PeftAdapter.CONFIG)).toInstant();
        } catch (IOException e) {
            return Instant.EPOCH;
        }
    }

    static Run summarise(Path root, Path d) {
        List<String> notes = new ArrayList<>();
        String name = root.equals(d) ? d.getFileName().toString() : root.relativize(d).toString();
        Provenance p = null;
        try {
            p = Provenance.read(d);
        } catch (Peft4jException e) {
            notes.add(e.getMessage());
        }
        String method = null;
        Integer rank = null;
        try {
            JsonNode c = new ObjectMapper().readTree(d.resolve(PeftAdapter.CONFIG).toFile());
            method = c.path("peft_type").asText("LORA");
            for (String key : new String[] {"r", "target_r", "init_r"})
                if (c.path(key).isInt() && !(key.equals("r") && method.equals("ADALORA"))) { rank = c.get(key).asInt(); break; }
        } catch (IOException e) {
            notes.add("cannot read " + PeftAdapter.CONFIG + ": " + e.getMessage());
        }
        Long params = p != null && p.adapter() != null ? Long.valueOf(p.adapter().trainableParams()) : null;
        if (params == null && Files.isRegularFile(d.resolve(PeftAdapter.WEIGHTS))) {
            try {
                params = ModelCard.parametersInFile(d);
            } catch (RuntimeException e) {
                notes.add("cannot read " + PeftAdapter.WEIGHTS + ": " + e.getMessage());
            }
        }
        List<String> data = new ArrayList<>();
        if (p != null && p.data() != null) p.data().forEach(f -> { if (!data.contains(f.name())) data.add(f.name()); });
        else data.addAll(dataFromTrainConfig(d));
        Integer steps = p != null && p.run() != null ? Integer.valueOf(p.run().steps()) : null;
        Double trainLoss = p != null && p.run() != null ? p.run().finalTrainLoss() : null;
        Double valLoss = p != null && p.run() != null ? p.run().finalValidationLoss() : null;
        if (p == null && Files.isRegularFile(d.resolve("metrics.jsonl"))) {     // older runs: the training log
            try {
                for (LossPoint lp : LossCurve.read(d)) {
                    steps = (int) lp.step();
                    if (lp.loss() != null) trainLoss = lp.loss();
                    if (lp.valLoss() != null) valLoss = lp.valLoss();
                }
            } catch (Peft4jException e) {
                notes.add(e.getMessage());
            }
        }
        Map<String, Double> evals = new LinkedHashMap<>();
        try {
            EvalResults.read(d).latest().forEach((k, l) -> evals.put(k, l.score().value()));
        } catch (Peft4jException e) {
            notes.add(e.getMessage());
        }
        Double wh = p != null && p.energy() != null ? p.energy().kwh() * 1000 : null;
        Double co2 = p != null && p.energy() != null ? p.energy().co2eGrams() : null;
        Map<String, Double> metrics = new LinkedHashMap<>();
        put(metrics, "val_loss", valLoss);
        put(metrics, "train_loss", trainLoss);
        put(metrics, "steps", steps == null ? null : steps.doubleValue());
        if (p != null && p.run() != null) {
            put(metrics, "tokens_seen", (double) p.run().tokensSeen());
            put(metrics, "wall_s", p.run().wallSeconds());
        }
        put(metrics, "trainable_params", params == null ? null : params.doubleValue());
        if (p != null && p.energy() != null) put(metrics, "cpu_s", p.energy().cpuSeconds());
        put(metrics, "energy_wh", wh);
        put(metrics, "co2e_g", co2);
        evals.forEach((k, v) -> put(metrics, k, v));
        return new Run(d, name, dateOf(d), method, rank, params, data, steps, trainLoss, valLoss, evals, wh, co2, p != null, metrics, notes);
    }

    private static void put(Map<String, Double> m, String k, Double v) {
        if (v != null && Double.isFinite(v)) m.put(k, v);
    }

    /** The data file name from train_config.json (written by every peft4j train), for adapters without provenance. */
    private static List<String> dataFromTrainConfig(Path d) {
        Path f = d.resolve("train_config.json");
        if (!Files.isRegularFile(f)) return List.of();
        try {
            JsonNode c = new ObjectMapper().readTree(f.toFile());
            List<String> out = new ArrayList<>();
            for (String key : new String[] {"data", "val-data"})
                if (c.path(key).isTextual()) out.add(Path.of(c.get(key).asText()).getFileName().toString());
            return out;
        } catch (IOException | RuntimeException e) {
            return List.of();
        }
    }
}
