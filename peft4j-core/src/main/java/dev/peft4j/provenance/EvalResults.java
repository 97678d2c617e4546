/*
 * EvalResults: evaluations recorded on an adapter (`peft4j eval --adapter A ... --record`), kept as
 * eval_results.json in the adapter directory so that its model card can show them (HF model-index)
 * and `runs DIR` can list them. Each recording is appended with its time, the base model, the task
 * data files (with SHA-256) and every metric with its interval and n; the latest value of each
 * metric is the one the card shows.
 */
package dev.peft4j.provenance;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import dev.peft4j.Peft4jException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

@JsonIgnoreProperties(ignoreUnknown = true)
public record EvalResults(String format, List<Entry> results) {
    public static final String FILE = "eval_results.json", FORMAT = "peft4j-eval-results/1";

    public EvalResults {
        results = Provenance.nonNull(results);
    }

    /** One `eval --record`: when, on which base, which task files, which numbers. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Entry(String date, String baseModel, List<TaskData> tasks, List<Score> metrics, BuildInfo peft4j) {
        public Entry {
            tasks = Provenance.nonNull(tasks);
            metrics = Provenance.nonNull(metrics);
        }
    }

    /** A task and its data file. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record TaskData(String task, String data, String sha256) {
        public TaskData {
            if (task == null) task = "";
        }
    }

    /** A metric ("task:name"), its value, 95% interval (null when none) and the number of items. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Score(String name, double value, Double lo, Double hi, int n, boolean higherIsBetter) {
        public Score {
            if (name == null || name.isBlank()) throw new Peft4jException("a recorded metric has no name");
            lo = Provenance.finite(lo);
            hi = Provenance.finite(hi);
        }

        /** The task part of "task:metric" ("" when there is none). */
        public String task() {
            int c = name.indexOf(':');
            return c < 0 ? "" : name.substring(0, c);
        }

        /** The metric part of "task:metric". */
        public String metric() {
            return name.substring(name.indexOf(':') + 1);
        }
    }

    /** dir/eval_results.json, or an empty record when there is none. */
    public static EvalResults read(Path dir) {
        Path file = dir.resolve(FILE);
        if (!Files.isRegularFile(file)) return new EvalResults(FORMAT, List.of());
        try {
            EvalResults r = Provenance.JSON.readValue(file.toFile(), EvalResults.class);
            if (r == null) throw new IOException("the file holds JSON null");
            return new EvalResults(FORMAT, r.results());
        } catch (IOException e) {
            throw new Peft4jException(file + " is not a readable peft4j evaluation record (" + e.getMessage()
                    + "); it is written by peft4j eval --record. Delete it and record the evaluation again", e);
        }
    }

    /** Appends entry to dir/eval_results.json (atomically) and returns the new record. */
    public static EvalResults append(Path dir, Entry entry) {
        List<Entry> all = new ArrayList<>(read(dir).results());
        all.add(entry);
        EvalResults r = new EvalResults(FORMAT, all);
        Path file = dir.resolve(FILE), tmp = dir.resolve("." + FILE + ".tmp");
        try {
            Files.writeString(tmp, Provenance.JSON.writeValueAsString(r) + "\n", StandardCharsets.UTF_8);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            try { Files.deleteIfExists(tmp); } catch (IOException ignored) { }
            throw new Peft4jException("cannot write " + file + ": " + e.getMessage(), e);
        }
        return r;
    }

    /** The latest recorded score of every metric name, each with the data file of its task, in first-recorded order. */
    public Map<String, Latest> latest() {
        Map<String, Latest> out = new LinkedHashMap<>();
        for (Entry e : results)
            for (Score s : e.metrics()) {
                out.remove(s.name());
                out.put(s.name(), new Latest(s, dataOf(e, s), e.date()));
            }
        return out;
    }

    /** A metric's latest score, the data it was measured on and when. */
    public record Latest(Score score, TaskData data, String date) {}

    /** The task entry a score belongs to: the one whose task name equals (or starts) the score's task part. */
    private static TaskData dataOf(Entry e, Score s) {
        for (TaskData t : e.tasks()) if (t.task().equals(s.task())) return t;
        for (TaskData t : e.tasks()) if (!s.task().isEmpty() && (s.task().startsWith(t.task()) || t.task().startsWith(s.task()))) return t;
        return e.tasks().size() == 1 ? e.tasks().getFirst() : new TaskData(s.task(), null, null);
    }
}
