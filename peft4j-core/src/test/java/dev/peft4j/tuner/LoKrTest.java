package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.LoraPlan;

import static dev.peft4j.tuner.Fixtures.logits;
import static dev.peft4j.tuner.Fixtures.maxDiff;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Golden;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.io.SafeTensorsFile;
import dev.peft4j.io.TensorInfo;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tuner.lokr.LoKr;
import dev.peft4j.tuner.lokr.LoKrConfig;
import dev.peft4j.tuner.lokr.LoKrLayer;
import dev.peft4j.tuner.loha.LycorisModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** LoKr through the shared tuner architecture: PEFT's factorization and shapes, invariants, file format and counts. */
class LoKrTest {
    @TempDir Path tmp;

    static LoKrConfig.Builder cfg() { return LoKrConfig.builder().r(4).alpha(8).targetModules("q_proj", "v_proj", "down_proj"); }

    @Test
    void factorizationAsPeftsDocstring() {
        assertThat(LoKr.factorization(256, -1)).containsExactly(16, 16);
        assertThat(LoKr.factorization(128, -1)).containsExactly(8, 16);
        assertThat(LoKr.factorization(127, -1)).containsExactly(1, 127);
        assertThat(LoKr.factorization(128, 4)).containsExactly(4, 32);
        assertThat(LoKr.factorization(172, -1)).containsExactly(4, 43);
        assertThat(LoKr.factorization(32, -1)).containsExactly(4, 8);
        assertThat(LoKr.factorization(64, 16)).as("a dividing factor is taken as is, not sorted").containsExactly(16, 4);
        assertThat(LoKr.factorization(576, 5)).as("5 does not divide: divisors up to 5").containsExactly(4, 144);
    }

    /** ../shared/realpeft/FORMATS.txt, stories260K with r = 4: q_proj (64x64), v_proj (32x64), down_proj (64x172). */
    @Test
    void shapesMatchPeftsFileOnStories260K() {
        assertThat(LoKr.shapes(64, 64, 4, false, -1)).isEqualTo(new LoKr.Shapes(8, 8, 8, 8, true, true));
        assertThat(LoKr.shapes(32, 64, 4, false, -1)).isEqualTo(new LoKr.Shapes(4, 8, 8, 8, true, true));
        assertThat(LoKr.shapes(64, 172, 4, false, -1)).isEqualTo(new LoKr.Shapes(8, 8, 4, 43, true, false));
        assertThat(LoKr.shapes(64, 172, 1, true, -1).fullW1()).as("decompose_both with r < 8/2").isFalse();
    }

    @Test
    void identityAtInitThenMergedEqualsUnmergedAndUnmergeRestores() {
        CausalLM m = CausalLM.load(Golden.model("llama"));
        float[] base = logits(m);
        PeftModel pm = new PeftModel(m);
        LycorisModel<?> a = (LycorisModel<?>) pm.addAdapter(cfg().decomposeBoth(true).r(1).build(), "a", 1);
        assertThat(maxDiff(logits(m), base)).as("lokr_w1 (or w1_a) = 0: the adapter starts as the identity").isZero();
        int k = 0;
        for (Tensor t : a.trainableParameters()) {
            k++;
            for (int i = 0; i < t.size(); i++) t.data[i] = (float) (0.4 * Math.sin(0.7 * i + k));
        }
        float[] adapted = logits(m);
        assertThat(maxDiff(adapted, base)).as("the adapter acts").isGreaterThan(1e-3);
        pm.merge("a");
        assertThat(maxDiff(logits(m), adapted)).as("merged == unmerged").isLessThan(1e-4);
        pm.unmerge("a");
        pm.disableAdapters();
        assertThat(maxDiff(logits(m), base)).as("unmerge restores the base").isLessThan(1e-5);
    }

    @Test
    void initWeightsTrueFalseLycoris() {
        for (LoKrConfig.Init init : LoKrConfig.Init.values()) {
            LycorisModel<LoKrLayer> a = LoKr.apply(CausalLM.load(Golden.model("llama")), cfg().initWeights(init).build(), "default", 3);
            for (LoKrLayer l : a.layers().values()) {
                assertThat(l.w1).isNotNull();
                boolean w1Zero = allZero(l.w1), w2Zero = l.w2 != null ? allZero(l.w2) : allZero(l.w2b);
                assertThat(w1Zero).as(init + " w1").isEqualTo(init == LoKrConfig.Init.TRUE);
                assertThat(w2Zero).as(init + " w2").isEqualTo(init == LoKrConfig.Init.LYCORIS);
                double bound = 1 / Math.sqrt(l.w1.dim(1)), max = 0;
                for (float v : l.w1.data) max = Math.max(max, Math.abs(v));
                assertThat(max).isLessThanOrEqualTo(bound);
            }
        }
    }

