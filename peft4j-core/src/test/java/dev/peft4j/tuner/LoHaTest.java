package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.LoraPlan;

import static dev.peft4j.tuner.Fixtures.logits;
import static dev.peft4j.tuner.Fixtures.maxDiff;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Golden;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.io.SafeTensorsFile;
import dev.peft4j.io.TensorInfo;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tuner.loha.LoHa;
import dev.peft4j.tuner.loha.LoHaConfig;
import dev.peft4j.tuner.loha.LoHaLayer;
import dev.peft4j.tuner.loha.LycorisModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** LoHa through the shared tuner architecture: PEFT's invariants, file format, init and counts. */
class LoHaTest {
    @TempDir Path tmp;

    static LoHaConfig.Builder cfg() { return LoHaConfig.builder().r(4).alpha(8).targetModules("q_proj", "v_proj", "down_proj"); }

    static void perturb(AdapterModel am) {
        int k = 0;
        for (Tensor t : am.trainableParameters()) {
            k++;
            for (int i = 0; i < t.size(); i++) t.data[i] = (float) (0.4 * Math.sin(0.7 * i + k));
        }
    }

    @Test
    void identityAtInitThenMergedEqualsUnmergedAndUnmergeRestores() {
        CausalLM m = CausalLM.load(Golden.model("llama"));
        float[] base = logits(m);
        PeftModel pm = new PeftModel(m);
        LycorisModel<?> a = (LycorisModel<?>) pm.addAdapter(cfg().build(), "a", 1);
        assertThat(maxDiff(logits(m), base)).as("hada_w2_b = 0: the adapter starts as the identity").isZero();
        perturb(a);
        float[] adapted = logits(m);
        assertThat(maxDiff(adapted, base)).as("the adapter acts").isGreaterThan(1e-3);
        pm.merge("a");
        assertThat(maxDiff(logits(m), adapted)).as("merged == unmerged").isLessThan(1e-4);
        pm.unmerge("a");
        pm.disableAdapters();
        assertThat(maxDiff(logits(m), base)).as("unmerge restores the base").isLessThan(1e-5);
    }

    @Test
    void initFollowsPeftsKaimingUniformWithW2bZero() {
        CausalLM m = CausalLM.load(Golden.model("llama"));
        LycorisModel<LoHaLayer> a = LoHa.apply(m, cfg().build(), "default", 3);
        for (LoHaLayer l : a.layers().values()) {
            assertThat(l.w2b.data).containsOnly(0f);
            for (Tensor t : List.of(l.w1a, l.w1b, l.w2a)) {
                double bound = 1 / Math.sqrt(t.dim(1)), max = 0;
                for (float v : t.data) max = Math.max(max, Math.abs(v));
                assertThat(max).as(t.name).isLessThanOrEqualTo(bound).isGreaterThan(bound * 0.5);
            }
        }
        LycorisModel<LoHaLayer> b = LoHa.apply(CausalLM.load(Golden.model("llama")), cfg().initWeights(false).build(), "default", 3);
        assertThat(b.layers().values().iterator().next().w2b.data).doesNotContain(0f);
    }

