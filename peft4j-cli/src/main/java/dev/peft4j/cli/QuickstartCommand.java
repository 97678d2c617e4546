/*
 * peft4j quickstart: the whole story in a couple of minutes on a laptop-class CPU, with nothing
 * downloaded — make a small Llama-architecture base model (random weights, word-level tokenizer),
 * show it failing a task, fine-tune a LoRA adapter on that task with a progress bar, and show the
 * adapted model passing it on held-out prompts. With --model DIR --data FILE it runs the same
 * before/train/after on a real model and a prompt/completion dataset.
 */
package dev.peft4j.cli;

import dev.peft4j.Peft4jException;
import dev.peft4j.data.DataConfig;
import dev.peft4j.data.DataLoader;
import dev.peft4j.data.Dataset;
import dev.peft4j.eval.ExactMatch;
import dev.peft4j.io.DType;
import dev.peft4j.kernels.Parallel;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.ModelConfig;
import dev.peft4j.model.ModelFactory;
import dev.peft4j.model.ModelWriter;
import dev.peft4j.tokenizer.Tokenizer;
import dev.peft4j.train.LrSchedule;
import dev.peft4j.train.TrainConfig;
import dev.peft4j.train.Trainer;
import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.AdapterConfig;
import dev.peft4j.tuner.AdapterModel;
import dev.peft4j.tuner.PeftMethods;
import dev.peft4j.tuner.TargetModules;
import dev.peft4j.tuner.ia3.Ia3Config;
import dev.peft4j.tuner.PeftAdapter;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "quickstart", mixinStandardHelpOptions = true,
        description = {"Show peft4j end to end: a base model fails a task, LoRA fine-tuning, the adapted model passes it.",
                "Without options: a small Llama-architecture model made on the spot and a synthetic task (nothing to download).",
                "With --model DIR --data FILE: the same on a real model and a prompt/completion JSONL dataset."})
final class QuickstartCommand implements Callable<Integer> {
    @Option(names = "--output", defaultValue = "quickstart-out", paramLabel = "DIR", description = "Working directory (default ${DEFAULT-VALUE}).")
    Path output;
    @Option(names = "--model", paramLabel = "DIR", description = "A real base model instead of the generated one.")
    Path model;
    @Option(names = "--data", paramLabel = "FILE", description = "Prompt/completion JSONL for --model (10% is held out).")
    Path data;
    @Option(names = "--steps", description = "Training steps (default: 150 for the built-in task, 800 with --method prompt-tuning, 400 with ia3, p-tuning or prefix-tuning, 300 with loha or lokr, 200 with vera or adalora; 200 with --model, 300 for prompt methods).")
    Integer steps;
    @Option(names = "--threads", defaultValue = "0", description = "Compute threads; 0 = all cores.")
    int threads;
    @Option(names = "--method", defaultValue = "lora", description = "PEFT method: lora, dora, ia3, vera, loha, lokr, adalora, prompt-tuning, p-tuning or prefix-tuning (default ${DEFAULT-VALUE}).")
    String method;
    @Option(names = "--seed", defaultValue = "42", description = "Seed for everything (default ${DEFAULT-VALUE}).")
    long seed;

    /** Prompt / prefix tuning on the built-in task (see README: what they reach with these). */
    static final int PROMPT_TOKENS = 20, PROMPT_STEPS = 400, PROMPT_TUNING_STEPS = 800;
    static final double PROMPT_LR = 3e-2;

    /** Marks a directory as the quickstart's own scratch space, which a later quickstart may replace. */
    static final String MARKER = ".peft4j-quickstart";

    /**
     * The quickstart's --output is its scratch directory: a previous quickstart's output (it has the
     * marker) is replaced; anything else that is not empty is refused, as every writer does.
     */
    static void prepareOutput(Path output) throws IOException {
        if (Files.isDirectory(output) && Files.exists(output.resolve(MARKER))) {
            System.out.println("replacing the previous quickstart output in " + output);
            dev.peft4j.io.OutputDir.deleteRecursively(output);
        } else if (Files.isDirectory(output)) {
            try (var entries = Files.list(output)) {
                if (entries.findAny().isPresent())
                    throw new Peft4jException("--output " + output + " is not empty and is not a quickstart's output; nothing was changed."
                            + " Give the quickstart a new --output directory");
            }
        }
        dev.peft4j.io.OutputDir out = dev.peft4j.io.OutputDir.prepare(output, dev.peft4j.io.OutputDir.Mode.NEW,
                dev.peft4j.io.OutputDir.Kind.TRAINING_RUN, dev.peft4j.io.OutputDir.Names.CLI, 0, System.err);
        Files.writeString(out.workDir().resolve(MARKER), "scratch directory of `peft4j quickstart`; the next quickstart replaces it\n");
    }

