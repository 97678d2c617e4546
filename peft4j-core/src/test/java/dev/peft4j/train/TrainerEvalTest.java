package dev.peft4j.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Golden;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.data.DataLoader;
import dev.peft4j.data.Example;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tuner.AdapterModel;
import dev.peft4j.tuner.PeftAdapter;
import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Evaluation during training: task scores at the evaluation steps, the best checkpoint, early stopping, resume. */
class TrainerEvalTest {
    @TempDir Path tmp;

    record Run(CausalLM model, LoraModel lora, Trainer trainer, ByteArrayOutputStream console) {
        String log() { return console.toString(StandardCharsets.UTF_8); }
    }

    Run setup(Path out, TrainConfig cfg, List<Example> validation) {
        CausalLM model = CausalLM.load(Golden.model("llama"));
        LoraModel lm = Lora.apply(model, LoraConfig.builder().r(4).alpha(8).dropout(0.1f).allLinear().build(), 7);
        DataLoader loader = new DataLoader(TrainerTest.examples(24, 128, 1), cfg.batchSize(), true, cfg.seed(), 0, false);
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        Trainer t = new Trainer(model, lm.trainableParameters(), dir -> PeftAdapter.save(lm, dir, "golden/llama", null),
                loader, validation, 0, cfg, out, new PrintStream(console, true, StandardCharsets.UTF_8));
        return new Run(model, lm, t, console);
    }

    static TrainConfig cfg(int steps, int evalEvery, int saveEvery) {
        return new TrainConfig(steps, 0, 5e-3, LrSchedule.Kind.COSINE, 2, 0, 3, 1, 1.0, 0.0, 42, 1, evalEvery, 0, saveEvery, 0);
    }

    /** A real score of the model as it is: its mean token loss on held-out examples (lower is better). */
    static Evaluator heldOutLoss(CausalLM model) {
        List<Example> held = TrainerTest.examples(5, 128, 9);
        return step -> {
            double sum = 0;
            long n = 0;
            for (Example e : held) {
                int k = LmLoss.countTargets(model, e.labels(), 1, e.inputIds().length);
                sum += LmLoss.loss(null, model, e.inputIds(), e.labels(), 1, e.inputIds().length).data[0] * k;
                n += k;
            }
            return List.of(new Evaluator.Score("heldout:loss", sum / n, false));
        };
    }

    /** A score given per step (to drive the stopping rule through a chosen course). */
    static Evaluator course(IntFunction<Double> byStep) {
        return step -> List.of(new Evaluator.Score("task:acc", byStep.apply(step), true));
    }

    static List<JsonNode> rows(Path out) throws Exception {
        List<JsonNode> rows = new ArrayList<>();
        for (String l : Files.readAllLines(out.resolve(Trainer.METRICS))) rows.add(new ObjectMapper().readTree(l));
        return rows;
    }

    @Test
    void taskScoresAreLoggedAtExactlyTheEvaluationSteps() throws Exception {
        Path out = tmp.resolve("steps");
        Run run = setup(out, cfg(6, 2, 0), List.of());
        List<Integer> heard = new ArrayList<>();
        run.trainer().evaluator(heldOutLoss(run.model())).onStep(m -> { if (!m.evalScores().isEmpty()) heard.add(m.step()); }).run(false);
        List<Integer> logged = new ArrayList<>();
        for (JsonNode r : rows(out)) if (r.has("eval/heldout:loss")) logged.add(r.get("step").asInt());
        assertThat(logged).containsExactly(2, 4, 6);
        assertThat(heard).containsExactly(2, 4, 6);
        assertThat(run.log()).contains("step 2: eval  heldout:loss ").contains("step 6: eval  heldout:loss ");
        // a real score of the model as it is at that step: it moves while the adapter trains
        List<JsonNode> rows = rows(out);
        assertThat(rows.get(5).get("eval/heldout:loss").asDouble()).isNotEqualTo(rows.get(1).get("eval/heldout:loss").asDouble());
    }

