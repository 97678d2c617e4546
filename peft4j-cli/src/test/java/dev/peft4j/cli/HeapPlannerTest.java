package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What bin/peft4j asks before `train` and `bench train`: the -Xmx for the run, from the same arguments. */
class HeapPlannerTest {
    static long mb(String opts) { String xmx = opts.split(" ")[0]; return Long.parseLong(xmx.substring(4, xmx.length() - 1)); }

    @Test
    void benchTrainGetsAHeapThatGrowsWithTheBatchAndShrinksWithCheckpointingAndQuantisation() {
        String b4 = HeapPlanner.plan("bench", "train", "--shape", "smollm2-135m", "--batch", "4", "--seq", "256");
        String b8 = HeapPlanner.plan("bench", "train", "--shape", "smollm2-135m", "--batch", "8", "--seq", "256");
        assertThat(b4).matches("-Xmx[0-9]+m -XX:G1HeapRegionSize=[0-9]+m");
        assertThat(mb(b8)).isGreaterThan(mb(b4) + 500);            // about 1 GB more activations
        String big = HeapPlanner.plan("bench", "train", "--shape", "llama-3.1-8b", "--batch", "1", "--seq", "512", "--quantize", "nf4");
        String ckpt = HeapPlanner.plan("bench", "train", "--shape", "llama-3.1-8b", "--batch", "1", "--seq", "512", "--quantize", "nf4",
                "--gradient-checkpointing");
        assertThat(mb(ckpt)).isLessThan(mb(big) - 2000).isGreaterThan(4500);   // NF4 weights of 8B: about 4.5 GB
    }

    @Test
    void trainIsPlannedFromConfigJsonAndTheOptions(@TempDir Path tmp) throws Exception {
        Path model = CliTest.shared("models/stories260K");
        Path data = tmp.resolve("d.jsonl");
        Files.writeString(data, "{\"text\": \"Once upon a time\"}\n");
        String plan = HeapPlanner.plan("train", "--model", model.toString(), "--data", data.toString(), "--output", tmp.resolve("o").toString(),
                "--batch-size", "2", "--max-length", "64");
        assertThat(plan).matches("-Xmx[0-9]+m -XX:G1HeapRegionSize=[0-9]+m");
        assertThat(mb(plan)).isBetween(256L, 1024L);                // a 260K-parameter model: the fixed parts only
        assertThat(Files.exists(tmp.resolve("o"))).as("planning has no side effects").isFalse();
    }

    @Test
    void nothingForOtherCommandsHelpOrBadArguments() {
        assertThat(HeapPlanner.plan("generate", "--help")).isNull();
        assertThat(HeapPlanner.plan("bench", "train", "--help")).isNull();
        assertThat(HeapPlanner.plan("bench", "train", "--shape", "no-such-shape")).isNull();
        assertThat(HeapPlanner.plan("train", "--nonsense")).isNull();
        assertThat(HeapPlanner.plan("inspect", "x")).isNull();
    }

    @Test
    void theRunPrintsItsPlanAndTheHeapItGot() {
        String[] r = CliTest.run("bench", "train", "--shape", "gpt2-124m", "--help");
        assertThat(r[0]).isEqualTo("0");
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        HeapPlanned.report(java.util.Optional.of(dev.peft4j.train.HeapPlan.builder(dev.peft4j.model.ModelFactory.shape("llama-3.1-8b"))
                .batch(8, 4096).build()), new java.io.PrintStream(out, true));
        assertThat(out.toString()).contains("heap plan: ").contains("more than 90% of this machine").contains("--gradient-checkpointing");
        out.reset();                                                    // a plan that fits the machine but not this JVM's heap
        long overHeap = Runtime.getRuntime().maxMemory() * 2;
        HeapPlanned.report(java.util.Optional.of(new dev.peft4j.train.HeapPlan(overHeap, 0, 0, 0, 0, 0, 0, 0, 1L << 20)), new java.io.PrintStream(out, true));
        long ram = ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean()).getTotalMemorySize();
        if ((long) (1.1 * overHeap) < ram * 9 / 10)
            assertThat(out.toString()).contains("warning: the Java heap").contains("PEFT4J_JVM_OPTS=-Xmx");
    }
}
