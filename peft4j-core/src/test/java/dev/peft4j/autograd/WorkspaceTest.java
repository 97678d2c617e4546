package dev.peft4j.autograd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.model.CausalLM;
import dev.peft4j.model.ModelConfig;
import dev.peft4j.model.ModelFactory;
import dev.peft4j.train.AdamW;
import dev.peft4j.train.LmLoss;
import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * Recycling the step's arrays (Workspace) must not change a single bit of training: the same adapter
 * after several steps with and without a workspace, with dropout and with gradient checkpointing, at
 * sizes where the arrays really are recycled.
 */
class WorkspaceTest {
    static ModelConfig config(String family) {
        return family.equals("gpt2")
                ? new ModelConfig(ModelConfig.Family.GPT2, 512, 128, 512, 2, 4, 4, 32, 256, 1e-5f, 0, null,
                        true, true, true, true, 0, 0, List.of(0), "float32")
                : new ModelConfig(ModelConfig.Family.LLAMA, 512, 128, 384, 2, 4, 2, 32, 256, 1e-5f, 10000.0, null,
                        true, false, false, false, 0, 0, List.of(0), "float32");
    }

    /** The LoRA weights after `steps` AdamW steps on random tokens (B 4, T 64: activations of 32K floats). */
    static List<float[]> train(String family, boolean checkpointing, Workspace ws, int steps) {
        CausalLM m = ModelFactory.random(config(family), 1, 0.05f);
        m.setGradientCheckpointing(checkpointing);
        LoraModel lm = Lora.apply(m, LoraConfig.builder().r(8).alpha(16).dropout(0.1f).allLinear().build(), 2);
        for (Tensor t : lm.trainableParameters()) for (int i = 0; i < t.size(); i++) t.data[i] += (float) (0.01 * Math.sin(i));
        AdamW opt = new AdamW(lm.trainableParameters(), AdamW.Hyper.defaults());
        int B = 4, T = 64;
        SplittableRandom rng = new SplittableRandom(3);
        for (int s = 0; s < steps; s++) {
            int[] ids = new int[B * T];
            for (int i = 0; i < ids.length; i++) ids[i] = rng.nextInt(512);
            for (Tensor p : lm.trainableParameters()) p.zeroGrad();
            Tape tape = ws == null ? new Tape(s) : new Tape(s, ws);
            Tensor loss = LmLoss.loss(tape, m, ids, ids, B, T);
            tape.backward(loss);
            opt.step(1e-2);
        }
        List<float[]> out = new ArrayList<>();
        for (Tensor t : lm.trainableParameters()) out.add(t.data.clone());
        return out;
    }

    @ParameterizedTest
    @CsvSource({"llama,false", "llama,true", "gpt2,false", "gpt2,true"})
    void sameAdapterBitForBitWithRecycledArrays(String family, boolean checkpointing) {
        Workspace ws = new Workspace();
        List<float[]> plain = train(family, checkpointing, null, 4), recycled = train(family, checkpointing, ws, 4);
        assertThat(recycled).hasSameSizeAs(plain);
        for (int i = 0; i < plain.size(); i++) assertThat(recycled.get(i)).as("tensor %d", i).isEqualTo(plain.get(i));
        assertThat(ws.reused()).as("arrays served again").isGreaterThan(ws.allocated());
    }

    @Test
    void aStepAfterTheFirstAllocatesNothingNew() {
        Workspace ws = new Workspace();
        train("llama", false, ws, 2);
        long after2 = ws.allocated();
        Workspace ws5 = new Workspace();
        train("llama", false, ws5, 5);
        assertThat(ws5.allocated()).isEqualTo(after2);
    }

    @Test
    void aReleasedOutputFailsLoudlyInsteadOfShowingAnotherOpsValues() {
        Workspace ws = new Workspace();
        Tape tape = new Tape(0, ws);
        Tensor w = Tensor.param("w", new float[Workspace.MIN_FLOATS], Workspace.MIN_FLOATS);
        Tensor y = Ops.scale(tape, w, 2f);
        Tensor loss = Ops.crossEntropy(tape, Ops.add(tape, y, y), new int[] {0});
        tape.backward(loss);
        assertThat(y.data).isNull();                         // given back after its op's backward
        assertThat(ws.freeBytes()).isPositive();
        assertThatThrownBy(() -> Ops.scale(null, y, 1f)).isInstanceOf(NullPointerException.class);
        assertThat(w.grad()).isNotNull();                    // parameters' gradients are never recycled
    }
}