    @Test
    void bestAdapterEqualsTheAdapterTheModelHadAtThatStep() throws Exception {
        Path out = tmp.resolve("best");
        Run run = setup(out, cfg(8, 2, 2), List.of());
        Map<Integer, List<float[]>> snapshots = new HashMap<>();
        Trainer.Result r = run.trainer().evaluator(heldOutLoss(run.model())).keepBest("heldout:loss")
                .onStep(m -> { if (!m.evalScores().isEmpty()) snapshots.put(m.step(), run.lora().trainableParameters().stream().map(t -> t.data.clone()).toList()); })
                .run(false);
        JsonNode best = new ObjectMapper().readTree(out.resolve("best/best.json").toFile());
        int step = best.get("step").asInt();
        assertThat(best.get("metric").asText()).isEqualTo("heldout:loss");
        assertThat(r.best().step()).isEqualTo(step);
        assertThat(best.get("value").asDouble()).isEqualTo(r.best().value());
        // the best value is the lowest logged one
        double min = rows(out).stream().filter(x -> x.has("eval/heldout:loss")).mapToDouble(x -> x.get("eval/heldout:loss").asDouble()).min().orElseThrow();
        assertThat(r.best().value()).isEqualTo(min);
        // byte-equal to the checkpoint (or the final adapter) written at the same step
        Path same = step == 8 ? out : out.resolve("checkpoint-" + step);
        assertThat(Files.readAllBytes(out.resolve("best/" + PeftAdapter.WEIGHTS))).isEqualTo(Files.readAllBytes(same.resolve(PeftAdapter.WEIGHTS)));
        // and, loaded on a fresh model, tensor for tensor the values the trainer held at that step
        AdapterModel loaded = PeftAdapter.load(CausalLM.load(Golden.model("llama")), out.resolve("best"), "default");
        List<Tensor> params = loaded.trainableParameters();
        assertThat(params).hasSameSizeAs(snapshots.get(step));
        for (int i = 0; i < params.size(); i++) assertThat(params.get(i).data).as(params.get(i).name).isEqualTo(snapshots.get(step).get(i));
        assertThat(out.resolve(".best.tmp")).doesNotExist();
        assertThat(out.resolve(".best.old")).doesNotExist();
    }

    @Test
    void earlyStoppingEndsAfterPatienceEvaluationsWithoutImprovementAndSavesTheFinalAdapter() throws Exception {
        Path out = tmp.resolve("early");
        Map<Integer, Double> values = Map.of(2, 0.5, 4, 0.6, 6, 0.6, 8, 0.55, 10, 0.9);
        Run run = setup(out, cfg(20, 2, 0), List.of());
        Trainer.Result r = run.trainer().evaluator(course(values::get)).keepBest("task:acc").earlyStopping(2).run(false);
        assertThat(r.earlyStopped()).isTrue();
        assertThat(r.stoppedEarly()).isFalse();
        assertThat(r.steps()).isEqualTo(8);
        assertThat(r.best()).isEqualTo(new Trainer.Best(4, "task:acc", 0.6, true));
        assertThat(out.resolve(PeftAdapter.WEIGHTS)).exists();
        assertThat(new ObjectMapper().readTree(out.resolve("best/best.json").toFile()).get("step").asInt()).isEqualTo(4);
        assertThat(rows(out)).hasSize(8);
        assertThat(run.log()).contains("early stopping at step 8 of 20: task:acc has not improved for 2 evaluations (patience 2); best task:acc 0.6000 at step 4");
    }

    @Test
    void earlyStoppingWithoutKeepBestWatchesValidationLoss() {
        Run run = setup(tmp.resolve("val"), new TrainConfig(30, 0, 1e-12, LrSchedule.Kind.CONSTANT, 0, 0, 3, 1, 1.0, 0.0, 42, 1, 2, 0, 0, 0),
                TrainerTest.examples(6, 128, 2));
        // lr 1e-12: the validation loss cannot improve after the first evaluation
        Trainer.Result r = run.trainer().earlyStopping(3).run(false);
        assertThat(r.earlyStopped()).isTrue();
        assertThat(r.steps()).isEqualTo(8);                        // evaluations at 2 (best), 4, 6, 8 -> 3 without improvement
        assertThat(r.best().metric()).isEqualTo("val_loss");
        assertThat(tmp.resolve("val/best")).doesNotExist();        // no --keep-best: nothing kept
    }

