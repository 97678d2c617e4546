package dev.peft4j.train;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Golden;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.io.SafeTensorsFile;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tuner.AdapterModel;
import dev.peft4j.tuner.PeftAdapter;
import dev.peft4j.tuner.AdapterConfig;
import dev.peft4j.tuner.PeftMethods;
import dev.peft4j.tuner.prefixtuning.PrefixTuningConfig;
import dev.peft4j.tuner.prompt.PromptAdapterModel;
import dev.peft4j.tuner.prompttuning.PromptTuningConfig;
import dev.peft4j.tuner.ptuning.PTuningConfig;
import dev.peft4j.tuner.ptuning.PTuningModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.TreeSet;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The prompt-learning methods against float64 PyTorch on the GQA Llama and GPT-2 golden models:
 * prompt tuning and prefix tuning (with and without prefix_projection) against
 * scripts/golden/make_prompt_goldens.py (modules with PEFT's PromptEmbedding / PrefixEncoder layout; virtual
 * tokens before the input embeddings, or per-layer past keys/values in PEFT's [layer][k|v][head][d] order with
 * the inputs at positions P..) and P-tuning, MLP and LSTM encoders, against scripts/golden/make_ptuning_goldens.py
 * (PEFT's PromptEncoder layout, torch.nn.LSTM for the LSTM case):
 * logits and loss, the gradient of every prompt tensor (the projection MLP's too), what is saved as
 * prompt_embeddings, a 10-step AdamW curve and the final tensors, all within 1e-4 relative; the adapter
 * directory the script writes under PEFT's names loads and reproduces the logits; ours has the same config
 * keys and values and the same tensor key and shape.
 */
class PromptGoldenParityTest {
    static final double TOL = 1e-4;

    /** The fixtures: golden/prompt/{prompt,prefix,prefix_proj}/MODEL and golden/ptuning/{mlp,lstm}/MODEL. */
    static final String[] SPECS = {"prompt/prompt/llama", "prompt/prompt/gpt2", "prompt/prefix/llama", "prompt/prefix/gpt2",
            "prompt/prefix_proj/llama", "prompt/prefix_proj/gpt2", "ptuning/mlp/llama", "ptuning/mlp/gpt2", "ptuning/lstm/llama", "ptuning/lstm/gpt2"};

    static String[] specs() { return SPECS; }

    record Case(String spec, String model, Path dir, JsonNode meta, int[] ids, int[] labels, int B, int T) {
        static Case of(String spec) throws Exception {
            Path d = Paths.get(PromptGoldenParityTest.class.getResource("/golden/" + spec + "/grads.json").toURI()).getParent();
            JsonNode meta = new ObjectMapper().readTree(d.resolve("grads.json").toFile());
            int[] ids = MethodGoldenParityTest.flat(meta.get("input_ids")), labels = MethodGoldenParityTest.flat(meta.get("labels"));
            int B = meta.get("input_ids").size();
            return new Case(spec, spec.split("/")[2], d, meta, ids, labels, B, ids.length / B);
        }

        AdapterConfig config() {
            JsonNode c = meta.get("config");
            int P = c.get("num_virtual_tokens").asInt();
            String type = spec.startsWith("ptuning/") ? "P_TUNING" : c.get("peft_type").asText();   // the P-tuning fixtures omit it
            return switch (type) {
                case "PROMPT_TUNING" -> PromptTuningConfig.random(P);
                case "P_TUNING" -> PTuningConfig.of(P, PTuningConfig.EncoderType.parse(c.get("encoder_reparameterization_type").asText()),
                        c.get("encoder_hidden_size").asInt(), c.get("encoder_num_layers").asInt(), c.get("encoder_dropout").asDouble());
                default -> PrefixTuningConfig.of(P, c.get("prefix_projection").asBoolean(), c.get("encoder_hidden_size").asInt());
            };
        }
    }

    /** A fresh adapter whose tensors hold the fixture's init values (checked against its names, order and shapes). */
    static PromptAdapterModel attach(Case c, CausalLM model) {
        PromptAdapterModel m = (PromptAdapterModel) PeftMethods.of(c.config().peftType(), null).apply(model, c.config(), "default", 0);
        List<Tensor> params = m.trainableParameters();
        List<String> order = new ArrayList<>();
        c.meta.get("param_order").forEach(n -> order.add("default." + n.asText()));
        assertThat(params).extracting(t -> t.name).containsExactlyElementsOf(order);
        try (SafeTensorsFile f = SafeTensorsFile.open(c.dir.resolve("init.safetensors"))) {
            for (Tensor p : params) {
                String key = "prompt_encoder." + p.name;
                assertThat(f.info(key).shapeInts()).as(key).containsExactly(p.shape);
                System.arraycopy(f.readFloats(key), 0, p.data, 0, p.size());
            }
        }
        return m;
    }

    static float[] logits(CausalLM model, Case c) { return model.forward(null, c.ids, c.B, c.T, null, null, false).data; }

    @ParameterizedTest
    @MethodSource("specs")
    void forwardGradientsAndSavedEmbeddingsMatchPyTorch(String spec) throws Exception {
        Case c = Case.of(spec);
        CausalLM model = CausalLM.load(Golden.model(c.model));
        float[] base = logits(model, c);
        PromptAdapterModel m = attach(c, model);
        try (SafeTensorsFile g = SafeTensorsFile.open(c.dir.resolve("grads.safetensors"))) {
            float[] ref = g.readFloats("logits");
            float[] got = logits(model, c);
            double le = MethodGoldenParityTest.rel(got, ref);
            assertThat(MethodGoldenParityTest.rel(base, ref)).as("%s: the virtual tokens move the logits", spec).isGreaterThan(1e-3);
            assertThat(le).as("%s logits, relative", spec).isLessThan(TOL);
            double pe = MethodGoldenParityTest.rel(m.sharedStateDict().get("prompt_embeddings").data, g.readFloats("prompt_embeddings"));
            assertThat(pe).as("%s prompt_embeddings (what PEFT saves), relative", spec).isLessThan(TOL);

            Tape tape = new Tape(0);
            Tensor loss = LmLoss.loss(tape, model, c.ids, c.labels, c.B, c.T);
            tape.backward(loss);
            double lossErr = MethodGoldenParityTest.rel(loss.data[0], c.meta.get("loss").asDouble());
            assertThat(lossErr).as("%s loss, relative", spec).isLessThan(TOL);
            double worst = 0;
            for (Tensor p : m.trainableParameters()) {
                double e = MethodGoldenParityTest.rel(p.grad(), g.readFloats("prompt_encoder." + p.name));
                assertThat(e).as("%s %s gradient, relative", spec, p.name).isLessThan(TOL);
                worst = Math.max(worst, e);
            }
            for (Tensor p : model.parameters()) assertThat(p.hasGrad()).as("%s base %s stays frozen", spec, p.name).isFalse();
            System.out.printf("%s: logits rel %.2e, prompt_embeddings rel %.2e, loss rel %.2e, worst gradient rel %.2e over %d tensors%n",
                    spec, le, pe, lossErr, worst, m.trainableParameters().size());
        }
    }

    @ParameterizedTest
    @MethodSource("specs")
    void tenStepAdamWCurveMatchesPyTorch(String spec) throws Exception {
        Case c = Case.of(spec);
        JsonNode curve = new ObjectMapper().readTree(c.dir.resolve("curve.json").toFile());
        JsonNode h = curve.get("hyper");
        CausalLM model = CausalLM.load(Golden.model(c.model));
        List<Tensor> params = attach(c, model).trainableParameters();
        AdamW opt = new AdamW(params, new AdamW.Hyper(h.get("betas").get(0).asDouble(), h.get("betas").get(1).asDouble(),
                h.get("eps").asDouble(), h.get("weight_decay").asDouble()));
        LrSchedule sched = new LrSchedule(LrSchedule.Kind.LINEAR, h.get("warmup_steps").asInt(), h.get("total_steps").asInt());
        double maxNorm = h.get("max_grad_norm").asDouble(), peak = h.get("lr").asDouble();
        int steps = h.get("steps").asInt();
        double worstLoss = 0, worstNorm = 0;
        for (int step = 0; step < steps; step++) {
            for (Tensor p : params) p.zeroGrad();
            Tape tape = new Tape(step);
            Tensor loss = LmLoss.loss(tape, model, c.ids, c.labels, c.B, c.T);
            tape.backward(loss);
            double norm = GradClip.clip(params, maxNorm);
            double el = MethodGoldenParityTest.rel(loss.data[0], curve.get("loss").get(step).asDouble());
            double en = MethodGoldenParityTest.rel(norm, curve.get("grad_norm").get(step).asDouble());
            assertThat(el).as("%s loss at step %d", spec, step).isLessThan(TOL);
            assertThat(en).as("%s grad norm at step %d", spec, step).isLessThan(TOL);
            assertThat(norm > maxNorm).as("%s clipped at step %d", spec, step).isEqualTo(curve.get("clipped").get(step).asBoolean());
            worstLoss = Math.max(worstLoss, el);
            worstNorm = Math.max(worstNorm, en);
            opt.step(peak * sched.factor(step));
        }
        double worstFinal = 0;
        try (SafeTensorsFile f = SafeTensorsFile.open(c.dir.resolve("final.safetensors"));
             SafeTensorsFile i = SafeTensorsFile.open(c.dir.resolve("init.safetensors"))) {
            for (Tensor p : params) {
                String key = "prompt_encoder." + p.name;
                assertThat(Arrays.equals(f.readFloats(key), i.readFloats(key))).as("%s %s moved", spec, key).isFalse();
                double e = MethodGoldenParityTest.rel(p.data, f.readFloats(key));
                assertThat(e).as("%s final %s, relative", spec, p.name).isLessThan(TOL);
                worstFinal = Math.max(worstFinal, e);
            }
        }
        double ea = MethodGoldenParityTest.rel(LmLoss.loss(null, model, c.ids, c.labels, c.B, c.T).data[0], curve.get("loss_after").asDouble());
        assertThat(ea).as("%s loss after training", spec).isLessThan(TOL);
        System.out.printf("%s: curve loss rel %.2e, grad norm rel %.2e, final tensors rel %.2e, loss after rel %.2e%n",
                spec, worstLoss, worstNorm, worstFinal, ea);
    }

    @ParameterizedTest
    @MethodSource("specs")
    void peftNamedFilesLoadAndOursHaveTheirKeysAndShapes(String spec, @TempDir Path tmp) throws Exception {
        Case c = Case.of(spec);
        Path theirs = c.dir.resolve("adapter");
        CausalLM model = CausalLM.load(Golden.model(c.model));
        AdapterModel loaded = PeftAdapter.load(model, theirs, "default");
        assertThat(loaded).isInstanceOf(PromptAdapterModel.class);
        assertThat(loaded.trainableParameters()).as("a read-back adapter is a plain table (projection or encoder folded)").hasSize(1);
        if (loaded instanceof PTuningModel p) assertThat(p.encoder()).as("a read-back P-tuning adapter has no encoder").isNull();
        float[] ref;
        try (SafeTensorsFile g = SafeTensorsFile.open(c.dir.resolve("grads.safetensors"))) { ref = g.readFloats("logits"); }
        double e = MethodGoldenParityTest.rel(logits(model, c), ref);
        assertThat(e).as("%s: PEFT-named adapter's logits vs PyTorch", spec).isLessThan(TOL);

        CausalLM fresh = CausalLM.load(Golden.model(c.model));
        PromptAdapterModel ours = attach(c, fresh);
        Path dir = tmp.resolve("ours");
        PeftAdapter.save(ours, dir, null, null);
        ObjectMapper om = new ObjectMapper();
        JsonNode want = om.readTree(theirs.resolve("adapter_config.json").toFile()), got = om.readTree(dir.resolve("adapter_config.json").toFile());
        assertThat(keys(got)).isEqualTo(keys(want));
        for (Iterator<String> it = want.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            assertThat(got.get(k).equals(want.get(k)) || (got.get(k).isNumber() && got.get(k).asDouble() == want.get(k).asDouble()))
                    .as("%s adapter_config.json %s: ours %s, PEFT's %s", spec, k, got.get(k), want.get(k)).isTrue();
        }
        try (SafeTensorsFile a = SafeTensorsFile.open(dir.resolve("adapter_model.safetensors"));
             SafeTensorsFile b = SafeTensorsFile.open(theirs.resolve("adapter_model.safetensors"))) {
            assertThat(a.tensors()).extracting(t -> t.name()).containsExactly("prompt_embeddings");
            assertThat(a.info("prompt_embeddings").shapeInts()).containsExactly(b.info("prompt_embeddings").shapeInts());
            assertThat(MethodGoldenParityTest.rel(a.readFloats("prompt_embeddings"), b.readFloats("prompt_embeddings"))).isLessThan(TOL);
        }
        System.out.printf("%s: PEFT-named adapter logits rel %.2e; our files match its keys and shapes%n", spec, e);
        assertThat(Files.exists(dir.resolve("README.md"))).isTrue();
    }

    static TreeSet<String> keys(JsonNode n) {
        TreeSet<String> out = new TreeSet<>();
        n.fieldNames().forEachRemaining(out::add);
        return out;
    }
}
