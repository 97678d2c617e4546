package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Provenance end to end (issue 13): `train` on the quickstart's generated model writes provenance.json
 * whose hashes equal `sha256sum` of the files, a model card whose YAML front matter parses and holds
 * the HF fields, `inspect` shows the provenance, and `eval --record` adds the results (model-index).
 */
class ProvenanceCliTest {
    @TempDir static Path tmp;
    static Path base, data, adapter;
    static String trainOut;

    @BeforeAll
    static void trainOnTheQuickstartModel() {
        Path qs = tmp.resolve("qs");
        String[] q = CliTest.run("quickstart", "--output", qs.toString(), "--steps", "1");
        assertThat(q[0]).as(q[2]).isEqualTo("0");
        base = qs.resolve("base-model");
        data = qs.resolve("data/train.jsonl");
        adapter = tmp.resolve("runs/v1");
        String[] t = CliTest.run("train", "--model", base.toString(), "--data", data.toString(), "--output", adapter.toString(),
                "--steps", "6", "--batch-size", "4", "--lr", "1e-3", "--val-fraction", "0.1", "--seed", "7", "--energy.watts-per-core", "10",
                "--energy.grid-gco2-per-kwh", "100");
        assertThat(t[0]).as(t[2]).isEqualTo("0");
        trainOut = t[1];
    }

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
    void provenanceHashesEqualSha256sumAndTheRunIsDescribed() throws Exception {
        assertThat(trainOut).contains("provenance: ").contains("energy estimate");
        JsonNode p = new ObjectMapper().readTree(adapter.resolve("provenance.json").toFile());
        JsonNode files = p.at("/base_model/files");
        try (Stream<Path> s = Files.list(base)) {
            assertThat(files.size()).isEqualTo(s.filter(f -> f.toString().endsWith(".json") || f.toString().endsWith(".safetensors")).count());
        }
        for (JsonNode f : files) {
            Path file = base.resolve(f.get("name").asText());
            assertThat(f.get("sha256").asText()).as(file.toString()).isEqualTo(sha256sum(file));
            assertThat(f.get("bytes").asLong()).isEqualTo(Files.size(file));
        }
        assertThat(files.findValuesAsText("name")).contains("model.safetensors", "config.json", "tokenizer.json");
        assertThat(p.at("/base_model/model_type").asText()).isEqualTo("llama");
        JsonNode d = p.at("/data/0");
        assertThat(d.get("sha256").asText()).isEqualTo(sha256sum(data));
        assertThat(d.get("role").asText()).isEqualTo("train+validation");
        long lines = Files.readAllLines(data).stream().filter(l -> !l.isBlank()).count();
        assertThat(d.at("/train/examples").asLong() + d.at("/validation/examples").asLong()).isEqualTo(lines);
        assertThat(d.at("/validation/examples").asLong()).isEqualTo(Math.round(lines * 0.1));
        assertThat(d.at("/train/tokens").asLong()).isPositive();
        assertThat(p.at("/config/lora.r").asInt()).isEqualTo(8);
        assertThat(p.at("/config/steps").asInt()).isEqualTo(6);
        assertThat(p.at("/seed").asLong()).isEqualTo(7);
        assertThat(p.at("/threads").asInt()).isPositive();
        assertThat(p.at("/peft4j/version").asText()).isNotEqualTo("unknown");
        assertThat(p.at("/peft4j/git_commit").asText()).matches("[0-9a-f]{40}|unknown");
        assertThat(p.at("/machine/cores").asInt()).isEqualTo(Runtime.getRuntime().availableProcessors());
        assertThat(p.at("/run/steps").asInt()).isEqualTo(6);
        // every quickstart example has the same length; 6 steps x 4 rows
        long perExample = d.at("/train/tokens").asLong() / d.at("/train/examples").asLong();
        assertThat(p.at("/run/tokens_seen").asLong()).isEqualTo(6 * 4 * perExample);
        assertThat(p.at("/run/final_train_loss").isNumber()).isTrue();
        assertThat(p.at("/run/final_validation_loss").isNumber()).isTrue();
        assertThat(p.at("/run/wall_seconds").asDouble()).isPositive();
        double cpu = p.at("/energy/cpu_seconds").asDouble();
        assertThat(cpu).isPositive();
        assertThat(p.at("/energy/kwh").asDouble()).isCloseTo(cpu * 10 / 3.6e6, org.assertj.core.api.Assertions.within(1e-12));
        assertThat(p.at("/energy/co2e_grams").asDouble()).isCloseTo(cpu * 10 / 3.6e6 * 100, org.assertj.core.api.Assertions.within(1e-9));
    }

