/*
 * ProvenanceFuzzTest: coverage-guided fuzzing (Jazzer) of what an adapter directory says about its
 * history - the same bytes as provenance.json and as eval_results.json (both readers ignore unknown
 * keys, so one object can be valid for both) beside a real tiny LoRA adapter, then everything that
 * reads them: Provenance.read, EvalResults.read/latest, ModelCard.provenanceRows and rewrite (the
 * model card), Runs.read (the version history of the parent directory) and RunsReport's table/JSON.
 * Oracle: TypedErrors (only a Peft4jException with a message may escape).
 * Seeds: src/test/resources/dev/peft4j/fuzz/ProvenanceFuzzTestInputs/provenanceJson/; fuzzing: bin/fuzz.
 */
package dev.peft4j.fuzz;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.peft4j.model.ModelConfig;
import dev.peft4j.model.ModelFactory;
import dev.peft4j.provenance.EvalResults;
import dev.peft4j.provenance.Provenance;
import dev.peft4j.report.Runs;
import dev.peft4j.report.RunsReport;
import dev.peft4j.tuner.ModelCard;
import dev.peft4j.tuner.PeftAdapter;
import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class ProvenanceFuzzTest {
    private static final int MAX_INPUT = 1 << 16;
    private static Path runs, adapter;

    @FuzzTest
    void provenanceJson(byte[] data) throws Exception {
        if (data.length <= MAX_INPUT) accepts(data);
    }

    /** True when the bytes, as provenance.json and eval_results.json, go through every reader. */
    static boolean accepts(byte[] data) throws Exception {
        setUp();
        FuzzFiles.write(adapter, Provenance.FILE, data);
        FuzzFiles.write(adapter, EvalResults.FILE, data);
        return TypedErrors.check(() -> {
            Provenance p = Provenance.read(adapter);
            if (p != null) ModelCard.provenanceRows(p);
            EvalResults.read(adapter).latest();
            ModelCard.rewrite(adapter);
            List<Runs.Run> list = Runs.read(runs);
            RunsReport r = new RunsReport(runs.toString(), list, RunsReport.metricsOf(list).iterator().next());
            r.toText();
            r.toJson();
        });
    }

    /** Every seed is a valid provenance record and evaluation record at once. */
    @Test
    void seedsAreAccepted() throws Exception {
        Path dir = Path.of(ProvenanceFuzzTest.class.getResource("ProvenanceFuzzTestInputs/provenanceJson").toURI());
        List<Path> seeds;
        try (Stream<Path> s = Files.list(dir)) {
            seeds = s.filter(f -> !f.getFileName().toString().startsWith("crash-")).toList();
        }
        assertThat(seeds).isNotEmpty();
        for (Path seed : seeds) {
            assertThat(accepts(Files.readAllBytes(seed))).as(seed + ": " + TypedErrors.lastRejection).isTrue();
            assertThat(Provenance.read(adapter)).as(seed.toString()).isNotNull();
            assertThat(EvalResults.read(adapter).results()).as(seed.toString()).isNotEmpty();
        }
    }

    /** runs/a: a real LoRA adapter (r 2 on q_proj, v_proj of a 2-layer Llama), next to which the fuzzed files go. */
    private static synchronized void setUp() throws Exception {
        if (adapter != null) return;
        ModelConfig cfg = new ModelConfig(ModelConfig.Family.LLAMA, 16, 8, 16, 2, 2, 1, 4, 32, 1e-5f, 10000.0, null,
                false, false, false, false, 0, 1, List.of(2), "float32");
        var lm = Lora.apply(ModelFactory.random(cfg, 7, 0.02f), LoraConfig.builder().r(2).alpha(8).targetModules("q_proj", "v_proj").build(), 7);
        Path r = FuzzFiles.dir("runs");
        PeftAdapter.save(lm, r.resolve("a"), "tiny-llama", null);
        runs = r;
        adapter = r.resolve("a");
    }
}
