/*
 * peft4j train: LoRA fine-tuning of a HuggingFace model on a JSON/JSONL dataset, from options or a
 * YAML/JSON config file (--config) with command-line options overriding it. The resolved
 * configuration is printed first and saved as train_config.json next to the adapter.
 */
package dev.peft4j.cli;

import dev.peft4j.data.DataCheck;
import dev.peft4j.data.DataConfig;
import dev.peft4j.data.DataFormat;
import dev.peft4j.data.DataLoader;
import dev.peft4j.data.Dataset;
import dev.peft4j.io.OutputDir;
import dev.peft4j.kernels.Parallel;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tokenizer.Tokenizer;
import dev.peft4j.train.LrSchedule;
import dev.peft4j.train.TrainConfig;
import dev.peft4j.train.Trainer;
import dev.peft4j.tuner.lora.InitLoraWeights;
import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.AdapterConfig;
import dev.peft4j.tuner.AdapterModel;
import dev.peft4j.tuner.PeftMethods;
import dev.peft4j.tuner.ia3.Ia3Config;
import dev.peft4j.tuner.PeftAdapter;
import dev.peft4j.tuner.TargetModules;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Fine-tune a LoRA adapter on a HuggingFace causal LM.",
                "Data: JSONL/JSON with {\"text\"}, {\"prompt\",\"completion\"}, {\"messages\":[...]} (chat template) or Alpaca rows.",
                "Options may come from --config FILE (YAML or JSON, keys = option names without dashes, e.g. lora: {r: 8});",
                "command-line options override the file.",
                "Example: peft4j train --model ../shared/models/stories260K --data train.jsonl --output out/adapter --lora.r 8 --steps 200"})
final class TrainCommand implements Callable<Integer>, HeapPlanned {
    @Spec CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE", description = "YAML or JSON file with any of these options.")
    Path config;

    @picocli.CommandLine.Mixin BaseModelOptions baseModel;
    @picocli.CommandLine.Mixin OutputOptions outputOptions;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Base model directory (HuggingFace layout).")
    Path model;
    @Option(names = "--data", required = true, paramLabel = "FILE", description = "Training data (.jsonl or .json).")
    Path data;
    @Option(names = "--output", required = true, paramLabel = "DIR", description = "Where the adapter, checkpoints and metrics.jsonl go.")
    Path output;

    @Option(names = "--adapter", paramLabel = "DIR", description = {"Continue training this PEFT adapter (its adapter_config.json",
            "replaces the --lora.* options)."})
    Path adapter;

    @Option(names = "--method", defaultValue = "lora", description = "PEFT method: lora, dora, ia3, vera, loha, lokr, adalora, prompt-tuning, p-tuning or prefix-tuning (default ${DEFAULT-VALUE}).")
    String method;

    // prompt tuning / prefix tuning (tuner/prompttuning, tuner/prefixtuning)
    @Option(names = "--prompt-tuning.num-virtual-tokens", defaultValue = "20", description = "Prompt tuning: virtual tokens (default ${DEFAULT-VALUE}).")
    int ptNumVirtualTokens;
    @Option(names = "--prompt-tuning.init", defaultValue = "random", description = "Prompt tuning init: random (N(0,1)) or text (the embeddings of --prompt-tuning.init-text's tokens) (default ${DEFAULT-VALUE}).")
    String ptInit;
    @Option(names = "--prompt-tuning.init-text", paramLabel = "TEXT", description = "Prompt tuning: the text whose token embeddings start the prompt (with --prompt-tuning.init text).")
    String ptInitText;
    @Option(names = "--prefix-tuning.num-virtual-tokens", defaultValue = "20", description = "Prefix tuning: virtual tokens per layer (default ${DEFAULT-VALUE}).")
    int pfxNumVirtualTokens;
    @Option(names = "--prefix-tuning.prefix-projection", defaultValue = "false", arity = "0..1",
            description = "Prefix tuning: train through an MLP (Linear-Tanh-Linear); saved as its output (default ${DEFAULT-VALUE}).")
    boolean pfxProjection;
    @Option(names = "--prefix-tuning.encoder-hidden-size", description = "Prefix tuning: hidden width of the projection MLP (default: token_dim).")
    Integer pfxEncoderHidden;
    // P-tuning (tuner/ptuning)
    @Option(names = "--p-tuning.num-virtual-tokens", defaultValue = "20", description = "P-tuning: virtual tokens (default ${DEFAULT-VALUE}).")
    int ptuNumVirtualTokens;
    @Option(names = "--p-tuning.encoder-reparameterization-type", defaultValue = "MLP", paramLabel = "MLP|LSTM",
            description = "P-tuning prompt encoder: MLP (3 Linear layers) or LSTM (bidirectional, then a 2-layer MLP head) (default ${DEFAULT-VALUE}).")
    String ptuEncoderType;
    @Option(names = "--p-tuning.encoder-hidden-size", description = "P-tuning: the encoder's hidden size (default: token_dim, the model's hidden size).")
    Integer ptuEncoderHidden;
    @Option(names = "--p-tuning.encoder-num-layers", defaultValue = "2", description = "P-tuning: LSTM layers (ignored by MLP, as in PEFT) (default ${DEFAULT-VALUE}).")
    int ptuEncoderLayers;
    @Option(names = "--p-tuning.encoder-dropout", defaultValue = "0.0", description = "P-tuning: dropout between LSTM layers while training (default ${DEFAULT-VALUE}).")
    double ptuEncoderDropout;

