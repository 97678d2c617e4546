package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;
import dev.peft4j.tuner.lora.LoraPlan;

import static dev.peft4j.tuner.Fixtures.IDS;
import static dev.peft4j.tuner.Fixtures.logits;
import static dev.peft4j.tuner.Fixtures.maxDiff;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Golden;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.io.SafeTensorsFile;
import dev.peft4j.io.TensorInfo;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tuner.lora.DoraAdapter;
import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.lora.LoraAdapter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** DoRA (use_dora on a LoRA config) through the shared tuner architecture: PEFT's invariants, file format and counts. */
class DoraTest {
    @TempDir Path tmp;

    static LoraConfig dora(String... targets) {
        LoraConfig.Builder b = LoraConfig.builder().r(4).alpha(8).useDora(true);
        if (targets.length > 0) b.targetModules(targets);
        return b.build();
    }

    /** B nudged off zero and the magnitudes off the norms, so that both halves of DoRA act. */
    static void perturb(AdapterModel am) {
        int k = 0;
        for (Tensor t : am.trainableParameters()) {
            k++;
            for (int i = 0; i < t.size(); i++) t.data[i] += (float) (0.05 * Math.sin(0.7 * i + k)) * (t.shape.length == 1 ? 10 : 1);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2"})
    void identityAtInitThenMergedEqualsUnmergedAndUnmergeRestores(String name) {
        CausalLM m = CausalLM.load(Golden.model(name));
        float[] base = logits(m);
        PeftModel pm = new PeftModel(m);
        LoraModel a = (LoraModel) pm.addAdapter(dora(), "a", 1);
        assertThat(a.adapters().values()).allMatch(x -> x instanceof DoraAdapter);
        for (Map.Entry<String, LoraAdapter> e : a.adapters().entrySet()) {                 // m = ‖W‖ per output row (B = 0)
            Linear lin = m.linears().stream().filter(l -> l.name.equals(e.getKey())).findFirst().orElseThrow();
            float[] w = lin.weight().floats(), mag = ((DoraAdapter) e.getValue()).magnitude.data;
            assertThat(mag).hasSize(lin.out);
            for (int o = 0; o < lin.out; o += 7) {
                double ss = 0;
                for (int i = 0; i < lin.in; i++) ss += (double) w[o * lin.in + i] * w[o * lin.in + i];
                assertThat((double) mag[o]).isCloseTo(Math.sqrt(ss), org.assertj.core.data.Offset.offset(1e-5 * Math.sqrt(ss)));
            }
        }
        assertThat(maxDiff(logits(m), base)).as("B = 0 and m = ‖W‖: the base model exactly").isZero();
        perturb(a);
        float[] adapted = logits(m);
        assertThat(maxDiff(adapted, base)).as("the adapter acts").isGreaterThan(1e-3);
        pm.merge("a");
        assertThat(maxDiff(logits(m), adapted)).as("merged == unmerged").isLessThan(1e-4);
        pm.unmerge("a");
        assertThat(maxDiff(logits(m), adapted)).as("unmerged again").isLessThan(1e-4);
        pm.disableAdapters();
        assertThat(maxDiff(logits(m), base)).as("unmerge restores the base").isLessThan(1e-4);
    }

    @Test
    void magnitudeOnlyMovesTheOutputByItsRatio() {
        // with B = 0, y = b + (m / ‖W‖) ⊙ x·Wᵀ: doubling m doubles x·Wᵀ
        CausalLM m = CausalLM.load(Golden.model("llama"));
        LoraModel a = Lora.apply(m, dora("v_proj"), 1);
        Linear lin = m.linears().stream().filter(l -> l.name.equals(a.adaptedModules().getFirst())).findFirst().orElseThrow();
        Tensor x = Tensor.frozen("x", rand(2 * lin.in), 2, lin.in);
        float[] y0 = lin.forward(null, x).data;
        DoraAdapter d = (DoraAdapter) a.adapters().get(lin.name);
        for (int i = 0; i < d.magnitude.size(); i++) d.magnitude.data[i] *= 2f;
        float[] y1 = lin.forward(null, x).data;
        float[] b = lin.bias() == null ? new float[lin.out] : lin.bias().data;
        for (int i = 0; i < y0.length; i++) {
            float want = 2f * (y0[i] - b[i % lin.out]) + b[i % lin.out];
            assertThat((double) y1[i]).isCloseTo(want, org.assertj.core.data.Offset.offset(1e-5 * (1 + Math.abs(want))));
        }
    }

    static float[] rand(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) Math.sin(1.7 * i + 0.3);
        return v;
    }

    @Test
    void countsOnGpt2AndSmolLm2ShapesAddOneMagnitudePerOutput() {
        LoraPlan p = LoraPlan.of(Fixtures.gpt2_124m(), LoraConfig.builder().r(8).alpha(16).useDora(true).build());  // c_attn: out 2304
        assertThat(p.trainableParameterCount()).isEqualTo(294_912L + 12L * 2304);
        assertThat(p.trainableSummary()).isEqualTo("trainable params: 322,560 || all params: 124,762,368 || trainable%: 0.2585");
        LoraPlan s = LoraPlan.of(Fixtures.smollm2_135m(), LoraConfig.builder().r(16).alpha(32).useDora(true)
                .targetModules("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj").build());
        assertThat(s.trainableParameterCount()).isEqualTo(4_884_480L + 30L * (576 + 192 + 192 + 576 + 1536 + 1536 + 576));
        assertThat(s.trainableSummary()).isEqualTo("trainable params: 5,040,000 || all params: 139,555,008 || trainable%: 3.6115");
        // and the model's own tensors agree with the plan
        CausalLM m = CausalLM.load(Golden.model("gpt2"));
        LoraModel a = Lora.apply(m, dora(), 1);
        assertThat(a.trainableParameterCount()).isEqualTo(a.plan().trainableParameterCount());
        assertThat(a.trainableParameters()).hasSize(3 * a.adapters().size());
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2"})
    void savedInPeftsFormatAndLoadedBack(String name) throws Exception {
        CausalLM m = CausalLM.load(Golden.model(name));
        LoraModel a = Lora.apply(m, dora(), 1);
        perturb(a);
        float[] adapted = logits(m);
        Path dir = tmp.resolve(name);
        PeftAdapter.save(a, dir, "base", null);

        JsonNode cfg = new ObjectMapper().readTree(dir.resolve(PeftAdapter.CONFIG).toFile());
        List<String> keys = new ArrayList<>();
        cfg.fieldNames().forEachRemaining(keys::add);
        // PEFT 0.14's LoraConfig keys for a DoRA adapter (../shared/realpeft/FORMATS.txt "dora"), sorted
        assertThat(keys).containsExactly("alpha_pattern", "auto_mapping", "base_model_name_or_path", "bias", "eva_config",
                "exclude_modules", "fan_in_fan_out", "inference_mode", "init_lora_weights", "layer_replication", "layers_pattern",
                "layers_to_transform", "loftq_config", "lora_alpha", "lora_bias", "lora_dropout", "megatron_config", "megatron_core",
                "modules_to_save", "peft_type", "r", "rank_pattern", "revision", "target_modules", "task_type", "use_dora", "use_rslora");
        assertThat(cfg.get("peft_type").asText()).isEqualTo("LORA");
        assertThat(cfg.get("use_dora").asBoolean()).isTrue();
        int magnitudes = 0;
        try (SafeTensorsFile f = SafeTensorsFile.open(dir.resolve(PeftAdapter.WEIGHTS))) {
            for (TensorInfo t : f.tensors()) {
                assertThat(t.name()).startsWith("base_model.model.");
                if (!t.name().endsWith(".lora_magnitude_vector")) continue;
                magnitudes++;
                String module = t.name().substring("base_model.model.".length(), t.name().length() - ".lora_magnitude_vector".length());
                assertThat(t.shape()).as(t.name()).containsExactly((long) a.adapters().get(module).B.dim(0));   // [out]
            }
            assertThat(f.tensors()).hasSize(3 * a.adapters().size());
        }
        assertThat(magnitudes).isEqualTo(a.adapters().size());
        CausalLM m2 = CausalLM.load(Golden.model(name));
        AdapterModel back = PeftAdapter.load(m2, dir, "x");
        assertThat(((LoraModel) back).config().useDora()).isTrue();
        assertThat(back.layers().values()).allMatch(x -> x instanceof DoraAdapter);
        assertThat(maxDiff(logits(m2), adapted)).isLessThan(1e-6);
        DoraAdapter d0 = (DoraAdapter) a.adapters().values().iterator().next(), d1 = (DoraAdapter) ((LoraModel) back).adapters().values().iterator().next();
        assertThat(d1.magnitude.data).containsExactly(d0.magnitude.data);
    }
}
