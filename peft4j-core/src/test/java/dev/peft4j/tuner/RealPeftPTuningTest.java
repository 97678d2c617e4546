package dev.peft4j.tuner;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.io.SafeTensorsFile;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tuner.ptuning.PTuning;
import dev.peft4j.tuner.ptuning.PTuningConfig;
import dev.peft4j.tuner.ptuning.PTuningModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * P-tuning against the REAL HF PEFT 0.14 (../shared/realpeft) on stories260K, MLP and LSTM encoders, both ways.
 *  - PEFT -> peft4j: scripts/golden/ptuning_realpeft.py (run by realpeft/run.sh; the oracle's `make` has no
 *    p_tuning) builds PEFT's PromptEncoder in training mode with deterministic values, saves the adapter (PEFT
 *    saves the encoder OUTPUT as prompt_embeddings) and the logits of its encoder-driven forward. peft4j loads the
 *    adapter (a fixed table) and reproduces the logits; peft4j's own encoder, given PEFT's encoder weights
 *    (encoder.safetensors), reproduces the saved prompt_embeddings and the logits; ours writes PEFT's config keys.
 *  - peft4j -> PEFT: a fresh peft4j encoder (perturbed), saved; PeftModel.from_pretrained gives the same logits.
 */
class RealPeftPTuningTest {
    @TempDir Path tmp;

