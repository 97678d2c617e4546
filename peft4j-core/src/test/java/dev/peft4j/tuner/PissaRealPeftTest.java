package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;
import dev.peft4j.tuner.lora.InitLoraWeights;
import dev.peft4j.tuner.lora.LoraConversion;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.model.CausalLM;
import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.lora.LoraAdapter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * PiSSA / OLoRA against the REAL HF PEFT 0.14 on stories260K (scripts/golden/pissa_olora_realpeft.py via
 * ../shared/realpeft/run.sh; skipped without it):
 *  - initialisation: peft4j's B·A and residual base weight per module equal PEFT's (full SVD / QR are
 *    deterministic up to per-component signs, which cancel in B·A);
 *  - PEFT -> peft4j: PEFT's converted adapter (path_initial_model_for_weight_conversion) and its raw
 *    PiSSA/OLoRA adapter, loaded by peft4j on the ORIGINAL base, give PEFT's trained logits;
 *  - peft4j -> PEFT: peft4j's converted and raw adapters, loaded by PEFT on the original base, give peft4j's logits.
 * pissa_niter_K draws torch's unseeded global RNG in PEFT, so there only the converted form is compared
 * both ways and the B·A agreement is reported (the top-r subspace), not required to 1e-5.
 */
@Tag("slow")
class PissaRealPeftTest {
    static final String[] TARGETS = {"q_proj", "v_proj", "down_proj"};
    @TempDir Path tmp;

