package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;

import static dev.peft4j.tuner.Fixtures.IDS;
import static dev.peft4j.tuner.Fixtures.logits;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Golden;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.io.DType;
import dev.peft4j.io.SafeTensorsFile;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.ModelWriter;
import dev.peft4j.tuner.lora.LoraAdapter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** PEFT-format save/load, merge/unmerge, merge-and-unload export, and several adapters on one model. */
class PeftAdapterIoTest {
    @TempDir Path tmp;

    /** Gives every adapter tensor non-zero deterministic values, so the adapter changes the output. */
    static void perturb(LoraModel lm) {
        int k = 0;
        for (Tensor t : lm.trainableParameters()) {
            k++;
            for (int i = 0; i < t.size(); i++) t.data[i] += (float) (0.05 * Math.sin(0.37 * i + 1.3 * k));
        }
    }

    static LoraConfig richLlamaConfig() {
        return LoraConfig.builder().r(4).alpha(8).targetModules("q_proj", "v_proj", "o_proj", "down_proj")
                .rankPattern(Map.of("model.layers.1.self_attn.v_proj", 2)).alphaPattern(Map.of("o_proj", 16.0))
                .modulesToSave("lm_head").build();
    }

    static void assertClose(float[] a, float[] b, double tol, String what) {
        double max = 0;
        for (int i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
        assertThat(max).as(what).isLessThan(tol);
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2"})
    void saveThenLoadIsBitExactAndGivesTheSameLogits(String name) throws Exception {
        CausalLM m1 = CausalLM.load(Golden.model(name));
        LoraConfig cfg = name.equals("llama") ? richLlamaConfig()
                : LoraConfig.builder().r(4).alpha(16).useRslora(true).targetModules("c_attn", "c_proj").modulesToSave("lm_head").build();
        LoraModel a = Lora.apply(m1, cfg, 3);
        perturb(a);
        float[] expected = logits(m1);
        Path dir = tmp.resolve(name);
        PeftAdapter.save(a, dir, "golden/" + name, null);

        JsonNode c = new ObjectMapper().readTree(dir.resolve(PeftAdapter.CONFIG).toFile());
        List<String> keys = new ArrayList<>();
        c.fieldNames().forEachRemaining(keys::add);
        assertThat(keys).isSorted().contains("peft_type", "task_type", "r", "lora_alpha", "target_modules", "use_rslora",
                "modules_to_save", "rank_pattern", "alpha_pattern", "fan_in_fan_out", "inference_mode", "base_model_name_or_path");
        assertThat(c.get("task_type").asText()).isEqualTo("CAUSAL_LM");
        assertThat(c.get("fan_in_fan_out").asBoolean()).isEqualTo(name.equals("gpt2"));
        try (SafeTensorsFile f = SafeTensorsFile.open(dir.resolve(PeftAdapter.WEIGHTS))) {
            assertThat(f.metadata()).containsEntry("format", "pt");
            assertThat(f.contains("base_model.model.lm_head.weight")).isTrue();
        }
        assertThat(dir.resolve("README.md")).exists();

        CausalLM m2 = CausalLM.load(Golden.model(name));
        LoraModel b = PeftAdapter.loadLora(m2, dir, "default");
        List<Tensor> ta = a.trainableParameters(), tb = b.trainableParameters();
        assertThat(tb).hasSameSizeAs(ta);
        for (int i = 0; i < ta.size(); i++) assertThat(tb.get(i).data).as(ta.get(i).name).isEqualTo(ta.get(i).data);
        assertThat(logits(m2)).isEqualTo(expected);
    }

    @Test
    void mergeEqualsUnmergedAndUnmergeRestoresTheBase() {
        CausalLM m = CausalLM.load(Golden.model("llama"));
        float[] base = logits(m);
        float[] q0 = m.linears().get(0).weight().data.clone();
        PeftModel pm = new PeftModel(m);
        LoraModel a = pm.addAdapter(LoraConfig.builder().r(4).alpha(8).allLinear().build(), "a", 1);
        perturb(a);
        float[] adapted = logits(m);
        assertThat(adapted).isNotEqualTo(base);
        pm.merge("a");
        assertClose(logits(m), adapted, 1e-4, "merged vs unmerged");
        pm.unmerge("a");
        assertClose(logits(m), adapted, 1e-4, "unmerged again");
        assertClose(m.linears().get(0).weight().data, q0, 1e-6, "base weight restored after unmerge");
    }

    @Test
    void severalNamedAdaptersSwitchDisableDelete() {
        CausalLM m = CausalLM.load(Golden.model("llama"));
        float[] base = logits(m);
        PeftModel pm = new PeftModel(m);
        perturb(pm.addAdapter(LoraConfig.builder().r(4).alpha(8).targetModules("q_proj", "v_proj").build(), "one", 1));
        float[] one = logits(m);
        perturb(pm.addAdapter(LoraConfig.builder().r(2).alpha(4).targetModules("o_proj").build(), "two", 2));
        float[] two = logits(m);
        assertThat(two).isNotEqualTo(one);
        pm.setAdapter("one");
        assertThat(logits(m)).isEqualTo(one);
        pm.disableAdapters();
        assertThat(logits(m)).isEqualTo(base);
        pm.enableAdapters();
        assertThat(logits(m)).isEqualTo(one);
        pm.setAdapters(List.of("one", "two"));                      // both active: their outputs add up
        assertThat(logits(m)).isNotEqualTo(one).isNotEqualTo(two);
        pm.deleteAdapter("two");
        assertThat(pm.adapters()).containsOnlyKeys("one");
        assertThat(logits(m)).isEqualTo(one);
        assertThatThrownBy(() -> pm.setAdapter("two")).isInstanceOf(Peft4jException.class).hasMessageContaining("no adapter named 'two'");
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2"})
    void mergedExportLoadsBackWithTheSameLogits(String name) {
        CausalLM m = CausalLM.load(Golden.model(name));
        PeftModel pm = new PeftModel(m);
        LoraModel a = pm.addAdapter(name.equals("llama") ? richLlamaConfig()
                : LoraConfig.builder().r(4).alpha(8).targetModules("c_attn", "c_fc").modulesToSave("lm_head").build(), "a", 1);
        perturb(a);
        float[] adapted = logits(m);
        pm.mergeAndUnload();
        assertClose(logits(m), adapted, 1e-4, "merge-and-unload");
        Path out = tmp.resolve(name + "-merged");
        ModelWriter.export(m, Golden.model(name), out, DType.F32, 40_000);      // tiny shards: exercise the index
        assertThat(out.resolve("model.safetensors.index.json")).exists();
        CausalLM back = CausalLM.load(out);
        assertClose(logits(back), adapted, 1e-4, "exported merged model");
        assertThatThrownBy(() -> ModelWriter.export(m, Golden.model(name), out, DType.F32, Long.MAX_VALUE))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("is not empty");
    }

    @Test
    void adapterForAnotherModelIsAClearError() {
        CausalLM gpt2 = CausalLM.load(Golden.model("gpt2"));
        LoraModel a = Lora.apply(gpt2, LoraConfig.builder().r(4).targetModules("c_attn").build(), 1);
        Path dir = tmp.resolve("gpt2-adapter");
        PeftAdapter.save(a, dir, "gpt2", null);
        CausalLM llama = CausalLM.load(Golden.model("llama"));
        assertThatThrownBy(() -> PeftAdapter.load(llama, dir, "x")).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("c_attn");
        assertThat(logits(llama)).isEqualTo(logits(CausalLM.load(Golden.model("llama"))));   // left untouched

        CausalLM llama2 = CausalLM.load(Golden.model("llama"));
        LoraModel r8 = Lora.apply(llama2, LoraConfig.builder().r(8).targetModules("q_proj").build(), 1);
        Path d8 = tmp.resolve("r8");
        PeftAdapter.save(r8, d8, "llama", null);
        CausalLM llama3 = CausalLM.load(Golden.model("mistral"));   // other shapes, same module names
        assertThatThrownBy(() -> PeftAdapter.load(llama3, d8, "x")).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("q_proj.lora_").hasMessageContaining("shape");
    }

    @Test
    void combineCatEqualsWeightedSumOfDeltas() {
        CausalLM m = CausalLM.load(Golden.model("llama"));
        PeftModel pm = new PeftModel(m);
        LoraConfig c = LoraConfig.builder().r(4).alpha(8).targetModules("q_proj", "v_proj").build();
        LoraModel a = pm.addAdapter(c, "a", 1), b = pm.addAdapter(c.toBuilder().r(2).alpha(8).build(), "b", 2);
        perturb(a);
        perturb(b);
        LoraModel cat = pm.addWeightedAdapter(List.of("a", "b"), new double[] {0.7, -0.4}, "cat", AdapterMath.Type.CAT, 0);
        assertThat(cat.config().r()).isEqualTo(6);
        for (String module : a.adapters().keySet()) {
            float[] want = delta(a.adapters().get(module), 0.7), wb = delta(b.adapters().get(module), -0.4);
            float[] got = delta(cat.adapters().get(module), 1.0);
            double max = 0, ref = 0;
            for (int i = 0; i < want.length; i++) {
                max = Math.max(max, Math.abs(got[i] - (want[i] + wb[i])));
                ref = Math.max(ref, Math.abs(want[i] + wb[i]));
            }
            assertThat(max / ref).as(module).isLessThan(1e-5);
        }
    }

    static float[] delta(LoraAdapter ad, double w) {
        int out = ad.B.dim(0), in = ad.A.dim(1);
        float[] d = new float[out * in];
        for (int o = 0; o < out; o++)
            for (int i = 0; i < in; i++) {
                double s = 0;
                for (int k = 0; k < ad.r; k++) s += (double) ad.B.data[o * ad.r + k] * ad.A.data[k * in + i];
                d[o * in + i] = (float) (w * ad.scaling * s);
            }
        return d;
    }
}
