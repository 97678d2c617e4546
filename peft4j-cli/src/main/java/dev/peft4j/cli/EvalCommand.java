/*
 * peft4j eval: metrics of a model (optionally with adapters) on one or more tasks, each with a 95%
 * confidence interval (Wilson for accuracies, bootstrap over documents for perplexity).
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
                "Example: peft4j eval --model M --adapter A --task pubmedqa --data ../shared/datasets/pubmedqa/ori_pqal.json --limit 100"})
final class EvalCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR") Path model;
    @Option(names = "--adapter", paramLabel = "DIR", description = "Adapter(s) to apply (several are combined).") List<Path> adapters;
    @Option(names = "--task", required = true, description = "Task; repeat for several.") List<String> tasks;
    @Option(names = "--data", required = true, paramLabel = "FILE", description = "Data file of each --task, in order.") List<Path> data;
    @Option(names = "--limit", defaultValue = "200", description = "Items per task; 0 = all (default ${DEFAULT-VALUE}).") int limit;
    @Option(names = "--max-length", defaultValue = "512", description = "Context window for perplexity (default ${DEFAULT-VALUE}).") int maxLength;
    @Option(names = "--max-new-tokens", defaultValue = "64", description = "Generation length for gsm8k/gen (default ${DEFAULT-VALUE}).") int maxNewTokens;
    @Option(names = "--regex", description = "Answer extractor for gen: the first capture group.") String regex;
    @picocli.CommandLine.Mixin BaseModelOptions baseModel;
    @Option(names = "--output", paramLabel = "FILE", description = "Also write the numbers as JSON (a new file, or --overwrite).") Path output;
    @picocli.CommandLine.Mixin OutputOptions outputOptions;
    @Option(names = "--record", description = {"Store the results in the (single) --adapter's directory: eval_results.json,",
            "shown by its model card (HF model-index), inspect and runs."}) boolean record;

    @Override
    public Integer call() {
        if (output != null) OutputDir.checkFile(output, outputOptions.overwrite, OutputDir.Names.CLI);
        if (record) EvalRecord.check(adapters);
        CausalLM lm = baseModel.load(model);
        if (adapters != null && !adapters.isEmpty()) Adapters.attach(lm, adapters, null, "cat", System.err);
        try (Tokenizer tok = Tokenizer.load(model)) {
            var bar = new dev.peft4j.train.ProgressBar(System.err, "eval", tasks.size());
            long[] done = {0};
            var metrics = new EvalTasks(tasks, data, limit, maxLength, maxNewTokens, regex).run(lm, tok, "model",
                    what -> bar.update(++done[0], what));
            CompareReport r = CompareReport.of(model.toString(), tasks, List.of(new Variant(adapters == null ? "base" : "adapted", metrics)));
            System.out.print(r.toText());
            if (output != null) r.writeJson(output);
            if (record) EvalRecord.record(adapters, model, tasks, data, metrics);
        }
        return 0;
    }
}
