/*
 * peft4j data check FILE: the checks `train` runs on its data (dev.peft4j.data.DataCheck), on their
 * own - duplicates, leakage into validation/test files, empty targets, truncation and token lengths
 * (with --model), label balance, chat-format errors - printed as a summary with the source lines, and
 * optionally written as JSON. Exit code: 0 (no warnings, or warnings without --strict), 1 (warnings
 * with --strict), 2 (could not run: bad options, missing or unreadable files).
 */
package dev.peft4j.cli;

import dev.peft4j.data.DataCheck;
import dev.peft4j.data.DataConfig;
import dev.peft4j.io.OutputDir;
import dev.peft4j.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "data", mixinStandardHelpOptions = true, description = "Data tools: `peft4j data check FILE` checks a training set.",
        subcommands = {DataCommand.Check.class})
final class DataCommand implements Runnable {
    @Spec CommandSpec spec;

    @Override public void run() { spec.commandLine().usage(System.out); }

    @Command(name = "check", mixinStandardHelpOptions = true, sortOptions = false,
            description = {"Check training data before training: exact and near duplicates, leakage into validation/test data,",
                    "empty targets, truncation and token lengths (with --model), label balance, chat-format errors.",
                    "Exit code 0 (no warnings, or warnings without --strict), 1 (warnings with --strict), 2 (could not run).",
                    "Example: peft4j data check train.jsonl --val-data val.jsonl --test-data test.jsonl --model M --max-length 512"})
    static final class Check implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "FILE", description = "Training data (.jsonl or .json), as given to train --data.")
        Path data;
        @Option(names = "--val-data", paramLabel = "FILE", description = "Validation file (checked for leakage from the training data).")
        Path valData;
        @Option(names = "--val-fraction", defaultValue = "0", description = "The split train would hold out (same seed, same records).")
        double valFraction;
        @Option(names = "--seed", defaultValue = "42", description = "Seed of the --val-fraction split (default ${DEFAULT-VALUE}).")
        long seed;
        @Option(names = "--test-data", paramLabel = "FILE", description = "Test or evaluation data (training formats, or {\"prompt\"|\"question\", ...} records) checked for leakage.")
        Path testData;
        @Option(names = "--model", paramLabel = "DIR", description = "Model (or tokenizer) directory: token lengths, truncation, chat template.")
        Path model;
        @Option(names = "--max-length", defaultValue = "512", description = "Truncation length train would use (default ${DEFAULT-VALUE}).")
        int maxLength;
        @Option(names = "--format", defaultValue = "auto", description = "auto, text, prompt_completion, messages or alpaca.")
        String format;
        @Option(names = "--packing", arity = "0..1", defaultValue = "false", description = "Training packs examples (nothing is truncated).")
        boolean packing;
        @Option(names = "--completion-only-loss", arity = "0..1", defaultValue = "true", description = "As train's option (default ${DEFAULT-VALUE}).")
        boolean completionOnly;
        @Option(names = "--add-eos", arity = "0..1", defaultValue = "true", description = "As train's option (default ${DEFAULT-VALUE}).")
        boolean addEos;
        @Option(names = "--strict", arity = "0..1", defaultValue = "false", description = "Exit 1 when any warning is found.")
        boolean strict;
        @Option(names = "--json", paramLabel = "FILE", description = "Also write the report as JSON (a new file, or --overwrite).")
        Path json;
        @picocli.CommandLine.Mixin OutputOptions outputOptions;

        @Override
        public Integer call() {
            if (json != null) OutputDir.checkFile(json, outputOptions.overwrite, OutputDir.Names.CLI);
            DataConfig dc = DataConfig.builder().format(TrainCommand.dataFormat(format)).maxLength(maxLength).packing(packing)
                    .completionOnlyLoss(completionOnly).addEos(addEos).validationFile(valData).validationFraction(valFraction)
                    .seed(seed).build();
            DataCheck.Report r;
            if (model != null) {
                try (Tokenizer tok = Tokenizer.load(model)) {
                    r = DataCheck.run(data, testData, tok, model, dc);
                }
            } else {
                r = DataCheck.run(data, testData, null, null, dc);
            }
            System.out.print(r.summary());
            if (json != null) Cli.writeJson(json, toJson(r));
            int warnings = r.warnings().size();
            if (warnings > 0 && strict) {
                System.err.println("error: --strict: " + warnings + " warning" + (warnings == 1 ? "" : "s") + " in the data check");
                return 1;
            }
            return 0;
        }
    }

    private static Map<String, Object> lineJson(DataCheck.Line l) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("file", l.file());
        m.put("line", l.line());
        return m;
    }

    /** The report as a JSON object: files, lengths, balance, findings, warnings. */
    static Map<String, Object> toJson(DataCheck.Report r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("files", r.files());
        m.put("lengths", r.lengths());
        m.put("balance", r.balance());
        m.put("warnings", r.warnings().size());
        m.put("findings", r.findings().stream().map(f -> {
            Map<String, Object> x = new LinkedHashMap<>();
            x.put("check", f.check());
            x.put("severity", f.severity().name().toLowerCase(java.util.Locale.ROOT));
            x.put("count", f.count());
            x.put("of", f.of());
            x.put("message", f.message());
            x.put("examples", f.examples().stream().map(g -> g.stream().map(DataCommand::lineJson).toList()).toList());
            return x;
        }).toList());
        return m;
    }
}
