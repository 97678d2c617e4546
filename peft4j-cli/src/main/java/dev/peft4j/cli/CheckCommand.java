/*
 * peft4j check: a quality gate for CI. Evaluates an adapter (the same tasks as `peft4j eval`, plus
 * drift from the base model on --reference text: forgetting, kl) and, optionally, a --baseline
 * adapter; checks every --require condition (see Requirement) and prints a verdict per condition.
 * Exit code: 0 every condition holds, 1 at least one fails, 2 could not run (bad options or
 * conditions, a missing file, an unknown metric, an error while evaluating). --json writes the
 * verdicts and every measured number (also when a condition fails).
 *
 * Order of work: conditions are parsed and checked against the tasks and files first, so that a
 * typo fails in a second, before any model loads.
 */
package dev.peft4j.cli;

import dev.peft4j.Peft4jException;
import dev.peft4j.eval.Drift;
import dev.peft4j.io.OutputDir;
import dev.peft4j.model.CausalLM;
import dev.peft4j.report.Metric;
import dev.peft4j.tokenizer.Tokenizer;
import dev.peft4j.tuner.PeftModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "check", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Quality gate for CI: evaluate an adapter and check conditions on its metrics.",
                "Exit code 0 when every --require holds, 1 when one fails, 2 when the check could not run.",
                "Example: peft4j check --model M --adapter A --task mc --data test.jsonl --require \"mc:acc>=0.6\" \\",
                "           --reference general.txt --require \"forgetting<=0.1\" --baseline PREV --require \"mc:acc>=baseline-0.01\" --json check.json"})