    // (IA)³
    @Option(names = "--ia3.target-modules", paramLabel = "LIST|REGEX", description = "(IA)³ targets (default: PEFT's for the model type).")
    String ia3Targets;
    @Option(names = "--ia3.feedforward-modules", paramLabel = "LIST|REGEX",
            description = "(IA)³ targets that scale their input (default: PEFT's, e.g. down_proj).")
    String ia3Feedforward;

    // LoKr
    @Option(names = "--lokr.target-modules", paramLabel = "LIST|REGEX", description = "LoKr targets (required: PEFT has no LoKr defaults), e.g. q_proj,v_proj or all-linear.")
    String lokrTargets;
    @Option(names = "--lokr.r", defaultValue = "8", description = "LoKr rank (default ${DEFAULT-VALUE}).")
    int lokrR;
    @Option(names = "--lokr.alpha", defaultValue = "8", description = "LoKr alpha; scaling = alpha / r (default ${DEFAULT-VALUE}).")
    double lokrAlpha;
    @Option(names = "--lokr.decompose-factor", defaultValue = "-1", description = "LoKr Kronecker factor size; -1: near the square root (default ${DEFAULT-VALUE}).")
    int lokrDecomposeFactor;

    // LoHa
    @Option(names = "--loha.target-modules", paramLabel = "LIST|REGEX", description = "LoHa targets (required: PEFT has no LoHa defaults), e.g. q_proj,v_proj or all-linear.")
    String lohaTargets;
    @Option(names = "--loha.r", defaultValue = "8", description = "LoHa rank (default ${DEFAULT-VALUE}).")
    int lohaR;
    @Option(names = "--loha.alpha", defaultValue = "8", description = "LoHa alpha; scaling = alpha / r (default ${DEFAULT-VALUE}).")
    double lohaAlpha;

    // AdaLoRA
    @Option(names = "--adalora.target-modules", paramLabel = "LIST|REGEX", description = "AdaLoRA targets (default: PEFT's for the model type, e.g. q_proj,v_proj).")
    String adaloraTargets;
    @Option(names = "--adalora.init-r", defaultValue = "12", description = "Rank every adapted module starts with (default ${DEFAULT-VALUE}).")
    int adaloraInitR;
    @Option(names = "--adalora.target-r", defaultValue = "8", description = "Average rank the budget is pruned to (default ${DEFAULT-VALUE}).")
    int adaloraTargetR;
    @Option(names = "--adalora.tinit", defaultValue = "0", description = "Warm-up steps before pruning starts (default ${DEFAULT-VALUE}).")
    int adaloraTinit;
    @Option(names = "--adalora.tfinal", defaultValue = "0", description = "Final steps with the rank pattern fixed (default ${DEFAULT-VALUE}).")
    int adaloraTfinal;
    @Option(names = "--adalora.delta-t", defaultValue = "1", description = "Steps between two rank allocations (PEFT's deltaT, default ${DEFAULT-VALUE}).")
    int adaloraDeltaT;
    @Option(names = "--adalora.beta1", defaultValue = "0.85", description = "EMA factor of the sensitivity (default ${DEFAULT-VALUE}).")
    double adaloraBeta1;
    @Option(names = "--adalora.beta2", defaultValue = "0.85", description = "EMA factor of the sensitivity's uncertainty (default ${DEFAULT-VALUE}).")
    double adaloraBeta2;
    @Option(names = "--adalora.orth-reg-weight", defaultValue = "0.5", description = "Weight of the orthogonal regulariser in the loss (default ${DEFAULT-VALUE}).")
    double adaloraOrthRegWeight;
    @Option(names = "--adalora.total-step", paramLabel = "N", description = "Steps of the budget schedule (default: the planned optimizer steps).")
    Integer adaloraTotalStep;
    @Option(names = "--adalora.alpha", defaultValue = "8", description = "AdaLoRA lora_alpha; the update is scaled by alpha / init_r (default ${DEFAULT-VALUE}).")
    double adaloraAlpha;
    @Option(names = "--adalora.dropout", defaultValue = "0", description = "Dropout on the AdaLoRA input (default ${DEFAULT-VALUE}).")
    float adaloraDropout;

    // VeRA
    @Option(names = "--vera.target-modules", paramLabel = "LIST|REGEX", description = "VeRA targets (default: PEFT's for the model type, e.g. q_proj,v_proj).")
    String veraTargets;
    @Option(names = "--vera.r", defaultValue = "256", description = "Rank of VeRA's shared frozen projections (default ${DEFAULT-VALUE}; VeRA wants ranks far above LoRA's).")
    int veraR;
    @Option(names = "--vera.d-initial", defaultValue = "0.1", description = "Initial value of vera_lambda_d (default ${DEFAULT-VALUE}).")
    double veraDInitial;
    @Option(names = "--vera.dropout", defaultValue = "0", description = "Dropout on the VeRA input (default ${DEFAULT-VALUE}).")
    float veraDropout;
    @Option(names = "--vera.projection-prng-key", defaultValue = "0", description = "Seed of the shared projections, torch's generator as in PEFT (default ${DEFAULT-VALUE}).")
    long veraPrngKey;

