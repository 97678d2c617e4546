package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.LoraConfig;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.io.SafeTensorsFile;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tuner.ia3.Ia3Config;
import dev.peft4j.tuner.loha.LoHaConfig;
import dev.peft4j.tuner.lokr.LoKrConfig;
import dev.peft4j.tuner.vera.VeraConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * modules_to_save against the real HF PEFT 0.14 (RealPeftInteropTest's setup), both ways, for every
 * method, on the real stories260K (tied head: the lm_head copy is untied from the embedding on both sides):
 *  - PEFT -> peft4j: scripts/golden/realpeft_modules_to_save.py (run by ../shared/realpeft/run.sh) makes
 *    the oracle's adapter of METHOD with modules_to_save=["lm_head"] and deterministic values (the head
 *    copy too), saves it (PEFT writes the copy as base_model.model.lm_head.weight) and its logits; peft4j
 *    loads it and reproduces them to 1e-4;
 *  - peft4j -> PEFT: peft4j writes the same kind of adapter with a perturbed head copy; PeftModel.from_pretrained
 *    loads it and `run.sh check-adapter --compare` reproduces peft4j's logits to 1e-4.
 */
@Tag("slow")
class RealPeftModulesToSaveTest {
    @TempDir Path tmp;

    static AdapterConfig config(String method) {
        String[] t = RealPeftInteropTest.TARGETS.toArray(String[]::new);
        List<String> head = List.of("lm_head");
        return switch (method) {
            case "lora" -> LoraConfig.builder().r(4).alpha(8).targetModules(t).modulesToSave(head).build();
            case "ia3" -> Ia3Config.builder().targetModules(t).feedforwardModules("down_proj").modulesToSave(head).build();
            case "vera" -> VeraConfig.builder().r(8).targetModules(t).projectionPrngKey(0).modulesToSave(head).build();
            case "loha" -> LoHaConfig.builder().r(4).alpha(8).targetModules(t).modulesToSave(head).build();
            case "lokr" -> LoKrConfig.builder().r(4).alpha(8).targetModules(t).modulesToSave(head).build();
            case "adalora" -> dev.peft4j.tuner.adalora.AdaLoraConfig.builder().initR(4).targetR(2).alpha(8).totalStep(10).targetModules(t)
                    .modulesToSave(head).build();
            default -> throw new IllegalArgumentException(method);
        };
    }

    static Path script() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path s = p.resolve("scripts/golden/realpeft_modules_to_save.py");
            if (Files.isRegularFile(s)) return s;
        }
        Assumptions.abort("scripts/golden/realpeft_modules_to_save.py not found above " + Path.of("").toAbsolutePath());
        return null;
    }

    @ParameterizedTest
    @ValueSource(strings = {"lora", "ia3", "vera", "loha", "lokr", "adalora"})
    void adapterWithModulesToSaveSavedByPeftLoadsWithItsLogits(String method) throws Exception {
        Path runSh = RealPeftInteropTest.realPeft(), stories = RealPeftInteropTest.shared("models/stories260K"), out = tmp.resolve(method);
        RealPeftInteropTest.run(runSh, tmp.resolve("make.log"), script().toString(), runSh.getParent().toString(), method,
                out.toString(), stories.toString());
        JsonNode fmt = new ObjectMapper().readTree(out.resolve("format.json").toFile());
        assertThat(fmt.get("tensors").get("base_model.model.lm_head.weight").get("shape").toString()).isEqualTo("[512,64]");
        JsonNode expected = new ObjectMapper().readTree(out.resolve("expected_logits.json").toFile());
        int[] ids = new int[expected.get("input_ids").size()];
        for (int i = 0; i < ids.length; i++) ids[i] = expected.get("input_ids").get(i).asInt();
        CausalLM m = CausalLM.load(stories);
        float[] base = RealPeftInteropTest.logits(m, ids);
        AdapterModel am = PeftAdapter.load(m, out, "from_peft");
        assertThat(am.modulesToSave()).containsExactly("lm_head");
        assertThat(m.headTied()).isFalse();
        double d = RealPeftInteropTest.maxDiff(RealPeftInteropTest.logits(m, ids), expected.get("logits"));
        double moved = 0;
        float[] lg = RealPeftInteropTest.logits(m, ids);
        for (int i = 0; i < lg.length; i++) moved = Math.max(moved, Math.abs(lg[i] - base[i]));
        System.out.printf("[realpeft] %s + modules_to_save: PEFT -> peft4j max |logits diff| %.2e (vs base %.2f)%n", method, d, moved);
        assertThat(moved).as("the saved head copy changes the logits").isGreaterThan(0.1);
        assertThat(d).as("%s with modules_to_save written by PEFT 0.14, logits in peft4j", method).isLessThan(1e-4);
    }

    @ParameterizedTest
    @ValueSource(strings = {"lora", "ia3", "vera", "loha", "lokr", "adalora"})
    void adapterWithModulesToSaveSavedByPeft4jLoadsInPeftWithTheSameLogits(String method) throws Exception {
        Path runSh = RealPeftInteropTest.realPeft(), stories = RealPeftInteropTest.shared("models/stories260K"), out = tmp.resolve(method);
        int[] ids = {1, 403, 407, 261, 378, 1000 % 512, 77, 300};
        CausalLM m = CausalLM.load(stories);
        AdapterModel am = new PeftModel(m).addAdapter(config(method), "default", 3);
        int k = 0;
        for (Tensor t : am.trainableParameters()) {          // non-trivial values, the head copy included
            k++;
            for (int i = 0; i < t.size(); i++) t.data[i] += (float) (0.05 * Math.sin(i + 1.3 * k));
        }
        PeftAdapter.save(am, out, stories.toString(), null);
        try (SafeTensorsFile f = SafeTensorsFile.open(out.resolve(PeftAdapter.WEIGHTS))) {
            assertThat(f.info("base_model.model.lm_head.weight").shape()).containsExactly(512L, 64L);
        }
        float[] lg = RealPeftInteropTest.logits(m, ids);
        int V = lg.length / ids.length;
        List<List<Float>> rows = new ArrayList<>();
        for (int t = 0; t < ids.length; t++) {
            List<Float> row = new ArrayList<>(V);
            for (int v = 0; v < V; v++) row.add(lg[t * V + v]);
            rows.add(row);
        }
        Path mine = tmp.resolve(method + "-peft4j-logits.json");
        new ObjectMapper().writeValue(mine.toFile(), Map.of("logits", rows));
        StringBuilder idList = new StringBuilder();
        for (int id : ids) idList.append(idList.isEmpty() ? "" : ",").append(id);
        String log = RealPeftInteropTest.run(runSh, tmp.resolve("check.log"), "check-adapter", stories.toString(), out.toString(),
                idList.toString(), "--compare", mine.toString(), "--atol", "1e-4", "--out", tmp.resolve("check.json").toString());
        System.out.printf("[realpeft] %s + modules_to_save: peft4j -> PEFT %s%n", method, log.strip());
        assertThat(log).contains("OK");
    }
}
