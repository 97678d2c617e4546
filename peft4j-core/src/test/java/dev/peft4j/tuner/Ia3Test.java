package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraPlan;

import static dev.peft4j.tuner.Fixtures.IDS;
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
import dev.peft4j.tuner.ia3.Ia3;
import dev.peft4j.tuner.ia3.Ia3Config;
import dev.peft4j.tuner.ia3.Ia3Layer;
import dev.peft4j.tuner.ia3.Ia3Model;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** (IA)³ through the shared tuner architecture: PEFT's invariants, file format and counts. */
class Ia3Test {
    @TempDir Path tmp;

    static void perturb(AdapterModel am) {
        int k = 0;
        for (Tensor t : am.trainableParameters()) {
            k++;
            for (int i = 0; i < t.size(); i++) t.data[i] = (float) (1 + 0.3 * Math.sin(0.7 * i + k));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2"})
    void identityAtInitThenMergedEqualsUnmergedAndUnmergeRestores(String name) {
        CausalLM m = CausalLM.load(Golden.model(name));
        float[] base = logits(m);
        PeftModel pm = new PeftModel(m);
        Ia3Model a = (Ia3Model) pm.addAdapter(Ia3Config.builder().build(), "a", 1);
        assertThat(maxDiff(logits(m), base)).as("vectors of ones change nothing").isZero();
        perturb(a);
        float[] adapted = logits(m);
        assertThat(maxDiff(adapted, base)).as("the adapter acts").isGreaterThan(1e-3);
        pm.merge("a");
        assertThat(maxDiff(logits(m), adapted)).as("merged == unmerged").isLessThan(1e-4);
        pm.unmerge("a");
        pm.disableAdapters();
        assertThat(maxDiff(logits(m), base)).as("unmerge restores the base (PEFT: up to 1e-8 / l)").isLessThan(1e-4);
    }

    @Test
    void defaultTargetsAreFeedforwardOnDownProjAndCountsFollowTheFormula() {
        // SmolLM2-135M: k_proj, v_proj (out 192) scale outputs, down_proj (in 1536) its input; 30 layers
        Ia3.Plan p = Ia3.plan(ModelModules.of(Fixtures.smollm2_135m()), Ia3Config.builder().build());
        assertThat(p.targets()).hasSize(90);
        for (Ia3.Target t : p.targets()) assertThat(t.feedforward()).isEqualTo(t.module().endsWith("down_proj"));
        assertThat(p.trainableParameterCount()).isEqualTo(30L * (192 + 192 + 1536));
        assertThat(p.trainableSummary()).isEqualTo(LoraPlan.formatTrainable(57_600, 134_515_008L + 57_600));
        // GPT-2-124M: c_attn (out 2304) and mlp.c_proj (feed-forward, in 3072), fan_in_fan_out corrected to True
        Ia3.Plan g = Ia3.plan(ModelModules.of(Fixtures.gpt2_124m()), Ia3Config.builder().build());
        assertThat(g.trainableParameterCount()).isEqualTo(12L * (2304 + 3072));
        assertThat(g.trainableSummary()).isEqualTo("trainable params: 64,512 || all params: 124,504,320 || trainable%: 0.0518");
        assertThat(g.config().fanInFanOut()).isTrue();
        assertThat(g.warnings()).anyMatch(w -> w.contains("Setting fan_in_fan_out to True"));
    }

    @Test
    void feedforwardMustBeASubsetOfTargetsAsInPeft() {
        assertThatThrownBy(() -> Ia3Config.builder().targetModules("q_proj").feedforwardModules("down_proj").build())
                .isInstanceOf(Peft4jException.class).hasMessageContaining("subset of target_modules");
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2"})
    void savedInPeftsFormatAndLoadedBack(String name) throws Exception {
        CausalLM m = CausalLM.load(Golden.model(name));
        Ia3Model a = Ia3.apply(m, Ia3Config.builder().build(), "default", 1);
        perturb(a);
        float[] adapted = logits(m);
        Path dir = tmp.resolve(name);
        PeftAdapter.save(a, dir, "base", null);

        JsonNode cfg = new ObjectMapper().readTree(dir.resolve(PeftAdapter.CONFIG).toFile());
        List<String> keys = new ArrayList<>();
        cfg.fieldNames().forEachRemaining(keys::add);
        // PEFT 0.14's IA3Config.to_dict keys (../shared/realpeft/FORMATS.txt), in json.dumps(sort_keys=True) order
        assertThat(keys).containsExactly("auto_mapping", "base_model_name_or_path", "exclude_modules", "fan_in_fan_out",
                "feedforward_modules", "inference_mode", "init_ia3_weights", "modules_to_save", "peft_type", "revision",
                "target_modules", "task_type");
        assertThat(cfg.get("peft_type").asText()).isEqualTo("IA3");
        try (SafeTensorsFile f = SafeTensorsFile.open(dir.resolve(PeftAdapter.WEIGHTS))) {
            assertThat(f.metadata()).containsEntry("format", "pt");
            TreeSet<String> names = new TreeSet<>();
            for (TensorInfo t : f.tensors()) {
                names.add(t.name());
                assertThat(t.name()).startsWith("base_model.model.").endsWith(".ia3_l");
                boolean ff = t.name().contains(name.equals("llama") ? "down_proj" : "mlp.c_proj");
                assertThat(t.shape()[ff ? 0 : 1]).as(t.name()).isEqualTo(1);        // (1, in) feed-forward, (out, 1) otherwise
            }
            assertThat(names).hasSize(a.layers().size());
        }
        CausalLM m2 = CausalLM.load(Golden.model(name));
        AdapterModel back = PeftAdapter.load(m2, dir, "x");
        assertThat(back).isInstanceOf(Ia3Model.class);
        assertThat(maxDiff(logits(m2), adapted)).isLessThan(1e-6);
        assertThat(((Ia3Layer) back.layers().values().iterator().next()).l.data)
                .containsExactly(a.layers().values().iterator().next().l.data);
    }

    @Test
    void unknownPeftTypeListsTheSupportedOnes() throws Exception {
        Path dir = tmp.resolve("odd");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(PeftAdapter.CONFIG), "{\"peft_type\": \"BONE\", \"r\": 4}");
        assertThatThrownBy(() -> PeftAdapter.readConfig(dir)).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("BONE").hasMessageContaining("LORA").hasMessageContaining("IA3")
                .hasMessageContaining(dir.resolve(PeftAdapter.CONFIG).toString());
    }

    @Test
    void loraAndIa3CannotBeActiveTogetherOnOneLayer() {
        CausalLM m = CausalLM.load(Golden.model("llama"));
        PeftModel pm = new PeftModel(m);
        pm.addAdapter(LoraConfig.builder().r(2).targetModules("v_proj").build(), "lora", 1);
        pm.addAdapter(Ia3Config.builder().build(), "ia3", 1);
        assertThatThrownBy(() -> pm.setAdapters(List.of("lora", "ia3"))).hasMessageContaining("cannot be active together");
        assertThatThrownBy(() -> pm.addWeightedAdapter(List.of("ia3"), new double[] {1}, "mix", AdapterMath.Type.CAT, 0))
                .hasMessageContaining("LoRA adapters only");
    }
}
