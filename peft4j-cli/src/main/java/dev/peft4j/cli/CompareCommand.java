/*
 * peft4j compare: the same evaluation on the base model and on each adapter, plus each adapter's
 * training curves (from its metrics.jsonl) and its drift from the base (KL divergence of next-token
 * distributions and forgetting on --reference text), written as one self-contained HTML report
 * (Chart.js), a JSON with every number, and a text table on stdout.
 */
package dev.peft4j.cli;

import dev.peft4j.eval.Drift;
import dev.peft4j.io.OutputDir;
import dev.peft4j.model.CausalLM;
import dev.peft4j.report.CompareReport;
import dev.peft4j.report.DriftFromBase;
import dev.peft4j.report.LossCurve;
import dev.peft4j.report.Variant;
import dev.peft4j.tokenizer.Tokenizer;
import dev.peft4j.tuner.PeftModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "compare", mixinStandardHelpOptions = true,
        description = {"Compare the base model and adapters on tasks; write an HTML report (charts), a JSON and a text table.",
                "Every version is scored on the same items; 'best' is marked only when a paired test (McNemar / paired bootstrap) finds it significantly better than every other version.",
                "Example: peft4j compare --model M --adapter a1 --adapter a2 --task perplexity --data val.txt --reference general.txt --output report"})
final class CompareCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR") Path model;
    @Option(names = "--adapter", required = true, paramLabel = "DIR", description = "Adapter directory, or a directory of them (all, oldest first); repeat for each.") List<Path> adapters;
    @Option(names = "--task", required = true, description = "Task; repeat for several (see peft4j eval --help).") List<String> tasks;
    @Option(names = "--data", required = true, paramLabel = "FILE", description = "Data file of each --task, in order.") List<Path> data;
    @Option(names = "--reference", paramLabel = "FILE", description = "General text for drift (KL from base) and forgetting.") Path reference;
    @Option(names = "--limit", defaultValue = "0", description = "Score only the first N items of each task; 0 = every item (the default).") int limit;
    @Option(names = "--max-length", defaultValue = "512", description = "Context window (default ${DEFAULT-VALUE}).") int maxLength;
    @Option(names = "--max-new-tokens", defaultValue = "64", description = "Generation length for gsm8k/gen (default ${DEFAULT-VALUE}).") int maxNewTokens;
    @Option(names = "--regex", description = "Answer extractor for gen.") String regex;
    @Option(names = "--output", defaultValue = "compare-report", paramLabel = "DIR", description = "Report directory (default ${DEFAULT-VALUE}; absent or empty, or --overwrite).") Path output;
    @picocli.CommandLine.Mixin OutputOptions outputOptions;

    @Override
    public Integer call() throws Exception {
        OutputDir out = outputOptions.prepare(output, OutputDir.Kind.REPORT, 0);
        try {
            EvalTasks et = new EvalTasks(tasks, data, limit, maxLength, maxNewTokens, regex);   // every misuse fails here, before loading
            if (reference != null && !Files.isRegularFile(reference))
                throw new dev.peft4j.Peft4jException("--reference " + reference + (Files.exists(reference) ? " is not a file" : " does not exist")
                        + "; give a text file (paragraphs) or JSONL {\"text\"} of general text");
            for (Path a : adapters)
                if (!Files.isDirectory(a))
                    throw new dev.peft4j.Peft4jException("--adapter " + a + (Files.exists(a) ? " is not a directory" : " does not exist")
                            + "; give an adapter directory (adapter_config.json + adapter_model.safetensors)");
            CompareReport r = run(model, dev.peft4j.report.Runs.adapterDirs(adapters), et, reference, maxLength);
            System.out.print(r.toText());
            r.write(out.workDir(), "compare");
            out.commit();
        } catch (RuntimeException | Error e) {
            out.abort();
            throw e;
        }
        Path html = output.resolve("compare.html"), json = output.resolve("compare.json"), csv = output.resolve("compare-predictions.csv");
        System.out.printf("report: %s (charts), %s (numbers), %s (per-item predictions)%n", html, json, csv);
        return 0;
    }

    static CompareReport run(Path model, List<Path> adapters, EvalTasks et, Path reference, int maxLength) {
        CausalLM base = CausalLM.load(model), lm = CausalLM.load(model);
        PeftModel pm = new PeftModel(lm);
        List<Variant> variants = new ArrayList<>();
        var bar = new dev.peft4j.train.ProgressBar(System.err, "compare", (long) (adapters.size() + 1) * et.tasks().size());
        long[] done = {0};
        java.util.function.Consumer<String> tick = what -> bar.update(++done[0], what);
        try (Tokenizer tok = Tokenizer.load(model)) {
            var baseScores = et.score(base, tok, "base", tick);
            variants.add(new Variant("base", baseScores.metrics(), List.of(), null, baseScores.items(), null));
            List<String> refTexts = reference == null ? null : EvalTasks.texts(reference, 200);
            for (int i = 0; i < adapters.size(); i++) {
                Path dir = adapters.get(i);
                String name = dir.getFileName().toString();
                pm.loadAdapter(dir, "a" + i);
                pm.setAdapter("a" + i);
                var scores = et.score(lm, tok, name, tick);
                DriftFromBase drift = refTexts == null ? DriftFromBase.NONE
                        : DriftFromBase.of(Drift.kl(base, lm, tok, refTexts, maxLength), Drift.forgetting(base, lm, tok, refTexts, maxLength));
                var curve = Files.exists(dir.resolve("metrics.jsonl")) ? LossCurve.read(dir) : List.<dev.peft4j.report.LossPoint>of();
                variants.add(new Variant(name, scores.metrics(), curve, drift, scores.items(), lossSettings(dir)));
                pm.disableAdapters();
            }
        }
        return CompareReport.of(model.toString(), et.labels(), variants);
    }

    /** Settings that make two runs' losses comparable or not, from DIR/train_config.json (empty if absent). */
    static java.util.Map<String, String> lossSettings(Path adapterDir) {
        Path cfg = adapterDir.resolve("train_config.json");
        java.util.Map<String, String> out = new java.util.TreeMap<>();
        if (!Files.isRegularFile(cfg)) return out;
        try {
            var root = new com.fasterxml.jackson.databind.ObjectMapper().readTree(cfg.toFile());
            for (String k : LOSS_SETTINGS)
                if (root != null && root.has(k) && !root.get(k).isNull())
                    out.put(k, root.get(k).isValueNode() ? root.get(k).asText() : root.get(k).toString());
        } catch (java.io.IOException e) {
            System.err.println("[peft4j] warning: cannot read " + cfg + " (" + e.getMessage() + "); its losses are not checked for comparability");
        }
        return out;
    }

    /** train_config.json keys that change what a training/validation loss measures. */
    static final List<String> LOSS_SETTINGS = List.of("data", "val-data", "val-fraction", "completion-only-loss", "max-length", "format", "add-eos");
}
