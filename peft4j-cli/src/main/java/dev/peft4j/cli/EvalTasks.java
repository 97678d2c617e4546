/*
 * EvalTasks: runs the evaluation tasks the eval and compare commands name, on one model (whatever
 * adapters are active), returning metrics with 95% confidence intervals.
 *   perplexity  FILE: plain text (one document per blank-line-separated paragraph) or JSONL {"text"}
 *   pubmedqa    FILE: ori_pqal.json — multiple choice yes/no/maybe by log-likelihood (acc, acc_norm)
 *   sst2        FILE: dev.tsv — multiple choice negative/positive
 *   mc          FILE: JSONL {"prompt","choices","answer"}
 *   gsm8k       FILE: test.jsonl — greedy generation, exact match on the "#### N" answer
 *   gen         FILE: JSONL {"prompt","answer"}, exact match after --regex extraction
 */
package dev.peft4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Peft4jException;
import dev.peft4j.eval.GenerationTask;
import dev.peft4j.eval.MultipleChoice;
import dev.peft4j.eval.Perplexity;
import dev.peft4j.eval.Tasks;
import dev.peft4j.model.CausalLM;
import dev.peft4j.report.Metric;
import dev.peft4j.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

record EvalTasks(List<String> tasks, List<Path> data, int limit, int maxLength, int maxNewTokens, String regex) {
    EvalTasks {
        if (tasks.size() != data.size())
            throw new Peft4jException(tasks.size() + " --task but " + data.size() + " --data; give one data file per task, in order");
    }

    List<Metric> run(CausalLM lm, Tokenizer tok, String label) { return run(lm, tok, label, null); }

    /** Runs every task; onTaskDone (may be null) hears "label: task" after each one. */
    List<Metric> run(CausalLM lm, Tokenizer tok, String label, java.util.function.Consumer<String> onTaskDone) {
        List<Metric> out = new ArrayList<>();
        for (int i = 0; i < tasks.size(); i++) {
            String task = tasks.get(i);
            Path file = data.get(i);
            long t0 = System.nanoTime();
            switch (task) {
                case "perplexity" -> {
                    Perplexity.Result r = Perplexity.evaluate(lm, tok, texts(file, limit), maxLength);
                    out.add(Metric.of(task + ":perplexity", r.perplexityCi(), false));
                    out.add(Metric.of(task + ":nll", r.nllCi(), false));
                }
                case "pubmedqa", "sst2", "mc" -> {
                    List<MultipleChoice.Item> items = switch (task) {
                        case "pubmedqa" -> Tasks.pubmedqa(file, limit);
                        case "sst2" -> Tasks.sst2(file, limit);
                        default -> first(Tasks.jsonl(file), limit);
                    };
                    MultipleChoice.Result r = MultipleChoice.evaluate(lm, tok, items);
                    out.add(Metric.of(task + ":acc", r.acc(), true));
                    out.add(Metric.of(task + ":acc_norm", r.accNorm(), true));
                }
                case "gsm8k", "gen" -> {
                    GenerationTask g = task.equals("gsm8k") ? Tasks.gsm8kTask(file, limit)
                            : Tasks.generation(file, regex == null ? null : Pattern.compile(regex), limit);
                    GenerationTask.Result r = g.evaluate(lm, tok, maxNewTokens, 8);
                    out.add(Metric.of(task + ":exact_match", r.accuracy(), true));
                }
                default -> throw new Peft4jException("unknown --task '" + task + "'; use perplexity, pubmedqa, sst2, mc, gsm8k or gen");
            }
            if (onTaskDone != null) onTaskDone.accept(label + ": " + task);
            else System.err.printf("[peft4j] %s: %s done in %.1fs%n", label, task, (System.nanoTime() - t0) / 1e9);
        }
        return out;
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
                    var n = om.readTree(l);
                    if (!n.hasNonNull("text")) throw new Peft4jException(file + ":" + line + ": expected {\"text\": ...}");
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