    record Eval(int correct, int total, List<String> samples) {
        double accuracy() { return total == 0 ? 0 : (double) correct / total; }
    }

    @Override
    public Integer call() throws IOException {
        if (threads > 0) Parallel.setThreads(threads, "--threads " + threads);
        if ((model == null) != (data == null)) throw new Peft4jException("give both --model DIR and --data FILE, or neither");
        prepareOutput(output);
        long t0 = System.nanoTime();
        dev.peft4j.provenance.RunClock clock = dev.peft4j.provenance.RunClock.start();
        Path baseDir, trainFile, testFile;
        boolean builtIn = model == null;
        if (builtIn) {
            System.out.println("== peft4j quickstart: teach a small Llama-architecture model a task with " + (method.equalsIgnoreCase("ia3") ? "(IA)³" : method.equalsIgnoreCase("vera") ? "VeRA" : method.equalsIgnoreCase("dora") ? "DoRA" : method.equalsIgnoreCase("adalora") ? "AdaLoRA" : method.toLowerCase(java.util.Locale.ROOT).startsWith("prompt") ? "prompt tuning" : method.toLowerCase(java.util.Locale.ROOT).startsWith("prefix") ? "prefix tuning" : method.toLowerCase(java.util.Locale.ROOT).startsWith("p-") || method.toLowerCase(java.util.Locale.ROOT).startsWith("p_") ? "P-tuning" : "LoRA") + " ==");
            System.out.println("task: animal sounds, e.g. \"Mia went to the farm and saw a cow. The cow said\" -> \" moo!\"");
            System.out.println("      test prompts use (name, place, animal) combinations never seen in training");
            baseDir = output.resolve("base-model");
            makeBaseModel(baseDir);
            List<List<QuickstartTask.Item>> split = QuickstartTask.splits(600, 100, seed);
            trainFile = output.resolve("data/train.jsonl");
            testFile = output.resolve("data/test.jsonl");
            QuickstartTask.writeJsonl(trainFile, split.get(0));
            QuickstartTask.writeJsonl(testFile, split.get(1));
            System.out.printf("base model: %s (pretrained here on the facts, not the task; word-level tokenizer)%n", baseDir);
        } else {
            System.out.println("== peft4j quickstart on " + model + " with " + data + " ==");
            baseDir = model;
            trainFile = data;
            testFile = null;
        }

        CausalLM lm = CausalLM.load(baseDir);
        try (Tokenizer tok = Tokenizer.load(baseDir)) {
            DataConfig dc = DataConfig.builder().maxLength(256).seed(seed)
                    .validationFraction(testFile == null ? 0.1 : 0).validationFile(testFile)
                    .addEos(builtIn || tok.eosId().isPresent()).build();
            Dataset ds = Dataset.load(trainFile, tok, baseDir, dc);
            List<String[]> heldOut = testFile != null ? readPairs(testFile) : heldOutPairs(trainFile, ds.validation().size());
            System.out.println(ds.stats().summary());

            System.out.println("\n-- before fine-tuning (base model) --");
            Eval before = exactMatch(lm, tok, heldOut);
            print(before);

            AdapterConfig lc = switch (method.toLowerCase(java.util.Locale.ROOT)) {
                case "lora" -> builtIn
                        ? LoraConfig.builder().r(16).alpha(32).dropout(0f).allLinear().build()
                        : LoraConfig.builder().r(8).alpha(16).dropout(0.05f).allLinear().build();
                case "dora" -> builtIn                                     // LoRA's settings with use_dora
                        ? LoraConfig.builder().r(16).alpha(32).dropout(0f).allLinear().useDora(true).build()
                        : LoraConfig.builder().r(8).alpha(16).dropout(0.05f).allLinear().useDora(true).build();
                case "ia3" -> Ia3Config.builder().targetModules(TargetModules.allLinear()).build();
                case "vera" -> dev.peft4j.tuner.vera.VeraConfig.builder().r(256).targetModules(TargetModules.allLinear()).build();
                case "loha" -> dev.peft4j.tuner.loha.LoHaConfig.builder().r(8).alpha(16).targetModules(TargetModules.allLinear()).build();
                case "lokr" -> dev.peft4j.tuner.lokr.LoKrConfig.builder().r(8).alpha(16).targetModules(TargetModules.allLinear()).build();
                case "adalora" -> dev.peft4j.tuner.adalora.AdaLoraConfig.builder().initR(16).targetR(8).alpha(32)
                        .targetModules(TargetModules.allLinear()).build();
                case "prompt-tuning", "prompt_tuning" -> dev.peft4j.tuner.prompttuning.PromptTuningConfig.random(PROMPT_TOKENS);
                case "prefix-tuning", "prefix_tuning" -> dev.peft4j.tuner.prefixtuning.PrefixTuningConfig.of(PROMPT_TOKENS, false, null);
                case "p-tuning", "p_tuning" -> dev.peft4j.tuner.ptuning.PTuningConfig.of(PROMPT_TOKENS);
                default -> throw new Peft4jException("unknown --method '" + method + "'; use lora, dora, ia3, vera, loha, lokr, adalora, prompt-tuning, p-tuning or prefix-tuning");
            };
            AdapterModel lora = PeftMethods.of(lc.peftType(), "--method").apply(lm, lc, Lora.DEFAULT_ADAPTER, seed);
            System.out.println("\n-- fine-tuning: " + lc.describe() + (lora.virtualPrompt() != null ? "" : " on all linear layers") + " --");
            System.out.println(lora.trainableSummary());
            // (IA)³ only rescales activations (a few hundred values here): it needs larger and more steps than LoRA
            boolean ia3 = lc instanceof Ia3Config;
            int total = steps != null ? steps : builtIn ? (ia3 ? 400 : 150) : 200;
            double peakLr = ia3 ? (builtIn ? 0.1 : 1e-2) : (builtIn ? 3e-3 : 1e-3);
            if (lc instanceof dev.peft4j.tuner.vera.VeraConfig) {  // VeRA trains only scaling vectors on frozen random projections: a high lr
                total = steps != null ? steps : 200;                 // built-in task: 0/100 -> 100/100 (150 and 300 steps at 0.05 too)
                peakLr = builtIn ? 0.05 : 1e-2;
            }
            if (lc.peftType().equals("LOHA") || lc.peftType().equals("LOKR")) {   // ΔW is a product of factors: more lr, more steps
                if (steps == null && builtIn) total = 300;
                peakLr = builtIn ? 1e-2 : 3e-3;
            }
            if (lora instanceof dev.peft4j.tuner.adalora.AdaLoraModel ada) {   // SVD form, E starts at 0: a higher lr; prune 16 -> 8
                if (steps == null && builtIn) total = 200;
                peakLr = builtIn ? 1e-2 : 3e-3;
                ada.setTotalStep(total);
                System.out.println("adalora: rank budget " + 16 * ada.layers().size() + " -> " + 8 * ada.layers().size()
                        + " over " + total + " steps (tinit " + ada.config().tinit() + ", tfinal " + ada.config().tfinal() + ")");
            }
            if (lora.virtualPrompt() != null) {             // prompt learning: a few thousand values steer a frozen model: high lr, more steps
                if (steps == null) total = builtIn ? (lc.peftType().equals("PROMPT_TUNING") ? PROMPT_TUNING_STEPS : PROMPT_STEPS) : 300;
                peakLr = builtIn ? PROMPT_LR : 1e-2;
            }
            TrainConfig tc = new TrainConfig(total, 0, peakLr, LrSchedule.Kind.COSINE, total / 10, 0, 16, 1,
                    1.0, 0.0, seed, Math.max(1, total / 5), 0, 8, 0, 0);
            Path adapterDir = output.resolve("adapter");
            int padId = DataLoader.padIdOf(tok);
            String base = baseDir.toString();
            Trainer.Result r = new Trainer(lm, lora.trainableParameters(),
                    dir -> PeftAdapter.save(lora, dir, base, new PeftAdapter.Card(trainFile.getFileName().toString(), null)),
                    new DataLoader(ds.train(), 16, true, seed, padId, false), ds.validation(), padId, tc, adapterDir, System.out)
                    .hook(lora.trainingHook()).run(false);

            System.out.println("\n-- after fine-tuning (base + adapter) --");
            Eval after = exactMatch(lm, tok, heldOut);
            print(after);
            PeftAdapter.save(lora, adapterDir, base, new PeftAdapter.Card(trainFile.getFileName().toString(),
                    String.format("held-out exact match %.0f%% (base %.0f%%), validation loss %.4f", 100 * after.accuracy(),
                            100 * before.accuracy(), r.valLoss() == null ? Double.NaN : r.valLoss())));

            // provenance.json and the model card, as `peft4j train` writes them
            Map<String, Object> settings = new java.util.LinkedHashMap<>();
            settings.put("command", "quickstart");
            settings.put("model", base);
            settings.put("data", trainFile.toString());
            if (testFile != null) settings.put("val-data", testFile.toString());
            settings.put("method", method);
            settings.put("adapter-config", lc.describe());
            settings.put("steps", total);
            settings.put("lr", peakLr);
            settings.put("schedule", "cosine");
            settings.put("warmup-steps", total / 10);
            settings.put("batch-size", 16);
            settings.put("max-length", 256);
            settings.put("seed", seed);
            TrainProvenance.write(adapterDir, new TrainProvenance.Inputs(baseDir, trainFile, testFile, ds, lora, r, settings, seed, 16, 1,
                    padId, false, clock, dev.peft4j.provenance.Energy.DEFAULT_WATTS_PER_CORE,
                    dev.peft4j.provenance.Energy.DEFAULT_GRID_GCO2_PER_KWH), System.out);

            System.out.printf("%n== held-out exact match: base %d/%d (%.0f%%) -> adapted %d/%d (%.0f%%) ==%n",
                    before.correct(), before.total(), 100 * before.accuracy(), after.correct(), after.total(), 100 * after.accuracy());
            // the comparison report: base vs adapter on the held-out prompts, with the training curve and drift
            Path gen = output.resolve("data/heldout-gen.jsonl"), reference = output.resolve("data/reference.txt");
            writeGenAndReference(heldOut, gen, reference);
            System.out.println("\n-- comparison report: base vs adapter --");
            var report = CompareCommand.run(baseDir, List.of(adapterDir),
                    new EvalTasks(List.of("gen", "perplexity"), List.of(gen, reference), 0, 256, 8, null), reference, 256);
            System.out.print(report.toText());
            var written = report.write(output.resolve("report"), "compare");
            System.out.printf("adapter (HF PEFT format): %s   training log: %s%nreport: %s   total time %.0fs%n",
                    adapterDir, adapterDir.resolve(Trainer.METRICS), written.html(), (System.nanoTime() - t0) / 1e9);
        }
        return 0;
    }