    static Path script() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path s = p.resolve("scripts/golden/ptuning_realpeft.py");
            if (Files.exists(s)) return s;
        }
        Assumptions.abort("scripts/golden/ptuning_realpeft.py not found above " + Path.of("").toAbsolutePath());
        return null;
    }

    static PTuningConfig config(String type) { return PTuningConfig.of(8, PTuningConfig.EncoderType.parse(type), 24, 2, 0.1); }

    @ParameterizedTest
    @ValueSource(strings = {"MLP", "LSTM"})
    void adapterSavedByPeftLoadsWithItsLogitsAndOurEncoderMatchesPeftsEncoder(String type) throws Exception {
        Path runSh = RealPeftInteropTest.realPeft(), stories = RealPeftInteropTest.shared("models/stories260K"), out = tmp.resolve(type);
        RealPeftInteropTest.run(runSh, tmp.resolve("make.log"), script().toString(), runSh.getParent().toString(), type, out.toString(), stories.toString());
        JsonNode expected = new ObjectMapper().readTree(out.resolve("expected_logits.json").toFile());
        assertThat(expected.get("roundtrip_max_abs_diff").asDouble()).as("PEFT's own save/load round trip").isLessThan(1e-6);
        int[] ids = new int[expected.get("input_ids").size()];
        for (int i = 0; i < ids.length; i++) ids[i] = expected.get("input_ids").get(i).asInt();
        JsonNode want = expected.get("logits_input_positions");

        CausalLM m = CausalLM.load(stories);
        float[] base = RealPeftInteropTest.logits(m, ids);
        AdapterModel am = PeftAdapter.load(m, out, "from_peft");
        assertThat(am).isInstanceOf(PTuningModel.class);
        assertThat(RealPeftInteropTest.maxDiff(base, want)).as("the adapter changes the logits").isGreaterThan(1e-3);
        double loaded = RealPeftInteropTest.maxDiff(RealPeftInteropTest.logits(m, ids), want);
        assertThat(loaded).as("%s adapter written by PEFT 0.14, logits in peft4j", type).isLessThan(1e-4);

        // peft4j's encoder with PEFT's encoder weights: its output is what PEFT saved, its logits PEFT's
        CausalLM m2 = CausalLM.load(stories);
        PTuningModel ours = PTuning.apply(m2, config(type), "default", 0);
        try (SafeTensorsFile enc = SafeTensorsFile.open(out.resolve("encoder.safetensors"))) {
            TreeSet<String> names = new TreeSet<>();
            for (Tensor p : ours.trainableParameters()) {
                String key = p.name.substring("default.".length());
                names.add(key);
                assertThat(enc.info(key).shapeInts()).as(key).containsExactly(p.shape);
                System.arraycopy(enc.readFloats(key), 0, p.data, 0, p.size());
            }
            TreeSet<String> theirs = new TreeSet<>();
            enc.tensors().forEach(t -> theirs.add(t.name()));
            assertThat(names).as("peft4j's encoder tensors = PEFT's PromptEncoder state_dict").isEqualTo(theirs);
        }
        double encoderDiff;
        try (SafeTensorsFile f = SafeTensorsFile.open(out.resolve("adapter_model.safetensors"))) {
            float[] saved = f.readFloats("prompt_embeddings"), mine = ours.sharedStateDict().get("prompt_embeddings").data;
            encoderDiff = 0;
            for (int i = 0; i < saved.length; i++) encoderDiff = Math.max(encoderDiff, Math.abs(saved[i] - mine[i]));
        }
        assertThat(encoderDiff).as("%s encoder output vs PEFT's saved prompt_embeddings", type).isLessThan(1e-5);
        double viaEncoder = RealPeftInteropTest.maxDiff(RealPeftInteropTest.logits(m2, ids), want);
        assertThat(viaEncoder).as("%s logits through peft4j's encoder", type).isLessThan(1e-4);

        Path mine = tmp.resolve("mine");
        PeftAdapter.save(ours, mine, stories.toString(), null);
        ObjectMapper om = new ObjectMapper();
        JsonNode a = om.readTree(mine.resolve("adapter_config.json").toFile()), b = om.readTree(out.resolve("adapter_config.json").toFile());
        TreeSet<String> ka = new TreeSet<>(), kb = new TreeSet<>();
        a.fieldNames().forEachRemaining(ka::add);
        b.fieldNames().forEachRemaining(kb::add);
        assertThat(ka).as("adapter_config.json keys: PEFT's PromptEncoderConfig.to_dict").isEqualTo(kb);
        for (String k : kb)
            assertThat(a.get(k).equals(b.get(k)) || (a.get(k).isNumber() && a.get(k).asDouble() == b.get(k).asDouble()))
                    .as("%s: ours %s, PEFT's %s", k, a.get(k), b.get(k)).isTrue();
        System.out.printf("[realpeft] p_tuning %s: PEFT -> peft4j max |logits diff| %.2e (loaded table), %.2e (peft4j encoder with PEFT's "
                + "weights), encoder output vs saved %.2e%n", type, loaded, viaEncoder, encoderDiff);
    }

    @ParameterizedTest
    @ValueSource(strings = {"MLP", "LSTM"})
    void adapterSavedByPeft4jLoadsInPeftWithTheSameLogits(String type) throws Exception {
        Path runSh = RealPeftInteropTest.realPeft(), stories = RealPeftInteropTest.shared("models/stories260K"), out = tmp.resolve(type);
        int[] ids = {1, 403, 407, 261, 378, 488, 77, 300};
        CausalLM m = CausalLM.load(stories);
        AdapterModel am = new PeftModel(m).addAdapter(config(type), "default", 3);
        int k = 0;
        for (Tensor t : am.trainableParameters()) {
            k++;
            for (int i = 0; i < t.size(); i++) t.data[i] += (float) (0.05 * Math.sin(i + 1.3 * k));
        }
        PeftAdapter.save(am, out, stories.toString(), null);
        float[] lg = RealPeftInteropTest.logits(m, ids);
        int V = lg.length / ids.length;
        List<List<Float>> rows = new ArrayList<>();
        for (int t = 0; t < ids.length; t++) {
            List<Float> row = new ArrayList<>(V);
            for (int v = 0; v < V; v++) row.add(lg[t * V + v]);
            rows.add(row);
        }
        Path logits = tmp.resolve("peft4j-logits.json");
        new ObjectMapper().writeValue(logits.toFile(), Map.of("logits", rows, "logits_input_positions", rows));
        StringBuilder idList = new StringBuilder();
        for (int id : ids) idList.append(idList.isEmpty() ? "" : ",").append(id);
        String log = RealPeftInteropTest.run(runSh, tmp.resolve("check.log"), "check-adapter", stories.toString(), out.toString(),
                idList.toString(), "--compare", logits.toString(), "--atol", "1e-4", "--out", tmp.resolve("check.json").toString());
        System.out.printf("[realpeft] p_tuning %s: peft4j -> PEFT %s%n", type, log.strip());
        assertThat(log).contains("OK");
    }
}
