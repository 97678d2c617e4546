package dev.peft4j.tuner;

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
import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.vera.Vera;
import dev.peft4j.tuner.vera.VeraConfig;
import dev.peft4j.tuner.vera.VeraLayer;
import dev.peft4j.tuner.vera.VeraModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** VeRA through the shared tuner architecture: shared sliced projections, PEFT's invariants, file format and counts. */
class VeraTest {
    @TempDir Path tmp;

    /** Non-trivial λb (around 0, it starts at zero) and λd (around 1). */
    static void perturb(AdapterModel am) {
        for (VeraLayer l : ((VeraModel) am).layers().values()) {
            for (int i = 0; i < l.lambdaB.size(); i++) l.lambdaB.data[i] = (float) (0.5 * Math.sin(0.7 * i + 1));
            for (int i = 0; i < l.lambdaD.size(); i++) l.lambdaD.data[i] = (float) (1 + 0.3 * Math.cos(0.9 * i));
        }
    }

    static VeraConfig all(int r) { return VeraConfig.builder().r(r).targetModules(TargetModules.allLinear()).build(); }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2"})
    void identityAtInitThenMergedEqualsUnmergedAndUnmergeRestores(String name) {
        CausalLM m = CausalLM.load(Golden.model(name));
        float[] base = logits(m);
        PeftModel pm = new PeftModel(m);
        VeraModel a = (VeraModel) pm.addAdapter(all(8), "a", 1);
        for (VeraLayer l : a.layers().values()) {
            assertThat(l.lambdaB.data).containsOnly(0f);
            assertThat(l.lambdaD.data).containsOnly(0.1f);
        }
        assertThat(maxDiff(logits(m), base)).as("lambda_b = 0 changes nothing").isZero();
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
    void oneSharedFrozenPairSizedForTheLargestTargetAndSlicedPerLayer() {
        CausalLM m = CausalLM.load(Golden.model("llama"));
        VeraModel a = Vera.apply(m, all(4), "default", 1);
        int maxIn = 0, maxOut = 0;
        for (Linear lin : m.linears())
            if (a.layers().containsKey(lin.name)) { maxIn = Math.max(maxIn, lin.in); maxOut = Math.max(maxOut, lin.out); }
        assertThat(a.veraA().shape).containsExactly(4, maxIn);
        assertThat(a.veraB().shape).containsExactly(maxOut, 4);
        assertThat(a.veraA().requiresGrad || a.veraB().requiresGrad).as("projections are frozen").isFalse();
        for (VeraLayer l : a.layers().values()) {
            assertThat(l.veraA).isSameAs(a.veraA());                 // one pair, shared
            assertThat(l.veraB).isSameAs(a.veraB());
        }
        assertThat(a.trainableParameters()).doesNotContain(a.veraA(), a.veraB());
        assertThat(a.sharedStateDict()).containsOnlyKeys("base_model.vera_A", "base_model.vera_B");
        // kaiming uniform (PEFT's _kaiming_init): U(-√(6/fan_in), √(6/fan_in)), fan_in = the second dimension
        for (Tensor t : List.of(a.veraA(), a.veraB())) {
            double bound = Math.sqrt(6.0 / t.shape[1]), max = 0, mean = 0;
            for (float v : t.data) { max = Math.max(max, Math.abs(v)); mean += v; }
            assertThat(max).as(t.name).isLessThanOrEqualTo(bound).isGreaterThan(0.8 * bound);
            assertThat(Math.abs(mean / t.size())).as(t.name + " mean").isLessThan(0.2 * bound);
        }
        // the projections come from projection_prng_key, not from the training seed
        VeraModel same = Vera.apply(CausalLM.load(Golden.model("llama")), all(4), "default", 99);
        assertThat(same.veraA().data).containsExactly(a.veraA().data);
        assertThat(same.veraB().data).containsExactly(a.veraB().data);
        VeraModel other = Vera.apply(CausalLM.load(Golden.model("llama")),
                all(4).toBuilder().projectionPrngKey(7).build(), "default", 1);
        assertThat(other.veraA().data).isNotEqualTo(a.veraA().data);
        // delta weight of a smaller layer uses vera_A's first `in` columns and vera_B's first `out` rows
        Linear lin = m.linears().stream().filter(l -> a.layers().containsKey(l.name) && l.in < a.veraA().dim(1)).findFirst().orElseThrow();
        VeraLayer l = a.layers().get(lin.name);
        perturb(a);
        float[] delta = l.deltaWeight(lin.in, lin.out);
        int r = 4, wIn = a.veraA().dim(1);
        for (int o = 0; o < lin.out; o += 3)
            for (int i = 0; i < lin.in; i += 5) {
                double s = 0;
                for (int k = 0; k < r; k++) s += a.veraB().data[o * r + k] * l.lambdaD.data[k] * a.veraA().data[k * wIn + i];
                assertThat((double) delta[o * lin.in + i]).isCloseTo(l.lambdaB.data[o] * s, org.assertj.core.data.Offset.offset(1e-6));
            }
    }

    /** PEFT 0.14 regenerates vera_A / vera_B with torch on load, so peft4j's must be torch's, bit for bit. */
    @Test
    void projectionsAreTorchsBitForBit() throws Exception {
        JsonNode g = new ObjectMapper().readTree(Golden.resource("/golden/vera/torch_projections.json").toFile());
        for (JsonNode c : g.get("cases")) {
            float[][] ab = Vera.projections(c.get("key").asLong(), c.get("r").asInt(), c.get("max_in").asInt(), c.get("max_out").asInt());
            String what = "key " + c.get("key") + " r " + c.get("r");
            assertThat(bits(ab[0])).as("vera_A, " + what).containsExactly(longs(c.get("vera_A_bits")));
            assertThat(bits(ab[1])).as("vera_B, " + what).containsExactly(longs(c.get("vera_B_bits")));
        }
    }

    static long[] bits(float[] x) {
        long[] b = new long[x.length];
        for (int i = 0; i < x.length; i++) b[i] = Float.floatToRawIntBits(x[i]) & 0xffffffffL;
        return b;
    }

    static long[] longs(JsonNode a) {
        long[] b = new long[a.size()];
        for (int i = 0; i < b.length; i++) b[i] = a.get(i).asLong();
        return b;
    }

    @Test
    void countsFollowTheFormulaOnRealModelShapes() {
        // SmolLM2-135M, PEFT's default VeRA targets q_proj (576 -> 576), v_proj (576 -> 192), 30 layers, r 256
        Vera.Plan p = Vera.plan(ModelModules.of(Fixtures.smollm2_135m()), VeraConfig.builder().build());
        assertThat(p.targets()).hasSize(60);
        assertThat(p.maxIn()).isEqualTo(576);
        assertThat(p.maxOut()).isEqualTo(576);
        assertThat(p.trainableParameterCount()).isEqualTo(30L * ((256 + 576) + (256 + 192)));
        assertThat(p.trainableSummary()).isEqualTo(LoraPlan.formatTrainable(38_400, 134_515_008L + 38_400));
        // all-linear on SmolLM2: the largest in is down_proj's 1536, the largest out gate/up_proj's 1536
        Vera.Plan pa = Vera.plan(ModelModules.of(Fixtures.smollm2_135m()), all(256));
        assertThat(pa.maxIn()).isEqualTo(1536);
        assertThat(pa.maxOut()).isEqualTo(1536);
        assertThat(pa.trainableParameterCount()).isEqualTo(30L * (7 * 256 + 576 + 192 + 192 + 576 + 1536 + 1536 + 576));
        // GPT-2-124M: c_attn (768 -> 2304), fan_in_fan_out corrected to True
        Vera.Plan g = Vera.plan(ModelModules.of(Fixtures.gpt2_124m()), VeraConfig.builder().build());
        assertThat(g.trainableParameterCount()).isEqualTo(12L * (256 + 2304));
        assertThat(g.trainableSummary()).isEqualTo("trainable params: 30,720 || all params: 124,470,528 || trainable%: 0.0247");
        assertThat(g.maxIn()).isEqualTo(768);
        assertThat(g.maxOut()).isEqualTo(2304);
        assertThat(g.config().fanInFanOut()).isTrue();
        assertThat(g.warnings()).anyMatch(w -> w.contains("Setting fan_in_fan_out to True"));
        // layers_to_transform narrows the targets (and so the projection size)
        Vera.Plan one = Vera.plan(ModelModules.of(Fixtures.smollm2_135m()),
                VeraConfig.builder().targetModules("v_proj").layersToTransform(List.of(0, 3)).build());
        assertThat(one.targets()).extracting(Vera.Target::module).containsExactly("model.layers.0.self_attn.v_proj", "model.layers.3.self_attn.v_proj");
        assertThat(one.maxOut()).isEqualTo(192);
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2"})
    void savedInPeftsFormatAndLoadedBack(String name) throws Exception {
        CausalLM m = CausalLM.load(Golden.model(name));
        VeraModel a = Vera.apply(m, VeraConfig.builder().r(8).build(), "default", 1);
        perturb(a);
        float[] adapted = logits(m);
        Path dir = tmp.resolve(name);
        PeftAdapter.save(a, dir, "base", null);

        JsonNode cfg = new ObjectMapper().readTree(dir.resolve(PeftAdapter.CONFIG).toFile());
        List<String> keys = new ArrayList<>();
        cfg.fieldNames().forEachRemaining(keys::add);
        // PEFT 0.14's VeraConfig.to_dict keys (../shared/realpeft/FORMATS.txt), in json.dumps(sort_keys=True) order
        assertThat(keys).containsExactly("auto_mapping", "base_model_name_or_path", "bias", "d_initial", "fan_in_fan_out",
                "inference_mode", "init_weights", "layers_pattern", "layers_to_transform", "modules_to_save", "peft_type",
                "projection_prng_key", "r", "revision", "save_projection", "target_modules", "task_type", "vera_dropout");
        assertThat(cfg.get("peft_type").asText()).isEqualTo("VERA");
        assertThat(cfg.get("save_projection").asBoolean()).isTrue();
        assertThat(cfg.get("projection_prng_key").asInt()).isZero();
        assertThat(cfg.get("d_initial").asDouble()).isEqualTo(0.1);
        assertThat(cfg.get("r").asInt()).isEqualTo(8);
        assertThat(cfg.get("bias").asText()).isEqualTo("none");
        assertThat(cfg.get("vera_dropout").asDouble()).isZero();
        try (SafeTensorsFile f = SafeTensorsFile.open(dir.resolve(PeftAdapter.WEIGHTS))) {
            assertThat(f.metadata()).containsEntry("format", "pt");
            Map<String, long[]> shapes = new TreeMap<>();
            for (TensorInfo t : f.tensors()) shapes.put(t.name(), t.shape());
            assertThat(shapes.get("base_model.vera_A")).containsExactly(8, a.veraA().dim(1));
            assertThat(shapes.get("base_model.vera_B")).containsExactly(a.veraB().dim(0), 8);
            assertThat(shapes).hasSize(2 * a.layers().size() + 2);
            for (Linear lin : m.linears()) {
                if (!a.layers().containsKey(lin.name)) continue;
                assertThat(shapes.get("base_model.model." + lin.name + ".vera_lambda_b")).containsExactly(lin.out);
                assertThat(shapes.get("base_model.model." + lin.name + ".vera_lambda_d")).containsExactly(8);
            }
        }
        CausalLM m2 = CausalLM.load(Golden.model(name));
        AdapterModel back = PeftAdapter.load(m2, dir, "x");
        assertThat(back).isInstanceOf(VeraModel.class);
        assertThat(maxDiff(logits(m2), adapted)).isLessThan(1e-6);
        VeraModel v = (VeraModel) back;
        assertThat(v.veraA().data).containsExactly(a.veraA().data);
        assertThat(v.veraB().data).containsExactly(a.veraB().data);
        assertThat(v.trainableParameters()).hasSize(2 * a.layers().size());

        // the projections are loaded from the file, whatever projection_prng_key says: change the key, same logits
        ObjectMapper om = new ObjectMapper();
        var node = (com.fasterxml.jackson.databind.node.ObjectNode) om.readTree(dir.resolve(PeftAdapter.CONFIG).toFile());
        node.put("projection_prng_key", 12345);
        om.writeValue(dir.resolve(PeftAdapter.CONFIG).toFile(), node);
        CausalLM m3 = CausalLM.load(Golden.model(name));
        PeftAdapter.load(m3, dir, "y");
        assertThat(maxDiff(logits(m3), adapted)).isLessThan(1e-6);
    }

    @Test
    void anAdapterSavedWithoutItsProjectionIsRefusedWithHowToFixIt() throws Exception {
        Path dir = tmp.resolve("noproj");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(PeftAdapter.CONFIG), "{\"peft_type\": \"VERA\", \"r\": 8, \"save_projection\": false, "
                + "\"projection_prng_key\": 0, \"target_modules\": [\"q_proj\"]}");
        Files.write(dir.resolve(PeftAdapter.WEIGHTS), new byte[0]);
        CausalLM m = CausalLM.load(Golden.model("llama"));
        float[] base = logits(m);
        assertThatThrownBy(() -> PeftAdapter.load(m, dir, "default")).isInstanceOf(Peft4jException.class)
                .hasMessageContaining(dir.resolve(PeftAdapter.CONFIG).toString())
                .hasMessageContaining("save_projection false")
                .hasMessageContaining("torch.Generator")
                .hasMessageContaining("save_projection=True");
        assertThat(maxDiff(logits(m), base)).isZero();
        assertThatThrownBy(() -> VeraConfig.builder().saveProjection(false).build()).hasMessageContaining("torch's RNG");
    }

    @Test
    void unsupportedOptionsAreRefusedByName() {
        assertThatThrownBy(() -> VeraConfig.builder().modulesToSave(List.of("")).build())
                .hasMessageContaining("vera.modules_to_save entries must be non-empty");     // lm_head itself: ModulesToSaveTest
        assertThatThrownBy(() -> VeraConfig.builder().bias("vera_only").build()).hasMessageContaining("bias").hasMessageContaining("none");
        assertThatThrownBy(() -> VeraConfig.builder().r(0).build()).hasMessageContaining("positive");
        assertThatThrownBy(() -> VeraConfig.builder().layersPattern(List.of("layers")).build()).hasMessageContaining("layers_to_transform");
        assertThatThrownBy(() -> VeraConfig.builder().veraDropout(1f).build()).hasMessageContaining("vera_dropout");
    }

    @Test
    void twoVeraAdaptersOwnTheirProjectionsAndAddUpWhenActiveTogether() {
        CausalLM m = CausalLM.load(Golden.model("llama"));
        float[] base = logits(m);
        PeftModel pm = new PeftModel(m);
        VeraModel a = (VeraModel) pm.addAdapter(VeraConfig.builder().r(4).build(), "a", 1);
        perturb(a);
        float[] onlyA = logits(m);
        VeraModel b = (VeraModel) pm.addAdapter(VeraConfig.builder().r(6).projectionPrngKey(5).build(), "b", 2);
        perturb(b);
        assertThat(b.veraA()).isNotSameAs(a.veraA());
        assertThat(b.veraA().shape).containsExactly(6, a.veraA().dim(1));
        pm.setAdapters(List.of("b"));
        float[] onlyB = logits(m);
        pm.setAdapters(List.of("a", "b"));
        float[] both = logits(m);
        assertThat(maxDiff(onlyA, base)).isGreaterThan(1e-3);
        assertThat(maxDiff(both, onlyA)).isGreaterThan(1e-3);
        assertThat(maxDiff(both, onlyB)).isGreaterThan(1e-3);
        // the sum of the two deltas: merging both gives the same logits
        pm.merge("a");
        pm.merge("b");
        assertThat(maxDiff(logits(m), both)).isLessThan(1e-4);
        assertThat(Arrays.equals(a.veraA().data, b.veraA().data)).isFalse();
    }
}
