package dev.peft4j.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.Golden;
import dev.peft4j.SharedArtefacts;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.data.DataConfig;
import dev.peft4j.data.DataLoader;
import dev.peft4j.data.Dataset;
import dev.peft4j.kernels.Nf4Matrix;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tokenizer.Tokenizer;
import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** QLoRA = LoRA over an NF4-quantised frozen base, with no other change to the LoRA code. */
class QLoraTest {
    @TempDir Path tmp;

    static final int[] IDS = {5, 17, 3, 22, 9, 41, 7, 30, 12, 6, 33, 2, 19, 8, 27, 14};

    @Test
    void nf4BaseStaysCloseAndTrainsWithOnlyAdapterGradients() {
        CausalLM f32 = CausalLM.load(Golden.model("llama")), q = CausalLM.load(Golden.model("llama"));
        long held = q.quantizeWeights("nf4", 64);
        long params = q.parameterCount();
        assertThat((double) held / params).as("bytes per parameter of the quantised matrices").isLessThan(4.0);
        for (Tensor t : q.parameters()) if (t.shape.length == 2) assertThat(t.matrix()).isInstanceOf(Nf4Matrix.class);
        float[] a = f32.forward(null, IDS, 2, 8, null, null, false).data, b = q.forward(null, IDS, 2, 8, null, null, false).data;
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) { num += (a[i] - b[i]) * (a[i] - b[i]); den += a[i] * a[i]; }
        // random tiny weights, embedding and head quantised too: a loose bound; the stories260K test measures real accuracy
        assertThat(Math.sqrt(num / den)).as("relative logit error of the NF4 model").isBetween(1e-4, 0.5);

