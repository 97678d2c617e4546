package dev.peft4j.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.io.SafeTensorsFile;
import dev.peft4j.model.CausalLM;
import dev.peft4j.Golden;
import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.lora.LoraAdapter;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Parity with scripts/golden/make_lora_goldens.py (float64 PyTorch autograd, PEFT's LoRA math,
 * torch.optim.AdamW, clip_grad_norm_, transformers' linear warmup schedule): LoRA A/B gradients on
 * a GQA Llama and on GPT-2 (Conv1D) within 1e-4 relative, and a 10-step loss curve within 1e-4.
 */
class LoraGoldenParityTest {
    static Path dir(String model) throws Exception {
        return Paths.get(LoraGoldenParityTest.class.getResource("/golden/lora/" + model + "/grads.json").toURI()).getParent();
    }

    /** Loads the golden base model and attaches the fixture's initial A/B to every module the fixture names. */
    static List<Tensor> attach(CausalLM model, Path init, double scaling) {
        List<Tensor> params = new ArrayList<>();
        try (SafeTensorsFile f = SafeTensorsFile.open(init)) {
            for (Linear lin : model.linears()) {
                String key = "base_model.model." + lin.name;
                if (!f.contains(key + ".lora_A.weight")) continue;
                int r = f.info(key + ".lora_A.weight").shapeInts()[0];
                Tensor A = Tensor.param(key + ".lora_A.weight", f.readFloats(key + ".lora_A.weight"), r, lin.in);
                Tensor B = Tensor.param(key + ".lora_B.weight", f.readFloats(key + ".lora_B.weight"), lin.out, r);
                lin.addAdapter("default", new LoraAdapter(A, B, scaling, 0f));
                lin.setActive(List.of("default"));
                params.add(A);
                params.add(B);
            }
        }
        return params;
    }

    static int[] flat(JsonNode n) {
        List<Integer> out = new ArrayList<>();
        n.forEach(row -> row.forEach(x -> out.add(x.asInt())));
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2", "qwen3", "olmo2", "phi3", "gemma3", "gemma2"})
    void loraGradientsMatchPyTorch(String name) throws Exception {
        Path d = dir(name);
        JsonNode meta = new ObjectMapper().readTree(d.resolve("grads.json").toFile());
        int[] ids = flat(meta.get("input_ids")), labels = flat(meta.get("labels"));
        int B = meta.get("input_ids").size(), T = ids.length / B;
        for (boolean rslora : name.equals("gpt2") ? new boolean[] {false, true} : new boolean[] {false}) {
            CausalLM model = CausalLM.load(Golden.model(name));
            List<Tensor> params = attach(model, d.resolve("init.safetensors"), rslora ? 4.0 : meta.get("scaling").asDouble());
            assertThat(params).hasSize(name.equals("gpt2") || name.equals("phi3") ? 16 : name.startsWith("gemma") ? 42 : 28);   // phi3: 4 fused modules x 2 layers; gemma: 3 layers
            Tape tape = new Tape(0);
            Tensor loss = LmLoss.loss(tape, model, ids, labels, B, T);
            tape.backward(loss);
            assertThat((double) loss.data[0]).as("%s loss", name).isCloseTo(meta.get(rslora ? "loss_rslora" : "loss").asDouble(), within(1e-5));
            double worst = 0;
            try (SafeTensorsFile g = SafeTensorsFile.open(d.resolve(rslora ? "grads_rslora.safetensors" : "grads.safetensors"))) {
                for (Tensor p : params) {
                    float[] ref = g.readFloats(p.name), got = p.grad();
                    double maxRef = 0, maxErr = 0;
                    for (int i = 0; i < ref.length; i++) { maxRef = Math.max(maxRef, Math.abs(ref[i])); maxErr = Math.max(maxErr, Math.abs(ref[i] - got[i])); }
                    assertThat(maxErr / maxRef).as("%s %s relative gradient error", name, p.name).isLessThan(1e-4);
                    worst = Math.max(worst, maxErr / maxRef);
                }
            }
            System.out.printf("%s%s: worst relative LoRA gradient error %.2e over %d tensors%n", name, rslora ? " (rslora)" : "", worst, params.size());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2", "qwen3", "olmo2", "phi3", "gemma3", "gemma2"})
    void tenStepAdamWCurveWithWarmupAndClippingMatchesPyTorch(String name) throws Exception {
        Path d = dir(name);
        JsonNode meta = new ObjectMapper().readTree(d.resolve("grads.json").toFile());
        JsonNode curve = new ObjectMapper().readTree(d.resolve("curve.json").toFile());
        JsonNode hyper = curve.get("hyper");
        int[] ids = flat(meta.get("input_ids")), labels = flat(meta.get("labels"));
        int B = meta.get("input_ids").size(), T = ids.length / B;
        CausalLM model = CausalLM.load(Golden.model(name));
        List<Tensor> params = attach(model, d.resolve("init.safetensors"), meta.get("scaling").asDouble());
        AdamW opt = new AdamW(params, new AdamW.Hyper(0.9, 0.999, 1e-8, 0.01));
        LrSchedule sched = new LrSchedule(LrSchedule.Kind.LINEAR, 3, 10);
        for (int step = 0; step < 10; step++) {
            for (Tensor p : params) p.zeroGrad();
            Tape tape = new Tape(step);
            Tensor loss = LmLoss.loss(tape, model, ids, labels, B, T);
            tape.backward(loss);
            double norm = GradClip.clip(params, 0.5);
            double lr = 0.01 * sched.factor(step);
            // relative 1e-4: float32 vs float64 through Adam's normalised steps (qwen3's q/k norms: 5e-5 at step 4)
            double wantLoss = curve.get("loss").get(step).asDouble(), wantNorm = curve.get("grad_norm").get(step).asDouble();
            assertThat(Math.abs(loss.data[0] - wantLoss) / Math.abs(wantLoss)).as("%s loss at step %d, relative", name, step).isLessThan(1e-4);
            assertThat(Math.abs(norm - wantNorm) / wantNorm).as("%s grad norm at step %d, relative", name, step).isLessThan(1e-4);
            assertThat(lr).isCloseTo(curve.get("lr").get(step).asDouble(), within(1e-12));
            opt.step(lr);
        }
        try (SafeTensorsFile f = SafeTensorsFile.open(d.resolve("final.safetensors"))) {
            // Per tensor, relative L2. Adam divides by sqrt(v), so an entry whose gradient passes through ~0 can take a
            // different step in float32 than in float64: qwen3's layer-1 o_proj has such entries (0.4% of its init
            // gradients are < 1e-4 of the max) and ends 1.5e-3 away in relative L2, while the loss curve stays within 1e-4.
            double bound = name.equals("qwen3") ? 1e-2 : 1e-4, worst = 0;
            for (Tensor p : params) {
                float[] ref = f.readFloats(p.name);
                double num = 0, den = 0;
                for (int i = 0; i < ref.length; i++) { double e = p.data[i] - ref[i]; num += e * e; den += (double) ref[i] * ref[i]; }
                double rel = Math.sqrt(num / den);
                assertThat(rel).as("%s final %s, relative L2", name, p.name).isLessThan(bound);
                worst = Math.max(worst, rel);
            }
            System.out.printf("%s: 10-step curve within 1e-4 relative; final tensors worst relative L2 %.2e%n", name, worst);
        }
        assertThat(hyper.toString()).contains("0.01");
    }
}