    @Test
    void resumedRunKeepsTheBestValueAndThePatienceCounter() throws Exception {
        Map<Integer, Double> values = Map.of(2, 0.5, 4, 0.9, 6, 0.6, 8, 0.6, 10, 0.6, 12, 0.7);
        Path straight = tmp.resolve("straight"), resumed = tmp.resolve("resumed");
        Trainer.Result a = setup(straight, cfg(20, 2, 2), List.of()).trainer().evaluator(course(values::get)).keepBest("task:acc")
                .earlyStopping(3).run(false);
        assertThat(a.steps()).isEqualTo(10);
        Run first = setup(resumed, cfg(20, 2, 2), List.of());
        assertThat(first.trainer().evaluator(course(values::get)).keepBest("task:acc").earlyStopping(3).stopAfter(6).run(false).stoppedEarly()).isTrue();
        Run second = setup(resumed, cfg(20, 2, 2), List.of());
        Trainer.Result b = second.trainer().evaluator(course(values::get)).keepBest("task:acc").earlyStopping(3).run(true);
        assertThat(second.log()).contains("resumed the watch on task:acc: best 0.9000 at step 4, 1 evaluation(s) without improvement");
        assertThat(b.steps()).isEqualTo(10);                       // without the restored counter it would run on to 12
        assertThat(b.best()).isEqualTo(a.best()).isEqualTo(new Trainer.Best(4, "task:acc", 0.9, true));
        assertThat(Files.readAllBytes(resumed.resolve("best/" + PeftAdapter.WEIGHTS)))
                .isEqualTo(Files.readAllBytes(straight.resolve("best/" + PeftAdapter.WEIGHTS)))
                .isEqualTo(Files.readAllBytes(straight.resolve("checkpoint-4/" + PeftAdapter.WEIGHTS)));
        assertThat(Files.readAllBytes(resumed.resolve(PeftAdapter.WEIGHTS))).isEqualTo(Files.readAllBytes(straight.resolve(PeftAdapter.WEIGHTS)));
    }

    /** A kill between the two renames of a best/ replacement leaves .best.old: the next run renames it back; .best.tmp is removed. */
    @Test
    void leftoversOfAKilledBestReplacementAreRecovered() throws Exception {
        Map<Integer, Double> values = Map.of(2, 0.5, 4, 0.9, 6, 0.6, 8, 0.7, 10, 0.6);
        Path out = tmp.resolve("kill");
        setup(out, cfg(10, 2, 2), List.of()).trainer().evaluator(course(values::get)).keepBest("task:acc").stopAfter(6).run(false);
        byte[] best4 = Files.readAllBytes(out.resolve("best/" + PeftAdapter.WEIGHTS));
        Files.move(out.resolve("best"), out.resolve(".best.old"));              // as if killed after the first rename
        Files.createDirectories(out.resolve(".best.tmp"));
        Files.writeString(out.resolve(".best.tmp/" + PeftAdapter.WEIGHTS), "half-written");
        Run resumed = setup(out, cfg(10, 2, 2), List.of());
        Trainer.Result r = resumed.trainer().evaluator(course(values::get)).keepBest("task:acc").run(true);
        assertThat(resumed.log()).contains("note: restored " + out.resolve("best")).contains("note: removed " + out.resolve(".best.tmp"));
        assertThat(r.best().step()).isEqualTo(4);
        assertThat(Files.readAllBytes(out.resolve("best/" + PeftAdapter.WEIGHTS))).isEqualTo(best4);
        assertThat(out.resolve(".best.old")).doesNotExist();
        assertThat(out.resolve(".best.tmp")).doesNotExist();
    }

    @Test
    void settingsThatCannotWorkAreRefusedBeforeTraining() {
        Path out = tmp.resolve("bad");
        assertThatThrownBy(() -> setup(out, cfg(4, 0, 0), List.of()).trainer().evaluator(course(s -> 0.5)).keepBest("task:acc").run(false))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("eval_every is 0").hasMessageContaining("--eval-every");
        assertThatThrownBy(() -> setup(out, cfg(4, 2, 0), List.of()).trainer().keepBest("val_loss").run(false))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("needs validation data").hasMessageContaining("--val-data");
        assertThatThrownBy(() -> setup(out, cfg(4, 2, 0), List.of()).trainer().earlyStopping(2).run(false))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("--keep-best");
        assertThatThrownBy(() -> setup(out, cfg(4, 2, 0), List.of()).trainer().keepBest("mc:acc").run(false))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("no evaluator computes 'mc:acc'");
        assertThat(out).doesNotExist();                            // refused before anything was written
        Path out2 = tmp.resolve("bad2");
        assertThatThrownBy(() -> setup(out2, cfg(4, 2, 0), List.of()).trainer().evaluator(course(s -> 0.5)).keepBest("mc:acc").run(false))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("'mc:acc', was not computed at step 2").hasMessageContaining("task:acc");
    }
}