    static Path script() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path s = p.resolve("scripts/golden/pissa_olora_realpeft.py");
            if (s.toFile().isFile()) return s;
        }
        throw new IllegalStateException("scripts/golden/pissa_olora_realpeft.py not found above " + Path.of("").toAbsolutePath());
    }

    static String ids(int[] ids) {
        StringBuilder s = new StringBuilder();
        for (int id : ids) s.append(s.isEmpty() ? "" : ",").append(id);
        return s.toString();
    }

    static Path writeLogits(Path file, float[] lg, int n) throws Exception {
        int V = lg.length / n;
        List<List<Float>> rows = new ArrayList<>();
        for (int t = 0; t < n; t++) {
            List<Float> row = new ArrayList<>(V);
            for (int v = 0; v < V; v++) row.add(lg[t * V + v]);
            rows.add(row);
        }
        new ObjectMapper().writeValue(file.toFile(), Map.of("logits", rows));
        return file;
    }

    @ParameterizedTest
    @ValueSource(strings = {"pissa", "olora", "pissa_niter_4"})
    void initialisationAndConversionAgreeWithRealPeft(String init) throws Exception {
        Path runSh = RealPeftInteropTest.realPeft(), stories = RealPeftInteropTest.shared("models/stories260K"), out = tmp.resolve(init);
        int[] ids = {1, 403, 407, 261, 378, 488, 77, 300};
        RealPeftInteropTest.run(runSh, tmp.resolve("make.log"), script().toString(), stories.toString(), out.toString(), init, ids(ids));
        ObjectMapper om = new ObjectMapper();
        JsonNode peftInit = om.readTree(out.resolve("init.json").toFile()).get("modules");
        JsonNode trained = om.readTree(out.resolve("trained_logits.json").toFile()).get("logits");
        boolean exact = !init.startsWith("pissa_niter");

        // 1. the initialisation: B·A and the residual, module by module
        LoraConfig cfg = LoraConfig.builder().r(4).alpha(8).targetModules(TARGETS).init(InitLoraWeights.fromPeft(init)).build();
        CausalLM mine = CausalLM.load(stories);
        LoraModel lm = Lora.apply(mine, cfg, 3);
        assertThat(lm.adapters().keySet()).containsExactlyInAnyOrderElementsOf(iterable(peftInit.fieldNames()));
        double worstBa = 0, worstRes = 0, worstEnergy = 0;
        for (Map.Entry<String, LoraAdapter> e : lm.adapters().entrySet()) {
            Linear lin = mine.linears().stream().filter(l -> l.name.equals(e.getKey())).findFirst().orElseThrow();
            JsonNode ref = peftInit.get(e.getKey());
            LoraAdapter ad = e.getValue();
            int r = ad.A.dim(0);
            double num = 0, den = 0, rn = 0, rd = 0, mine2 = 0;
            float[] res = lin.weight().floats();
            for (int i = 0; i < lin.out; i++)
                for (int j = 0; j < lin.in; j++) {
                    double ba = 0;
                    for (int c = 0; c < r; c++) ba += ad.B.data[i * r + c] * ad.A.data[c * lin.in + j];
                    double g = ref.get("ba").get(i * lin.in + j).asDouble(), gr = ref.get("residual").get(i * lin.in + j).asDouble();
                    num += (ba - g) * (ba - g); den += g * g; mine2 += ba * ba;
                    rn += (res[i * lin.in + j] - gr) * (res[i * lin.in + j] - gr); rd += gr * gr;
                }
            worstBa = Math.max(worstBa, Math.sqrt(num / den));
            worstRes = Math.max(worstRes, Math.sqrt(rn / rd));
            worstEnergy = Math.max(worstEnergy, Math.abs(Math.sqrt(mine2 / den) - 1));
        }
        System.out.printf("[realpeft] %s init: B.A relative diff %.2e, residual relative diff %.2e, |B.A|_F ratio - 1 %.2e (worst module)%n",
                init, worstBa, worstRes, worstEnergy);
        if (exact) {
            // PEFT decomposes in float32 (LAPACK sgesdd/sgeqrf), peft4j in double: on stories260K's down_proj with
            // sigma_4 = 2.408 next to sigma_5 = 2.382, PEFT's own rank-4 B.A is 1.2e-5 from the float64 truth (measured
            // with scripts/golden/pissa_olora_realpeft.py), peft4j's is closer; so 5e-5, not 1e-5.
            assertThat(worstBa).isLessThan(5e-5);
            assertThat(worstRes).isLessThan(1e-5);
        } else {
            // q = r with no oversampling: on these nearly flat spectra both randomized SVDs land on different rank-r
            // subspaces (PEFT's own B.A is up to 0.68 from the exact one, measured), but capture the same energy.
            assertThat(worstEnergy).as("|B.A|_F peft4j / PEFT - 1").isLessThan(0.05);
        }

        // 2. PEFT -> peft4j on the original base
        for (String form : exact ? List.of("converted", "raw") : List.of("converted")) {
            CausalLM m = CausalLM.load(stories);
            PeftAdapter.load(m, out.resolve(form), "default");
            double d = RealPeftInteropTest.maxDiff(RealPeftInteropTest.logits(m, ids), trained);
            System.out.printf("[realpeft] %s: PEFT %s adapter on the original base in peft4j, max |logits diff| %.2e%n", init, form, d);
            assertThat(d).as(form).isLessThan(1e-4);
        }

        // 3. peft4j -> PEFT: perturb (stand-in for training), save converted and raw, PEFT loads them on the original base
        LoraConversion.Initial initial = LoraConversion.initial(lm);
        int k = 0;
        for (dev.peft4j.autograd.Tensor t : lm.trainableParameters()) {
            k++;
            for (int i = 0; i < t.size(); i++) t.data[i] += (float) (0.05 * Math.sin(i + 1.3 * k));
        }
        Path logits = writeLogits(tmp.resolve("mine.json"), RealPeftInteropTest.logits(mine, ids), ids.length);
        LoraConversion.save(lm, initial, tmp.resolve("mine-converted"), stories.toString());
        PeftAdapter.save(lm, tmp.resolve("mine-raw"), stories.toString(), null);
        for (String form : exact ? List.of("converted", "raw") : List.of("converted")) {
            String log = RealPeftInteropTest.run(runSh, tmp.resolve("check.log"), "check-adapter", stories.toString(),
                    tmp.resolve("mine-" + form).toString(), ids(ids), "--compare", logits.toString(), "--atol", "1e-4",
                    "--out", tmp.resolve("check.json").toString());
            System.out.printf("[realpeft] %s: peft4j %s adapter in PEFT on the original base: %s%n", init, form, log.strip());
            assertThat(log).contains("OK");
        }
    }

    static List<String> iterable(java.util.Iterator<String> it) {
        List<String> l = new ArrayList<>();
        it.forEachRemaining(l::add);
        return l;
    }
}