    // LoRA
    @Option(names = "--lora.r", defaultValue = "8", description = "LoRA rank (default ${DEFAULT-VALUE}).")
    int loraR;
    @Option(names = "--lora.alpha", defaultValue = "16", description = "LoRA alpha; scaling = alpha / r (default ${DEFAULT-VALUE}).")
    double loraAlpha;
    @Option(names = "--lora.dropout", defaultValue = "0.05", description = "Dropout on the LoRA input (default ${DEFAULT-VALUE}).")
    float loraDropout;
    @Option(names = "--lora.target-modules", paramLabel = "LIST|REGEX", description = {"Comma list (exact or suffix match, e.g. q_proj,v_proj),",
            "regex:PATTERN (full match), or all-linear. Default: PEFT's default for the architecture."})
    String loraTargets;
    @Option(names = "--lora.use-rslora", arity = "0..1", defaultValue = "false", description = "Scale by alpha/sqrt(r) (rsLoRA).")
    boolean loraRslora;
    @Option(names = "--lora.use-dora", arity = "0..1", defaultValue = "false",
            description = "DoRA: a trained magnitude per output row (PEFT's use_dora; same as --method dora).")
    boolean loraDora;
    @Option(names = "--lora.init", defaultValue = "default", description = "default (Kaiming-uniform A, zero B), gaussian, random, "
            + "pissa (A, B from the top-r SVD of W; W residualised), pissa_niter_K (the same by a fast randomized SVD with K "
            + "iterations) or olora (A, B from the QR of W; W residualised). PEFT's init_lora_weights (true/false also accepted).")
    String loraInit;
    @Option(names = "--lora.convert-to-lora", arity = "0..1", defaultValue = "true",
            description = "With --lora.init pissa|pissa_niter_K|olora: save the final adapter converted to a plain LoRA of rank 2r "
                    + "relative to the ORIGINAL base (PEFT's path_initial_model_for_weight_conversion), so it works on the unmodified "
                    + "model (default ${DEFAULT-VALUE}). false saves the PiSSA/OLoRA form, which PEFT and peft4j re-residualise on load.")
    boolean loraConvertToLora;
    @Option(names = {"--modules-to-save", "--lora.modules-to-save"}, split = ",",
            description = "Modules trained in full (a trainable copy saved with the adapter), e.g. lm_head; any --method that adapts modules.")
    List<String> modulesToSave;
    @Option(names = "--lora.layers-to-transform", split = ",", description = "Only these layer indices, e.g. 0,1,2.")
    List<Integer> layersToTransform;

    // optimisation
    @Option(names = "--steps", defaultValue = "0", description = "Optimizer steps; 0 = use --epochs (default).")
    int steps;
    @Option(names = "--epochs", defaultValue = "1", description = "Epochs when --steps is 0 (default ${DEFAULT-VALUE}).")
    double epochs;
    @Option(names = "--lr", defaultValue = "2e-4", description = "Peak learning rate (default ${DEFAULT-VALUE}).")
    double lr;
    @Option(names = "--schedule", defaultValue = "linear", description = "constant, linear or cosine (default ${DEFAULT-VALUE}).")
    String schedule;
    @Option(names = "--warmup-steps", defaultValue = "0", description = "Linear warmup steps (default ${DEFAULT-VALUE}).")
    int warmupSteps;
    @Option(names = "--warmup-ratio", defaultValue = "0", description = "Warmup as a fraction of all steps, when --warmup-steps is 0.")
    double warmupRatio;
    @Option(names = "--batch-size", defaultValue = "4", description = "Sequences per micro-batch (default ${DEFAULT-VALUE}).")
    int batchSize;
    @Option(names = "--grad-accum", defaultValue = "1", description = "Micro-batches per optimizer step (default ${DEFAULT-VALUE}).")
    int gradAccum;
    @Option(names = "--max-grad-norm", defaultValue = "1.0", description = "Global gradient-norm clip; 0 = off (default ${DEFAULT-VALUE}).")
    double maxGradNorm;
    @Option(names = "--loraplus-lr-ratio", defaultValue = "0",
            description = "LoRA+: lora_B learns at lr x this ratio (PEFT's create_loraplus_optimizer; e.g. 16); 0 = off (default).")
    double loraPlusRatio;
    @Option(names = "--weight-decay", defaultValue = "0", description = "AdamW decoupled weight decay (default ${DEFAULT-VALUE}).")
    double weightDecay;
    @Option(names = "--seed", defaultValue = "42", description = "Seed for LoRA init, shuffling, dropout, split (default ${DEFAULT-VALUE}).")
    long seed;

