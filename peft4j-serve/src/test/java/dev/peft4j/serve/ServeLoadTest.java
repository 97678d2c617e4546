package dev.peft4j.serve;

import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.model.CausalLM;
import dev.peft4j.model.ModelConfig;
import dev.peft4j.model.ModelFactory;
import dev.peft4j.tokenizer.Tokenizer;
import dev.peft4j.tuner.AdapterConfig;
import dev.peft4j.tuner.PeftAdapter;
import dev.peft4j.tuner.PeftModel;
import dev.peft4j.tuner.lora.InitLoraWeights;
import dev.peft4j.tuner.lora.LoraConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Load on loopback, bounded in time: 32 concurrent clients for 60 s (-Dpeft4j.serveLoadSeconds) mixing four
 * adapters (three LoRA, one DoRA) and the base on a GPT-2-124M-shaped model, a queue small enough that
 * some requests get 429, one stream in ten dropped by its client. No error besides the intended 429s;
 * afterwards nothing running or queued, no leaked threads, no heap growth.
 */
@Tag("slow")
class ServeLoadTest {
    @Test
    void thirtyTwoClientsForAMinute(@TempDir Path tmp) throws Exception {
        Path tokDir = ServeFixtures.stories().resolveSibling("fake-gpt2");
        Assumptions.assumeTrue(Files.isRegularFile(tokDir.resolve("tokenizer.json")), tokDir + " not found; skipping");
        int seconds = Integer.getInteger("peft4j.serveLoadSeconds", 60);
        ModelConfig cfg = ModelFactory.gpt2Small();
        CausalLM model = ModelFactory.random(cfg, 0, 0.02f);
        List<String> models = new ArrayList<>(List.of("base"));
        List<AdapterConfig> configs = List.of(
                LoraConfig.builder().r(8).alpha(16).targetModules("c_attn").init(InitLoraWeights.RANDOM).build(),
                LoraConfig.builder().r(8).alpha(16).targetModules("c_attn", "c_proj").init(InitLoraWeights.RANDOM).build(),
                LoraConfig.builder().r(4).alpha(8).targetModules("c_fc").init(InitLoraWeights.RANDOM).build(),
                LoraConfig.builder().r(4).alpha(8).targetModules("c_attn").useDora(true).init(InitLoraWeights.RANDOM).build());
        for (int i = 0; i < configs.size(); i++) {
            Path dir = tmp.resolve("a" + i);
            PeftAdapter.save(new PeftModel(ModelFactory.random(cfg, 0, 0.02f)).addAdapter(configs.get(i), "a" + i, 7 + i), dir, "gpt2", null);
            models.add("a" + i);
        }
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        ServerOptions.Builder b = ServerOptions.builder(tokDir).modelName("base").port(0).apiKeys(List.of("load-key")).maxBatch(16).maxQueue(8)
                .accessLog(new PrintStream(log, true));
        for (int i = 0; i < configs.size(); i++) b.adapter("a" + i, tmp.resolve("a" + i));
        int threadsBefore = Thread.activeCount();
        try (Peft4jServer s = Peft4jServer.start(b.build(), model, Tokenizer.load(tokDir))) {
            ServeBenchmark.Load warm = ServeBenchmark.load(s.baseUrl(), "load-key", models, 32, Duration.ofSeconds(5), cfg.vocabSize(), 1);
            assertThat(warm.errors()).as(warm.errorSamples().toString()).isZero();
            idle(s);
            int threadsWarm = Thread.activeCount();
            long heapWarm = usedHeapAfterGc();

            ServeBenchmark.Load run = ServeBenchmark.load(s.baseUrl(), "load-key", models, 32, Duration.ofSeconds(seconds), cfg.vocabSize(), 2);
            String summary = String.format("load %d s, 32 clients, models %s: %d ok, %d rejected (429), %d dropped by the client, %d errors, "
                    + "%d tokens; statuses %s%n", seconds, models, run.ok(), run.rejected429(), run.disconnected(), run.errors(), run.tokens(), run.byStatus());
            assertThat(run.errors()).as("errors: " + run.errorSamples()).isZero();
            assertThat(run.byStatus().keySet()).isSubsetOf("200", "429");
            assertThat(run.ok()).isGreaterThan(32);
            assertThat(run.rejected429()).as("the small queue refuses some requests").isPositive();
            assertThat(run.disconnected()).isPositive();

            idle(s);
            int threadsAfter = Thread.activeCount();
            long heapAfter = usedHeapAfterGc();
            summary += String.format("platform threads: %d warm, %d after; heap after GC: %.1f MB warm, %.1f MB after%n",
                    threadsWarm, threadsAfter, heapWarm / 1e6, heapAfter / 1e6);
            System.out.print(summary);
            Path out = Path.of("target-artifacts", "serve");                    // kept as a test artefact
            Files.createDirectories(out);
            Files.writeString(out.resolve("load.txt"), summary);
            assertThat(threadsAfter).as("no leaked threads").isLessThanOrEqualTo(threadsWarm + 2);
            assertThat(heapAfter - heapWarm).as("no heap growth (bytes)").isLessThan(64L << 20);
            String metrics = s.metrics().scrape();
            assertThat(metrics).contains("peft4j_running_sequences 0.0").contains("peft4j_queue_depth 0.0");
            assertThat(log.toString()).contains("client-disconnected");
        }
        Thread.sleep(500);
        assertThat(Thread.getAllStackTraces().keySet().stream().map(Thread::getName).filter(n -> n.equals("peft4j-scheduler"))).isEmpty();
        assertThat(Thread.activeCount()).as("server threads gone after close").isLessThanOrEqualTo(threadsBefore + 2);
    }

    static void idle(Peft4jServer s) throws InterruptedException {
        long until = System.nanoTime() + 60_000_000_000L;
        while ((s.engine().running() > 0 || s.engine().queueDepth() > 0) && System.nanoTime() < until) Thread.sleep(20);
        assertThat(s.engine().running()).isZero();
        Thread.sleep(300);
    }

    static long usedHeapAfterGc() throws InterruptedException {
        for (int i = 0; i < 3; i++) { System.gc(); Thread.sleep(100); }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }
}
