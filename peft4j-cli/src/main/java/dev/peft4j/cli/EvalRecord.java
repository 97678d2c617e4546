/*
 * EvalRecord: `peft4j eval --record` - the scores of one adapter stored in its directory
 * (eval_results.json, appended) and its model card rebuilt to show them (model-index).
 */
package dev.peft4j.cli;

import dev.peft4j.Peft4jException;
import dev.peft4j.provenance.BuildInfo;
import dev.peft4j.provenance.EvalResults;
import dev.peft4j.provenance.Sha256;
import dev.peft4j.report.Metric;
import dev.peft4j.tuner.ModelCard;
import dev.peft4j.tuner.PeftAdapter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;

final class EvalRecord {
    private EvalRecord() {}

    /** --record needs exactly one adapter directory: the results describe that adapter alone. */
    static void check(List<Path> adapters) {
        if (adapters == null || adapters.size() != 1)
            throw new Peft4jException("--record stores the results in the evaluated adapter's directory, so it needs exactly one --adapter (got "
                    + (adapters == null ? 0 : adapters.size()) + "); evaluate each adapter on its own, or leave out --record");
        Path dir = adapters.getFirst();
        if (!Files.isRegularFile(dir.resolve(PeftAdapter.CONFIG)))
            throw new Peft4jException("--record: " + dir + " is not an adapter directory (no " + PeftAdapter.CONFIG + ")");
        if (!Files.isWritable(dir)) throw new Peft4jException("--record: cannot write into " + dir + " (read-only); copy the adapter or leave out --record");
    }

    static void record(List<Path> adapters, Path model, List<String> tasks, List<Path> data, List<Metric> metrics) {
        Path dir = adapters.getFirst();
        List<EvalResults.TaskData> taskData = new ArrayList<>();
        for (int i = 0; i < tasks.size(); i++) {
            Path f = i < data.size() ? data.get(i) : null;
            taskData.add(new EvalResults.TaskData(tasks.get(i), f == null ? null : f.getFileName().toString(),
                    f == null || !Files.isRegularFile(f) ? null : Sha256.of(f)));
        }
        List<EvalResults.Score> scores = new ArrayList<>();
        for (Metric m : metrics)
            scores.add(new EvalResults.Score(m.name(), m.value(), m.hasInterval() ? m.lo() : null, m.hasInterval() ? m.hi() : null, m.n(),
                    m.higherIsBetter()));
        EvalResults.append(dir, new EvalResults.Entry(Instant.now().truncatedTo(ChronoUnit.SECONDS).toString(),
                model.toAbsolutePath().normalize().toString(), taskData, scores, BuildInfo.current()));
        ModelCard.rewrite(dir);
        System.out.printf("recorded %d metric(s) in %s; model card %s updated%n", scores.size(), dir.resolve(EvalResults.FILE),
                dir.resolve(ModelCard.FILE));
    }
}