    @Test
    void modelCardFrontMatterParsesAndHoldsTheHfFields() throws Exception {
        String card = Files.readString(adapter.resolve("README.md"));
        JsonNode y = frontMatter(card);
        assertThat(y.get("base_model").asText()).isEqualTo(base.toString());
        assertThat(y.get("library_name").asText()).isEqualTo("peft");
        assertThat(y.get("pipeline_tag").asText()).isEqualTo("text-generation");
        assertThat(y.get("tags")).extracting(JsonNode::asText).contains("peft", "lora", "peft4j");
        assertThat(y.get("datasets")).extracting(JsonNode::asText).containsExactly("train.jsonl");
        assertThat(card).contains("## Provenance").contains(sha256sum(base.resolve("model.safetensors"))).contains(sha256sum(data));
    }

    @Test
    void inspectShowsTheProvenance() throws Exception {
        String[] r = CliTest.run("inspect", adapter.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).contains("provenance   " + adapter.resolve("provenance.json")).contains("base model").contains("(llama, LlamaForCausalLM)")
                .contains(sha256sum(base.resolve("model.safetensors"))).contains(sha256sum(data)).contains("steps, tokens seen")
                .contains("energy (estimate)").contains("10 W/core, 100 g/kWh").contains("git commit");
    }

    @Test
    void evalRecordStoresTheResultsAndTheCardShowsThemAsModelIndex() throws Exception {
        Path copy = tmp.resolve("recorded");
        Files.createDirectories(copy);
        try (Stream<Path> s = Files.list(adapter)) {
            for (Path f : s.toList()) Files.copy(f, copy.resolve(f.getFileName()));
        }
        Path gen = base.getParent().resolve("data/heldout-gen.jsonl");
        String[] r = CliTest.run("eval", "--model", base.toString(), "--adapter", copy.toString(), "--task", "gen", "--data", gen.toString(),
                "--limit", "10", "--max-new-tokens", "2", "--record");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).contains("recorded 1 metric(s)");
        JsonNode results = new ObjectMapper().readTree(copy.resolve("eval_results.json").toFile());
        assertThat(results.at("/results/0/metrics/0/name").asText()).isEqualTo("gen:exact_match");
        assertThat(results.at("/results/0/metrics/0/n").asInt()).isEqualTo(10);
        assertThat(results.at("/results/0/tasks/0/sha256").asText()).isEqualTo(sha256sum(gen));
        double value = results.at("/results/0/metrics/0/value").asDouble();
        JsonNode y = frontMatter(Files.readString(copy.resolve("README.md")));
        JsonNode result = y.at("/model-index/0/results/0");
        assertThat(y.at("/model-index/0/name").asText()).isEqualTo("recorded");
        assertThat(result.at("/dataset/name").asText()).isEqualTo("heldout-gen.jsonl");
        assertThat(result.at("/metrics/0/name").asText()).isEqualTo("gen:exact_match");
        assertThat(result.at("/metrics/0/value").asDouble()).isEqualTo(value);
        assertThat(y.get("base_model").asText()).isEqualTo(base.toString());
        assertThat(Files.readString(copy.resolve("README.md"))).contains("## Evaluation").contains("## Provenance");
        assertThat(CliTest.run("inspect", copy.toString())[1]).contains("evaluations").contains("gen:exact_match");

        String[] none = CliTest.run("eval", "--model", base.toString(), "--task", "gen", "--data", gen.toString(), "--record");
        assertThat(none[0]).isEqualTo("2");
        assertThat(none[2]).contains("--record").contains("exactly one --adapter");
    }

    @Test
    void versionNamesTheCommitTheProvenanceRecords() throws Exception {
        String[] v = CliTest.run("--version");
        assertThat(v[0]).isEqualTo("0");
        String commit = new ObjectMapper().readTree(adapter.resolve("provenance.json").toFile()).at("/peft4j/git_commit").asText();
        assertThat(v[1]).startsWith("peft4j 0.").contains(commit.equals("unknown") ? "commit unknown" : "commit " + commit.substring(0, 12));
    }

    @Test
    void badEnergyFiguresAreRefusedBeforeTraining() {
        String[] r = CliTest.run("train", "--model", base.toString(), "--data", data.toString(), "--output", tmp.resolve("bad").toString(),
                "--steps", "1", "--energy.watts-per-core", "-3");
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2]).contains("--energy.watts-per-core").contains(">= 0");
        assertThat(tmp.resolve("bad")).doesNotExist();
    }

    static JsonNode frontMatter(String card) throws IOException {
        assertThat(card).startsWith("---\n");
        int end = card.indexOf("\n---\n", 4);
        assertThat(end).as("closing --- of the front matter").isPositive();
        return new ObjectMapper(new YAMLFactory()).readTree(card.substring(4, end + 1));
    }
}
