package dev.peft4j.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.Golden;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Gradient checkpointing recomputes blocks in the backward: same loss and the same LoRA gradients. */
class CheckpointingTest {
    static final int[] IDS = {5, 17, 3, 22, 9, 41, 7, 30, 12, 6, 33, 2, 19, 8, 27, 14};

    static List<float[]> grads(String model, boolean checkpointing, float dropout, long tapeSeed) {
        CausalLM m = CausalLM.load(Golden.model(model));
        m.setGradientCheckpointing(checkpointing);
        LoraModel lm = Lora.apply(m, LoraConfig.builder().r(4).alpha(8).dropout(dropout).allLinear().build(), 3);
        for (Tensor t : lm.trainableParameters()) for (int i = 0; i < t.size(); i++) t.data[i] += (float) (0.01 * Math.sin(i));
        Tape tape = new Tape(tapeSeed);
        Tensor loss = LmLoss.loss(tape, m, IDS, IDS, 2, 8);
        tape.backward(loss);
        List<float[]> out = new java.util.ArrayList<>();
        out.add(loss.data.clone());
        for (Tensor t : lm.trainableParameters()) out.add(t.grad().clone());
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2", "phi3", "gemma2", "gemma3"})
    void sameLossAndGradientsWithAndWithoutRecomputation(String model) {
        List<float[]> plain = grads(model, false, 0f, 1), ckpt = grads(model, true, 0f, 1);
        assertThat(ckpt.get(0)).isEqualTo(plain.get(0));
        for (int i = 1; i < plain.size(); i++) {
            float[] a = plain.get(i), b = ckpt.get(i);
            double max = 0, ref = 1e-12;
            for (int j = 0; j < a.length; j++) { max = Math.max(max, Math.abs(a[j] - b[j])); ref = Math.max(ref, Math.abs(a[j])); }
            assertThat(max / ref).as("%s gradient %d", model, i).isLessThan(1e-5);
        }
        // with dropout the recomputed block must draw the very same masks: deterministic across runs
        List<float[]> d1 = grads(model, true, 0.2f, 7), d2 = grads(model, true, 0.2f, 7);
        for (int i = 0; i < d1.size(); i++) assertThat(d2.get(i)).isEqualTo(d1.get(i));
    }
}