    // data
    @Option(names = "--format", defaultValue = "auto", description = "auto, text, prompt_completion, messages or alpaca.")
    String format;
    @Option(names = "--max-length", defaultValue = "512", description = "Truncate examples to this many tokens (default ${DEFAULT-VALUE}).")
    int maxLength;
    @Option(names = "--completion-only-loss", arity = "0..1", defaultValue = "true",
            description = "Loss on completion/assistant tokens only (default ${DEFAULT-VALUE}); false = all tokens.")
    boolean completionOnly;
    @Option(names = "--packing", arity = "0..1", defaultValue = "false", description = "Pack short examples into --max-length rows.")
    boolean packing;
    @Option(names = "--val-fraction", defaultValue = "0", description = "Hold out this fraction of the data for validation.")
    double valFraction;
    @Option(names = "--val-data", paramLabel = "FILE", description = "Separate validation file.")
    Path valData;
    @Option(names = "--add-eos", arity = "0..1", defaultValue = "true",
            description = "Append the tokenizer's EOS after each completion/text (default ${DEFAULT-VALUE}).")
    boolean addEos;
    @Option(names = "--skip-malformed", arity = "0..1", defaultValue = "false", description = "Skip and count malformed records instead of failing.")
    boolean skipMalformed;
    @Option(names = "--test-data", paramLabel = "FILE", description = "Test/evaluation data the data check looks for leakage into (see peft4j data check).")
    Path testData;
    @Option(names = "--strict", arity = "0..1", defaultValue = "false", description = "Stop before training when the data check warns (duplicates, leakage, empty targets, truncation...).")
    boolean strict;

    // loop
    @Option(names = "--log-every", defaultValue = "10", description = "Log a line every N steps (default ${DEFAULT-VALUE}).")
    int logEvery;
    @Option(names = "--eval-every", defaultValue = "0", description = "Validation loss and --eval-task scores every N steps (and at the last); 0 = at the end only.")
    int evalEvery;
    // evaluation during training (TrainEvaluation; the Trainer's keepBest / earlyStopping)
    @Option(names = "--eval-task", split = ",", paramLabel = "TASK", description = {"Score a task at every --eval-every step: mc, sst2, pubmedqa,",
            "gsm8k, gen or perplexity; logged as eval/TASK:METRIC (e.g. eval/mc:acc) in metrics.jsonl. One --eval-data per task."})
    List<String> evalTasks;
    @Option(names = "--eval-data", split = ",", paramLabel = "FILE", description = "The data of each --eval-task, in order (formats as in `peft4j eval`).")
    List<Path> evalData;
    @Option(names = "--eval-limit", defaultValue = "0", paramLabel = "N", description = "Items per --eval-task; 0 = all (default).")
    int evalLimit;
    @Option(names = "--eval-max-new-tokens", defaultValue = "64", paramLabel = "N", description = "Generation length for gsm8k/gen (default ${DEFAULT-VALUE}).")
    int evalMaxNewTokens;
    @Option(names = "--eval-regex", paramLabel = "REGEX", description = "gen: extract the answer with this regex (group 1 if any) before exact match.")
    String evalRegex;
    @Option(names = "--keep-best", paramLabel = "METRIC", description = {"Save the adapter of the best evaluation so far into OUTPUT/best/ (with best.json):",
            "val_loss, a task metric such as mc:acc, or forgetting (direction known per metric)."})
    String keepBest;
    @Option(names = "--early-stopping-patience", defaultValue = "0", paramLabel = "K", description = {"Stop after K evaluations without improvement of",
            "the --keep-best metric (of val_loss without --keep-best); the final adapter is saved as usual. 0 = off (default)."})
    int earlyStoppingPatience;
    @Option(names = "--reference", paramLabel = "FILE", description = {"General text (paragraphs, or JSONL {\"text\"}): log forgetting = loss increase",
            "over the base model on it (nats/token) at every evaluation."})
    Path reference;
    @Option(names = "--save-every", defaultValue = "0", description = "Checkpoint every N steps (resumable); 0 = final adapter only.")
    int saveEvery;
    @Option(names = "--resume", arity = "0..1", defaultValue = "false", description = "Continue from the latest checkpoint in --output.")
    boolean resume;
    @Option(names = "--threads", defaultValue = "0", description = "Compute threads; 0 = all cores.")
    int threads;
    @Option(names = "--gradient-checkpointing", arity = "0..1", defaultValue = "false",
            description = "Recompute each block in the backward: much less memory, about a third more compute.")
    boolean gradientCheckpointing;

    // provenance (provenance.json): the energy estimate's assumptions (README "Provenance")
    @Option(names = "--energy.watts-per-core", defaultValue = "12", paramLabel = "W",
            description = "Power of one busy CPU core for the energy estimate (default ${DEFAULT-VALUE}: Green Algorithms' figure for an unknown CPU).")
    double wattsPerCore;
    @Option(names = "--energy.grid-gco2-per-kwh", defaultValue = "475", paramLabel = "G",
            description = "Grid carbon intensity in g CO2e per kWh for the CO2e estimate (default ${DEFAULT-VALUE}: world average, IEA).")
    double gridGco2PerKwh;
    private dev.peft4j.provenance.RunClock clock;

