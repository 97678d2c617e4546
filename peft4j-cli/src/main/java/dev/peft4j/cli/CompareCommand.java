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
                "Example: peft4j compare --model M --adapter a1 --adapter a2 --task perplexity --data val.txt --reference general.txt --output report"})
final class CompareCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR") Path model;
    @Option(names = "--adapter", required = true, paramLabel = "DIR", description = "Adapter directory, or a directory of them (all, oldest first); repeat for each.") List<Path> adapters;
    @Option(names = "--task", required = true, description = "Task; repeat for several (see peft4j eval --help).") List<String> tasks;
    @Option(names = "--data", required = true, paramLabel = "FILE", description = "Data file of each --task, in order.") List<Path> data;
    @Option(names = "--reference", paramLabel = "FILE", description = "General text for drift (KL from base) and forgetting.") Path reference;
    @Option(names = "--limit", defaultValue = "200", description = "Items per task; 0 = all (default ${DEFAULT-VALUE}).") int limit;
    @Option(names = "--max-length", defaultValue = "512", description = "Context window (default ${DEFAULT-VALUE}).") int maxLength;
    @Option(names = "--max-new-tokens", defaultValue = "64", description = "Generation length for gsm8k/gen (default ${DEFAULT-VALUE}).") int maxNewTokens;
    @Option(names = "--regex", description = "Answer extractor for gen.") String regex;
    @Option(names = "--output", defaultValue = "compare-report", paramLabel = "DIR", description = "Report directory (default ${DEFAULT-VALUE}; absent or empty, or --overwrite).") Path output;
    @picocli.CommandLine.Mixin OutputOptions outputOptions;

    @Override
    public Integer call() throws Exception {
        EvalTasks et = new EvalTasks(tasks, data, limit, maxLength, maxNewTokens, regex);
        OutputDir out = outputOptions.prepare(output, OutputDir.Kind.REPORT, 0);
        try {
            CompareReport r = run(model, dev.peft4j.report.Runs.adapterDirs(adapters), et, reference, maxLength);
            System.out.print(r.toText());
            r.write(out.workDir(), "compare");
            out.commit();
        } catch (RuntimeException | Error e) {
            out.abort();
            throw e;
        }
        Path html = output.resolve("compare.html"), json = output.resolve("compare.json");
        System.out.printf("report: %s (charts), %s (numbers)%n", html, json);
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
            variants.add(new Variant("base", et.run(base, tok, "base", tick)));
            List<String> refTexts = reference == null ? null : EvalTasks.texts(reference, 200);
            for (int i = 0; i < adapters.size(); i++) {
                Path dir = adapters.get(i);
                String name = dir.getFileName().toString();
                pm.loadAdapter(dir, "a" + i);
                pm.setAdapter("a" + i);
                var metrics = et.run(lm, tok, name, tick);
                DriftFromBase drift = refTexts == null ? DriftFromBase.NONE
                        : DriftFromBase.of(Drift.kl(base, lm, tok, refTexts, maxLength), Drift.forgetting(base, lm, tok, refTexts, maxLength));
                var curve = Files.exists(dir.resolve("metrics.jsonl")) ? LossCurve.read(dir) : List.<dev.peft4j.report.LossPoint>of();
                variants.add(new Variant(name, metrics, curve, drift));
                pm.disableAdapters();
            }
        }
        return CompareReport.of(model.toString(), et.tasks(), variants);
    }
}
