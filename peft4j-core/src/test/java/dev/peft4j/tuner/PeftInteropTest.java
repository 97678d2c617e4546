package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;

import static dev.peft4j.tuner.Fixtures.IDS;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Golden;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.io.DType;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.ModelWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Interoperability with Python PEFT, proven outside Java by scripts/golden/make_peft_interop.py:
 *  - from-python: adapters written with PEFT's names and math (incl. rank_pattern, alpha_pattern,
 *    modules_to_save, rsLoRA, Conv1D, unknown config keys) load here and reproduce the script's logits;
 *  - from-peft4j: adapters and a merged export written by peft4j (regenerate with
 *    -Dpeft4j.writeInteropFixtures=true, then run the script's `check`) are read by the script by
 *    PEFT's key names, and its logits (python_logits.json) equal peft4j's.
 */
class PeftInteropTest {

    static Path peftDir(String sub) {
        return Golden.resource("/golden/peft/from-python/llama/adapter_config.json").getParent().getParent().getParent().resolve(sub);
    }

    static double maxDiff(float[] got, JsonNode logits) {
        int V = logits.get(0).get(0).size(), T = logits.get(0).size();
        double max = 0;
        for (int b = 0; b < logits.size(); b++)
            for (int t = 0; t < T; t++)
                for (int v = 0; v < V; v++) max = Math.max(max, Math.abs(got[(b * T + t) * V + v] - logits.get(b).get(t).get(v).asDouble()));
        return max;
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2"})
    void adapterWrittenByPythonPeftReproducesItsLogits(String model) throws Exception {
        Path dir = peftDir("from-python/" + model);
        JsonNode expected = new ObjectMapper().readTree(dir.resolve("expected_logits.json").toFile());
        CausalLM m = CausalLM.load(Golden.model(model));
        LoraModel lm = PeftAdapter.loadLora(m, dir, "from_python");
        for (var e : expected.get("scalings").properties())
            assertThat(lm.adapters().get(e.getKey()).scaling).as("scaling of %s", e.getKey()).isCloseTo(e.getValue().asDouble(), org.assertj.core.api.Assertions.within(1e-12));
        float[] logits = m.forward(null, IDS, 2, 8, null, null, false).data;
        assertThat(maxDiff(logits, expected.get("logits"))).as("%s: |peft4j - python PEFT math|", model).isLessThan(1e-4);
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2"})
    void pythonReadsPeft4jAdaptersAndMergedExportsWithTheSameLogits(String model) throws Exception {
        Path out = peftDir("from-peft4j/" + model), merged = peftDir("from-peft4j/" + model + "-merged");
        if (Boolean.getBoolean("peft4j.writeInteropFixtures")) {        // into the source tree (the module directory is the working directory)
            Path src = Path.of("src/test/resources/golden/peft/from-peft4j");
            writeFixtures(model, src.resolve(model), src.resolve(model + "-merged"));
            return;
        }
        Assumptions.assumeTrue(Files.exists(out.resolve("python_logits.json")) && Files.exists(merged.resolve("python_logits.json")),
                "run: /usr/bin/python3 scripts/golden/make_peft_interop.py check");
        CausalLM m = CausalLM.load(Golden.model(model));
        PeftAdapter.load(m, out, "default");
        float[] adapted = m.forward(null, IDS, 2, 8, null, null, false).data;
        ObjectMapper om = new ObjectMapper();
        assertThat(maxDiff(adapted, om.readTree(out.resolve("python_logits.json").toFile()).get("logits")))
                .as("%s adapter: python vs peft4j", model).isLessThan(1e-4);
        float[] exported = CausalLM.load(merged).forward(null, IDS, 2, 8, null, null, false).data;
        assertThat(maxDiff(exported, om.readTree(merged.resolve("python_logits.json").toFile()).get("logits")))
                .as("%s merged export: python vs peft4j", model).isLessThan(1e-4);
        assertThat(maxDiff(adapted, om.readTree(merged.resolve("python_logits.json").toFile()).get("logits")))
                .as("%s merged export (python) vs unmerged adapter (peft4j)", model).isLessThan(1e-4);
    }

    /** The from-peft4j fixtures: an adapter exercising the format, and the merged export of it. */
    static void writeFixtures(String model, Path out, Path merged) throws Exception {
        CausalLM m = CausalLM.load(Golden.model(model));
        LoraConfig cfg = model.equals("llama")
                ? LoraConfig.builder().r(4).alpha(8).targetModules("q_proj", "k_proj", "v_proj", "gate_proj")
                        .rankPattern(Map.of("model.layers.0.self_attn.k_proj", 2)).alphaPattern(Map.of("gate_proj", 12.0))
                        .modulesToSave("lm_head").build()
                : LoraConfig.builder().r(4).alpha(8).useRslora(true).targetModules("c_attn", "c_fc").build();   // modules_to_save is covered by llama
        PeftModel pm = new PeftModel(m);
        LoraModel lm = pm.addAdapter(cfg, "default", 11);
        int k = 0;
        for (Tensor t : lm.trainableParameters()) {
            k++;
            for (int i = 0; i < t.size(); i++) t.data[i] += (float) (0.04 * Math.cos(0.29 * i + 0.9 * k));
        }
        deleteTree(out);
        deleteTree(merged);
        PeftAdapter.save(lm, out, "peft4j-core/src/test/resources/golden/models/" + model, null);
        pm.mergeAndUnload();
        ModelWriter.export(m, Golden.model(model), merged, DType.F32, 150_000);
    }

    static void deleteTree(Path p) throws Exception {
        if (!Files.exists(p)) return;
        try (var w = Files.walk(p)) {
            for (Path q : w.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(q);
        }
    }
}