    @Override
    public Integer call() {
        clock = dev.peft4j.provenance.RunClock.start();
        dev.peft4j.provenance.Energy.estimate(0, wattsPerCore, gridGco2PerKwh);    // refuses bad --energy.* before any work
        if (threads > 0) Parallel.setThreads(threads, "--threads " + threads);
        System.out.println("resolved configuration:");
        Map<String, Object> resolved = resolvedOptions();
        resolved.forEach((k, v) -> System.out.printf("  %-26s %s%n", k, v));

        TrainConfig tc = new TrainConfig(steps, epochs, lr, LrSchedule.parse(schedule), warmupSteps, warmupRatio, batchSize,
                gradAccum, maxGradNorm, weightDecay, seed, logEvery, evalEvery, 0, saveEvery, threads);
        AdapterConfig lc = adapterConfig();
        HeapPlanned.report(HeapPlanned.quietly(this), System.out);
        if (loraPlusRatio < 0 || Double.isNaN(loraPlusRatio) || Double.isInfinite(loraPlusRatio))
            throw new dev.peft4j.Peft4jException("--loraplus-lr-ratio must be a positive number (got " + loraPlusRatio
                    + "), or 0 for off; the LoRA+ paper and PEFT suggest values >= 1, e.g. --loraplus-lr-ratio 16");
        if (loraPlusRatio > 0 && loraPlusRatio < 1)
            System.out.println("warning: --loraplus-lr-ratio " + loraPlusRatio + " < 1 makes lora_B learn slower than lora_A; "
                    + "LoRA+ means ratios >= 1 (PEFT: \"Should be >= 1\"), e.g. 16");
        checkEvalOptions();
        DataConfig dc = DataConfig.builder().format(dataFormat(format)).maxLength(maxLength).completionOnlyLoss(completionOnly)
                .packing(packing).validationFraction(valFraction).validationFile(valData).seed(seed).skipMalformed(skipMalformed).addEos(addEos).build();

        // --output is checked (and a killed earlier writer's leftovers recovered) before anything loads
        OutputDir out = outputOptions.prepare(output, OutputDir.Kind.TRAINING_RUN, 0, resume);
        if (out.staged()) System.out.println("--overwrite: training in " + out.workDir() + "; it replaces " + output + " when complete");
        try {
            train(tc, lc, dc, resolved, out.workDir());
            out.commit();
        } catch (RuntimeException | Error e) {
            out.abort();                          // a staged run is discarded; the previous --output is untouched
            throw e;
        }
        return 0;
    }

    /** The adapter's config from the --method options (no side effects: also what the heap plan reads). */
    private AdapterConfig adapterConfig() {
        LoraConfig.Builder lb = LoraConfig.builder().r(loraR).alpha(loraAlpha).dropout(loraDropout).useRslora(loraRslora)
                .init(InitLoraWeights.fromPeft(loraInit.equals("default") ? "true" : loraInit.equals("random") ? "false" : loraInit));
        if (loraTargets != null) lb.targetModules(TargetModules.parse(loraTargets));
        if (modulesToSave != null) lb.modulesToSave(modulesToSave);
        if (layersToTransform != null) lb.layersToTransform(layersToTransform);
        return switch (method.toLowerCase(java.util.Locale.ROOT)) {
            case "lora", "dora" -> {
                try {
                    yield lb.useDora(loraDora || method.equalsIgnoreCase("dora")).build();
                } catch (LoraConfig.Invalid e) {
                    throw e.onCommandLine();     // name the --lora.* flag, not the builder method
                }
            }
            case "ia3" -> {
                Ia3Config.Builder ib = Ia3Config.builder();
                if (ia3Targets != null) ib.targetModules(TargetModules.parse(ia3Targets));
                if (ia3Feedforward != null) ib.feedforwardModules(TargetModules.parse(ia3Feedforward));
                if (modulesToSave != null) ib.modulesToSave(modulesToSave);
                yield ib.build();
            }
            case "loha" -> {
                if (lohaTargets == null)
                    throw new dev.peft4j.Peft4jException("--method loha needs --loha.target-modules (PEFT's LoHa has no default targets); "
                            + "e.g. --loha.target-modules q_proj,v_proj or --loha.target-modules all-linear");
                dev.peft4j.tuner.loha.LoHaConfig.Builder hb = dev.peft4j.tuner.loha.LoHaConfig.builder().r(lohaR).alpha(lohaAlpha)
                        .targetModules(TargetModules.parse(lohaTargets));
                if (modulesToSave != null) hb.modulesToSave(modulesToSave);
                if (layersToTransform != null) hb.layersToTransform(layersToTransform);
                yield hb.build();
            }
            case "vera" -> {
                dev.peft4j.tuner.vera.VeraConfig.Builder vb = dev.peft4j.tuner.vera.VeraConfig.builder().r(veraR).dInitial(veraDInitial)
                        .veraDropout(veraDropout).projectionPrngKey(veraPrngKey);
                if (veraTargets != null) vb.targetModules(TargetModules.parse(veraTargets));
                if (modulesToSave != null) vb.modulesToSave(modulesToSave);
                if (layersToTransform != null) vb.layersToTransform(layersToTransform);
                yield vb.build();
            }
            case "lokr" -> {
                if (lokrTargets == null)
                    throw new dev.peft4j.Peft4jException("--method lokr needs --lokr.target-modules (PEFT's LoKr has no default targets); "
                            + "e.g. --lokr.target-modules q_proj,v_proj or --lokr.target-modules all-linear");
                dev.peft4j.tuner.lokr.LoKrConfig.Builder kb = dev.peft4j.tuner.lokr.LoKrConfig.builder().r(lokrR).alpha(lokrAlpha)
                        .decomposeFactor(lokrDecomposeFactor).targetModules(TargetModules.parse(lokrTargets));
                if (modulesToSave != null) kb.modulesToSave(modulesToSave);
                if (layersToTransform != null) kb.layersToTransform(layersToTransform);
                yield kb.build();
            }
            case "adalora" -> {
                dev.peft4j.tuner.adalora.AdaLoraConfig.Builder ab = dev.peft4j.tuner.adalora.AdaLoraConfig.builder().initR(adaloraInitR)
                        .targetR(adaloraTargetR).tinit(adaloraTinit).tfinal(adaloraTfinal).deltaT(adaloraDeltaT).beta1(adaloraBeta1)
                        .beta2(adaloraBeta2).orthRegWeight(adaloraOrthRegWeight).totalStep(adaloraTotalStep).alpha(adaloraAlpha)
                        .dropout(adaloraDropout);
                if (adaloraTargets != null) ab.targetModules(TargetModules.parse(adaloraTargets));
                if (modulesToSave != null) ab.modulesToSave(modulesToSave);
                if (layersToTransform != null) ab.layersToTransform(layersToTransform);
                yield ab.build();
            }
            case "prompt-tuning", "prompt_tuning" -> {
                refusePromptOptions();
                dev.peft4j.tuner.prompttuning.PromptTuningConfig.Init init = dev.peft4j.tuner.prompttuning.PromptTuningConfig.Init.parse(ptInit);
                if (init == dev.peft4j.tuner.prompttuning.PromptTuningConfig.Init.TEXT && ptInitText == null)
                    throw new dev.peft4j.Peft4jException("--prompt-tuning.init text needs --prompt-tuning.init-text, e.g. \"Answer the question:\"");
                yield new dev.peft4j.tuner.prompttuning.PromptTuningConfig(dev.peft4j.tuner.prompt.PromptLearningConfig.of(ptNumVirtualTokens),
                        init, ptInitText, init == dev.peft4j.tuner.prompttuning.PromptTuningConfig.Init.TEXT ? model.toString() : null);
            }
            case "prefix-tuning", "prefix_tuning" -> {
                refusePromptOptions();
                yield dev.peft4j.tuner.prefixtuning.PrefixTuningConfig.of(pfxNumVirtualTokens, pfxProjection, pfxEncoderHidden);
            }
            case "p-tuning", "p_tuning" -> {
                refusePromptOptions();
                yield dev.peft4j.tuner.ptuning.PTuningConfig.of(ptuNumVirtualTokens, dev.peft4j.tuner.ptuning.PTuningConfig.EncoderType.parse(ptuEncoderType),
                        ptuEncoderHidden, ptuEncoderLayers, ptuEncoderDropout);
            }
            default -> throw new dev.peft4j.Peft4jException("unknown --method '" + method + "'; use lora, dora, ia3, vera, loha, lokr, adalora, prompt-tuning, p-tuning or prefix-tuning");
        };
    }

