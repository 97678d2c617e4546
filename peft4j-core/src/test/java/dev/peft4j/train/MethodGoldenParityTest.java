package dev.peft4j.train;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Golden;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.io.SafeTensorsFile;
import dev.peft4j.model.CausalLM;
import dev.peft4j.nn.AdapterLayer;
import dev.peft4j.tuner.lora.DoraAdapter;
import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.ia3.Ia3Layer;
import dev.peft4j.tuner.loha.LoHaLayer;
import dev.peft4j.tuner.lokr.LoKr;
import dev.peft4j.tuner.lokr.LoKrLayer;
import dev.peft4j.tuner.vera.Vera;
import dev.peft4j.tuner.vera.VeraLayer;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Parity of the PEFT methods other than LoRA with scripts/golden/make_method_goldens.py (float64 PyTorch
 * autograd of PEFT's layer math, torch.optim.AdamW, clip_grad_norm_, transformers' linear warmup schedule)
 * on a GQA Llama and on GPT-2 (Conv1D): the adapted forward (logits and loss) and every adapter gradient
 * within 1e-4 relative, a 10-step AdamW curve (loss and pre-clip grad norm) within 1e-4 relative, the
 * final parameters, and merged forward == unmerged forward within 1e-4 relative. Cases are "method/model";
 * a method is added by a fixture directory and an entry in ATTACH. LoHa and LoKr have no GPT-2 case: PEFT 0.14's
 * LyCORIS tuners refuse GPT-2's Conv1D (and so do peft4j's). VeRA's frozen vera_A / vera_B pair is read from the
 * fixture (PEFT's keys base_model.vera_A / base_model.vera_B), not regenerated.
 */
class MethodGoldenParityTest {
    static final double TOL = 1e-4;
    static final String ADAPTER = "default";

    /** Builds a method's layer from the fixture tensors of one module; adds its trainable tensors to params. */
    interface Attach {
        AdapterLayer layer(Linear lin, SafeTensorsFile f, String key, JsonNode module, List<Tensor> params);
    }

    static Tensor param(SafeTensorsFile f, String name) {
        return Tensor.param(name, f.readFloats(name), f.info(name).shapeInts());
    }

    static final Map<String, Attach> ATTACH = Map.of(
            "ia3", (lin, f, key, module, params) -> {
                Tensor l = param(f, key + ".ia3_l");
                params.add(l);
                return new Ia3Layer(l, module.get("feedforward").asBoolean());
            },
            "dora", (lin, f, key, module, params) -> {
                JsonNode cfg = module.get("config");
                assertThat(cfg.get("lora_dropout").asDouble()).isZero();
                assertThat(cfg.get("scaling").asDouble()).isEqualTo(cfg.get("lora_alpha").asDouble() / cfg.get("r").asDouble());
                Tensor a = param(f, key + ".lora_A.weight"), b = param(f, key + ".lora_B.weight");
                Tensor m = param(f, key + "." + DoraAdapter.MAGNITUDE_KEY);
                params.addAll(List.of(a, b, m));
                return new DoraAdapter(a, b, cfg.get("scaling").asDouble(), 0f, m);
            },
            "loha", (lin, f, key, module, params) -> {
                JsonNode cfg = module.get("config");
                List<Tensor> w = new ArrayList<>();
                for (String s : List.of("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b")) w.add(param(f, key + "." + s));
                params.addAll(w);
                LoHaLayer layer = new LoHaLayer(w.get(0), w.get(1), w.get(2), w.get(3), cfg.get("alpha").asDouble(),
                        cfg.get("rank_dropout").asDouble(), cfg.get("module_dropout").asDouble());
                assertThat(layer.scaling).isEqualTo(cfg.get("scaling").asDouble());
                return layer;
            },
            "vera", (lin, f, key, module, params) -> {
                JsonNode cfg = module.get("config");
                assertThat(cfg.get("vera_dropout").asDouble()).isZero();
                // the model's one frozen pair, under PEFT's keys, sliced per layer by VeraLayer
                Tensor a = Tensor.frozen(Vera.KEY_A, f.readFloats(Vera.KEY_A), f.info(Vera.KEY_A).shapeInts());
                Tensor b = Tensor.frozen(Vera.KEY_B, f.readFloats(Vera.KEY_B), f.info(Vera.KEY_B).shapeInts());
                assertThat(a.dim(0)).isEqualTo(cfg.get("r").asInt());
                Tensor lb = param(f, key + ".vera_lambda_b"), ld = param(f, key + ".vera_lambda_d");
                params.addAll(List.of(lb, ld));
                VeraLayer layer = new VeraLayer(lb, ld, a, b, 0f);
                layer.checkFits(lin);
                return layer;
            },
            "lokr", (lin, f, key, module, params) -> {
                JsonNode cfg = module.get("config");
                int r = cfg.get("r").asInt();
                // peft4j's own update_layer shapes must be the ones the fixture (PEFT's rules in Python) chose
                LoKr.Shapes sh = LoKr.shapes(lin.out, lin.in, r, cfg.get("decompose_both").asBoolean(), cfg.get("decompose_factor").asInt());
                Map<String, int[]> expected = new java.util.LinkedHashMap<>();
                if (sh.fullW1()) expected.put("lokr_w1", new int[] {sh.outL(), sh.inM()});
                else { expected.put("lokr_w1_a", new int[] {sh.outL(), r}); expected.put("lokr_w1_b", new int[] {r, sh.inM()}); }
                if (sh.fullW2()) expected.put("lokr_w2", new int[] {sh.outK(), sh.inN()});
                else { expected.put("lokr_w2_a", new int[] {sh.outK(), r}); expected.put("lokr_w2_b", new int[] {r, sh.inN()}); }
                List<String> names = new ArrayList<>();
                module.get("params").fieldNames().forEachRemaining(names::add);
                assertThat(names).as("%s LoKr factors", lin.name).containsExactlyElementsOf(expected.keySet());
                Map<String, Tensor> w = new HashMap<>();
                for (String n : names) {
                    Tensor t = param(f, key + "." + n);
                    assertThat(t.shape).as("%s %s", lin.name, n).isEqualTo(expected.get(n));
                    w.put(n, t);
                    params.add(t);
                }
                LoKrLayer layer = new LoKrLayer(r, cfg.get("alpha").asDouble(), cfg.get("rank_dropout").asDouble(),
                        cfg.get("module_dropout").asDouble(), cfg.get("rank_dropout_scale").asBoolean(), sh.outL(), sh.outK(), sh.inM(), sh.inN(),
                        w.get("lokr_w1"), w.get("lokr_w1_a"), w.get("lokr_w1_b"), w.get("lokr_w2"), w.get("lokr_w2_a"), w.get("lokr_w2_b"));
                assertThat(layer.scaling).isEqualTo(cfg.get("scaling").asDouble());
                return layer;
            },
            "adalora", (lin, f, key, module, params) -> {
                JsonNode cfg = module.get("config");
                assertThat(cfg.get("lora_dropout").asDouble()).isZero();
                Tensor a = param(f, key + ".lora_A"), b = param(f, key + ".lora_B"), e = param(f, key + ".lora_E");
                params.addAll(List.of(a, b, e));
                return new dev.peft4j.tuner.adalora.AdaLoraLayer(a, e, b, (float) cfg.get("ranknum").asDouble(),
                        cfg.get("lora_alpha").asDouble(), 0f);
            });

    /**
     * The fixture's training loss: the LM loss, plus the term PEFT adds to it for the method (AdaLoRA's
     * orthogonal regulariser, AdaLoraModel.forward), over the attached layers.
     */
    static Tensor loss(Tape tape, CausalLM model, Case c) {
        Tensor lm = LmLoss.loss(tape, model, c.ids, c.labels, c.B, c.T);
        if (!c.method.equals("adalora")) return lm;
        List<dev.peft4j.tuner.adalora.AdaLoraLayer> layers = new ArrayList<>();
        for (Linear lin : model.linears())
            if (lin.adapters().get(ADAPTER) instanceof dev.peft4j.tuner.adalora.AdaLoraLayer l) layers.add(l);
        double w = c.meta.get("modules").get(0).get("config").get("orth_reg_weight").asDouble();
        return dev.peft4j.autograd.Ops.add(tape, lm, dev.peft4j.tuner.adalora.AdaLoraModel.orthogonalRegularizer(tape, layers, w));
    }

    record Case(String method, String model, Path dir, JsonNode meta, int[] ids, int[] labels, int B, int T) {
        static Case of(String spec) throws Exception {
            String[] mm = spec.split("/");
            Path d = Paths.get(MethodGoldenParityTest.class.getResource("/golden/methods/" + spec + "/grads.json").toURI()).getParent();
            JsonNode meta = new ObjectMapper().readTree(d.resolve("grads.json").toFile());
            int[] ids = flat(meta.get("input_ids")), labels = flat(meta.get("labels"));
            int B = meta.get("input_ids").size();
            return new Case(mm[0], mm[1], d, meta, ids, labels, B, ids.length / B);
        }
    }

    static int[] flat(JsonNode n) {
        List<Integer> out = new ArrayList<>();
        n.forEach(row -> row.forEach(x -> out.add(x.asInt())));
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Loads the golden base model and attaches the fixture's parameters to exactly the modules grads.json lists. */
    static List<Tensor> attach(Case c, CausalLM model, Path file) {
        Map<String, JsonNode> modules = new HashMap<>();
        c.meta.get("modules").forEach(m -> modules.put(m.get("name").asText(), m));
        List<Tensor> params = new ArrayList<>();
        int attached = 0;
        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            for (Linear lin : model.linears()) {
                JsonNode module = modules.get(lin.name);
                if (module == null) continue;
                assertThat(lin.in).as("%s in_features", lin.name).isEqualTo(module.get("in_features").asInt());
                assertThat(lin.out).as("%s out_features", lin.name).isEqualTo(module.get("out_features").asInt());
                lin.addAdapter(ADAPTER, ATTACH.get(c.method).layer(lin, f, "base_model.model." + lin.name, module, params));
                lin.setActive(List.of(ADAPTER));
                attached++;
            }
        }
        assertThat(attached).as("modules of %s found in the model", c.dir).isEqualTo(modules.size());
        return params;
    }

    /** max |got - ref| / max |ref|. */
    static double rel(float[] got, float[] ref) {
        assertThat(got).hasSameSizeAs(ref);
        double maxRef = 0, maxErr = 0;
        for (int i = 0; i < ref.length; i++) {
            maxRef = Math.max(maxRef, Math.abs(ref[i]));
            maxErr = Math.max(maxErr, Math.abs((double) got[i] - ref[i]));
        }
        assertThat(maxRef).as("reference is not all zero").isGreaterThan(0);
        return maxErr / maxRef;
    }

    static double rel(double got, double ref) { return Math.abs(got - ref) / Math.abs(ref); }

    static float[] logits(CausalLM model, Case c) { return model.forward(null, c.ids, c.B, c.T, null, null, false).data; }

    @ParameterizedTest
    @ValueSource(strings = {"ia3/llama", "ia3/gpt2", "dora/llama", "dora/gpt2", "loha/llama", "vera/llama", "vera/gpt2", "lokr/llama", "adalora/llama", "adalora/gpt2"})
    void forwardAndGradientsMatchPyTorch(String spec) throws Exception {
        Case c = Case.of(spec);
        CausalLM model = CausalLM.load(Golden.model(c.model));
        float[] base = logits(model, c);
        List<Tensor> params = attach(c, model, c.dir.resolve("init.safetensors"));
        assertThat(params).isNotEmpty();
        try (SafeTensorsFile g = SafeTensorsFile.open(c.dir.resolve("grads.safetensors"))) {
            float[] refLogits = g.readFloats("logits");
            float[] adapted = logits(model, c);
            double logitErr = rel(adapted, refLogits);
            assertThat(rel(base, refLogits)).as("%s: the fixture's adapter moves the logits", spec).isGreaterThan(1e-3);
            assertThat(logitErr).as("%s adapted logits, relative", spec).isLessThan(TOL);

            Tape tape = new Tape(0);
            Tensor loss = loss(tape, model, c);
            tape.backward(loss);
            double lossErr = rel(loss.data[0], c.meta.get("loss").asDouble());
            assertThat(lossErr).as("%s loss, relative", spec).isLessThan(TOL);
            double worst = 0;
            for (Tensor p : params) {
                assertThat(g.contains(p.name)).as("%s: gradient of %s in the fixture", spec, p.name).isTrue();
                double e = rel(p.grad(), g.readFloats(p.name));
                assertThat(e).as("%s %s relative gradient error", spec, p.name).isLessThan(TOL);
                worst = Math.max(worst, e);
            }
            System.out.printf("%s: logits rel %.2e, loss rel %.2e, worst gradient rel %.2e over %d tensors%n",
                    spec, logitErr, lossErr, worst, params.size());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"ia3/llama", "ia3/gpt2", "dora/llama", "dora/gpt2", "loha/llama", "vera/llama", "vera/gpt2", "lokr/llama", "adalora/llama", "adalora/gpt2"})
    void mergedForwardEqualsUnmerged(String spec) throws Exception {
        Case c = Case.of(spec);
        CausalLM model = CausalLM.load(Golden.model(c.model));
        attach(c, model, c.dir.resolve("init.safetensors"));
        float[] unmerged = logits(model, c);
        for (Linear lin : model.linears()) if (lin.adapters().containsKey(ADAPTER)) lin.mergeAdapter(ADAPTER, true);
        float[] merged = logits(model, c);
        double e = rel(merged, unmerged);
        assertThat(e).as("%s merged vs unmerged logits, relative", spec).isLessThan(TOL);
        try (SafeTensorsFile g = SafeTensorsFile.open(c.dir.resolve("grads.safetensors"))) {
            double ePy = rel(merged, g.readFloats("logits"));
            assertThat(ePy).as("%s merged logits vs PyTorch's unmerged, relative", spec).isLessThan(TOL);
            System.out.printf("%s: merged vs unmerged rel %.2e, merged vs PyTorch rel %.2e%n", spec, e, ePy);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"ia3/llama", "ia3/gpt2", "dora/llama", "dora/gpt2", "loha/llama", "vera/llama", "vera/gpt2", "lokr/llama", "adalora/llama", "adalora/gpt2"})
    void tenStepAdamWCurveWithWarmupAndClippingMatchesPyTorch(String spec) throws Exception {
        Case c = Case.of(spec);
        JsonNode curve = new ObjectMapper().readTree(c.dir.resolve("curve.json").toFile());
        JsonNode h = curve.get("hyper");
        CausalLM model = CausalLM.load(Golden.model(c.model));
        List<Tensor> params = attach(c, model, c.dir.resolve("init.safetensors"));
        AdamW opt = new AdamW(params, new AdamW.Hyper(h.get("betas").get(0).asDouble(), h.get("betas").get(1).asDouble(),
                h.get("eps").asDouble(), h.get("weight_decay").asDouble()));
        assertThat(h.get("schedule").asText()).isEqualTo("linear_with_warmup");
        LrSchedule sched = new LrSchedule(LrSchedule.Kind.LINEAR, h.get("warmup_steps").asInt(), h.get("total_steps").asInt());
        double maxNorm = h.get("max_grad_norm").asDouble(), peak = h.get("lr").asDouble();
        int steps = h.get("steps").asInt();
        assertThat(steps).isEqualTo(curve.get("loss").size());
        double worstLoss = 0, worstNorm = 0;
        for (int step = 0; step < steps; step++) {
            for (Tensor p : params) p.zeroGrad();
            Tape tape = new Tape(step);
            Tensor loss = loss(tape, model, c);
            tape.backward(loss);
            double norm = GradClip.clip(params, maxNorm);
            double lr = peak * sched.factor(step);
            double el = rel(loss.data[0], curve.get("loss").get(step).asDouble());
            double en = rel(norm, curve.get("grad_norm").get(step).asDouble());
            assertThat(el).as("%s loss at step %d, relative", spec, step).isLessThan(TOL);
            assertThat(en).as("%s grad norm at step %d, relative", spec, step).isLessThan(TOL);
            assertThat(norm > maxNorm).as("%s clipped at step %d", spec, step).isEqualTo(curve.get("clipped").get(step).asBoolean());
            assertThat(Math.abs(lr - curve.get("lr").get(step).asDouble())).isLessThan(1e-12);
            worstLoss = Math.max(worstLoss, el);
            worstNorm = Math.max(worstNorm, en);
            opt.step(lr);
        }
        double worstFinal = 0;
        try (SafeTensorsFile f = SafeTensorsFile.open(c.dir.resolve("final.safetensors"));
             SafeTensorsFile i = SafeTensorsFile.open(c.dir.resolve("init.safetensors"))) {
            for (Tensor p : params) {
                float[] ref = f.readFloats(p.name), start = i.readFloats(p.name);
                assertThat(Arrays.equals(ref, start)).as("%s %s moved in PyTorch's training", spec, p.name).isFalse();
                double e = rel(p.data, ref);
                assertThat(e).as("%s final %s, relative", spec, p.name).isLessThan(TOL);
                worstFinal = Math.max(worstFinal, e);
            }
        }
        Tensor after = loss(null, model, c);
        double ea = rel(after.data[0], curve.get("loss_after").asDouble());
        assertThat(ea).as("%s loss after training, relative", spec).isLessThan(TOL);
        System.out.printf("%s: curve loss rel %.2e, grad norm rel %.2e, final params rel %.2e, loss after rel %.2e%n",
                spec, worstLoss, worstNorm, worstFinal, ea);
    }
}
