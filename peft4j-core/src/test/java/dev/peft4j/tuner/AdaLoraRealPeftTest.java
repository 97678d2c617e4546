package dev.peft4j.tuner;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.data.DataLoader;
import dev.peft4j.io.SafeTensorsFile;
import dev.peft4j.model.CausalLM;
import dev.peft4j.train.LrSchedule;
import dev.peft4j.train.TrainConfig;
import dev.peft4j.train.Trainer;
import dev.peft4j.train.TrainerTestAccess;
import dev.peft4j.tuner.adalora.AdaLora;
import dev.peft4j.tuner.adalora.AdaLoraConfig;
import dev.peft4j.tuner.adalora.AdaLoraLayer;
import dev.peft4j.tuner.adalora.AdaLoraModel;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An AdaLoRA adapter trained and PRUNED by peft4j (rank allocator to target_r, rank_pattern saved,
 * tensors resized to the kept triplets) loads in the real HF PEFT 0.14 (resize_modules_by_rank_pattern)
 * and reproduces peft4j's logits. Needs /work/shared/realpeft (see RealPeftInteropTest).
 */
@Tag("slow")
class AdaLoraRealPeftTest {
    @TempDir Path tmp;

    @Test
    void prunedAdapterSavedByPeft4jLoadsInPeftWithTheSameLogits() throws Exception {
        Path runSh = RealPeftInteropTest.realPeft(), stories = RealPeftInteropTest.shared("models/stories260K"), out = tmp.resolve("adalora");
        CausalLM m = CausalLM.load(stories);
        AdaLoraModel ada = AdaLora.apply(m, AdaLoraConfig.builder().initR(4).targetR(2).alpha(8).tinit(1).tfinal(2).totalStep(10)
                .targetModules(RealPeftInteropTest.TARGETS.toArray(String[]::new)).build(), "default", 3);
        TrainConfig tc = new TrainConfig(10, 0, 5e-2, LrSchedule.Kind.CONSTANT, 0, 0, 4, 1, 1.0, 0.0, 5, 1, 0, 0, 0, 0);
        new Trainer(m, ada.trainableParameters(), dir -> PeftAdapter.save(ada, dir, stories.toString(), null),
                new DataLoader(TrainerTestAccess.examples(40, 512, 3), 4, true, 5, 0, false), List.of(), 0, tc, out,
                new PrintStream(new ByteArrayOutputStream())).hook(ada.trainingHook()).run(false);
        int mods = ada.layers().size(), kept = 0;
        boolean resized = false;
        for (AdaLoraLayer l : ada.layers().values()) {
            kept += l.keptRank();
            resized |= l.keptRank() < 4;
        }
        assertThat(kept).isEqualTo(2 * mods);
        assertThat(resized).isTrue();
        JsonNode cfg = new ObjectMapper().readTree(out.resolve(PeftAdapter.CONFIG).toFile());
        assertThat(cfg.get("rank_pattern").size()).isEqualTo(mods);
        try (SafeTensorsFile f = SafeTensorsFile.open(out.resolve(PeftAdapter.WEIGHTS))) {
            long total = 0;
            for (var t : f.tensors()) if (t.name().endsWith(".lora_E")) total += t.shape()[0];
            assertThat(total).as("saved E rows = kept triplets").isEqualTo(2L * mods);
        }

        int[] ids = {1, 403, 407, 261, 378, 1000 % 512, 77, 300};
        float[] lg = RealPeftInteropTest.logits(m, ids);
        int V = lg.length / ids.length;
        List<List<Float>> rows = new ArrayList<>();
        for (int t = 0; t < ids.length; t++) {
            List<Float> row = new ArrayList<>(V);
            for (int v = 0; v < V; v++) row.add(lg[t * V + v]);
            rows.add(row);
        }
        Path mine = tmp.resolve("peft4j-logits.json");
        new ObjectMapper().writeValue(mine.toFile(), Map.of("logits", rows));
        StringBuilder idList = new StringBuilder();
        for (int id : ids) idList.append(idList.isEmpty() ? "" : ",").append(id);
        String log = RealPeftInteropTest.run(runSh, tmp.resolve("check.log"), "check-adapter", stories.toString(), out.toString(),
                idList.toString(), "--compare", mine.toString(), "--atol", "1e-4", "--out", tmp.resolve("check.json").toString());
        System.out.printf("[realpeft] adalora pruned (%d of %d triplets kept): peft4j -> PEFT %s%n", kept, 4 * mods, log.strip());
        assertThat(log).contains("OK");

        // and back: the pruned adapter loads in peft4j with the same logits
        CausalLM m2 = CausalLM.load(stories);
        PeftAdapter.load(m2, out, "default");
        assertThat(RealPeftInteropTest.maxDiff(RealPeftInteropTest.logits(m2, ids), new ObjectMapper().valueToTree(rows))).isLessThan(1e-5);
    }