    /**
     * The heap this run needs (HeapPlan), from config.json and the options, before anything loads; empty for a base
     * without config.json (a GGUF file). bin/peft4j starts the JVM with it; call() prints it.
     */
    @Override
    public java.util.Optional<dev.peft4j.train.HeapPlan> heapPlan() {
        if (model == null || !java.nio.file.Files.isRegularFile(model.resolve("config.json"))) return java.util.Optional.empty();
        dev.peft4j.model.ModelConfig cfg = dev.peft4j.model.ModelConfig.load(model);
        AdapterConfig ac = adapterConfig();
        dev.peft4j.train.HeapPlan.Builder b = dev.peft4j.train.HeapPlan.builder(cfg)
                .storage(dev.peft4j.train.HeapPlan.Storage.of(baseModel.quantize, baseModel.frozenDtype, dev.peft4j.train.HeapPlan.bf16Checkpoint(model),
                        baseModel.prepackWeights))
                .loadsInF32(baseModel.quantize.equalsIgnoreCase("none")).checkpointing(gradientCheckpointing);
        if (adapter == null) b.adapter(ac);
        else b.adapter(null);                 // continuing an adapter file: its method's targets are not known up front
        long dataBytes = 0;
        for (Path f : java.util.Arrays.asList(data, valData))
            try { if (f != null && java.nio.file.Files.isRegularFile(f)) dataBytes += java.nio.file.Files.size(f); } catch (java.io.IOException ignored) { }
        return java.util.Optional.of(b.batch(batchSize, maxLength).dataBytes(dataBytes).build());
    }

