/*
 * peft4j eval: metrics of a model (optionally with adapters) on one or more tasks, each with a 95%
 * confidence interval (Wilson for accuracies, bootstrap over documents for perplexity) and its n.
 * Every item is scored unless --limit N. --output FILE writes the numbers and per-item results as
 * JSON and the per-item predictions as FILE-predictions.csv beside it.
 */
package dev.peft4j.cli;

import dev.peft4j.io.OutputDir;
import dev.peft4j.model.CausalLM;
import dev.peft4j.report.CompareReport;
import dev.peft4j.report.Variant;
import dev.peft4j.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "eval", mixinStandardHelpOptions = true,
        description = {"Evaluate a model (and adapters) on tasks: perplexity, pubmedqa, sst2, mc (JSONL choices), gsm8k, gen (JSONL + regex).",
                "Every item is scored unless --limit is given. A task type may repeat with other data (labels mc[a.jsonl], mc[b.jsonl]).",
                "Example: peft4j eval --model M --adapter A --task pubmedqa --data ../shared/datasets/pubmedqa/ori_pqal.json"})
final class EvalCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR") Path model;
    @Option(names = "--adapter", paramLabel = "DIR", description = "Adapter(s) to apply (several are combined).") List<Path> adapters;
    @Option(names = "--task", required = true, description = "Task; repeat for several.") List<String> tasks;
    @Option(names = "--data", required = true, paramLabel = "FILE", description = "Data file of each --task, in order.") List<Path> data;
    @Option(names = "--limit", defaultValue = "0", description = "Score only the first N items of each task; 0 = every item (the default).") int limit;
    @Option(names = "--max-length", defaultValue = "512", description = "Context window for perplexity (default ${DEFAULT-VALUE}).") int maxLength;
    @Option(names = "--max-new-tokens", defaultValue = "64", description = "Generation length for gsm8k/gen (default ${DEFAULT-VALUE}).") int maxNewTokens;
    @Option(names = "--regex", description = "Answer extractor for gen: the first capture group.") String regex;
    @picocli.CommandLine.Mixin BaseModelOptions baseModel;
    @Option(names = "--output", paramLabel = "FILE", description = "Also write the numbers and per-item results as JSON, and the per-item predictions as FILE-predictions.csv (new files, or --overwrite).") Path output;
    @picocli.CommandLine.Mixin OutputOptions outputOptions;
    @Option(names = "--record", description = {"Store the results in the (single) --adapter's directory: eval_results.json,",
            "shown by its model card (HF model-index), inspect and runs."}) boolean record;

    @Override
    public Integer call() {
        Path csv = output == null ? null : predictionsFile(output);
        if (output != null) {
            OutputDir.checkFile(output, outputOptions.overwrite, OutputDir.Names.CLI);
            OutputDir.checkFile(csv, outputOptions.overwrite, OutputDir.Names.CLI);
        }
        if (record) EvalRecord.check(adapters);
        EvalTasks et = new EvalTasks(tasks, data, limit, maxLength, maxNewTokens, regex);   // every misuse fails here, before loading
        CausalLM lm = baseModel.load(model);
        if (adapters != null && !adapters.isEmpty()) Adapters.attach(lm, adapters, null, "cat", System.err);
        try (Tokenizer tok = Tokenizer.load(model)) {
            var bar = new dev.peft4j.train.ProgressBar(System.err, "eval", tasks.size());
            long[] done = {0};
            var scores = et.score(lm, tok, "model", what -> bar.update(++done[0], what));
            Variant v = new Variant(adapters == null ? "base" : "adapted", scores.metrics(), List.of(), null, scores.items(), null);
            CompareReport r = CompareReport.of(model.toString(), et.labels(), List.of(v));
            System.out.print(r.toText());
            if (output != null) {
                r.writeJson(output);
                r.writeCsv(csv);
                System.out.printf("wrote %s (numbers, per-item results) and %s (per-item predictions)%n", output, csv);
            }
            if (record) EvalRecord.record(adapters, model, tasks, data, scores.metrics());
        }
        return 0;
    }

    /** out.json -> out-predictions.csv (beside it). */
    static Path predictionsFile(Path output) {
        String name = output.getFileName().toString();
        String stem = name.toLowerCase(java.util.Locale.ROOT).endsWith(".json") ? name.substring(0, name.length() - 5) : name;
        return output.resolveSibling(stem + "-predictions.csv");
    }
}