    /** Steps and peak learning rate of the base model's pretraining (all weights, a few seconds). */
    static final int PRETRAIN_STEPS = 300;
    static final double PRETRAIN_LR = 3e-3;

    private void makeBaseModel(Path dir) throws IOException {
        int V = QuickstartTask.vocabSize();
        ModelConfig cfg = new ModelConfig(ModelConfig.Family.LLAMA, V, 64, 128, 2, 4, 2, 16, 64, 1e-5f, 10000.0, null,
                true, false, false, false, 0, 1, List.of(2), "float32");
        // embedding std 1 as torch.nn.Embedding: a tied head with room for confident logits
        CausalLM m = ModelFactory.random(cfg, seed, 0.05f, 1.0f, true);
        Files.createDirectories(dir);
        ModelWriter.saveConfig(cfg, dir);
        QuickstartTask.writeTokenizer(dir);
        pretrain(m, dir);                                           // saves the weights and metrics.jsonl of the pretraining
    }

    /** Pretrains every weight of m on QuickstartTask.pretrainingTexts(): it knows the sounds, but mostly says nothing. */
    private void pretrain(CausalLM m, Path dir) throws IOException {
        Path corpus = output.resolve("data/pretrain.jsonl");
        Files.createDirectories(corpus.getParent());
        ObjectMapper om = new ObjectMapper();
        StringBuilder s = new StringBuilder();
        List<String> texts = QuickstartTask.pretrainingTexts(seed);
        for (String t : texts) s.append(om.writeValueAsString(java.util.Map.of("text", t))).append('\n');
        Files.writeString(corpus, s);
        System.out.printf("%n-- pretraining the base model (%d steps, all weights) on %d farm stories: animals mostly said nothing (\"%s\"),"
                + " %.0f%% of them made their sound --%n", PRETRAIN_STEPS, texts.size(), texts.get(0), 100 * QuickstartTask.SOUND_SHARE);
        try (Tokenizer tok = Tokenizer.load(dir)) {
            Dataset ds = Dataset.load(corpus, tok, dir, DataConfig.builder().maxLength(64).seed(seed).validationFraction(0).addEos(true).build());
            TrainConfig tc = new TrainConfig(PRETRAIN_STEPS, 0, PRETRAIN_LR, LrSchedule.Kind.COSINE, PRETRAIN_STEPS / 10, 0, 32, 1,
                    1.0, 0.0, seed, PRETRAIN_STEPS, 0, 0, 0, 0);
            int padId = DataLoader.padIdOf(tok);
            new Trainer(m, m.parameters(), out -> ModelWriter.saveWeights(m, out, DType.F32, Long.MAX_VALUE),
                    new DataLoader(ds.train(), 32, true, seed, padId, false), List.of(), padId, tc, dir, System.out).run(false);
        }
    }

