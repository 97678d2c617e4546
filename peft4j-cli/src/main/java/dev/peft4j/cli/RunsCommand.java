/*
 * peft4j runs DIR: the version history of a directory of trained adapters - a table on stdout (date
 * order: name, date, method, rank, parameters, data, steps, losses, recorded eval metrics, energy)
 * and an HTML index with a chart of one metric across the versions (Runs, RunsReport).
 */
package dev.peft4j.cli;

import dev.peft4j.Peft4jException;
import dev.peft4j.io.OutputDir;
import dev.peft4j.report.Runs;
import dev.peft4j.report.RunsReport;
import dev.peft4j.tuner.PeftAdapter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "runs", mixinStandardHelpOptions = true,
        description = {"List every adapter under DIR (directories holding adapter_config.json) as a version history, oldest first,",
                "from their provenance.json, metrics.jsonl and eval_results.json; write an HTML index with a chart of --metric.",
                "Example: peft4j runs out/ --metric val_loss   (then: peft4j compare --model M --adapter out/ ... compares them all)"})
final class RunsCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "DIR", description = "Directory holding adapters (searched recursively).")
    Path dir;
    @Option(names = "--metric", defaultValue = "val_loss", description = {"Metric charted across versions (default ${DEFAULT-VALUE}): val_loss,",
            "train_loss, steps, tokens_seen, trainable_params, wall_s, cpu_s, energy_wh, co2e_g, or a recorded eval metric such as mc:acc."})
    String metric;
    @Option(names = {"--html", "--output"}, paramLabel = "FILE", description = "HTML index to write (default: DIR/runs.html).")
    Path html;
    @Option(names = "--no-html", description = "Print the table only.")
    boolean noHtml;
    @Option(names = "--overwrite", description = "Replace an existing --html file that runs did not write.")
    boolean overwrite;

    @Override
    public Integer call() {
        if (!Files.isDirectory(dir)) throw new Peft4jException("runs: " + dir + " is not a directory; give the directory your adapters were trained into");
        List<Runs.Run> runs = Runs.read(dir);
        if (runs.isEmpty())
            throw new Peft4jException("no adapters under " + dir + ": no directory there holds " + PeftAdapter.CONFIG
                    + " (peft4j train --output DIR/NAME writes one per run)");
        String metricToChart = metric;
        if (!RunsReport.metricsOf(runs).contains(metric) && metric.equals("val_loss") && RunsReport.metricsOf(runs).contains("train_loss")) {
            System.out.println("no run has a validation loss (train with --val-fraction or --val-data); charting train_loss");
            metricToChart = "train_loss";
        }
        RunsReport report = new RunsReport(dir.toString(), runs, metricToChart);
        System.out.print(report.toText());
        if (noHtml) return 0;
        Path file = html != null ? html : dir.resolve("runs.html");
        OutputDir.checkFile(file, overwrite || writtenByRuns(file), OutputDir.Names.CLI);  // a page runs wrote itself is replaced
        PeftAdapter.writeAtomically(file, report.toHtml());
        System.out.println("runs index: " + file + " (chart of " + metricToChart + ")");
        return 0;
    }

    private static boolean writtenByRuns(Path file) {
        try {
            if (!Files.isRegularFile(file)) return false;
            try (var in = Files.newInputStream(file)) {
                return new String(in.readNBytes(4096), java.nio.charset.StandardCharsets.UTF_8).contains(RunsReport.GENERATOR);
            }
        } catch (IOException e) {
            return false;
        }
    }
}
