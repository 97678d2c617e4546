package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.eval.Drift;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tokenizer.Tokenizer;
import dev.peft4j.tuner.PeftAdapter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** train --eval-task / --keep-best / --early-stopping-patience / --reference on stories260K (real training, seconds). */
class TrainEvalCliTest {
    @TempDir Path tmp;
    static final String[] ANIMALS = {"dog", "cat", "cow", "duck"}, SOUNDS = {"woof", "meow", "moo", "quack"};

    Path data() throws Exception {
        Path f = tmp.resolve("train.jsonl");
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 64; i++)
            s.append(String.format("{\"prompt\": \"Tom saw a %s. The %s said\", \"completion\": \" %s!\"}%n", ANIMALS[i % 4], ANIMALS[i % 4], SOUNDS[i % 4]));
        Files.writeString(f, s.toString());
        return f;
    }

    /** The task as multiple choice, with other names: which sound does the animal make? */
    Path mc() throws Exception {
        Path f = tmp.resolve("mc.jsonl");
        StringBuilder s = new StringBuilder();
        String[] names = {"Lily", "Ben", "Sue"};
        for (String n : names)
            for (int a = 0; a < 4; a++)
                s.append(String.format("{\"prompt\": \"%s saw a %s. The %s said\", \"choices\": [\" woof!\", \" meow!\", \" moo!\", \" quack!\"], \"answer\": %d}%n",
                        n, ANIMALS[a], ANIMALS[a], a));
        Files.writeString(f, s.toString());
        return f;
    }

    Path reference() throws Exception {
        Path f = tmp.resolve("reference.txt");
        Files.writeString(f, """
                Once upon a time, there was a little girl named Lily. She loved to play outside in the sun.

                One day, a big dog came to the park. The dog was very happy and wanted to play with Lily.

                Tom had a red ball. He threw the ball to his friend and they laughed together.
                """);
        return f;
    }

    List<String> args(Path out, String... more) throws Exception {
        List<String> a = new ArrayList<>(List.of("train", "--model", CliTest.shared("models/stories260K").toString(), "--data", data().toString(),
                "--output", out.toString(), "--batch-size", "8", "--lr", "0.003", "--log-every", "100", "--threads", "1"));
        a.addAll(List.of(more));
        return a;
    }

    static String[] run(List<String> args) { return CliTest.run(args.toArray(String[]::new)); }

    static List<JsonNode> rows(Path out) throws Exception {
        List<JsonNode> rows = new ArrayList<>();
        for (String l : Files.readAllLines(out.resolve("metrics.jsonl"))) rows.add(new ObjectMapper().readTree(l));
        return rows;
    }

    static List<Integer> stepsWith(Path out, String key) throws Exception {
        return rows(out).stream().filter(r -> r.has(key)).map(r -> r.get("step").asInt()).toList();
    }

    @Test
    void taskMetricIsLoggedAtTheEvaluationStepsAndTheBestAdapterIsTheOneOfItsStep() throws Exception {
        Path out = tmp.resolve("run");
        String[] r = run(args(out, "--steps", "6", "--eval-every", "2", "--save-every", "2", "--eval-task", "mc,sst2",
                "--eval-data", mc() + "," + CliTest.shared("datasets/sst2/dev.tsv"), "--eval-limit", "12", "--keep-best", "mc:acc"));
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(stepsWith(out, "eval/mc:acc")).containsExactly(2, 4, 6);
        assertThat(stepsWith(out, "eval/mc:acc_norm")).containsExactly(2, 4, 6);
        JsonNode resolved = new ObjectMapper().readTree(out.resolve("train_config.json").toFile());
        assertThat(resolved.get("eval-data").get(0).asText()).isEqualTo(mc().toString());     // a path, as --config reads it back
        assertThat(resolved.get("keep-best").asText()).isEqualTo("mc:acc");
        assertThat(stepsWith(out, "eval/sst2:acc")).containsExactly(2, 4, 6);
        assertThat(r[1]).contains("eval task mc: 12 items").contains("eval task sst2: 12 items").contains("step 4: eval  mc:acc ");
        // best.json names the step with the highest logged mc:acc (the first of equals), and best/ is that step's adapter
        JsonNode best = new ObjectMapper().readTree(out.resolve("best/best.json").toFile());
        double max = -1;
        int maxStep = -1;
        for (JsonNode row : rows(out))
            if (row.has("eval/mc:acc") && row.get("eval/mc:acc").asDouble() > max) { max = row.get("eval/mc:acc").asDouble(); maxStep = row.get("step").asInt(); }
        assertThat(best.get("metric").asText()).isEqualTo("mc:acc");
        assertThat(best.get("step").asInt()).isEqualTo(maxStep);
        assertThat(best.get("value").asDouble()).isEqualTo(max);
        assertThat(best.get("higher_is_better").asBoolean()).isTrue();
        Path same = maxStep == 6 ? out : out.resolve("checkpoint-" + maxStep);
        assertThat(Files.readAllBytes(out.resolve("best").resolve(PeftAdapter.WEIGHTS))).isEqualTo(Files.readAllBytes(same.resolve(PeftAdapter.WEIGHTS)));
        assertThat(r[1]).contains("best mc:acc " + String.format(java.util.Locale.ROOT, "%.4f", max) + " at step " + maxStep);

        // --resume from the last checkpoint (step 4) keeps the watch: same best, same final adapter
        byte[] finalAdapter = Files.readAllBytes(out.resolve(PeftAdapter.WEIGHTS));
        String[] again = run(args(out, "--steps", "6", "--eval-every", "2", "--save-every", "2", "--eval-task", "mc,sst2",
                "--eval-data", mc() + "," + CliTest.shared("datasets/sst2/dev.tsv"), "--eval-limit", "12", "--keep-best", "mc:acc", "--resume"));
        assertThat(again[0]).as(again[2]).isEqualTo("0");
        assertThat(again[1]).contains("resumed from").contains("resumed the watch on mc:acc");
        assertThat(new ObjectMapper().readTree(out.resolve("best/best.json").toFile())).isEqualTo(best);
        assertThat(Files.readAllBytes(out.resolve(PeftAdapter.WEIGHTS))).isEqualTo(finalAdapter);
        assertThat(stepsWith(out, "eval/mc:acc")).containsExactly(2, 4, 6);
    }

    @Test
    void earlyStoppingStopsAfterPatienceEvaluationsWhenTheTaskCannotImprove() throws Exception {
        Path out = tmp.resolve("stuck");
        // lr 1e-12: the adapter barely moves, mc:acc cannot improve after the first evaluation
        List<String> a = args(out, "--steps", "40", "--eval-every", "2", "--eval-task", "mc", "--eval-data", mc().toString(),
                "--keep-best", "mc:acc", "--early-stopping-patience", "2");
        a.set(a.indexOf("0.003"), "1e-12");
        String[] r = run(a);
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).contains("early stopping at step 6 of 40: mc:acc has not improved for 2 evaluations (patience 2)")
                .contains("stopped early; best mc:acc");
        assertThat(stepsWith(out, "eval/mc:acc")).containsExactly(2, 4, 6);
        assertThat(rows(out)).hasSize(6);
        assertThat(out.resolve(PeftAdapter.WEIGHTS)).exists();                  // the final adapter, saved as usual
        assertThat(new ObjectMapper().readTree(out.resolve("best/best.json").toFile()).get("step").asInt()).isEqualTo(2);
    }

    @Test
    void referenceLogsForgettingAsDriftComputesItAndSilencesTheWarning() throws Exception {
        Path warned = tmp.resolve("warned");
        String[] w = run(args(warned, "--steps", "2"));
        assertThat(w[0]).as(w[2]).isEqualTo("0");
        assertThat(w[1]).contains("warning: ").contains("% of the parameters are trainable").contains("--reference FILE");

        Path out = tmp.resolve("watched");
        String[] r = run(args(out, "--steps", "4", "--eval-every", "2", "--reference", reference().toString(), "--lora.dropout", "0"));
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).doesNotContain("no --reference text watches it").contains("base model loss");
        assertThat(stepsWith(out, "eval/forgetting")).containsExactly(2, 4);
        double logged = rows(out).get(3).get("eval/forgetting").asDouble();
        // the same number as Drift.forgetting between the base and the saved adapter
        Path model = CliTest.shared("models/stories260K");
        CausalLM base = CausalLM.load(model), adapted = CausalLM.load(model);
        PeftAdapter.load(adapted, out, "default");
        try (Tokenizer tok = Tokenizer.load(model)) {
            double expected = Drift.forgetting(base, adapted, tok, EvalTasks.texts(reference(), 0), 512).delta();
            assertThat(logged).isCloseTo(expected, within(1e-6)).isNotEqualTo(0.0);
        }
    }

    @Test
    void everyTaskTypeIsScoredDuringTrainingAndALowerIsBetterMetricCanBeKept() throws Exception {
        Path gen = tmp.resolve("gen.jsonl");
        Files.writeString(gen, "{\"prompt\": \"Lily saw a dog. The dog said\", \"answer\": \"woof!\"}\n"
                + "{\"prompt\": \"Ben saw a cow. The cow said\", \"answer\": \"moo!\"}\n");
        Path out = tmp.resolve("all");
        String[] r = run(args(out, "--steps", "4", "--eval-every", "2", "--lora.dropout", "0",
                "--eval-task", "pubmedqa,gsm8k,gen,perplexity", "--eval-limit", "2", "--eval-max-new-tokens", "6",
                "--eval-data", String.join(",", CliTest.shared("datasets/pubmedqa/ori_pqal.json").toString(),
                        CliTest.shared("datasets/gsm8k/test.jsonl").toString(), gen.toString(), reference().toString()),
                "--keep-best", "perplexity:nll"));
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        for (String key : List.of("eval/pubmedqa:acc", "eval/pubmedqa:acc_norm", "eval/gsm8k:exact_match", "eval/gen:exact_match",
                "eval/perplexity:perplexity", "eval/perplexity:nll"))
            assertThat(stepsWith(out, key)).as(key).containsExactly(2, 4);
        JsonNode best = new ObjectMapper().readTree(out.resolve("best/best.json").toFile());
        assertThat(best.get("higher_is_better").asBoolean()).isFalse();
        double nll2 = rows(out).get(1).get("eval/perplexity:nll").asDouble(), nll4 = rows(out).get(3).get("eval/perplexity:nll").asDouble();
        assertThat(best.get("value").asDouble()).isEqualTo(Math.min(nll2, nll4));
        // the logged perplexity is that of the saved adapter, as `eval` computes it
        Path model = CliTest.shared("models/stories260K");
        CausalLM adapted = CausalLM.load(model);
        PeftAdapter.load(adapted, out, "default");
        try (Tokenizer tok = Tokenizer.load(model)) {
            assertThat(nll4).isCloseTo(dev.peft4j.eval.Perplexity.evaluate(adapted, tok, EvalTasks.texts(reference(), 2), 512).nll(), within(1e-9));
        }
    }

    @Test
    void forgettingWarningOnALargeShareOrEmbeddingsTrainedInFull() {
        assertThat(TrainCommand.forgettingWarning(5_000, 1_000_000, List.of())).isNull();                        // 0.50%
        assertThat(TrainCommand.forgettingWarning(20_000, 1_000_000, List.of())).startsWith("warning: 1.96% of the parameters are trainable:");
        assertThat(TrainCommand.forgettingWarning(5_000, 1_000_000, List.of("model.embed_tokens", "score")))
                .startsWith("warning: modules_to_save trains model.embed_tokens in full:").contains("--reference FILE");
        assertThat(TrainCommand.forgettingWarning(5_000, 1_000_000, List.of("score"))).isNull();
    }

    /**
     * The quickstart's task as multiple choice (which of the ten sounds?) on its pretrained base: the
     * score logged during training follows the learning, and best/ is the adapter of its best step.
     */
    @Test
    @Tag("slow")
    void onTheQuickstartTaskTheLoggedAccuracyRisesAndBestIsTheBestStep() throws Exception {
        Path qs = tmp.resolve("qs");
        String[] q = CliTest.run("quickstart", "--output", qs.toString(), "--steps", "1", "--threads", "1");
        assertThat(q[0]).as(q[2]).isEqualTo("0");
        List<String> sounds = new ArrayList<>(java.util.Arrays.stream(QuickstartTask.SOUNDS).map(x -> " " + x + "!").toList());
        sounds.add(" nothing.");                             // what the base answers (see QuickstartTask)
        Path mc = tmp.resolve("qs-mc.jsonl");
        StringBuilder s = new StringBuilder();
        for (String[] p : QuickstartCommand.readPairs(qs.resolve("data/test.jsonl")).subList(0, 40))
            s.append(new ObjectMapper().writeValueAsString(java.util.Map.of("prompt", p[0], "choices", sounds, "answer", sounds.indexOf(p[1])))).append('\n');
        Files.writeString(mc, s);
        Path out = tmp.resolve("qs-run");
        String[] r = CliTest.run("train", "--model", qs.resolve("base-model").toString(), "--data", qs.resolve("data/train.jsonl").toString(),
                "--output", out.toString(), "--lora.target-modules", "all-linear", "--lora.r", "16", "--lora.alpha", "32", "--lora.dropout", "0",
                "--steps", "12", "--lr", "2e-4", "--schedule", "constant", "--batch-size", "16", "--eval-every", "2", "--save-every", "2", "--eval-task", "mc", "--eval-data", mc.toString(),
                "--keep-best", "mc:acc", "--threads", "1", "--log-every", "100");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        List<Double> acc = rows(out).stream().filter(x -> x.has("eval/mc:acc")).map(x -> x.get("eval/mc:acc").asDouble()).toList();
        assertThat(stepsWith(out, "eval/mc:acc")).containsExactly(2, 4, 6, 8, 10, 12);
        // measured: 0.075, 0.225, 0.575, 0.925, 0.975, 0.975 (the base: 0/40, it says "nothing.")
        assertThat(acc.get(0)).as("%s", acc).isLessThan(0.5);
        assertThat(acc.get(acc.size() - 1)).as("%s", acc).isGreaterThanOrEqualTo(0.9);
        JsonNode best = new ObjectMapper().readTree(out.resolve("best/best.json").toFile());
        double max = acc.stream().mapToDouble(Double::doubleValue).max().orElseThrow();
        int step = 2 * (acc.indexOf(max) + 1);
        assertThat(best.get("value").asDouble()).isEqualTo(max);
        assertThat(best.get("step").asInt()).isEqualTo(step).isGreaterThan(2);
        Path same = step == 12 ? out : out.resolve("checkpoint-" + step);
        assertThat(Files.readAllBytes(out.resolve("best").resolve(PeftAdapter.WEIGHTS))).isEqualTo(Files.readAllBytes(same.resolve(PeftAdapter.WEIGHTS)));
    }

    @Test
    void misuseIsAClearErrorBeforeAnythingLoads() throws Exception {
        Path out = tmp.resolve("bad");
        String[] r = run(args(out, "--steps", "2", "--eval-every", "1", "--eval-task", "mc"));
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2]).contains("--eval-task mc needs its data: add --eval-data FILE");
        r = run(args(out, "--steps", "2", "--eval-every", "1", "--eval-task", "trivia", "--eval-data", mc().toString()));
        assertThat(r[2]).contains("unknown --eval-task 'trivia'; use mc, sst2, pubmedqa, gsm8k, gen, perplexity");
        r = run(args(out, "--steps", "2", "--eval-every", "1", "--keep-best", "mc:acc"));
        assertThat(r[2]).contains("--keep-best mc:acc: this run does not compute that metric; it computes val_loss")
                .contains("--eval-task mc --eval-data FILE");
        r = run(args(out, "--steps", "2", "--eval-every", "1", "--eval-task", "mc", "--eval-data", mc().toString(), "--keep-best", "mc:f1"));
        assertThat(r[2]).contains("it computes val_loss (with validation data), mc:acc, mc:acc_norm");
        r = run(args(out, "--steps", "2", "--eval-task", "mc", "--eval-data", mc().toString(), "--keep-best", "mc:acc"));
        assertThat(r[2]).contains("--keep-best needs evaluations during training: add --eval-every N");
        r = run(args(out, "--steps", "2", "--eval-every", "1", "--early-stopping-patience", "2"));
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2]).contains("needs validation data").contains("--keep-best");
        assertThat(out.resolve("adapter_model.safetensors")).doesNotExist();
    }
}