final class CheckCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Base model directory.")
    Path model;
    @Option(names = "--adapter", required = true, paramLabel = "DIR", description = "The adapter to check.")
    Path adapter;
    @Option(names = "--task", description = "Task, as in peft4j eval (perplexity, pubmedqa, sst2, mc, gsm8k, gen); repeat for several.")
    List<String> tasks = new ArrayList<>();
    @Option(names = "--data", paramLabel = "FILE", description = "Data file of each --task, in order.")
    List<Path> data = new ArrayList<>();
    @Option(names = "--require", required = true, paramLabel = "CONDITION",
            description = {"A condition: METRIC OP NUMBER or METRIC OP baseline[+|-NUMBER], OP one of >= > <= < ==; repeat for several.",
                    "METRIC as peft4j eval prints it (mc:acc, perplexity:perplexity, ...) or forgetting / kl (needs --reference)."})
    List<String> requires;
    @Option(names = "--reference", paramLabel = "FILE", description = "General text (paragraphs or JSONL {\"text\"}): forgetting (loss increase, nats/token) and kl from the base model.")
    Path reference;
    @Option(names = "--baseline", paramLabel = "DIR", description = "Another adapter (e.g. the version in production) for conditions relative to 'baseline'.")
    Path baseline;
    @Option(names = "--limit", defaultValue = "0", description = "Items per task and reference texts; 0 = all (default ${DEFAULT-VALUE}).")
    int limit;
    @Option(names = "--max-length", defaultValue = "512", description = "Context window for perplexity and drift (default ${DEFAULT-VALUE}).")
    int maxLength;
    @Option(names = "--max-new-tokens", defaultValue = "64", description = "Generation length for gsm8k/gen (default ${DEFAULT-VALUE}).")
    int maxNewTokens;
    @Option(names = "--regex", description = "Answer extractor for gen: the first capture group.")
    String regex;
    @Option(names = "--json", paramLabel = "FILE", description = "Write the verdicts and metrics as JSON (a new file, or --overwrite).")
    Path json;
    @picocli.CommandLine.Mixin OutputOptions outputOptions;

    static final Set<String> DRIFT_METRICS = Set.of("forgetting", "kl");

    /** One condition's outcome. */
    record Verdict(Requirement requirement, Metric metric, Double baselineValue, double threshold, boolean passed) {}

    @Override
    public Integer call() {
        try {
            return check();
        } catch (Peft4jException e) {
            throw e;                                    // Main prints "error: ..." and exits 2
        } catch (RuntimeException e) {
            throw new Peft4jException("could not run the check: " + e, e);
        }
    }

    private int check() {
        List<Requirement> reqs = requires.stream().map(Requirement::parse).toList();
        validate(reqs);
        if (json != null) OutputDir.checkFile(json, outputOptions.overwrite, OutputDir.Names.CLI);
        boolean drift = reqs.stream().anyMatch(r -> DRIFT_METRICS.contains(r.metric())) || reference != null;
        boolean useBaseline = baseline != null;

        EvalTasks et = new EvalTasks(tasks, data, limit, maxLength, maxNewTokens, regex);
        Map<String, Metric> candidate, base = null;
        List<String> refTexts = reference == null ? null : EvalTasks.texts(reference, limit);
        try (Tokenizer tok = Tokenizer.load(model)) {
            CausalLM baseLm = drift ? CausalLM.load(model) : null;
            CausalLM lm = CausalLM.load(model);
            PeftModel pm = new PeftModel(lm);
            candidate = evaluate(pm, adapter, "adapter", et, baseLm, tok, refTexts);
            if (useBaseline) base = evaluate(pm, baseline, "baseline", et, baseLm, tok, refTexts);
        }

        Set<String> unknown = new LinkedHashSet<>();
        for (Requirement r : reqs) if (!candidate.containsKey(r.metric())) unknown.add(r.metric());
        if (!unknown.isEmpty())
            throw new Peft4jException("unknown metric" + (unknown.size() == 1 ? " " : "s ") + String.join(", ", unknown)
                    + " in --require; the metrics measured are " + String.join(", ", candidate.keySet()));

        List<Verdict> verdicts = new ArrayList<>();
        for (Requirement r : reqs) {
            Metric m = candidate.get(r.metric());
            Double b = null;
            if (r.relative()) {
                Metric bm = base.get(r.metric());
                if (bm == null) throw new Peft4jException("the baseline has no metric " + r.metric());
                b = bm.value();
            }
            double threshold = r.threshold(b == null ? Double.NaN : b);
            verdicts.add(new Verdict(r, m, b, threshold, r.op().holds(m.value(), threshold)));
        }
        int failed = (int) verdicts.stream().filter(v -> !v.passed()).count();
        System.out.print(text(verdicts, failed));
        if (json != null) Cli.writeJson(json, json(verdicts, failed, candidate, base));
        return failed == 0 ? 0 : 1;
    }

    /** Checks that every condition can be evaluated with the given options, before any work. */
    private void validate(List<Requirement> reqs) {
        if (tasks.size() != data.size())
            throw new Peft4jException(tasks.size() + " --task but " + data.size() + " --data; give one data file per task, in order");
        List<Path> files = new ArrayList<>(data);
        if (reference != null) files.add(reference);
        for (Path f : files)
            if (!Files.isRegularFile(f)) throw new Peft4jException("file " + f + " not found; check the --data / --reference path");
        for (Path d : baseline == null ? List.of(model, adapter) : List.of(model, adapter, baseline))
            if (!Files.isDirectory(d)) throw new Peft4jException("directory " + d + " not found; check the --model / --adapter / --baseline path");
        for (Requirement r : reqs) {
            String prefix = r.metric().contains(":") ? r.metric().substring(0, r.metric().indexOf(':')) : r.metric();
            if (DRIFT_METRICS.contains(r.metric())) {
                if (reference == null)
                    throw new Peft4jException("--require \"" + r.text() + "\" needs --reference FILE: " + r.metric()
                            + " is measured against the base model on that text");
            } else if (tasks.stream().noneMatch(prefix::startsWith)) {
                throw new Peft4jException("--require \"" + r.text() + "\": unknown metric " + r.metric() + "; metrics come from the --task given ("
                        + (tasks.isEmpty() ? "none" : String.join(", ", tasks)) + ") as TASK:NAME, e.g. mc:acc, mc:acc_norm, "
                        + "perplexity:perplexity, perplexity:nll, gsm8k:exact_match, or forgetting / kl with --reference");
            }
            if (r.relative() && baseline == null)
                throw new Peft4jException("--require \"" + r.text() + "\" compares with the baseline: give --baseline ADAPTER_DIR");
        }
        if (tasks.isEmpty() && reference == null)
            throw new Peft4jException("nothing to measure: give --task and --data, or --reference for forgetting / kl");
    }

    /** Metrics of one adapter: the tasks, then forgetting and kl from the base when there is reference text. */
    private Map<String, Metric> evaluate(PeftModel pm, Path dir, String name, EvalTasks et, CausalLM baseLm, Tokenizer tok,
                                         List<String> refTexts) {
        pm.loadAdapter(dir, name);
        pm.setAdapter(name);
        Map<String, Metric> out = new LinkedHashMap<>();
        for (Metric m : et.tasks().isEmpty() ? List.<Metric>of() : et.run(pm.model(), tok, name)) out.put(m.name(), m);
        if (refTexts != null && baseLm != null) {
            Drift.Forgetting f = Drift.forgetting(baseLm, pm.model(), tok, refTexts, maxLength);
            out.put("forgetting", Metric.of("forgetting", f.deltaCi(), false));
            Drift.KlResult kl = Drift.kl(baseLm, pm.model(), tok, refTexts, maxLength);
            out.put("kl", Metric.of("kl", kl.ci(), false));
        }
        pm.disableAdapters();
        return out;
    }

    private String text(List<Verdict> verdicts, int failed) {
        StringBuilder sb = new StringBuilder();
        sb.append("check: ").append(adapter).append(baseline == null ? "" : " (baseline " + baseline + ")").append('\n');
        int width = verdicts.stream().mapToInt(v -> v.requirement().text().length()).max().orElse(0);
        for (Verdict v : verdicts) {
            Metric m = v.metric();
            sb.append(v.passed() ? "  ✓ PASS  " : "  ✗ FAIL  ").append(String.format(Locale.ROOT, "%-" + width + "s", v.requirement().text()))
                    .append("   ").append(m.name()).append(" = ").append(Requirement.fmt(m.value()));
            if (m.hasInterval()) sb.append(" (95% CI ").append(Requirement.fmt(m.lo())).append("..").append(Requirement.fmt(m.hi()))
                    .append(m.n() > 0 ? ", n " + m.n() : "").append(')');
            else if (m.n() > 0) sb.append(" (n ").append(m.n()).append(')');
            sb.append(v.passed() ? "  " + v.requirement().op().symbol + " " : "  not " + v.requirement().op().symbol + " ")
                    .append(v.requirement().thresholdText(v.baselineValue() == null ? Double.NaN : v.baselineValue())).append('\n');
        }
        sb.append(failed == 0 ? "check passed: all " + verdicts.size() + " condition" + (verdicts.size() == 1 ? "" : "s") + " hold\n"
                : "check FAILED: " + failed + " of " + verdicts.size() + " condition" + (verdicts.size() == 1 ? "" : "s") + " failed\n");
        return sb.toString();
    }

    private Map<String, Object> json(List<Verdict> verdicts, int failed, Map<String, Metric> candidate, Map<String, Metric> base) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("passed", failed == 0);
        out.put("failed", failed);
        out.put("model", model.toString());
        out.put("adapter", adapter.toString());
        out.put("baseline", baseline == null ? null : baseline.toString());
        List<Map<String, Object>> cs = new ArrayList<>();
        for (Verdict v : verdicts) {
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("require", v.requirement().text());
            c.put("metric", v.requirement().metric());
            c.put("op", v.requirement().op().symbol);
            c.put("threshold", finite(v.threshold()));
            c.put("relative_to_baseline", v.requirement().relative());
            c.put("baseline_value", v.baselineValue());
            c.put("value", finite(v.metric().value()));
            c.put("lo", finite(v.metric().lo()));
            c.put("hi", finite(v.metric().hi()));
            c.put("n", v.metric().n());
            c.put("passed", v.passed());
            cs.add(c);
        }
        out.put("conditions", cs);
        Map<String, Object> metrics = new LinkedHashMap<>();
        metrics.put("adapter", metricsJson(candidate));
        if (base != null) metrics.put("baseline", metricsJson(base));
        out.put("metrics", metrics);
        return out;
    }

    private static Map<String, Object> metricsJson(Map<String, Metric> ms) {
        Map<String, Object> out = new LinkedHashMap<>();
        ms.forEach((name, m) -> {
            Map<String, Object> x = new LinkedHashMap<>();
            x.put("value", finite(m.value()));
            x.put("lo", finite(m.lo()));
            x.put("hi", finite(m.hi()));
            x.put("n", m.n());
            x.put("higher_is_better", m.higherIsBetter());
            out.put(name, x);
        });
        return out;
    }

    /** JSON has no NaN: null instead. */
    private static Double finite(double v) {
        return Double.isFinite(v) ? v : null;
    }
}
