package dev.peft4j.train;

import static org.assertj.core.api.Assertions.assertThat;
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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainerTest {
    @TempDir Path tmp;

    static List<Example> examples(int n, int vocab, long seed) {
        Random r = new Random(seed);
        List<Example> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int len = 5 + r.nextInt(8);
            int[] ids = new int[len], labels = new int[len];
            for (int t = 0; t < len; t++) { ids[t] = 1 + r.nextInt(vocab - 1); labels[t] = t < 2 ? -100 : ids[t]; }
            out.add(new Example(ids, labels));
        }
        return out;
    }

    record Run(CausalLM model, LoraModel lora, Trainer trainer) {}

    Run setup(Path out, TrainConfig cfg, float dropout) {
        CausalLM model = CausalLM.load(Golden.model("llama"));
        LoraModel lm = Lora.apply(model, LoraConfig.builder().r(4).alpha(8).dropout(dropout).allLinear().build(), 7);
        DataLoader loader = new DataLoader(examples(24, 128, 1), cfg.batchSize(), true, cfg.seed(), 0, false);
        Trainer t = new Trainer(model, lm.trainableParameters(), dir -> PeftAdapter.save(lm, dir, "golden/llama", null),
                loader, examples(6, 128, 2), 0, cfg, out, new PrintStream(new ByteArrayOutputStream()));
        return new Run(model, lm, t);
    }

    static TrainConfig cfg(int steps, int saveEvery) {
        return new TrainConfig(steps, 0, 5e-3, LrSchedule.Kind.COSINE, 2, 0, 3, 2, 1.0, 0.01, 42, 1, 4, 0, saveEvery, 0);
    }

    @Test
    void interruptedAndResumedRunEndsWithTheSameAdapterBytes() throws Exception {
        Path straight = tmp.resolve("straight"), resumed = tmp.resolve("resumed");
        setup(straight, cfg(10, 3), 0.1f).trainer().run(false);

        Trainer.Result first = setup(resumed, cfg(10, 3), 0.1f).trainer().stopAfter(5).run(false);
        assertThat(first.stoppedEarly()).isTrue();
        assertThat(Trainer.latestCheckpoint(resumed)).get().asString().endsWith("checkpoint-5");
        Trainer.Result second = setup(resumed, cfg(10, 3), 0.1f).trainer().run(true);   // a fresh process: new model, new adapter
        assertThat(second.steps()).isEqualTo(10);

        assertThat(Files.readAllBytes(resumed.resolve(PeftAdapter.WEIGHTS)))
                .isEqualTo(Files.readAllBytes(straight.resolve(PeftAdapter.WEIGHTS)));
        List<String> a = Files.readAllLines(straight.resolve(Trainer.METRICS)), b = Files.readAllLines(resumed.resolve(Trainer.METRICS));
        assertThat(b).hasSize(11).hasSameSizeAs(a);   // step 0 (validation before training) + 10 steps
        for (int i = 0; i < a.size(); i++)   // identical except the measured speed
            assertThat(b.get(i).replaceAll("\"tokens_per_s\":[0-9.E-]+", "")).isEqualTo(a.get(i).replaceAll("\"tokens_per_s\":[0-9.E-]+", ""));
    }

    @Test
    void sameSeedSameAdapterBitForBit() throws Exception {
        Path x = tmp.resolve("x"), y = tmp.resolve("y");
        setup(x, cfg(4, 0), 0.1f).trainer().run(false);
        setup(y, cfg(4, 0), 0.1f).trainer().run(false);
        assertThat(Files.readAllBytes(x.resolve(PeftAdapter.WEIGHTS))).isEqualTo(Files.readAllBytes(y.resolve(PeftAdapter.WEIGHTS)));
    }

    @Test
    void onlyAdapterParametersChangeAndLossGoesDown() {
        Run run = setup(tmp.resolve("inv"), cfg(12, 0), 0f);
        Map<Tensor, float[]> before = new IdentityHashMap<>();
        for (Tensor t : run.model().parameters()) before.put(t, t.data.clone());
        List<Double> losses = new ArrayList<>();
        run.trainer().onStep(m -> losses.add(m.loss())).run(false);
        for (Tensor t : run.model().parameters())
            if (!run.lora().trainableParameters().contains(t))
                assertThat(t.data).as("base parameter %s must not change", t.name).isEqualTo(before.get(t));
        for (Tensor t : run.lora().trainableParameters()) assertThat(t.hasGrad()).isTrue();
        for (Tensor t : run.model().parameters()) if (!t.requiresGrad) assertThat(t.hasGrad()).as("frozen %s holds no gradient", t.name).isFalse();
        assertThat(losses.get(losses.size() - 1)).isLessThan(losses.get(0));
    }

    @Test
    void nanLossStopsWithAClearMessageAndKeepsTheLastCheckpoint() throws Exception {
        Path out = tmp.resolve("nan");
        Run run = setup(out, cfg(10, 2), 0f);
        Tensor a = run.lora().trainableParameters().get(0);
        run.trainer().onStep(m -> { if (m.step() == 4) a.data[0] = Float.NaN; });
        assertThatThrownBy(() -> run.trainer().run(false)).isInstanceOf(TrainingDivergedException.class)
                .hasMessageContaining("step 5").hasMessageContaining("checkpoint-4").hasMessageContaining("--lr");
        assertThat(Trainer.latestCheckpoint(out)).get().asString().endsWith("checkpoint-4");
        assertThat(out.resolve(PeftAdapter.WEIGHTS)).doesNotExist();
    }
}
