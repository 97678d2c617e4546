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
    void aStepAfterTheFirstAllocatesOnlyWhatTheGarbageCollectorTook() {
        // what a backward keeps is recycled every step; an output nothing keeps may be collected during the forward
        // (Tape.record holds it weakly) and is then allocated anew, so later steps allocate less than the first
        Workspace ws1 = new Workspace(), ws2 = new Workspace(), ws5 = new Workspace();
        train("llama", false, ws1, 1);
        train("llama", false, ws2, 2);
        train("llama", false, ws5, 5);
        long first = ws1.allocated(), perLaterStep = (ws5.allocated() - ws2.allocated()) / 3;
        assertThat(perLaterStep).as("arrays allocated per step after the second").isLessThan(first);
        assertThat(ws5.reused()).isGreaterThan(3 * (first - perLaterStep));
    }

    @Test
    void anOutputNoBackwardKeepsIsGarbageBeforeTheBackward() {
        int n = Workspace.MIN_FLOATS;
        float[] dw = new float[n];
        for (Workspace ws : new Workspace[] {null, new Workspace()}) {
            Tape tape = ws == null ? new Tape(0) : new Tape(0, ws);
            Tensor w = Tensor.param("w", new float[n], n);
            for (int i = 0; i < n; i++) w.data[i] = (float) Math.sin(i);
            Tensor y = Ops.scale(tape, w, 2f);                  // scale's backward needs none of its output's values
            java.lang.ref.WeakReference<float[]> yData = new java.lang.ref.WeakReference<>(y.data);
            Tensor z = Ops.add(tape, y, y);                      // nor does add's
            y = null;
            for (int i = 0; i < 10 && yData.get() != null; i++) System.gc();
            if (ws != null) assertThat(yData.get()).as("y's array, long before the backward").isNull();
            tape.backward(Ops.crossEntropy(tape, z, new int[] {3}));   // crossEntropy keeps z: still there for it
            if (ws == null) System.arraycopy(w.grad(), 0, dw, 0, n);
            else assertThat(w.grad()).isEqualTo(dw);
        }
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
