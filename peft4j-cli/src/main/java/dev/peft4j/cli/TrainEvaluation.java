/*
 * TrainEvaluation: what `train --eval-task T --eval-data FILE` and `--reference FILE` score at the
 * trainer's evaluation steps (the Trainer knows no task: this is its Evaluator). The data is read
 * once, before training, so a bad file fails before the first step. Scores, with their direction:
 *   mc, sst2, pubmedqa   T:acc, T:acc_norm (higher is better) — MultipleChoice by log-likelihood
 *   gsm8k, gen           T:exact_match (higher is better) — greedy generation
 *   perplexity           perplexity:perplexity, perplexity:nll (lower is better)
 *   --reference FILE     forgetting = NLL(adapted) − NLL(base) on that general text, nats/token
 *                        (Drift.forgetting's number; lower is better). The base's NLL is measured
 *                        once, with the adapter disabled (PEFT's disable_adapter).
 */
package dev.peft4j.cli;

import dev.peft4j.Peft4jException;
import dev.peft4j.eval.GenerationTask;
import dev.peft4j.eval.MultipleChoice;
import dev.peft4j.eval.Perplexity;
import dev.peft4j.eval.Tasks;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tokenizer.Tokenizer;
import dev.peft4j.train.Evaluator;
import dev.peft4j.tuner.AdapterModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

final class TrainEvaluation implements Evaluator {
    static final List<String> TASKS = List.of("mc", "sst2", "pubmedqa", "gsm8k", "gen", "perplexity");
    static final String FORGETTING = "forgetting";

    /** The scores a task gives, name -> higher is better. */
    static Map<String, Boolean> metricsOf(String task) {
        Map<String, Boolean> m = new LinkedHashMap<>();
        switch (task) {
            case "mc", "sst2", "pubmedqa" -> { m.put(task + ":acc", true); m.put(task + ":acc_norm", true); }
            case "gsm8k", "gen" -> m.put(task + ":exact_match", true);
            case "perplexity" -> { m.put("perplexity:perplexity", false); m.put("perplexity:nll", false); }
            default -> throw new Peft4jException("unknown --eval-task '" + task + "'; use " + String.join(", ", TASKS));
        }
        return m;
    }

    private sealed interface Task permits Choice, Generation, Texts {}
    private record Choice(String name, List<MultipleChoice.Item> items) implements Task {}
    private record Generation(String name, GenerationTask task) implements Task {}
    private record Texts(String name, List<String> texts) implements Task {}

    private final CausalLM lm;
    private final Tokenizer tok;
    private final AdapterModel adapter;
    private final List<Task> tasks = new ArrayList<>();
    private final int maxLength, maxNewTokens;
    private final List<String> reference;
    private final Perplexity.Result referenceBase;

    /**
     * Reads every task's data (limit items each, 0 = all) and, with a reference file, measures the
     * base model's loss on it (the adapter disabled for that, then enabled again).
     */
    TrainEvaluation(CausalLM lm, Tokenizer tok, AdapterModel adapter, List<String> taskNames, List<Path> files, int limit,
                    int maxLength, int maxNewTokens, String regex, Path referenceFile) {
        this.lm = lm;
        this.tok = tok;
        this.adapter = adapter;
        this.maxLength = maxLength;
        this.maxNewTokens = maxNewTokens;
        for (int i = 0; i < taskNames.size(); i++) {
            String t = taskNames.get(i);
            Path f = files.get(i);
            Task task = switch (t) {
                case "mc" -> new Choice(t, EvalTasks.first(Tasks.jsonl(f), limit));
                case "sst2" -> new Choice(t, Tasks.sst2(f, limit));
                case "pubmedqa" -> new Choice(t, Tasks.pubmedqa(f, limit));
                case "gsm8k" -> new Generation(t, Tasks.gsm8kTask(f, limit));
                case "gen" -> new Generation(t, Tasks.generation(f, regex == null ? null : Pattern.compile(regex), limit));
                case "perplexity" -> new Texts(t, EvalTasks.texts(f, limit));
                default -> throw new Peft4jException("unknown --eval-task '" + t + "'; use " + String.join(", ", TASKS));
            };
            int n = switch (task) {
                case Choice c -> c.items().size();
                case Generation g -> g.task().pairs().size();
                case Texts x -> x.texts().size();
            };
            if (n == 0) throw new Peft4jException("--eval-data " + f + " holds no " + t + " items; check the file and --eval-task");
            tasks.add(task);
            System.out.printf("eval task %s: %d items from %s%n", t, n, f);
        }
        if (referenceFile != null) {
            reference = EvalTasks.texts(referenceFile, 0);
            if (reference.isEmpty()) throw new Peft4jException("--reference " + referenceFile + " holds no text; give general text "
                    + "(plain paragraphs separated by blank lines, or JSONL {\"text\"})");
            adapter.disable();
            try {
                referenceBase = Perplexity.evaluate(lm, tok, reference, maxLength);
            } finally {
                adapter.enable();
            }
            System.out.printf(java.util.Locale.ROOT, "reference %s: %d texts, base model loss %.4f nats/token; forgetting (loss increase) "
                    + "is logged at every evaluation%n", referenceFile, reference.size(), referenceBase.nll());
        } else {
            reference = null;
            referenceBase = null;
        }
    }

    /** Every score this evaluation gives, name -> higher is better. */
    Map<String, Boolean> metrics() {
        Map<String, Boolean> m = new LinkedHashMap<>();
        for (Task t : tasks) m.putAll(metricsOf(name(t)));
        if (reference != null) m.put(FORGETTING, false);
        return m;
    }

    private static String name(Task t) {
        return switch (t) {
            case Choice c -> c.name();
            case Generation g -> g.name();
            case Texts x -> x.name();
        };
    }

    @Override
    public List<Score> evaluate(int step) {
        List<Score> out = new ArrayList<>();
        for (Task t : tasks) {
            switch (t) {
                case Choice c -> {
                    MultipleChoice.Result r = MultipleChoice.evaluate(lm, tok, c.items());
                    out.add(new Score(c.name() + ":acc", r.acc().value(), true));
                    out.add(new Score(c.name() + ":acc_norm", r.accNorm().value(), true));
                }
                case Generation g -> out.add(new Score(g.name() + ":exact_match",
                        g.task().evaluate(lm, tok, maxNewTokens, 8).accuracy().value(), true));
                case Texts x -> {
                    Perplexity.Result r = Perplexity.evaluate(lm, tok, x.texts(), maxLength);
                    out.add(new Score("perplexity:perplexity", r.perplexity(), false));
                    out.add(new Score("perplexity:nll", r.nll(), false));
                }
            }
        }
        if (reference != null) {
            Perplexity.Result after = Perplexity.evaluate(lm, tok, reference, maxLength);
            out.add(new Score(FORGETTING, after.nll() - referenceBase.nll(), false));
        }
        return out;
    }
}
