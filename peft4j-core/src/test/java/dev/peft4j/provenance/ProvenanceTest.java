package dev.peft4j.provenance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.peft4j.Peft4jException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProvenanceTest {
    @TempDir Path tmp;

    /** The first field of `sha256sum FILE` (the real coreutils binary), or the test is skipped without it. */
    static String sha256sum(Path file) throws IOException, InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder("sha256sum", file.toString()).redirectErrorStream(true).start();
        } catch (IOException e) {
            Assumptions.abort("sha256sum not on PATH: " + e.getMessage());
            return null;
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        return out.substring(0, out.indexOf(' '));
    }

    @Test
    void sha256OfAFileSpanningSeveralBuffersEqualsSha256sum() throws Exception {
        byte[] bytes = new byte[(8 << 20) * 2 + 12345];          // two full 8 MiB reads and a partial one
        new Random(7).nextBytes(bytes);
        Path f = tmp.resolve("weights.bin");
        Files.write(f, bytes);
        assertThat(Sha256.of(f)).isEqualTo(sha256sum(f)).hasSize(64);
        Path empty = Files.createFile(tmp.resolve("empty"));
        assertThat(Sha256.of(empty)).isEqualTo(sha256sum(empty)).isEqualTo("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    @Test
    void baseModelHashesCoverWeightsConfigAndTokenizerButNotOtherFiles() throws Exception {
        Path m = Files.createDirectories(tmp.resolve("model"));
        Files.writeString(m.resolve("config.json"), "{\"model_type\": \"llama\", \"architectures\": [\"LlamaForCausalLM\"]}");
        Files.writeString(m.resolve("model-00001-of-00002.safetensors"), "w1");
        Files.writeString(m.resolve("model-00002-of-00002.safetensors"), "w2");
        Files.writeString(m.resolve("model.safetensors.index.json"), "{}");
        Files.writeString(m.resolve("tokenizer.json"), "{}");
        Files.writeString(m.resolve("README.md"), "not part of the model");
        Provenance.BaseModel b = BaseModelHashes.of(m, System.out);
        assertThat(b.modelType()).isEqualTo("llama");
        assertThat(b.architectures()).containsExactly("LlamaForCausalLM");
        assertThat(b.files()).extracting(Provenance.FileHash::name).containsExactly("config.json", "model-00001-of-00002.safetensors",
                "model-00002-of-00002.safetensors", "model.safetensors.index.json", "tokenizer.json");
        for (Provenance.FileHash h : b.files()) {
            assertThat(h.sha256()).as(h.name()).isEqualTo(sha256sum(m.resolve(h.name())));
            assertThat(h.bytes()).isEqualTo(Files.size(m.resolve(h.name())));
        }
    }

    @Test
    void energyIsCpuSecondsTimesWattsAndCo2eIsKwhTimesGridIntensity() {
        Energy e = Energy.estimate(3600, 12, 475);                 // one core-hour at 12 W = 12 Wh = 0.012 kWh
        assertThat(e.kwh()).isCloseTo(0.012, within(1e-12));
        assertThat(e.co2eGrams()).isCloseTo(0.012 * 475, within(1e-9));
        assertThat(e.describe()).contains("12.0 Wh").contains("5.70 g CO2e").contains("12 W/core").contains("475 g/kWh");
        assertThatThrownBy(() -> Energy.estimate(1, -1, 475)).isInstanceOf(Peft4jException.class).hasMessageContaining("--energy.watts-per-core");
        assertThatThrownBy(() -> Energy.estimate(1, 12, Double.NaN)).isInstanceOf(Peft4jException.class).hasMessageContaining("--energy.grid-gco2-per-kwh");
    }

    @Test
    void cpuModelComesFromProcCpuinfo() throws Exception {
        Path info = tmp.resolve("cpuinfo");
        Files.writeString(info, "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz\n");
        assertThat(Machine.cpuModel(info)).isEqualTo("Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz");
        assertThat(Machine.cpuModel(tmp.resolve("missing"))).startsWith("unknown (");
        Machine here = Machine.current();
        assertThat(here.cores()).isPositive();
        assertThat(here.jvm()).contains(System.getProperty("java.runtime.version"));
    }

    @Test
    void buildInfoNamesTheVersionAndTheCommitThisCheckoutIsAt() throws Exception {
        BuildInfo b = BuildInfo.current();
        assertThat(b.version()).isNotEqualTo(BuildInfo.UNKNOWN).matches("\\d+\\.\\d+\\.\\d+.*");
        String head;
        try {
            Process p = new ProcessBuilder("git", "rev-parse", "HEAD").redirectErrorStream(true).start();
            head = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (p.waitFor() != 0) head = null;
        } catch (IOException e) {
            head = null;
        }
        Assumptions.assumeTrue(head != null && head.matches("[0-9a-f]{40}"), "not in a git clone with git on PATH");
        assertThat(b.gitCommit()).isEqualTo(head);               // build.properties is regenerated by every build
    }

    @Test
    void provenanceRoundTripsThroughJsonWithNonFiniteLossesAsNull() {
        Provenance p = new Provenance(Provenance.FORMAT, new Provenance.Adapter("LORA", 3584, "trainable params: 3,584"),
                new Provenance.BaseModel("/m", "llama", List.of("LlamaForCausalLM"), List.of(new Provenance.FileHash("config.json", 5, "ab"))),
                List.of(new Provenance.DataFile("train", "/d/train.jsonl", "train.jsonl", 10, "cd", new Provenance.Split(9, 90), null)),
                Map.of("lora.r", 8), new BuildInfo("0.1.0", "0123", false), 42, 2, new Machine("cpu", 2, "Linux", "amd64", "jvm"),
                new Provenance.Run("2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", 60, 10, 900, Double.NaN, 0.5, false),
                Energy.estimate(100, 12, 475));
        p.write(tmp);
        assertThat(tmp.resolve(Provenance.FILE)).content().contains("\"final_train_loss\" : null").contains("\"tokens_seen\" : 900")
                .contains("\"git_commit\" : \"0123\"").doesNotContain("NaN");
        Provenance back = Provenance.read(tmp);
        assertThat(back).isEqualTo(new Provenance(p.format(), p.adapter(), p.baseModel(), p.data(), p.config(), p.peft4j(), p.seed(),
                p.threads(), p.machine(), new Provenance.Run("2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", 60, 10, 900, null, 0.5, false), p.energy()));
        assertThat(back.keyLoss()).isEqualTo(0.5);
        assertThat(Provenance.read(tmp.resolve("nowhere"))).isNull();
    }
}