    static Eval exactMatch(CausalLM lm, Tokenizer tok, List<String[]> pairs) {
        ExactMatch.Result r = ExactMatch.evaluate(lm, tok, pairs, 16);
        List<String> samples = new ArrayList<>();
        for (ExactMatch.Item it : r.items().subList(0, Math.min(3, r.items().size())))
            samples.add(String.format("  %s \"%s\" -> \"%s\" (expected \"%s\")", it.correct() ? "[pass]" : "[FAIL]",
                    it.prompt(), it.got().strip(), it.expected().strip()));
        return new Eval(r.correct(), r.total(), samples);
    }

    private static void print(Eval e) {
        e.samples().forEach(System.out::println);
        System.out.printf("  held-out exact match: %d/%d (%.0f%%)%n", e.correct(), e.total(), 100 * e.accuracy());
    }

    /** Held-out prompts as {"prompt","answer"} for the exact-match task, and their prompts as general text for drift. */
    private static void writeGenAndReference(List<String[]> heldOut, Path gen, Path reference) throws IOException {
        ObjectMapper om = new ObjectMapper();
        StringBuilder g = new StringBuilder(), r = new StringBuilder();
        for (String[] p : heldOut) {
            g.append(om.writeValueAsString(java.util.Map.of("prompt", p[0], "answer", p[1].strip()))).append('\n');
            r.append(p[0]).append("\n\n");
        }
        Files.createDirectories(gen.getParent());
        Files.writeString(gen, g);
        Files.writeString(reference, r);
    }

    static List<String[]> readPairs(Path file) throws IOException {
        List<String[]> out = new ArrayList<>();
        ObjectMapper om = new ObjectMapper();
        for (String line : Files.readAllLines(file)) {
            if (line.isBlank()) continue;
            JsonNode n = om.readTree(line);
            if (n.hasNonNull("prompt") && n.hasNonNull("completion")) out.add(new String[] {n.get("prompt").asText(), n.get("completion").asText()});
        }
        return out;
    }

    /** The prompt/completion records the dataset split held out (same split rule: the last records after the seeded shuffle). */
    private List<String[]> heldOutPairs(Path file, int n) throws IOException {
        List<String[]> all = readPairs(file);
        if (all.isEmpty()) throw new Peft4jException("--data " + file + " has no {\"prompt\", \"completion\"} records; the quickstart evaluates exact match on those");
        List<String[]> shuffled = dev.peft4j.data.Split.split(all, 0.1, seed).validation();
        return shuffled.subList(0, Math.min(n, shuffled.size()));
    }
}
