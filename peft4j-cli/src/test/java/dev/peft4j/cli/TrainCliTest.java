package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainCliTest {
    @TempDir Path tmp;

    Path data() throws Exception {
        Path f = tmp.resolve("train.jsonl");
        StringBuilder s = new StringBuilder();
        String[] animals = {"dog", "cat", "cow", "duck"}, sounds = {"woof", "meow", "moo", "quack"};
        for (int i = 0; i < 64; i++)
            s.append(String.format("{\"prompt\": \"Tom saw a %s. The %s said\", \"completion\": \" %s!\"}%n", animals[i % 4], animals[i % 4], sounds[i % 4]));
        Files.writeString(f, s.toString());
        return f;
    }

    @Test
    void configFileWithCommandLineOverride() throws Exception {
        Path model = CliTest.shared("models/stories260K"), out = tmp.resolve("out");
        Path cfg = tmp.resolve("cfg.yaml");
        Files.writeString(cfg, """
                model: %s
                data: %s
                output: %s
                lora:
                  r: 4
                  alpha: 8
                  target-modules: [q_proj, v_proj]
                steps: 50
                lr: 0.002
                batch-size: 8
                add-eos: false
                """.formatted(model, data(), out));
        String[] r = CliTest.run("train", "--config", cfg.toString(), "--steps", "3", "--log-every", "1");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).contains("resolved configuration").contains("trainable params:").contains("step 3/3");
        JsonNode resolved = new ObjectMapper().readTree(out.resolve("train_config.json").toFile());
        assertThat(resolved.get("steps").asInt()).isEqualTo(3);                 // command line beats the file
        assertThat(resolved.get("lora.r").asInt()).isEqualTo(4);                // from the file
        assertThat(resolved.get("lr").asDouble()).isEqualTo(0.002);
        JsonNode adapterCfg = new ObjectMapper().readTree(out.resolve("adapter_config.json").toFile());
        assertThat(adapterCfg.get("r").asInt()).isEqualTo(4);
        assertThat(adapterCfg.get("target_modules").toString()).contains("q_proj").contains("v_proj");
        assertThat(Files.readAllLines(out.resolve("metrics.jsonl"))).hasSize(3);
    }

    @Test
    void badOptionsAreOneLineErrors() throws Exception {
        Path model = CliTest.shared("models/stories260K");
        String[] r = CliTest.run("train", "--model", model.toString(), "--data", data().toString(), "--output", tmp.resolve("o").toString(), "--lora.r", "0");
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2]).contains("--lora.r must be > 0 (got 0); e.g. --lora.r 8").doesNotContain("builder");   // CLI names its flags
        Path bad = tmp.resolve("bad.jsonl");
        Files.writeString(bad, "{\"prompt\": \"a\", \"completion\": \"b\"}\n{not json\n");
        r = CliTest.run("train", "--model", model.toString(), "--data", bad.toString(), "--output", tmp.resolve("o2").toString());
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2]).contains("bad.jsonl:2:").contains("invalid JSON");
    }

    /** A real kill -9 in the middle of a run, then --resume: the adapter equals an uninterrupted run's, byte for byte. */
    @Test
    @Tag("slow")
    void killNineThenResumeGivesTheSameAdapter() throws Exception {
        Path model = CliTest.shared("models/stories260K"), data = data();
        Path straight = tmp.resolve("straight"), killed = tmp.resolve("killed");
        List<String> args = List.of("train", "--model", model.toString(), "--data", data.toString(), "--lora.r", "8",
                "--lora.target-modules", "all-linear", "--steps", "150", "--batch-size", "16", "--lr", "0.002", "--save-every", "10",
                "--lora.dropout", "0.1", "--log-every", "1000", "--threads", "1");
        List<String> a1 = new ArrayList<>(args);
        a1.addAll(List.of("--output", straight.toString()));
        assertThat(CliTest.run(a1.toArray(String[]::new))[0]).isEqualTo("0");

        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(args);
        cmd.addAll(List.of("--output", killed.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(tmp.resolve("log.txt").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!Files.exists(killed.resolve("checkpoint-40")) && p.isAlive() && System.nanoTime() < deadline) Thread.sleep(20);
        assertThat(p.isAlive()).as("the run must still be going when it is killed; log:%n%s", Files.readString(tmp.resolve("log.txt"))).isTrue();
        p.destroyForcibly();                              // SIGKILL: no shutdown hooks, no cleanup
        p.waitFor();
        assertThat(killed.resolve("adapter_model.safetensors")).doesNotExist();

        List<String> a2 = new ArrayList<>(args);
        a2.addAll(List.of("--output", killed.toString(), "--resume"));
        String[] r = CliTest.run(a2.toArray(String[]::new));
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).contains("resumed from");
        assertThat(Files.readAllBytes(killed.resolve("adapter_model.safetensors")))
                .isEqualTo(Files.readAllBytes(straight.resolve("adapter_model.safetensors")));
    }
}