    @Test
    void savedInPeftsFormatAndLoadedBack() throws Exception {
        CausalLM m = CausalLM.load(Golden.model("llama"));
        LycorisModel<LoHaLayer> a = LoHa.apply(m, cfg().rankPattern("q_proj", 2).alphaPattern("v_proj", 3).build(), "default", 1);
        perturb(a);
        float[] adapted = logits(m);
        Path dir = tmp.resolve("loha");
        PeftAdapter.save(a, dir, "base", null);
        JsonNode cfg = new ObjectMapper().readTree(dir.resolve(PeftAdapter.CONFIG).toFile());
        List<String> keys = new ArrayList<>();
        cfg.fieldNames().forEachRemaining(keys::add);
        // PEFT 0.14's LoHaConfig.to_dict keys (../shared/realpeft/FORMATS.txt), json.dumps(sort_keys=True) order
        assertThat(keys).containsExactly("alpha", "alpha_pattern", "auto_mapping", "base_model_name_or_path", "exclude_modules",
                "inference_mode", "init_weights", "layers_pattern", "layers_to_transform", "module_dropout", "modules_to_save",
                "peft_type", "r", "rank_dropout", "rank_pattern", "revision", "target_modules", "task_type", "use_effective_conv2d");
        assertThat(cfg.get("peft_type").asText()).isEqualTo("LOHA");
        assertThat(cfg.get("alpha").isIntegralNumber()).isTrue();
        assertThat(cfg.get("rank_pattern").get("q_proj").asInt()).isEqualTo(2);
        Map<String, long[]> shapes = new TreeMap<>();
        try (SafeTensorsFile f = SafeTensorsFile.open(dir.resolve(PeftAdapter.WEIGHTS))) {
            for (TensorInfo t : f.tensors()) shapes.put(t.name(), t.shape());
        }
        // the test llama: hidden 64? shapes from the layer itself; rank_pattern gives q_proj r = 2
        for (Map.Entry<String, LoHaLayer> e : a.layers().entrySet()) {
            LoHaLayer l = e.getValue();
            int r = e.getKey().endsWith("q_proj") ? 2 : 4;
            String k = "base_model.model." + e.getKey() + ".";
            assertThat(shapes.get(k + "hada_w1_a")).containsExactly((long) l.out, r);
            assertThat(shapes.get(k + "hada_w1_b")).containsExactly((long) r, l.in);
            assertThat(shapes.get(k + "hada_w2_a")).containsExactly((long) l.out, r);
            assertThat(shapes.get(k + "hada_w2_b")).containsExactly((long) r, l.in);
            assertThat(l.scaling).isEqualTo(e.getKey().endsWith("v_proj") ? 3.0 / 4 : 8.0 / r);
        }
        assertThat(shapes).hasSize(4 * a.layers().size());
        CausalLM m2 = CausalLM.load(Golden.model("llama"));
        AdapterModel back = PeftAdapter.load(m2, dir, "x");
        assertThat(back.config()).isEqualTo(a.config());
        assertThat(maxDiff(logits(m2), adapted)).isLessThan(1e-6);
    }

    @Test
    void countsFollowTheFormula() {
        // SmolLM2-135M: q_proj 576x576, v_proj 576->192, 30 layers; LoHa adds 2·r·(out + in) per module
        LycorisModel.Plan<LoHaConfig> p = LoHa.plan(ModelModules.of(Fixtures.smollm2_135m()),
                LoHaConfig.builder().targetModules("q_proj", "v_proj").build());
        assertThat(p.targets()).hasSize(60);
        assertThat(p.trainableParameterCount()).isEqualTo(30L * (2 * 8 * (576 + 576) + 2 * 8 * (192 + 576)));
        assertThat(p.trainableSummary()).isEqualTo(LoraPlan.formatTrainable(921_600, 134_515_008L + 921_600));
        assertThat(p.config().targetModules()).isEqualTo(TargetModules.names("q_proj", "v_proj"));
        LycorisModel.Plan<LoHaConfig> all = LoHa.plan(ModelModules.of(Fixtures.smollm2_135m()),
                LoHaConfig.builder().targetModules(TargetModules.allLinear()).build());
        assertThat(all.targets()).hasSize(30 * 7);
        assertThat(all.config().targetModules()).isInstanceOf(TargetModules.Names.class);
    }

    @Test
    void peftsRefusalsAreClearErrors() {
        assertThatThrownBy(() -> LoHaConfig.builder().build()).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("target_modules is required");
        assertThatThrownBy(() -> LoHaConfig.builder().targetModules("q_proj").r(0).build()).hasMessageContaining("positive");
        assertThatThrownBy(() -> LoHaConfig.builder().targetModules("q_proj").modulesToSave(List.of("")).build())
                .hasMessageContaining("loha.modules_to_save entries must be non-empty");     // lm_head itself: ModulesToSaveTest
        assertThatThrownBy(() -> LoHa.plan(ModelModules.of(Fixtures.gpt2_124m()), LoHaConfig.builder().targetModules("c_attn").build()))
                .hasMessageContaining("Conv1D");
    }
}
