package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.io.DType;
import dev.peft4j.io.OutputDir;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.ModelConfig;
import dev.peft4j.model.ModelFactory;
import dev.peft4j.model.ModelWriter;
import dev.peft4j.train.Trainer;
import dev.peft4j.tuner.lora.InitLoraWeights;
import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;
import dev.peft4j.tuner.PeftAdapter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 10, kill tests: each writer is run as its own JVM and killed with SIGKILL (no shutdown
 * hooks, no finally blocks) at random moments, at least 20 times. After every kill the target must
 * be byte-identical to what it held before, or the complete new output; and the next run must not
 * take anything half-written for valid: it recovers (or refuses) and the result loads.
 */
@Tag("slow")
class KillNineTest {
    /** Kills per scenario: 12 in CI (~2.5 min for the five scenarios); -Dpeft4j.kills=100 for a deeper local run. */
    static final int KILLS = Integer.getInteger("peft4j.kills", 12);
    @TempDir static Path tmp;
    static Path model, adapter1, adapter2;
    final Random random = new Random(20261204);

    @BeforeAll
    static void makeModelAndAdapters() throws IOException {
        // a random Llama big enough (~37 MB of f32 weights) that writing it takes a while
        ModelConfig cfg = new ModelConfig(ModelConfig.Family.LLAMA, 6000, 256, 704, 8, 8, 4, 32, 256, 1e-5f, 10000.0, null,
                false, false, false, false, 0, 1, List.of(2), "float32");
        CausalLM lm = ModelFactory.random(cfg, 7, 0.02f);
        model = tmp.resolve("model");
        Files.createDirectories(model);
        ModelWriter.saveConfig(cfg, model);
        ModelWriter.saveWeights(lm, model, DType.F32, Long.MAX_VALUE);
        adapter1 = adapter(lm, 1, "adapter1");
        adapter2 = adapter(CausalLM.load(model), 2, "adapter2");
    }

    static Path adapter(CausalLM lm, long seed, String name) {
        LoraModel lora = Lora.apply(lm, LoraConfig.builder().r(8).alpha(16).allLinear().init(InitLoraWeights.fromPeft(false)).build(), seed);
        Path dir = tmp.resolve(name);
        PeftAdapter.save(lora, dir, model.toString(), new PeftAdapter.Card("random", null));
        return dir;
    }

    @Test
    void merge() throws Exception {
        killRepeatedly("merge", List.of("merge", "--model", model.toString(), "--adapter", adapter1.toString(), "--output"),
                List.of("merge", "--model", model.toString(), "--adapter", adapter2.toString(), "--overwrite", "--output"),
                dir -> CausalLM.load(dir), OutputDir.Kind.MODEL);
    }

    @Test
    void quantize() throws Exception {
        killRepeatedly("quantized", List.of("quantize", "--model", model.toString(), "--method", "int8", "--output"),
                List.of("quantize", "--model", model.toString(), "--method", "nf4", "--overwrite", "--output"),
                dir -> CausalLM.load(dir), OutputDir.Kind.MODEL);
    }

    @Test
    void adaptersCombine() throws Exception {
        killRepeatedly("combined",
                List.of("adapters", "combine", "--model", model.toString(), "--adapter", adapter1.toString(), "--adapter", adapter2.toString(),
                        "--type", "cat", "--output"),
                List.of("adapters", "combine", "--model", model.toString(), "--adapter", adapter1.toString(), "--adapter", adapter2.toString(),
                        "--type", "svd", "--rank", "8", "--overwrite", "--output"),
                dir -> PeftAdapter.load(CausalLM.load(model), dir, "x"), OutputDir.Kind.ADAPTER);
    }

