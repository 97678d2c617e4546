/*
 * EvalTasks: runs the evaluation tasks the eval and compare commands name, on one model (whatever
 * adapters are active), returning metrics with 95% confidence intervals, the per-item values
 * behind them (for paired tests between versions) and the per-item predictions.
 *   perplexity  FILE: plain text (one document per blank-line-separated paragraph) or JSONL {"text"}
 *   pubmedqa    FILE: ori_pqal.json — multiple choice yes/no/maybe by log-likelihood (acc, acc_norm)
 *   sst2        FILE: dev.tsv — multiple choice negative/positive
 *   mc          FILE: JSONL {"prompt","choices","answer"[,"id"]}; answer: a 0-based index or the exact text of a choice
 *   gsm8k       FILE: test.jsonl — greedy generation, exact match on the "#### N" answer
 *   gen         FILE: JSONL {"prompt","answer"}, exact match after --regex extraction
 * Every item is scored unless limit > 0. The same task type may be given several times with
 * different files: its labels then name the file (mc[a.jsonl], mc[b.jsonl]) or, for the same file
 * name twice, a number (mc#1, mc#2). Every misuse (counts, unknown task, missing file, a regex
 * without a gen task, a bad regex) is a Peft4jException from the constructor, before any model work.
 */
package dev.peft4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Peft4jException;
import dev.peft4j.eval.GenerationTask;
import dev.peft4j.eval.MultipleChoice;
import dev.peft4j.eval.Perplexity;
import dev.peft4j.eval.Tasks;
import dev.peft4j.model.CausalLM;
import dev.peft4j.report.ItemResult;
import dev.peft4j.report.Metric;
import dev.peft4j.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

record EvalTasks(List<String> tasks, List<Path> data, int limit, int maxLength, int maxNewTokens, String regex) {
    static final Set<String> KNOWN = Set.of("perplexity", "pubmedqa", "sst2", "mc", "gsm8k", "gen");

    /** The metrics of one model and the per-item results behind them. */
    record Scores(List<Metric> metrics, List<ItemResult> items) {}

    EvalTasks {
        tasks = List.copyOf(tasks);
        data = List.copyOf(data);
        if (tasks.size() != data.size())
            throw new Peft4jException(tasks.size() + " --task but " + data.size() + " --data; give one --data file per --task, in the same order "
                    + "(e.g. --task mc --data a.jsonl --task perplexity --data b.txt)");
        for (int i = 0; i < tasks.size(); i++) {
            String t = tasks.get(i);
            if (!KNOWN.contains(t))
                throw new Peft4jException("unknown --task '" + t + "'; use perplexity, pubmedqa, sst2, mc, gsm8k or gen");
            Path f = data.get(i);
            if (!Files.isRegularFile(f))
                throw new Peft4jException("--data " + f + " (for --task " + t + ") " + (Files.exists(f) ? "is not a file" : "does not exist")
                        + "; give the task's data file");
            if (!Files.isReadable(f)) throw new Peft4jException("--data " + f + " (for --task " + t + ") is not readable");
        }
        if (limit < 0) throw new Peft4jException("--limit must be 0 (every item) or positive (got " + limit + ")");
        if (maxLength < 1) throw new Peft4jException("--max-length must be at least 1 (got " + maxLength + ")");
        if (maxNewTokens < 1) throw new Peft4jException("--max-new-tokens must be at least 1 (got " + maxNewTokens + ")");
        if (regex != null) {
            if (!tasks.contains("gen"))
                throw new Peft4jException("--regex extracts the answer of a gen task, but no --task gen was given (tasks: "
                        + String.join(", ", tasks) + "); drop --regex or add --task gen --data FILE");
            try {
                Pattern.compile(regex);
            } catch (PatternSyntaxException e) {
                throw new Peft4jException("--regex is not a valid regular expression: " + e.getDescription() + " in '" + regex + "'");
            }
        }
    }

