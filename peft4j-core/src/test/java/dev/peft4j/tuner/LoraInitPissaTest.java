package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;
import dev.peft4j.tuner.lora.InitLoraWeights;
import dev.peft4j.tuner.lora.LoraInit;
import dev.peft4j.tuner.lora.LoraConversion;

import static dev.peft4j.tuner.Fixtures.IDS;
import static dev.peft4j.tuner.Fixtures.logits;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.model.CausalLM;
import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.lora.LoraAdapter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * PiSSA / pissa_niter_K / OLoRA (PEFT 0.14 pissa_init, olora_init) and the conversion to a plain LoRA
 * relative to the original base (save_pretrained's path_initial_model_for_weight_conversion).
 * Factors against the float64 torch reference scripts/golden/pissa_olora.py (golden/pissa_olora/cases.json).
 */
class LoraInitPissaTest {

    static double relFrob(float[] x, double[] ref) {
        double num = 0, den = 0;
        for (int i = 0; i < x.length; i++) { num += (x[i] - ref[i]) * (x[i] - ref[i]); den += ref[i] * ref[i]; }
        return Math.sqrt(num / den);
    }

    static double maxAbs(float[] x, float[] y) {
        double m = 0;
        for (int i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
        return m;
    }

    static double[] doubles(JsonNode n) {
        double[] d = new double[n.size()];
        for (int i = 0; i < d.length; i++) d[i] = n.get(i).asDouble();
        return d;
    }

    static float[] product(float[] b, float[] a, int m, int r, int n) {
        float[] out = new float[m * n];
        for (int i = 0; i < m; i++) for (int c = 0; c < r; c++) for (int j = 0; j < n; j++) out[i * n + j] += b[i * r + c] * a[c * n + j];
        return out;
    }

    @Test
    void factorsMatchTheFloat64TorchReference() throws Exception {
        JsonNode root = new ObjectMapper().readTree(getClass().getResourceAsStream("/golden/pissa_olora/cases.json"));
        for (JsonNode c : root.get("cases")) {
            int m = c.get("out").asInt(), n = c.get("in").asInt(), r = c.get("r").asInt();
            double s = c.get("alpha").asDouble() / r;
            double[] w = doubles(c.get("w"));
            for (String method : new String[] {"pissa", "olora"}) {
                JsonNode g = c.get(method);
                InitLoraWeights init = method.equals("pissa") ? InitLoraWeights.PISSA : InitLoraWeights.OLORA;
                LoraInit.Factors f = LoraInit.factors(w, m, n, r, s, init, new SplittableRandom(1));
                String what = c.get("name").asText() + " " + method;
                assertThat(relFrob(product(f.b(), f.a(), m, r, n), doubles(g.get("ba")))).as(what + " B.A").isLessThan(1e-6);
                double[] ga = doubles(g.get("a")), gb = doubles(g.get("b"));
                float[] a = f.a().clone(), b = f.b().clone();
                for (int k = 0; k < r; k++) {                      // factors equal up to one sign per component
                    double dot = 0;
                    for (int j = 0; j < n; j++) dot += a[k * n + j] * ga[k * n + j];
                    if (dot < 0) {
                        for (int j = 0; j < n; j++) a[k * n + j] = -a[k * n + j];
                        for (int i = 0; i < m; i++) b[i * r + k] = -b[i * r + k];
                    }
                }
                assertThat(relFrob(a, ga)).as(what + " A").isLessThan(1e-6);
                assertThat(relFrob(b, gb)).as(what + " B").isLessThan(1e-6);
                float[] res = new float[m * n], ba = product(f.b(), f.a(), m, r, n);
                for (int i = 0; i < res.length; i++) res[i] = (float) (w[i] - s * ba[i]);
                assertThat(relFrob(res, doubles(g.get("residual")))).as(what + " residual").isLessThan(1e-5);
            }
        }
    }

    @Test
    void fastSvdFindsTheTopSubspace() throws Exception {
        JsonNode root = new ObjectMapper().readTree(getClass().getResourceAsStream("/golden/pissa_olora/cases.json"));
        for (JsonNode c : root.get("cases")) {
            int m = c.get("out").asInt(), n = c.get("in").asInt(), r = c.get("r").asInt();
            double s = c.get("alpha").asDouble() / r;
            double[] w = doubles(c.get("w"));
            LoraInit.Factors f = LoraInit.factors(w, m, n, r, s, InitLoraWeights.pissaNiter(16), new SplittableRandom(3));
            double d = relFrob(product(f.b(), f.a(), m, r, n), doubles(c.get("pissa").get("ba")));
            System.out.printf("pissa_niter_16 vs full SVD, %s: B.A relative %.2e%n", c.get("name").asText(), d);
            assertThat(d).as(c.get("name").asText()).isLessThan(1e-4);
        }
    }

    static Map<String, float[]> weights(CausalLM m) {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (Linear l : m.linears()) out.put(l.name, l.weight().floats().clone());
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama:pissa", "llama:olora", "llama:pissa_niter_8", "gpt2:pissa", "gpt2:olora"})
    void residualPlusAdapterIsTheOriginalWeightAndMergeRestoresIt(String spec) {
        String model = spec.split(":")[0];
        InitLoraWeights init = InitLoraWeights.fromPeft(spec.split(":")[1]);
        CausalLM base = Fixtures.load(model);
        float[] before = logits(base);
        Map<String, float[]> w0 = weights(base);
        LoraModel lm = Lora.apply(base, LoraConfig.builder().r(4).alpha(8).allLinear().init(init).build(), 5);
        assertThat(lm.adapters()).isNotEmpty();
        double worst = 0;
        for (Map.Entry<String, LoraAdapter> e : lm.adapters().entrySet()) {
            Linear lin = base.linears().stream().filter(l -> l.name.equals(e.getKey())).findFirst().orElseThrow();
            LoraAdapter ad = e.getValue();
            float[] ba = product(ad.B.data, ad.A.data, lin.out, 4, lin.in), res = lin.weight().floats();
            float[] rec = new float[res.length];
            double[] orig = new double[res.length];
            for (int i = 0; i < rec.length; i++) { rec[i] = (float) (res[i] + 2.0 * ba[i]); orig[i] = w0.get(lin.name)[i]; }
            worst = Math.max(worst, relFrob(rec, orig));
            assertThat(relFrob(res, orig)).as("base residualised").isGreaterThan(1e-3);
        }
        assertThat(worst).as("W_res + s.B.A vs W").isLessThan(1e-5);
        assertThat(maxAbs(logits(base), before)).as("logits at init").isLessThan(1e-4);
        for (Linear lin : base.linears()) if (lin.adapters().containsKey("default")) lin.mergeAdapter("default", true);
        double merged = 0;
        for (Linear lin : base.linears()) {
            float[] now = lin.weight().floats(), was = w0.get(lin.name);
            double[] d = new double[was.length];
            for (int i = 0; i < d.length; i++) d[i] = was[i];
            merged = Math.max(merged, relFrob(now, d));
        }
        System.out.printf("%s: W_res + s.B.A vs W %.2e, merged vs W %.2e%n", spec, worst, merged);
        assertThat(merged).as("merged weight vs original").isLessThan(1e-5);
    }

    /** Simulated training: every A and B moves deterministically away from its init. */
    static void perturb(LoraModel lm) {
        int i = 0;
        for (LoraAdapter ad : lm.adapters().values()) {
            for (int k = 0; k < ad.A.data.length; k++) ad.A.data[k] += (float) (0.05 * Math.sin(k + i));
            for (int k = 0; k < ad.B.data.length; k++) ad.B.data[k] += (float) (0.05 * Math.cos(0.7 * k + i));
            i++;
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama:pissa", "llama:olora", "gpt2:pissa"})
    void convertedAdapterOnTheOriginalBaseGivesTheTrainedLogits(String spec, @TempDir Path tmp) throws Exception {
        String model = spec.split(":")[0];
        LoraConfig cfg = LoraConfig.builder().r(4).alpha(8).allLinear().init(InitLoraWeights.fromPeft(spec.split(":")[1]))
                .rankPattern("q_proj", 2).alphaPattern("q_proj", 3.0).build();
        CausalLM residual = Fixtures.load(model);
        LoraModel lm = Lora.apply(residual, cfg, 5);
        LoraConversion.Initial init = LoraConversion.initial(lm);
        perturb(lm);
        float[] trained = logits(residual);
        Path conv = tmp.resolve("converted");
        LoraConversion.save(lm, init, conv, "base");
        JsonNode c = new ObjectMapper().readTree(conv.resolve(PeftAdapter.CONFIG).toFile());
        assertThat(c.get("init_lora_weights").asBoolean()).isTrue();
        assertThat(c.get("r").asInt()).isEqualTo(8);
        assertThat(c.get("lora_alpha").asDouble()).isEqualTo(16.0);
        assertThat(c.get("rank_pattern").get("q_proj").asInt()).isEqualTo(4);
        assertThat(c.get("alpha_pattern").get("q_proj").asDouble()).isEqualTo(6.0);

        CausalLM original = Fixtures.load(model);
        float[] base = logits(original);
        PeftAdapter.load(original, conv, "default");
        float[] viaConverted = logits(original);
        double d = maxAbs(viaConverted, trained), moved = maxAbs(trained, base);
        System.out.printf("%s: converted on original base vs trained on residual base: max |diff| %.2e (training moved logits by %.2e)%n",
                spec, d, moved);
        assertThat(moved).isGreaterThan(1e-2);
        assertThat(d).isLessThan(1e-4);

        // Unconverted: the PiSSA/OLoRA adapter loaded on the original base re-residualises it (PEFT's load semantics).
        Path raw = tmp.resolve("raw");
        PeftAdapter.save(lm, raw, "base", null);
        CausalLM again = Fixtures.load(model);
        PeftAdapter.load(again, raw, "default");
        assertThat(maxAbs(logits(again), trained)).as("raw adapter reloaded on the original base").isLessThan(1e-4);
    }

    @Test
    void conversionRefusesWhatItCannotCarry() {
        LoraConfig rs = LoraConfig.builder().useRslora(true).rankPattern("q_proj", 2).init(InitLoraWeights.PISSA).build();
        assertThatThrownBy(() -> LoraConversion.convertedConfig(rs)).hasMessageContaining("use_rslora");
        assertThatThrownBy(() -> LoraConversion.convertedConfig(LoraConfig.builder().useDora(true).init(InitLoraWeights.OLORA).build()))
                .hasMessageContaining("DoRA");
        LoraConfig rsl = LoraConversion.convertedConfig(LoraConfig.builder().r(8).alpha(16).useRslora(true).init(InitLoraWeights.PISSA).build());
        assertThat(rsl.r()).isEqualTo(16);
        assertThat(rsl.loraAlpha()).isEqualTo(16 * Math.sqrt(2));
        assertThat(rsl.scaling(16, rsl.loraAlpha())).isCloseTo(16 / Math.sqrt(8), org.assertj.core.api.Assertions.within(1e-12));
    }

    @Test
    void refusals() {
        CausalLM m = Fixtures.load("llama");
        Linear q = m.linears().get(0);
        float[] w = q.weight().floats().clone();
        q.weight().compactTo(dev.peft4j.quant.Quantize.nf4(w, q.out, q.in));
        assertThatThrownBy(() -> Lora.apply(m, LoraConfig.builder().r(4).targetModules(q.name.substring(q.name.lastIndexOf('.') + 1))
                .init(InitLoraWeights.PISSA).build(), 1)).hasMessageContaining("quantised").hasMessageContaining("Initialise on the f32/bf16 base");
        CausalLM m2 = Fixtures.load("llama");
        int big = Math.min(m2.linears().get(0).out, m2.linears().get(0).in) + 1;
        assertThatThrownBy(() -> Lora.apply(m2, LoraConfig.builder().r(big).allLinear().init(InitLoraWeights.OLORA).build(), 1))
                .hasMessageContaining("exceeds min(out, in)");
        assertThatThrownBy(() -> Lora.apply(Fixtures.load("llama"), LoraConfig.builder().r(2).alpha(-2).init(InitLoraWeights.PISSA).build(), 1))
                .hasMessageContaining("alpha > 0");
    }

    @Test
    void peftStrings() {
        assertThat(InitLoraWeights.fromPeft("pissa")).isEqualTo(InitLoraWeights.PISSA);
        assertThat(InitLoraWeights.fromPeft("PiSSA_niter_16")).isEqualTo(InitLoraWeights.pissaNiter(16));
        assertThat(InitLoraWeights.pissaNiter(16).peftValue()).isEqualTo("pissa_niter_16");
        assertThat(InitLoraWeights.fromPeft("olora").peftValue()).isEqualTo("olora");
        assertThatThrownBy(() -> InitLoraWeights.fromPeft("pissa_niter_x")).hasMessageContaining("non-negative integer");
        assertThatThrownBy(() -> InitLoraWeights.fromPeft("loftq")).hasMessageContaining("not supported yet");
        assertThat(LoraConfig.builder().init(InitLoraWeights.pissaNiter(4)).build().toPeftJson().get("init_lora_weights")).isEqualTo("pissa_niter_4");
    }
}