    static boolean allZero(Tensor t) {
        for (float v : t.data) if (v != 0f) return false;
        return true;
    }

    @Test
    void savedInPeftsFormatAndLoadedBack() throws Exception {
        CausalLM m = CausalLM.load(Golden.model("llama"));
        LycorisModel<LoKrLayer> a = LoKr.apply(m, cfg().initWeights(LoKrConfig.Init.LYCORIS).decomposeFactor(4).build(), "default", 1);
        for (Tensor t : a.trainableParameters()) for (int i = 0; i < t.size(); i++) t.data[i] += (float) (0.1 * Math.cos(i));
        float[] adapted = logits(m);
        Path dir = tmp.resolve("lokr");
        PeftAdapter.save(a, dir, "base", null);
        JsonNode cfg = new ObjectMapper().readTree(dir.resolve(PeftAdapter.CONFIG).toFile());
        List<String> keys = new ArrayList<>();
        cfg.fieldNames().forEachRemaining(keys::add);
        // PEFT 0.14's LoKrConfig.to_dict keys (../shared/realpeft/FORMATS.txt), json.dumps(sort_keys=True) order
        assertThat(keys).containsExactly("alpha", "alpha_pattern", "auto_mapping", "base_model_name_or_path", "decompose_both",
                "decompose_factor", "exclude_modules", "inference_mode", "init_weights", "layers_pattern", "layers_to_transform",
                "module_dropout", "modules_to_save", "peft_type", "r", "rank_dropout", "rank_dropout_scale", "rank_pattern", "revision",
                "target_modules", "task_type", "use_effective_conv2d");
        assertThat(cfg.get("peft_type").asText()).isEqualTo("LOKR");
        assertThat(cfg.get("init_weights").asText()).isEqualTo("lycoris");
        assertThat(cfg.get("decompose_factor").asInt()).isEqualTo(4);
        Map<String, long[]> shapes = new TreeMap<>();
        try (SafeTensorsFile f = SafeTensorsFile.open(dir.resolve(PeftAdapter.WEIGHTS))) {
            for (TensorInfo t : f.tensors()) shapes.put(t.name(), t.shape());
        }
        int n = 0;
        for (Map.Entry<String, LoKrLayer> e : a.layers().entrySet()) {
            LoKrLayer l = e.getValue();
            for (Map.Entry<String, Tensor> s : l.stateDict().entrySet()) {
                long[] want = {s.getValue().dim(0), s.getValue().dim(1)};
                assertThat(shapes.get("base_model.model." + e.getKey() + "." + s.getKey())).containsExactly(want);
                n++;
            }
            assertThat((long) l.outL * l.outK).isEqualTo(l.out);
            assertThat(l.outL).as("decompose_factor 4 divides every dimension here").isEqualTo(4);
        }
        assertThat(shapes).hasSize(n);
        CausalLM m2 = CausalLM.load(Golden.model("llama"));
        AdapterModel back = PeftAdapter.load(m2, dir, "x");
        assertThat(back.config()).isEqualTo(a.config());
        assertThat(maxDiff(logits(m2), adapted)).isLessThan(1e-6);
    }

    @Test
    void countsFollowTheShapes() {
        // SmolLM2-135M, r 8: q_proj 576x576 -> (24, 24) x (24, 24): w1 full 576, w2 low-rank 8·48 = 384 (8 < 24/2)
        // v_proj 192x576 -> out (12, 16), in (24, 24): w1 (12, 24) = 288, w2 (16, 24) low-rank 8·40 = 320
        LycorisModel.Plan<LoKrConfig> p = LoKr.plan(ModelModules.of(Fixtures.smollm2_135m()),
                LoKrConfig.builder().targetModules("q_proj", "v_proj").build());
        assertThat(p.targets()).hasSize(60);
        assertThat(p.trainableParameterCount()).isEqualTo(30L * (576 + 384 + 288 + 320));
        assertThat(p.trainableSummary()).isEqualTo(LoraPlan.formatTrainable(30L * 1568, 134_515_008L + 30L * 1568));
    }

    @Test
    void peftsRefusalsAreClearErrors() {
        assertThatThrownBy(() -> LoKrConfig.builder().build()).hasMessageContaining("target_modules is required");
        assertThatThrownBy(() -> LoKr.plan(ModelModules.of(Fixtures.gpt2_124m()), LoKrConfig.builder().targetModules("c_attn").build()))
                .hasMessageContaining("Conv1D");
    }
}
