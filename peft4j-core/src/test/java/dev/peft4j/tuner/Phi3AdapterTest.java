package dev.peft4j.tuner;

import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.Golden;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.io.DType;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.ModelWriter;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Adapters on Phi-3's fused modules through save/load, merge-and-unload + export, and an NF4 (QLoRA) base. */
class Phi3AdapterTest {
    static final int[] IDS = {5, 17, 3, 22, 9, 41, 7, 30};     // 8 > original_max 5: the long LongRoPE factors
    @TempDir Path tmp;

    static float[] logits(CausalLM m) { return m.forward(null, IDS, 1, IDS.length, null, null, false).data; }

    static LoraModel lora(PeftModel pm) {
        LoraModel a = pm.addAdapter(LoraConfig.builder().r(4).alpha(8).targetModules("qkv_proj", "o_proj", "gate_up_proj", "down_proj")
                .build(), "a", 1);
        int k = 0;
        for (Tensor t : a.trainableParameters()) {
            k++;
            for (int i = 0; i < t.size(); i++) t.data[i] += (float) (0.05 * Math.sin(i + 1.3 * k));
        }
        return a;
    }

    static double maxDiff(float[] a, float[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        return d;
    }

    @Test
    void savedAdapterReloadsAndMergedExportGivesTheSameLogits() {
        CausalLM m = CausalLM.load(Golden.model("phi3"));
        float[] base = logits(m);
        PeftModel pm = new PeftModel(m);
        LoraModel a = lora(pm);
        float[] adapted = logits(m);
        assertThat(maxDiff(adapted, base)).isGreaterThan(1e-3);
        PeftAdapter.save(a, tmp.resolve("adapter"), "golden/phi3", null);
        CausalLM fresh = CausalLM.load(Golden.model("phi3"));
        PeftAdapter.load(fresh, tmp.resolve("adapter"), "again");
        assertThat(maxDiff(logits(fresh), adapted)).as("reloaded adapter").isLessThan(1e-6);

        pm.mergeAndUnload();
        assertThat(maxDiff(logits(m), adapted)).as("merge-and-unload").isLessThan(1e-4);
        Path out = tmp.resolve("merged");
        ModelWriter.export(m, Golden.model("phi3"), out, DType.F32, 30_000);      // tiny shards: the index too
        CausalLM back = CausalLM.load(out);
        assertThat(back.config().ropeScaling()).isEqualTo(m.config().ropeScaling());
        assertThat(back.config().rotaryDim()).isEqualTo(12);
        assertThat(back.config().slidingWindow()).isEqualTo(4);
        assertThat(maxDiff(logits(back), adapted)).as("exported merged model").isLessThan(1e-4);
    }

    @Test
    void nf4BaseRunsLoraOnTheFusedModules() {
        CausalLM f32 = CausalLM.load(Golden.model("phi3"));
        CausalLM q = CausalLM.load(Golden.model("phi3"), "nf4", 64);
        assertThat(q.linears().get(1).weight().compact()).isTrue();          // qkv_proj held quantised
        double d = maxDiff(logits(q), logits(f32));
        assertThat(d).as("NF4 rounding moves the logits").isGreaterThan(1e-3);
        // the quantised forward is exactly the forward over the dequantised weights
        CausalLM deq = CausalLM.load(Golden.model("phi3"));
        for (int i = 0; i < deq.parameters().size(); i++) {
            float[] w = q.parameters().get(i).floats();
            System.arraycopy(w, 0, deq.parameters().get(i).data, 0, w.length);
        }
        assertThat(maxDiff(logits(q), logits(deq))).as("NF4 kernels vs dequantised f32").isLessThan(1e-4);
        LoraModel a = lora(new PeftModel(q));
        dev.peft4j.autograd.Tape tape = new dev.peft4j.autograd.Tape(0);
        Tensor loss = dev.peft4j.train.LmLoss.loss(tape, q, IDS, IDS, 1, IDS.length);
        tape.backward(loss);
        for (Tensor t : a.trainableParameters()) assertThat(t.grad()).as(t.name).isNotNull();
        assertThat(Double.isFinite(loss.data[0])).isTrue();
    }
}