    @Test
    void trainOverwrite() throws Exception {
        Path stories = CliTest.shared("models/stories260K");
        Path data = tmp.resolve("train.jsonl");
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 64; i++) s.append("{\"prompt\": \"Tom saw a cat. The cat said\", \"completion\": \" meow!\"}\n");
        Files.writeString(data, s.toString());
        List<String> common = List.of("train", "--model", stories.toString(), "--data", data.toString(), "--steps", "40",
                "--batch-size", "8", "--save-every", "5", "--threads", "1", "--log-every", "1000");
        List<String> first = new ArrayList<>(common), second = new ArrayList<>(common);
        first.addAll(List.of("--seed", "1", "--output"));
        second.addAll(List.of("--seed", "2", "--overwrite", "--output"));
        killRepeatedly("run", first, second, dir -> PeftAdapter.load(CausalLM.load(stories), dir, "x"), OutputDir.Kind.TRAINING_RUN);
    }

    /** In place, with checkpoints: kill, --resume, kill, ... the final adapter equals an uninterrupted run's. */
    @Test
    void trainResumeAfterEachKill() throws Exception {
        Path stories = CliTest.shared("models/stories260K");
        Path data = tmp.resolve("resume.jsonl");
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 64; i++) s.append("{\"prompt\": \"Ann saw a cow. The cow said\", \"completion\": \" moo!\"}\n");
        Files.writeString(data, s.toString());
        List<String> args = List.of("train", "--model", stories.toString(), "--data", data.toString(), "--steps", "120",
                "--batch-size", "8", "--save-every", "3", "--threads", "1", "--log-every", "1000", "--lora.dropout", "0.1");
        Path straight = tmp.resolve("straight"), killed = tmp.resolve("resumed");
        List<String> a = new ArrayList<>(args);
        a.addAll(List.of("--output", straight.toString()));
        long t0 = System.nanoTime();
        Process ref = start(a, tmp.resolve("straight-log.txt"));              // timed as a JVM of its own, like the killed ones
        assertThat(ref.waitFor(300, TimeUnit.SECONDS)).isTrue();
        assertThat(ref.exitValue()).as(Files.readString(tmp.resolve("straight-log.txt"))).isZero();
        long fullMs = Math.max(500, (System.nanoTime() - t0) / 1_000_000);

        int kills = 0, progressed = 0, lastStep = -1;
        for (int attempt = 0; attempt < 200 && !Files.exists(killed.resolve("adapter_model.safetensors")); attempt++) {
            List<String> cmd = new ArrayList<>(args);
            cmd.addAll(List.of("--output", killed.toString()));
            if (Files.exists(killed)) cmd.add("--resume");
            Process p = start(cmd, tmp.resolve("resume-log.txt"));
            if (kills < KILLS) {
                // wait until this run has written a checkpoint of its own, then kill it at a random moment
                // around the next one (checkpoints come every few hundred ms): mid-write kills are likely
                int from = lastStep;
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                while (p.isAlive() && System.nanoTime() < deadline
                        && Trainer.latestCheckpoint(killed).map(KillNineTest::stepOf).orElse(-1) <= from) Thread.sleep(5);
                Thread.sleep(random.nextInt(400));
                if (p.isAlive()) {
                    p.destroyForcibly().waitFor();
                    kills++;
                }
            }
            assertThat(p.waitFor(300, TimeUnit.SECONDS)).isTrue();
            // nothing half-written is taken for valid: the newest complete checkpoint is readable, and is the one resume picks
            Optional<Path> ck = Trainer.latestCheckpoint(killed);
            if (ck.isPresent()) {
                assertThat(ck.get().resolve(Trainer.STATE_TENSORS)).exists();
                assertThat(ck.get().resolve(PeftAdapter.WEIGHTS)).exists();
                int step = stepOf(ck.get());
                if (step > lastStep) progressed++;
                lastStep = Math.max(lastStep, step);
            }
        }
        System.out.printf("[kill -9] train --resume: %d kills over %d ms runs, a newer checkpoint after %d of them%n", kills, fullMs, progressed);
        assertThat(kills).isGreaterThanOrEqualTo(KILLS);
        assertThat(progressed).as("every killed run got further than the one before").isGreaterThanOrEqualTo(KILLS);
        assertThat(Files.readAllBytes(killed.resolve(PeftAdapter.WEIGHTS))).isEqualTo(Files.readAllBytes(straight.resolve(PeftAdapter.WEIGHTS)));
    }

    static int stepOf(Path checkpoint) {
        return Integer.parseInt(checkpoint.getFileName().toString().substring("checkpoint-".length()));
    }

    /**
     * previousArgs make the content that must survive (run once, in-process); newArgs (with
     * --overwrite) replace it and are killed at random moments. The complete new output is the
     * one an uninterrupted run of newArgs makes.
     */
    void killRepeatedly(String name, List<String> previousArgs, List<String> newArgs, Consumer<Path> load, OutputDir.Kind kind) throws Exception {
        Path pristine = tmp.resolve(name + "-previous"), expected = tmp.resolve(name + "-expected"), target = tmp.resolve(name);
        assertThat(CliTest.run(with(previousArgs, pristine))[2]).doesNotContain("error");
        List<String> fresh = new ArrayList<>(newArgs);
        fresh.remove("--overwrite");
        long t0 = System.nanoTime();
        Process ref = start(with(fresh, expected), tmp.resolve(name + "-ref.txt"));
        assertThat(ref.waitFor(300, TimeUnit.SECONDS)).isTrue();
        assertThat(ref.exitValue()).as(Files.readString(tmp.resolve(name + "-ref.txt"))).isZero();
        long fullMs = (System.nanoTime() - t0) / 1_000_000;
        Map<String, String> previous = snapshot(pristine), complete = comparable(snapshot(expected), kind);

        int intact = 0, replaced = 0, leftBehind = 0;
        for (int k = 0; k < KILLS; k++) {
            copyTree(pristine, target);
            Process p = start(with(newArgs, target), tmp.resolve(name + "-log.txt"));
            Thread.sleep(random.nextInt((int) Math.max(50, fullMs)));
            p.destroyForcibly().waitFor();
            if (!besides(target).isEmpty()) leftBehind++;

            Map<String, String> now = snapshot(target);
            if (now.equals(previous)) intact++;
            else {
                assertThat(comparable(now, kind)).as("after kill %d the target is neither the previous nor the complete new content", k)
                        .isEqualTo(complete);
                replaced++;
            }
            // the next run: leftovers are recovered or removed, the target keeps its state, and it loads
            OutputDir next = OutputDir.prepare(target, OutputDir.Mode.OVERWRITE, kind, OutputDir.Names.CLI, 0, null);
            next.abort();
            assertThat(besides(target)).isEmpty();
            assertThat(snapshot(target)).isEqualTo(now);
            load.accept(target);
        }
        System.out.printf("[kill -9] %s: %d kills over %d ms runs: %d left the previous content, %d the complete new one;"
                + " %d stopped mid-write (work left beside the target)%n", name, KILLS, fullMs, intact, replaced, leftBehind);
        assertThat(intact + replaced).isEqualTo(KILLS);
        assertThat(leftBehind).as("some kills must land while the writer is writing").isPositive();
    }

    /** Training runs differ in their timing figures only: compare everything but those. */
    static Map<String, String> comparable(Map<String, String> files, OutputDir.Kind kind) {
        if (kind != OutputDir.Kind.TRAINING_RUN) return files;
        Map<String, String> out = new TreeMap<>(files);
        out.replaceAll((k, v) -> k.endsWith("metrics.jsonl") ? v.replaceAll("\"tokens_per_s\":[0-9.E]+", "") : v);
        out.remove("train_config.json");               // names --output, which differs
        // provenance.json and the card it writes hold times, CPU-seconds and paths: only their presence compares
        for (String f : List.of("provenance.json", "README.md")) out.computeIfPresent(f, (k, v) -> "(present)");
        return out;
    }

    static String[] with(List<String> args, Path output) {
        List<String> a = new ArrayList<>(args);
        a.add(output.toString());
        return a.toArray(String[]::new);
    }

    static Process start(List<String> args, Path log) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(args);
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    static Process start(String[] args, Path log) throws IOException { return start(List.of(args), log); }

    static Map<String, String> snapshot(Path dir) throws IOException {
        return OutputPolicyCliTest.snapshot(dir);
    }

    static List<String> besides(Path t) throws IOException {
        return OutputPolicyCliTest.besides(t);
    }

    static void copyTree(Path from, Path to) throws IOException {
        OutputDir.deleteRecursively(to);
        try (var s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path q = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(q);
                else Files.copy(p, q);
            }
        }
    }
}