    /** One label per task, in order: the task, or task[file name] / task#k where the same task is given more than once. */
    List<String> labels() {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < tasks.size(); i++) {
            String t = tasks.get(i);
            List<Integer> same = new ArrayList<>();
            for (int j = 0; j < tasks.size(); j++) if (tasks.get(j).equals(t)) same.add(j);
            if (same.size() == 1) {
                out.add(t);
                continue;
            }
            long distinctNames = same.stream().map(j -> data.get(j).getFileName().toString()).distinct().count();
            out.add(distinctNames == same.size() ? t + "[" + data.get(i).getFileName() + "]" : t + "#" + (same.indexOf(i) + 1));
        }
        return out;
    }

    List<Metric> run(CausalLM lm, Tokenizer tok, String label) { return run(lm, tok, label, null); }

    /** Runs every task; onTaskDone (may be null) hears "label: task" after each one. */
    List<Metric> run(CausalLM lm, Tokenizer tok, String label, java.util.function.Consumer<String> onTaskDone) {
        return score(lm, tok, label, onTaskDone).metrics();
    }

    /** Runs every task, keeping the per-item results; onTaskDone (may be null) hears "label: task" after each one. */
    Scores score(CausalLM lm, Tokenizer tok, String label, java.util.function.Consumer<String> onTaskDone) {
        List<Metric> out = new ArrayList<>();
        List<ItemResult> items = new ArrayList<>();
        List<String> labels = labels();
        for (int i = 0; i < tasks.size(); i++) {
            String task = tasks.get(i), name = labels.get(i);
            Path file = data.get(i);
            long t0 = System.nanoTime();
            switch (task) {
                case "perplexity" -> {
                    List<String> texts = texts(file, limit);
                    Perplexity.Result r = Perplexity.evaluate(lm, tok, texts, maxLength);
                    double[] w = new double[r.docTokens().length];
                    for (int d = 0; d < w.length; d++) w[d] = r.docTokens()[d];
                    var samples = new Metric.Samples(r.docNll(), w, false, "nll (nats/token)");
                    out.add(Metric.of(name + ":perplexity", r.perplexityCi(), false, samples));
                    out.add(Metric.of(name + ":nll", r.nllCi(), false, samples));
                    for (int d = 0; d < texts.size(); d++) items.add(ItemResult.document(name, d, excerpt(texts.get(d)), r.docNll()[d], r.docTokens()[d]));
                }
                case "pubmedqa", "sst2", "mc" -> {
                    List<MultipleChoice.Item> its = switch (task) {
                        case "pubmedqa" -> Tasks.pubmedqa(file, limit);
                        case "sst2" -> Tasks.sst2(file, limit);
                        default -> first(Tasks.jsonl(file), limit);
                    };
                    if (its.isEmpty()) throw new Peft4jException(file + " holds no items for --task " + task);
                    List<String> ids = switch (task) {
                        case "pubmedqa" -> Tasks.pubmedqaIds(file, limit);
                        case "mc" -> Tasks.jsonlIds(file);
                        default -> null;
                    };
                    MultipleChoice.Result r = MultipleChoice.evaluate(lm, tok, its);
                    boolean[] ok = new boolean[its.size()], okNorm = new boolean[its.size()];
                    for (int k = 0; k < its.size(); k++) {
                        MultipleChoice.Scored s = r.items().get(k);
                        ok[k] = s.correct();
                        okNorm[k] = s.correctNorm();
                        items.add(ItemResult.choice(name, k, ids == null ? null : ids.get(k), s.item().prompt(), s.item().choices(),
                                s.logLikelihoods(), s.item().answer(), s.predicted()));
                    }
                    out.add(Metric.of(name + ":acc", r.acc(), true, Metric.Samples.correctness(ok, "accuracy")));
                    out.add(Metric.of(name + ":acc_norm", r.accNorm(), true, Metric.Samples.correctness(okNorm, "accuracy")));
                }
                case "gsm8k", "gen" -> {
                    GenerationTask g = task.equals("gsm8k") ? Tasks.gsm8kTask(file, limit)
                            : Tasks.generation(file, regex == null ? null : Pattern.compile(regex), limit);
                    if (g.pairs().isEmpty()) throw new Peft4jException(file + " holds no items for --task " + task);
                    GenerationTask.Result r = g.evaluate(lm, tok, maxNewTokens, 8);
                    boolean[] ok = new boolean[r.items().size()];
                    for (int k = 0; k < ok.length; k++) {
                        GenerationTask.Item it = r.items().get(k);
                        ok[k] = it.correct();
                        items.add(ItemResult.generated(name, k, it.prompt(), it.expected(), it.extracted(), it.correct()));
                    }
                    out.add(Metric.of(name + ":exact_match", r.accuracy(), true, Metric.Samples.correctness(ok, "exact match")));
                }
                default -> throw new Peft4jException("unknown --task '" + task + "'; use perplexity, pubmedqa, sst2, mc, gsm8k or gen");
            }
            if (onTaskDone != null) onTaskDone.accept(label + ": " + name);
            else System.err.printf("[peft4j] %s: %s done in %.1fs%n", label, name, (System.nanoTime() - t0) / 1e9);
        }
        return new Scores(out, items);
    }

    private static String excerpt(String s) {
        return s.length() <= 200 ? s : s.substring(0, 200) + "…";
    }

    static <T> List<T> first(List<T> xs, int limit) { return limit > 0 && xs.size() > limit ? xs.subList(0, limit) : xs; }

    /** Documents of a text file (paragraphs) or a JSONL file ({"text"}). */
    static List<String> texts(Path file, int limit) {
        try {
            List<String> out = new ArrayList<>();
            if (file.toString().endsWith(".jsonl")) {
                ObjectMapper om = new ObjectMapper();
                int line = 0;
                for (String l : Files.readAllLines(file)) {
                    line++;
                    if (l.isBlank()) continue;
                    com.fasterxml.jackson.databind.JsonNode n;
                    try {
                        n = om.readTree(l);
                    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                        throw new Peft4jException(file + ":" + line + ": not valid JSON: " + e.getOriginalMessage());
                    }
                    if (n == null || !n.hasNonNull("text")) throw new Peft4jException(file + ":" + line + ": expected {\"text\": ...}");
                    out.add(n.get("text").asText());
                }
            } else {
                for (String p : Files.readString(file).split("\\n\\s*\\n")) if (!p.isBlank()) out.add(p.strip());
            }
            return first(out, limit);
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new Peft4jException(dev.peft4j.data.Utf8Errors.describe(file), e);
        } catch (IOException e) {
            throw new Peft4jException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }
}
