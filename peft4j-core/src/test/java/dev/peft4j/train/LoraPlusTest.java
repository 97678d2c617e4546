package dev.peft4j.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.peft4j.Golden;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;
import java.util.List;
import org.junit.jupiter.api.Test;

/** LoRA+ as PEFT's create_loraplus_optimizer groups parameters, and AdamW honouring the groups. */
class LoraPlusTest {
    @Test
    void groupsFollowPeftsRules() {
        CausalLM m = CausalLM.load(Golden.model("llama"));
        LoraModel lm = Lora.apply(m, LoraConfig.builder().r(2).targetModules("q_proj").modulesToSave("lm_head").build(), 1);
        List<Tensor> ps = lm.trainableParameters();
        List<AdamW.Group> gs = LoraPlus.groups(ps, 16, 0.01);
        for (int i = 0; i < ps.size(); i++) {
            String n = ps.get(i).name;
            double want = n.contains("lora_B") || ps.get(i).shape.length == 1 ? 16 : 1;
            assertThat(gs.get(i).lrFactor()).as(n).isEqualTo(want);
            assertThat(gs.get(i).weightDecay()).as(n).isEqualTo(n.contains("bias") ? 0.0 : 0.01);
        }
        assertThat(gs).extracting(AdamW.Group::lrFactor).contains(1.0, 16.0);
        Tensor vec = Tensor.param("base_model.model.x.lora_magnitude_vector", new float[3], 3);
        Tensor bias = Tensor.param("base_model.model.lm_head.bias", new float[3], 3);
        assertThat(LoraPlus.group(vec, 4, 0.1)).isEqualTo(new AdamW.Group(4, 0.1));       // 1-D: group B
        assertThat(LoraPlus.group(bias, 4, 0.1)).isEqualTo(new AdamW.Group(4, 0.0));      // 1-D, no decay
        assertThatThrownBy(() -> LoraPlus.groups(ps, -1, 0)).isInstanceOf(Peft4jException.class).hasMessageContaining("positive");
    }

    /** Adam's first step moves each element by lr·g/(|g| + eps): B by lr × ratio, A by lr; decay per group. */
    @Test
    void adamwStepUsesEachGroupsLearningRateAndDecay() {
        Tensor a = Tensor.param("m.lora_A.weight", new float[] {1f, -2f}, 1, 2), b = Tensor.param("m.lora_B.weight", new float[] {0.5f, 3f}, 2, 1);
        a.grad()[0] = 0.3f;
        a.grad()[1] = -0.7f;
        b.grad()[0] = -0.2f;
        b.grad()[1] = 0.9f;
        double lr = 1e-3, ratio = 8, wd = 0.1;
        AdamW opt = new AdamW(List.of(a, b), new AdamW.Hyper(0.9, 0.999, 1e-8, wd), LoraPlus.groups(List.of(a, b), ratio, wd));
        opt.step(lr);
        // p <- p(1 - lr_i wd) - lr_i · g/(|g| + eps)  (bias corrections cancel on the first step)
        assertThat(a.data[0]).isCloseTo((float) (1 * (1 - lr * wd) - lr), within(1e-6f));
        assertThat(a.data[1]).isCloseTo((float) (-2 * (1 - lr * wd) + lr), within(1e-6f));
        assertThat(b.data[0]).isCloseTo((float) (0.5 * (1 - lr * ratio * wd) + lr * ratio), within(1e-6f));
        assertThat(b.data[1]).isCloseTo((float) (3 * (1 - lr * ratio * wd) - lr * ratio), within(1e-6f));
    }
}