    private void train(TrainConfig tc, AdapterConfig lc, DataConfig dc, Map<String, Object> resolved, Path workDir) {
        CausalLM lm = baseModel.load(model);
        lm.setGradientCheckpointing(gradientCheckpointing);
        long baseParameters = lm.parameterCount();
        try (Tokenizer tok = Tokenizer.load(model)) {
            Dataset ds = Dataset.load(data, tok, model, dc);
            System.out.println(ds.stats().summary());
            System.out.printf("      %d training examples, %d validation examples%n", ds.train().size(), ds.validation().size());
            DataCheck.Report dataCheck = DataCheck.run(data, testData, tok, model, dc);   // peft4j data check; --strict: fatal
            System.out.print(dataCheck.summary());
            if (strict) DataCheck.failOnWarnings(dataCheck);
            AdapterModel lora;
            if (adapter != null) {
                lora = PeftAdapter.load(lm, adapter, Lora.DEFAULT_ADAPTER);
                System.out.println("continuing from adapter " + adapter + " (" + lora.config().methodName()
                        + "; its configuration replaces --method and the --lora.* / --ia3.* options)");
                if (lora.config().peftType().equals("P_TUNING"))
                    System.out.println("P-tuning: a saved adapter holds the prompt encoder's output, not the encoder (as PEFT saves it); "
                            + "training continues on that table of virtual tokens directly, as prompt tuning does");
            } else {
                lora = PeftMethods.of(lc.peftType(), "--method").apply(lm, lc, Lora.DEFAULT_ADAPTER, seed);
            }
            dev.peft4j.tuner.lora.LoraConversion.Initial initial = null;          // PiSSA/OLoRA: A0, B0 for the conversion on save
            if (adapter == null && loraConvertToLora && lora instanceof dev.peft4j.tuner.lora.LoraModel plm && plm.config().initLoraWeights().residualisesBase()) {
                dev.peft4j.tuner.lora.LoraConversion.convertedConfig(plm.config());  // refuses DoRA / modules_to_save now, not after training
                initial = dev.peft4j.tuner.lora.LoraConversion.initial(plm);
                System.out.println("lora.init " + plm.config().initLoraWeights() + ": base weights residualised; the final adapter is saved "
                        + "converted to a plain LoRA of rank " + 2 * plm.config().r() + " for the original base (--lora.convert-to-lora false keeps the "
                        + plm.config().initLoraWeights() + " form; checkpoints keep it too)");
            } else if (adapter == null && lora instanceof dev.peft4j.tuner.lora.LoraModel plm
                    && plm.config().initLoraWeights().kind() == InitLoraWeights.Kind.PISSA_NITER) {
                System.out.println("warning: lora.init " + plm.config().initLoraWeights() + " without conversion: loading this adapter "
                        + "re-runs the randomized SVD on the original base (PEFT: torch's unseeded RNG), which does not give back this "
                        + "residual; keep --lora.convert-to-lora true to use the adapter elsewhere");
            }
            lora.warnings().forEach(w -> System.out.println("warning: " + w));
            System.out.println(lora.trainableSummary());
            warnIfForgettingIsUnwatched(lora, baseParameters);
            TrainEvaluation evaluation = evalTasks == null && reference == null ? null
                    : new TrainEvaluation(lm, tok, lora, evalTasks == null ? List.of() : evalTasks, evalData == null ? List.of() : evalData,
                            evalLimit, maxLength, evalMaxNewTokens, evalRegex, reference);
            int padId = DataLoader.padIdOf(tok);
            DataLoader loader = new DataLoader(ds.train(), batchSize, true, seed, padId, false);
            if (lora instanceof dev.peft4j.tuner.adalora.AdaLoraModel ada && ada.config().totalStep() == null) {
                ada.setTotalStep(tc.totalSteps(loader.batchesPerEpoch()));    // PEFT needs total_step before training
                System.out.println("adalora total_step = " + ada.config().totalStep() + " (the planned optimizer steps)");
            }
            String base = model.toString();
            Trainer trainer = new Trainer(lm, lora.trainableParameters(),
                    dir -> PeftAdapter.save(lora, dir, base, new PeftAdapter.Card(data.getFileName().toString(), null)),
                    loader, ds.validation(), padId, tc, workDir, System.out).loraPlus(loraPlusRatio).hook(lora.trainingHook())
                    .evaluator(evaluation).keepBest(keepBest).earlyStopping(earlyStoppingPatience);
            if (loraPlusRatio > 0)
                System.out.printf("LoRA+: lora_B and 1-D tensors learn at lr x %s = %s%n", loraPlusRatio, lr * loraPlusRatio);
            Trainer.Result r = trainer.run(resume);
            if (initial != null)
                dev.peft4j.tuner.lora.LoraConversion.save((dev.peft4j.tuner.lora.LoraModel) lora, initial, workDir, base);
            else
                PeftAdapter.save(lora, workDir, base, new PeftAdapter.Card(data.getFileName().toString(), String.format(
                        "train loss %.4f%s after %d steps", r.lastLoss(), r.valLoss() == null ? "" : String.format(", validation loss %.4f", r.valLoss()), r.steps())));
            Cli.writeJson(workDir.resolve("train_config.json"), resolved);
            TrainProvenance.write(workDir, new TrainProvenance.Inputs(model, data, valData, ds, lora, r, resolved, seed, batchSize, gradAccum,
                    padId, resume, clock, wattsPerCore, gridGco2PerKwh), System.out);
            System.out.printf("done: %d steps, final train loss %.4f%s, %.0f tokens/s; adapter in %s%n", r.steps(), r.lastLoss(),
                    r.valLoss() == null ? "" : String.format(", validation loss %.4f", r.valLoss()), r.meanTokensPerSecond(), output);
            if (r.best() != null)
                System.out.printf(java.util.Locale.ROOT, "%sbest %s %.4f at step %d%s%n", r.earlyStopped() ? "stopped early; " : "",
                        r.best().metric(), r.best().value(), r.best().step(), keepBest != null ? ": its adapter is in " + output.resolve("best") : "");
        }
    }

