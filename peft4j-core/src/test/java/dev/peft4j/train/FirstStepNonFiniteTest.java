/*
 * FirstStepNonFiniteTest: when the very first forward of a run (before any optimizer step) is
 * already non-finite, the error blames the model weights (naming the first non-finite tensor) or
 * the data, not the learning rate: no update has happened yet.
 */
package dev.peft4j.train;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.Golden;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.data.DataLoader;
import dev.peft4j.data.Example;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;
import dev.peft4j.tuner.PeftAdapter;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FirstStepNonFiniteTest {
    @TempDir Path tmp;

    private static List<Example> examples(int n) {
        List<Example> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int[] ids = new int[8], labels = new int[8];
            for (int t = 0; t < 8; t++) { ids[t] = 1 + (i * 7 + t * 13) % 120; labels[t] = t < 2 ? -100 : ids[t]; }
            out.add(new Example(ids, labels));
        }
        return out;
    }

    @Test
    void nanBaseWeightAtStepOneBlamesTheWeightsNotTheLearningRate() {
        CausalLM model = CausalLM.load(Golden.model("llama"));
        Tensor w = model.parameters().stream().filter(p -> p.name.equals("model.layers.0.self_attn.o_proj.weight"))
                .findFirst().orElseThrow();
        w.data[3] = Float.POSITIVE_INFINITY;
        LoraModel lm = Lora.apply(model, LoraConfig.builder().r(4).alpha(8).allLinear().build(), 7);
        TrainConfig cfg = new TrainConfig(5, 0, 5e-3, LrSchedule.Kind.CONSTANT, 2, 0, 3, 2, 1.0, 0.0, 42, 1, 4, 0, 0, 0);
        DataLoader loader = new DataLoader(examples(8), cfg.batchSize(), true, cfg.seed(), 0, false);
        Trainer t = new Trainer(model, lm.trainableParameters(), dir -> PeftAdapter.save(lm, dir, "golden/llama", null),
                loader, List.of(), 0, cfg, tmp.resolve("out"), new PrintStream(new ByteArrayOutputStream()));
        assertThatThrownBy(() -> t.run(false)).isInstanceOf(TrainingDivergedException.class)
                .hasMessageContaining("step 1").hasMessageContaining("before any optimizer step")
                .hasMessageContaining("learning rate is not the cause")
                .hasMessageContaining("model.layers.0.self_attn.o_proj.weight[3] = Infinity")
                .hasMessageNotContaining("--lr");
    }
}
