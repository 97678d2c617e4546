/*
 * TrainProvenance: gathers what `peft4j train` knows at the end of a run into a Provenance record
 * (dev.peft4j.provenance), writes it as provenance.json into the adapter directory and rebuilds the
 * model card from it. Tokens seen are counted by replaying the run's batches (a DataLoader with the
 * same examples, batch size and seed yields the same batches): the real tokens of every micro-batch
 * of every step, padding excluded.
 */
package dev.peft4j.cli;

import dev.peft4j.data.DataLoader;
import dev.peft4j.data.Dataset;
import dev.peft4j.data.Example;
import dev.peft4j.kernels.Parallel;
import dev.peft4j.provenance.BaseModelHashes;
import dev.peft4j.provenance.BuildInfo;
import dev.peft4j.provenance.Energy;
import dev.peft4j.provenance.Machine;
import dev.peft4j.provenance.Provenance;
import dev.peft4j.provenance.RunClock;
import dev.peft4j.train.Trainer;
import dev.peft4j.tuner.AdapterModel;
import dev.peft4j.tuner.ModelCard;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

final class TrainProvenance {
    private TrainProvenance() {}

    /** What the run was given and what it did. valData: the validation file, or null when the split came from data. */
    record Inputs(Path model, Path data, Path valData, Dataset dataset, AdapterModel adapter, Trainer.Result result,
                  Map<String, Object> config, long seed, int batchSize, int gradAccum, int padId, boolean resumed,
                  RunClock clock, double wattsPerCore, double gridGco2PerKwh) {}

    /** Hashes the base model and data, writes dir/provenance.json and rewrites dir/README.md; returns the record. */
    static Provenance write(Path dir, Inputs in, PrintStream log) {
        long t0 = System.nanoTime();
        Provenance.BaseModel base = BaseModelHashes.of(in.model(), log);
        List<Provenance.DataFile> data = new ArrayList<>();
        Provenance.Split train = split(in.dataset().train()), val = split(in.dataset().validation());
        if (in.valData() == null) {
            data.add(dataFile(in.valData() == null && !in.dataset().validation().isEmpty() ? "train+validation" : "train", in.data(),
                    train, in.dataset().validation().isEmpty() ? null : val, log));
        } else {
            data.add(dataFile("train", in.data(), train, null, log));
            data.add(dataFile("validation", in.valData(), null, val, log));
        }
        long trainable = 0;
        for (var t : in.adapter().trainableParameters()) trainable += t.size();
        long tokensSeen = tokensSeen(in.dataset().train(), in.batchSize(), in.seed(), in.padId(), (long) in.result().steps() * in.gradAccum());
        double cpu = in.clock().cpuSeconds();
        Energy energy = Double.isFinite(cpu) ? Energy.estimate(cpu, in.wattsPerCore(), in.gridGco2PerKwh()) : null;
        Provenance.Run run = new Provenance.Run(in.clock().startedAt().toString(), Instant.now().toString(), in.clock().wallSeconds(),
                in.result().steps(), tokensSeen, in.result().lastLoss(), in.result().valLoss(), in.resumed());
        Provenance p = new Provenance(Provenance.FORMAT,
                new Provenance.Adapter(in.adapter().config().peftType(), trainable, in.adapter().trainableSummary()),
                base, data, in.config(), BuildInfo.current(), in.seed(), Parallel.threads(), Machine.current(), run, energy);
        p.write(dir);
        ModelCard.rewrite(dir);
        log.printf("provenance: %s (%d base model files, %d data file(s) hashed in %.1f s; %s)%n", dir.resolve(Provenance.FILE),
                base.files().size(), data.size(), (System.nanoTime() - t0) / 1e9,
                energy == null ? "no CPU time available for an energy estimate" : "energy estimate " + energy.describe());
        return p;
    }

    private static Provenance.DataFile dataFile(String role, Path file, Provenance.Split train, Provenance.Split validation, PrintStream log) {
        Provenance.FileHash h = BaseModelHashes.hash(file, log);
        return new Provenance.DataFile(role, file.toAbsolutePath().normalize().toString(), h.name(), h.bytes(), h.sha256(), train, validation);
    }

    static Provenance.Split split(List<Example> examples) {
        long tokens = 0;
        for (Example e : examples) tokens += e.length();
        return new Provenance.Split(examples.size(), tokens);
    }

    /** Real (unpadded) tokens in the first `batches` batches a DataLoader over these examples yields. */
    static long tokensSeen(List<Example> train, int batchSize, long seed, int padId, long batches) {
        if (train.isEmpty()) return 0;
        DataLoader replay = new DataLoader(train, batchSize, true, seed, padId, false);
        long tokens = 0;
        for (long b = 0; b < batches; b++)
            for (int len : replay.next().lengths()) tokens += len;
        return tokens;
    }
}