    /** --eval-task / --eval-data / --keep-best / --early-stopping-patience: misuse is an error before anything loads. */
    private void checkEvalOptions() {
        int tasks = evalTasks == null ? 0 : evalTasks.size(), files = evalData == null ? 0 : evalData.size();
        if (tasks > 0 && files == 0)
            throw new dev.peft4j.Peft4jException("--eval-task " + String.join(",", evalTasks) + " needs its data: add --eval-data FILE "
                    + "(e.g. a JSONL of {\"prompt\", \"choices\", \"answer\"} for mc)");
        if (tasks != files)
            throw new dev.peft4j.Peft4jException(tasks + " --eval-task but " + files + " --eval-data; give one data file per task, in order");
        Map<String, Boolean> metrics = new LinkedHashMap<>();
        if (evalTasks != null)
            for (String t : evalTasks) {
                if (!TrainEvaluation.TASKS.contains(t))
                    throw new dev.peft4j.Peft4jException("unknown --eval-task '" + t + "'; use " + String.join(", ", TrainEvaluation.TASKS));
                if (metrics.keySet().stream().anyMatch(k -> k.startsWith(t + ":")))
                    throw new dev.peft4j.Peft4jException("--eval-task " + t + " is given twice; score each task once during training");
                metrics.putAll(TrainEvaluation.metricsOf(t));
            }
        if (reference != null) metrics.put(TrainEvaluation.FORGETTING, false);
        if (earlyStoppingPatience < 0)
            throw new dev.peft4j.Peft4jException("--early-stopping-patience must be >= 0 (got " + earlyStoppingPatience + "); 0 turns it off");
        if (keepBest != null) {
            String m = keepBest.startsWith(dev.peft4j.train.Trainer.EVAL_PREFIX) ? keepBest.substring(dev.peft4j.train.Trainer.EVAL_PREFIX.length()) : keepBest;
            if (!m.equals(dev.peft4j.train.Trainer.VAL_LOSS) && !metrics.containsKey(m))
                throw new dev.peft4j.Peft4jException("--keep-best " + keepBest + ": this run does not compute that metric; it computes "
                        + dev.peft4j.train.Trainer.VAL_LOSS + " (with validation data)" + (metrics.isEmpty() ? "" : ", " + String.join(", ", metrics.keySet()))
                        + ". Name one of those, or add the task, e.g. --eval-task mc --eval-data FILE --keep-best mc:acc");
        }
        if ((keepBest != null || earlyStoppingPatience > 0) && evalEvery == 0)
            throw new dev.peft4j.Peft4jException((keepBest != null ? "--keep-best" : "--early-stopping-patience")
                    + " needs evaluations during training: add --eval-every N (e.g. --eval-every 50)");
        if ((tasks > 0 || reference != null) && evalEvery == 0)
            System.out.println("note: without --eval-every the " + (tasks > 0 ? "--eval-task" : "--reference") + " scores are computed at the end only");
    }

    /**
     * A large trainable share (over 1% of the parameters, or embeddings / output head trained in full)
     * can make the model forget what it knew; say so when no --reference text watches it.
     */
    private void warnIfForgettingIsUnwatched(AdapterModel lora, long baseParameters) {
        if (reference != null) return;
        long trainable = 0;
        for (var t : lora.trainableParameters()) trainable += t.size();
        String w = forgettingWarning(trainable, baseParameters, lora.modulesToSave());
        if (w != null) System.out.println(w);
    }

    /** The warning for a trainable share over 1% or embeddings / LM head trained in full, or null. */
    static String forgettingWarning(long trainable, long baseParameters, List<String> modulesToSave) {
        double share = (double) trainable / (baseParameters + trainable);
        List<String> full = modulesToSave.stream().filter(m -> m.contains("embed") || m.contains("lm_head") || m.contains("wte")
                || m.contains("wpe")).toList();
        if (share <= 0.01 && full.isEmpty()) return null;
        return String.format(java.util.Locale.ROOT, "warning: %s%s: enough to make the model forget what it knew, and no --reference text "
                + "watches it. Add --reference FILE (general text) to log forgetting, the loss increase over the base model, at every "
                + "evaluation", share > 0.01 ? String.format(java.util.Locale.ROOT, "%.2f%% of the parameters are trainable", 100 * share) : "",
                full.isEmpty() ? "" : (share > 0.01 ? " and " : "") + "modules_to_save trains " + String.join(", ", full) + " in full");
    }

    static DataFormat dataFormat(String s) {
        try {
            return DataFormat.valueOf(s.trim().toUpperCase(java.util.Locale.ROOT).replace('-', '_'));
        } catch (IllegalArgumentException e) {
            throw new dev.peft4j.Peft4jException("unknown --format '" + s + "'; use auto, text, prompt_completion, messages or alpaca");
        }
    }

    /** Prompt-learning adapters have no target modules: the per-module options make no sense with them. */
    private void refusePromptOptions() {
        if (modulesToSave != null || layersToTransform != null)
            throw new dev.peft4j.Peft4jException("--method " + method + " learns virtual tokens and adapts no module: --modules-to-save and "
                    + "--layers-to-transform do not apply; leave them out");
    }

    /** Every option's final value (after config file and command line), keyed like the config file. */
    private Map<String, Object> resolvedOptions() {
        Map<String, Object> out = new LinkedHashMap<>();
        for (OptionSpec o : spec.options()) {
            String name = o.longestName().replaceFirst("^--", "");
            if (o.usageHelp() || o.versionHelp() || name.equals("config")) continue;
            Object v = o.getValue();
            out.put(name, v instanceof Path p ? p.toString()
                    : v instanceof List<?> l ? l.stream().map(x -> x instanceof Path p ? p.toString() : x).toList() : v);   // --eval-data
        }
        return out;
    }
}