    static Path script() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path s = p.resolve("scripts/golden/adalora_allocator_realpeft.py");
            if (java.nio.file.Files.isRegularFile(s)) return s;
        }
        throw new IllegalStateException("scripts/golden/adalora_allocator_realpeft.py not found above " + Path.of("").toAbsolutePath());
    }

    /**
     * The rank allocator step by step against PEFT's own RankAllocator / update_and_allocate: the same
     * parameter values and gradients at each of 10 global steps (scripts/golden/adalora_allocator_realpeft.py
     * sets them in PEFT and records them) give the same budget, the same rank_pattern and the same masked
     * lora_E after every step (warm-up, cubic decay every deltaT, the forced final mask, then the fixed pattern).
     */
    @Test
    void rankAllocatorMatchesPeftsStepByStep() throws Exception {
        Path runSh = RealPeftInteropTest.realPeft(), stories = RealPeftInteropTest.shared("models/stories260K"), out = tmp.resolve("alloc");
        java.nio.file.Files.createDirectories(out);
        RealPeftInteropTest.run(runSh, tmp.resolve("alloc.log"), script().toString(), stories.toString(), out.toString());
        JsonNode steps = new ObjectMapper().readTree(out.resolve("steps.json").toFile()).get("steps");
        CausalLM m = CausalLM.load(stories);
        AdaLoraModel ada = AdaLora.apply(m, AdaLoraConfig.builder().initR(4).targetR(2).alpha(8).tinit(1).tfinal(2).deltaT(2).totalStep(10)
                .targetModules("q_proj", "v_proj", "down_proj").build(), "default", 0);
        assertThat(ada.layers()).hasSize(15);
        dev.peft4j.train.TrainingHook hook = ada.trainingHook();
        int masked = 0;
        try (SafeTensorsFile f = SafeTensorsFile.open(out.resolve("steps.safetensors"))) {
            for (JsonNode st : steps) {
                int step = st.get("step").asInt();
                for (Map.Entry<String, AdaLoraLayer> e : ada.layers().entrySet())
                    for (Map.Entry<String, dev.peft4j.autograd.Tensor> t : Map.of("lora_A", e.getValue().A, "lora_B", e.getValue().B,
                            "lora_E", e.getValue().E).entrySet()) {
                        String key = "s" + step + "." + e.getKey() + "." + t.getKey();
                        f.readFloats(key, t.getValue().data, 0);
                        f.readFloats(key + ".grad", t.getValue().grad(), 0);
                    }
                if (step == 1) {
                    double want = new ObjectMapper().readTree(out.resolve("steps.json").toFile()).get("orth_reg_step1").asDouble();
                    double got = ada.orthogonalRegularizer(null).data[0];
                    System.out.printf("[realpeft] adalora orthogonal regulariser: peft4j %.9f, PEFT %.9f%n", got, want);
                    assertThat(Math.abs(got - want) / Math.abs(want)).isLessThan(1e-5);
                }
                hook.afterOptimizerStep(step, 10);
                assertThat(((Number) hook.metrics().get("rank_budget")).intValue()).as("budget at step %d", step).isEqualTo(st.get("budget").asInt());
                for (Map.Entry<String, AdaLoraLayer> e : ada.layers().entrySet())
                    assertThat(e.getValue().E.data).as("lora_E of %s after step %d", e.getKey(), step)
                            .containsExactly(f.readFloats("s" + step + "." + e.getKey() + ".lora_E.after"));
                JsonNode rp = st.get("rank_pattern");
                if (rp.isNull()) {
                    assertThat(ada.rankPattern()).as("step %d", step).isNull();
                    continue;
                }
                masked++;
                Map<String, boolean[]> mine = ada.rankPattern();
                assertThat(mine).hasSize(rp.size());
                for (Map.Entry<String, boolean[]> e : mine.entrySet()) {
                    JsonNode want = rp.get(e.getKey() + ".lora_E.default");
                    assertThat(want).as("%s in PEFT's pattern", e.getKey()).isNotNull();
                    for (int i = 0; i < 4; i++) assertThat(e.getValue()[i]).as("%s[%d] at step %d", e.getKey(), i, step).isEqualTo(want.get(i).asBoolean());
                }
            }
        }
        assertThat(masked).isEqualTo(9);
        assertThat(ada.keptRank()).isEqualTo(2 * 15);
        System.out.printf("[realpeft] adalora allocator: 10 steps, budgets %s, patterns and masked lora_E identical to PEFT's%n",
                steps.findValuesAsText("budget"));
    }
}