        LoraModel lm = Lora.apply(q, LoraConfig.builder().r(4).alpha(8).allLinear().build(), 1);
        AdamW opt = new AdamW(lm.trainableParameters(), AdamW.Hyper.defaults());
        double first = 0, last = 0;
        for (int s = 0; s < 15; s++) {
            for (Tensor t : lm.trainableParameters()) t.zeroGrad();
            var tape = new dev.peft4j.autograd.Tape(s);
            Tensor loss = LmLoss.loss(tape, q, IDS, IDS, 2, 8);
            tape.backward(loss);
            opt.step(1e-2);
            if (s == 0) first = loss.data[0];
            last = loss.data[0];
        }
        assertThat(last).isLessThan(first);
        for (Tensor t : q.parameters()) if (!t.requiresGrad) assertThat(t.hasGrad()).isFalse();
    }

    @Test
    void quantisedModelsSaveInBnbLayoutAndLoadBackExactly() {
        for (String method : new String[] {"nf4", "int8"}) {
            CausalLM q = CausalLM.load(Golden.model("gpt2"), method, 64);          // quantised while loading
            float[] expected = q.forward(null, IDS, 2, 8, null, null, false).data;
            Path out = tmp.resolve("q-" + method);
            dev.peft4j.model.ModelWriter.exportQuantized(q, Golden.model("gpt2"), out, method, dev.peft4j.io.DType.F32);
            try (var f = dev.peft4j.io.SafeTensorsFile.open(out.resolve("model.safetensors"))) {
                if (method.equals("nf4")) {
                    assertThat(f.contains("transformer.h.0.attn.c_attn.weight.quant_state.bitsandbytes__nf4")).isTrue();
                    assertThat(f.contains("transformer.h.0.attn.c_attn.weight.nested_absmax")).isTrue();
                    assertThat(f.info("transformer.h.0.attn.c_attn.weight").dtype()).isEqualTo(dev.peft4j.io.DType.U8);
                } else {
                    assertThat(f.contains("transformer.h.0.attn.c_attn.SCB")).isTrue();
                }
            }
            CausalLM back = CausalLM.load(out);
            assertThat(back.forward(null, IDS, 2, 8, null, null, false).data).as(method).containsExactly(expected);
        }
    }

    @Test
    void mergingIntoAQuantisedBaseDequantisesAndExportsInTheBaseDtype() {
        CausalLM q = CausalLM.load(Golden.model("llama"), "nf4", 64);
        var pm = new dev.peft4j.tuner.PeftModel(q);
        LoraModel a = pm.addAdapter(LoraConfig.builder().r(4).alpha(8).targetModules("q_proj", "v_proj").build(), "a", 1);
        for (Tensor t : a.trainableParameters()) for (int i = 0; i < t.size(); i++) t.data[i] += 0.03f * (float) Math.cos(i);
        float[] adapted = q.forward(null, IDS, 2, 8, null, null, false).data;
        pm.mergeAndUnload();
        Path out = tmp.resolve("merged");
        dev.peft4j.model.ModelWriter.export(q, Golden.model("llama"), out, dev.peft4j.io.DType.F32, Long.MAX_VALUE);
        float[] merged = CausalLM.load(out).forward(null, IDS, 2, 8, null, null, false).data;
        for (int i = 0; i < adapted.length; i++) assertThat((double) merged[i]).isCloseTo(adapted[i], org.assertj.core.api.Assertions.within(1e-4));
    }

    /** Resident memory of the base weights, NF4 + double quant, SmolLM2-135M shape: measured on the heap. */
    @Test
    @Tag("slow")
    void nf4SmolLmShapeHoldsAtMostPointSixBytesPerParameter() {
        TrainBenchmark.WeightMemory m = TrainBenchmark.weightMemory("smollm2-135m", "nf4");
        System.out.printf("SmolLM2-135M NF4: %.3f bytes/param in tensors, %.3f measured on the heap%n", m.tensorBytesPerParam(), m.heapBytesPerParam());
        assertThat(m.params()).isGreaterThan(130_000_000L);
        assertThat(m.tensorBytesPerParam()).isLessThan(0.6);
        assertThat(m.heapBytesPerParam()).isLessThan(0.6);
    }

    /** Held-out loss of a QLoRA fine-tune of stories260K within 5% of the f32-base LoRA run on the same task. */
    @Test
    @Tag("slow")
    void qloraOnStories260KMatchesF32LoraWithinFivePercent() throws Exception {
        Path dir = SharedArtefacts.require("models/stories260K");
        Path text = SharedArtefacts.require("datasets/tinyshakespeare/input.txt");
        String all = Files.readString(text);
        StringBuilder train = new StringBuilder(), val = new StringBuilder();
        com.fasterxml.jackson.databind.ObjectMapper om = new com.fasterxml.jackson.databind.ObjectMapper();
        for (int i = 0; i < 260; i++) {
            String chunk = all.substring(i * 400, i * 400 + 400);
            (i < 220 ? train : val).append(om.writeValueAsString(java.util.Map.of("text", chunk))).append('\n');
        }
        Files.writeString(tmp.resolve("train.jsonl"), train);
        Files.writeString(tmp.resolve("val.jsonl"), val);
        double[] losses = new double[2];
        for (int k = 0; k < 2; k++) {
            CausalLM m = CausalLM.load(dir);
            if (k == 1) m.quantizeWeights("nf4", 64);
            try (Tokenizer tok = Tokenizer.load(dir)) {
                Dataset ds = Dataset.load(tmp.resolve("train.jsonl"), tok, dir,
                        DataConfig.builder().maxLength(128).addEos(false).validationFile(tmp.resolve("val.jsonl")).build());
                LoraModel lora = Lora.apply(m, LoraConfig.builder().r(8).alpha(16).dropout(0f).allLinear().build(), 1);
                TrainConfig cfg = new TrainConfig(60, 0, 3e-3, LrSchedule.Kind.COSINE, 6, 0, 8, 1, 1.0, 0, 42, 10, 0, 0, 0, 0);
                Trainer.Result r = new Trainer(m, lora.trainableParameters(), d -> { }, new DataLoader(ds.train(), 8, true, 42, 0, false),
                        ds.validation(), 0, cfg, tmp.resolve("out" + k), new PrintStream(new ByteArrayOutputStream())).run(false);
                losses[k] = r.valLoss();
                System.out.printf("%s base: held-out loss %.4f -> %.4f%n", k == 0 ? "f32" : "NF4", r.initialValLoss(), r.valLoss());
            }
        }
        assertThat(losses[1]).as("QLoRA held-out loss vs f32 LoRA %.4f", losses[0]).isLessThan(losses[0] * 1.05);
    }
}
