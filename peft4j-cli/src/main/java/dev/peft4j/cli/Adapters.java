/*
 * Adapters: loading one or several PEFT adapters onto a model for the CLI commands, and the
 * `peft4j adapters combine` command.
 */
package dev.peft4j.cli;

import dev.peft4j.Peft4jException;
import dev.peft4j.io.OutputDir;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tuner.AdapterMath;
import dev.peft4j.tuner.AdapterModel;
import dev.peft4j.tuner.lora.LoraModel;
import dev.peft4j.tuner.PeftAdapter;
import dev.peft4j.tuner.PeftModel;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "adapters", mixinStandardHelpOptions = true, description = "Work with LoRA adapters (PEFT format).",
        subcommands = {Adapters.Combine.class})
final class Adapters implements Runnable {
    @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

    @Override public void run() { spec.commandLine().usage(System.out); }

    /** Loads the adapters onto lm; several are combined (with weights) into one active adapter. */
    static PeftModel attach(CausalLM lm, List<Path> dirs, List<Double> weights, String combine, PrintStream log) {
        PeftModel pm = new PeftModel(lm);
        double[] w = weights(dirs.size(), weights);
        List<String> names = new ArrayList<>();
        for (int i = 0; i < dirs.size(); i++) {
            String name = "adapter" + i;
            AdapterModel a = pm.loadAdapter(dirs.get(i), name);
            names.add(name);
            log.printf("[peft4j] adapter %s: %s%n", dirs.get(i), a.trainableSummary().replace("trainable", "adapter"));
        }
        if (dirs.size() == 1 && w[0] == 1.0) return pm;
        pm.addWeightedAdapter(names, w, "combined", type(combine), 0);
        pm.setAdapter("combined");
        log.printf("[peft4j] combined %d adapter(s) with weights %s (%s)%n", dirs.size(), java.util.Arrays.toString(w), combine);
        return pm;
    }

    static double[] weights(int n, List<Double> given) {
        double[] w = new double[n];
        java.util.Arrays.fill(w, 1.0);
        if (given != null && !given.isEmpty()) {
            if (given.size() != n)
                throw new Peft4jException(n + " adapters but " + given.size() + " --adapter-weight values; give one per adapter");
            for (int i = 0; i < n; i++) w[i] = given.get(i);
        }
        return w;
    }

    static AdapterMath.Type type(String s) {
        try {
            return AdapterMath.Type.valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new Peft4jException("unknown combination '" + s + "'; use cat, linear or svd");
        }
    }

    @Command(name = "combine", mixinStandardHelpOptions = true,
            description = {"Combine adapters into a new PEFT adapter (PEFT's add_weighted_adapter):",
                    "  cat    ranks concatenated; exactly Σ w_i·ΔW_i",
                    "  linear equal ranks; A and B summed with sqrt(w_i·scaling_i)",
                    "  svd    truncated SVD of Σ w_i·ΔW_i to --rank",
                    "Example: peft4j adapters combine --model M --adapter a1 --adapter a2 --weights 0.7,0.3 --type svd --rank 8 --output mix"})
    static final class Combine implements Callable<Integer> {
        @Option(names = "--model", required = true, paramLabel = "DIR", description = "The base model the adapters were trained on.")
        Path model;
        @Option(names = "--adapter", required = true, paramLabel = "DIR", description = "Adapter directory; repeat for each.")
        List<Path> adapters;
        @Option(names = "--weights", split = ",", description = "One weight per adapter (default 1 each).")
        List<Double> weights;
        @Option(names = "--type", defaultValue = "cat", description = "cat, linear or svd (default ${DEFAULT-VALUE}).")
        String type;
        @Option(names = "--rank", defaultValue = "0", description = "Rank for svd; 0 = the largest input rank.")
        int rank;
        @Option(names = "--output", required = true, paramLabel = "DIR", description = "Where the combined adapter is written (absent or empty, or --overwrite).")
        Path output;
        @picocli.CommandLine.Mixin OutputOptions outputOptions;

        @Override
        public Integer call() {
            OutputDir out = outputOptions.prepare(output, OutputDir.Kind.ADAPTER, 0);
            try {
                combine(out);
                out.commit();
            } catch (RuntimeException | Error e) {
                out.abort();
                throw e;
            }
            return 0;
        }

        private void combine(OutputDir out) {
            CausalLM lm = CausalLM.load(model);
            PeftModel pm = new PeftModel(lm);
            List<String> names = new ArrayList<>();
            for (int i = 0; i < adapters.size(); i++) {
                pm.loadAdapter(adapters.get(i), "adapter" + i);
                names.add("adapter" + i);
            }
            double[] w = weights(adapters.size(), weights);
            LoraModel combined = pm.addWeightedAdapter(names, w, "combined", type(type), rank);
            String base = PeftAdapter.baseModelOf(adapters.get(0));
            PeftAdapter.save(combined, out.workDir(), base != null ? base : model.toString(), new PeftAdapter.Card(
                    "combined (" + type + ", weights " + java.util.Arrays.toString(w) + ") from " + adapters, null));
            System.out.printf("wrote %s: %s adapter of rank %d from %d adapters (%s)%n", output, type, combined.config().r(),
                    adapters.size(), combined.trainableSummary().replace("trainable", "adapter"));
        }
    }
}
