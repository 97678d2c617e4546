/*
 * Trainer: the supervised fine-tuning loop, explicit and in one place.
 *
 *   for each optimizer step:
 *     zero the trainable gradients
 *     for each of grad_accum micro-batches: forward with a tape, loss, backward
 *         (each micro-batch's mean loss is weighted by its share of the step's target tokens, so
 *          the step's gradient is that of the token-weighted mean over all of them)
 *     clip the global gradient norm; stop cleanly if the loss or the norm is not finite
 *     AdamW step with the scheduled learning rate
 *     log (console + metrics.jsonl), evaluate every eval_every steps, checkpoint every save_every
 *   save the final adapter
 *
 * Evaluation steps (every eval_every steps and the last one): the validation loss, then the
 * Evaluator's scores (tasks; the trainer knows none) as "eval/NAME" in metrics.jsonl. keepBest(M)
 * writes the adapter of every step where M improved into OUTPUT/best/ (temp dir + rename, with
 * best.json); earlyStopping(K) ends the run after K evaluations in a row without an improvement
 * of M (or of val_loss without keepBest) and saves the final adapter as usual. The best value,
 * its step and the count of evaluations without improvement are part of the checkpoint state.
 *
 * Exact resume: a checkpoint holds the trainable tensors, AdamW's m/v/step, the data loader's
 * position and the step; dropout masks are drawn from a generator seeded by (seed, step,
 * micro-batch), so they need no saved state. A run resumed from checkpoint k therefore replays
 * steps k+1.. exactly and ends with the same adapter bytes. Checkpoints are written to a
 * temporary directory and renamed into place, so a kill at any moment leaves the last good one.
 */
package dev.peft4j.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.data.Batch;
import dev.peft4j.data.DataLoader;
import dev.peft4j.data.Example;
import dev.peft4j.io.DType;
import dev.peft4j.io.SafeTensorsFile;
import dev.peft4j.io.SafeTensorsWriter;
import dev.peft4j.model.CausalLM;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

public final class Trainer {
    /** Writes the adapter being trained (PEFT format) into a directory. */
    @FunctionalInterface
    public interface AdapterWriter { void write(Path dir); }

    /** Called after every optimizer step (for tests, UIs). */
    @FunctionalInterface
    public interface StepListener { void onStep(StepMetrics m); }

    /** evalScores: the Evaluator's scores at an evaluation step (name -> value), empty at other steps. */
    public record StepMetrics(int step, int totalSteps, double loss, double lr, double gradNorm, double tokensPerSecond,
                              int epoch, Double valLoss, Map<String, Double> evalScores) {}

    /**
     * stoppedEarly: ended by stopAfter (a checkpoint, no final adapter); earlyStopped: ended by early
     * stopping (the final adapter saved). best: the watched metric's best evaluation, or null.
     */
    public record Result(int steps, double lastLoss, Double valLoss, double meanTokensPerSecond, Path adapterDir,
                         boolean stoppedEarly, Double initialValLoss, boolean earlyStopped, Best best) {}

    /** The best evaluation of the watched metric so far: step, metric name, value. */
    public record Best(int step, String metric, double value, boolean higherIsBetter) {}

    public static final String STATE_JSON = "trainer_state.json", STATE_TENSORS = "trainer_state.safetensors",
            METRICS = "metrics.jsonl", BEST_DIR = "best", BEST_JSON = "best.json", VAL_LOSS = "val_loss", EVAL_PREFIX = "eval/";
    private static final String HOOK_PREFIX = "hook.";

    private final CausalLM model;
    private final List<Tensor> params;
    private final AdapterWriter adapterWriter;
    private final DataLoader train;
    private final List<Example> validation;
    private final int padId;
    private final TrainConfig cfg;
    private final Path output;
    private final PrintStream console;
    private StepListener listener = m -> {};
    private int stopAfter = Integer.MAX_VALUE;
    private double loraPlusRatio;
    private TrainingHook hook;
    private Evaluator evaluator;
    private String keepBest;                  // metric whose best step is saved to OUTPUT/best (null = none)
    private int patience;                     // early stopping: evaluations without improvement (0 = off)
    // the watched metric's state (keepBest, else val_loss when early stopping): part of the checkpoint
    private double bestValue = Double.NaN;
    private int bestStep = -1, evalsWithoutImprovement;
    private Boolean watchHigherIsBetter;
    private final ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    public Trainer(CausalLM model, List<Tensor> trainable, AdapterWriter adapterWriter, DataLoader train,
                   List<Example> validation, int padId, TrainConfig cfg, Path outputDir, PrintStream console) {
        if (trainable.isEmpty()) throw new Peft4jException("nothing to train: the adapter has no trainable parameters");
        this.model = model;
        this.params = List.copyOf(trainable);
        this.adapterWriter = adapterWriter;
        this.train = train;
        this.validation = validation == null ? List.of() : validation;
        this.padId = padId;
        this.cfg = cfg;
        this.output = outputDir;
        this.console = console;
    }

    public Trainer onStep(StepListener l) { this.listener = l; return this; }

    /**
     * LoRA+: lora_B (and 1-D) tensors learn at lr × ratio (PEFT's create_loraplus_optimizer; see LoraPlus).
     * 0 (the default) = one learning rate for all.
     */
    public Trainer loraPlus(double ratio) {
        if (ratio != 0) LoraPlus.groups(params, ratio, 0);        // validates the ratio now
        this.loraPlusRatio = ratio;
        return this;
    }

    /**
     * A method's additions to the loop (extra loss, a callback after the optimizer step, metrics,
     * checkpoint state); null = none. See TrainingHook.
     */
    public Trainer hook(TrainingHook h) { this.hook = h; return this; }

    /** Scores the model at every evaluation step besides the validation loss (null = none). */
    public Trainer evaluator(Evaluator e) { this.evaluator = e; return this; }

    /**
     * Saves the adapter into OUTPUT/best/ (with best.json) at every evaluation where metric improved:
     * "val_loss" (lower is better) or the name of an Evaluator score ("eval/" prefix optional), whose
     * direction the score gives. null = off.
     */
    public Trainer keepBest(String metric) {
        this.keepBest = metric == null ? null : metric.startsWith(EVAL_PREFIX) ? metric.substring(EVAL_PREFIX.length()) : metric;
        return this;
    }

    /** Stops after this many evaluations in a row without improvement of the keepBest metric (else val_loss); 0 = off. */
    public Trainer earlyStopping(int patience) {
        if (patience < 0) throw new Peft4jException("early stopping patience must be >= 0 (got " + patience + "); 0 turns it off");
        this.patience = patience;
        return this;
    }

    /** The watched metric: keepBest, else val_loss when early stopping, else null. */
    private String watched() { return keepBest != null ? keepBest : patience > 0 ? VAL_LOSS : null; }

    /** Ends the run after this optimizer step, as an interruption would (the checkpoint logic is unchanged). */
    public Trainer stopAfter(int step) { this.stopAfter = step; return this; }

    public Result run(boolean resume) {
        int total = cfg.totalSteps(train.batchesPerEpoch());
        LrSchedule schedule = new LrSchedule(cfg.schedule(), cfg.warmup(total), total);
        AdamW.Hyper hyper = new AdamW.Hyper(0.9, 0.999, 1e-8, cfg.weightDecay());
        AdamW opt = loraPlusRatio > 0 ? new AdamW(params, hyper, LoraPlus.groups(params, loraPlusRatio, cfg.weightDecay()))
                : new AdamW(params, hyper);
        checkWatch();
        createDirs(output);
        recoverLeftovers();
        int step = 0;
        if (resume) {
            Optional<Path> ckpt = latestCheckpoint(output);
            if (ckpt.isPresent()) {
                step = restore(ckpt.get(), opt);
                trimMetrics(step);
                console.printf("resumed from %s (step %d of %d)%n", ckpt.get(), step, total);
            } else {
                console.println("no checkpoint in " + output + "; starting from step 0");
            }
        } else if (Files.exists(output.resolve(METRICS)) || latestCheckpoint(output).isPresent()) {
            // never destroy an earlier run's log or checkpoints (CLI: --output is checked by OutputDir first)
            throw new Peft4jException(output + " already holds a training run (" + METRICS + " or checkpoints); nothing was changed. "
                    + "Call run(true) to continue it, or train into an empty directory (OutputDir.prepare(dir, "
                    + "OutputDir.Mode.OVERWRITE, OutputDir.Kind.TRAINING_RUN) stages a replacement beside it)");
        }
        Double initialValLoss = null;
        if (step == 0 && !validation.isEmpty()) {                // the "before" number
            initialValLoss = evaluate();
            appendRow(Map.of("step", 0, "val_loss", initialValLoss));
            console.printf("step 0: validation loss %.4f (before training)%n", initialValLoss);
        }

        ProgressBar bar = new ProgressBar(console, "train", total);
        double lastLoss = Double.NaN, tokensSum = 0, secondsSum = 0;
        Double valLoss = null;
        boolean stoppedEarly = false, earlyStopped = false;
        dev.peft4j.autograd.Workspace workspace = new dev.peft4j.autograd.Workspace();   // activations recycled step to step
        while (step < total) {
            long t0 = System.nanoTime();
            for (Tensor p : params) p.zeroGrad();
            List<Batch> micro = new ArrayList<>();
            long targets = 0, tokens = 0;
            for (int m = 0; m < cfg.gradAccum(); m++) {
                Batch b = train.next();
                micro.add(b);
                targets += LmLoss.countTargets(model, b.labels(), b.B(), b.T());
                tokens += (long) b.B() * b.T();
            }
            double stepLoss = 0;
            for (int m = 0; m < micro.size(); m++) {
                Batch b = micro.get(m);
                int n = LmLoss.countTargets(model, b.labels(), b.B(), b.T());
                if (n == 0) continue;
                Tape tape = new Tape(dropoutSeed(cfg.seed(), step, m), workspace);
                Tensor loss = LmLoss.loss(tape, model, b.inputIds(), b.labels(), b.B(), b.T());
                Tensor extra = hook == null ? null : hook.extraLoss(tape);
                if (extra != null) loss = dev.peft4j.autograd.Ops.add(tape, loss, extra);
                double weight = (double) n / targets;
                stepLoss += loss.data[0] * weight;
                tape.backward(loss, (float) weight);
            }
            double norm = GradClip.clip(params, cfg.maxGradNorm());
            if (!Double.isFinite(stepLoss) || !Double.isFinite(norm)) {
                if (step == 0) {
                    // No optimizer step has run yet: the learning rate cannot be the cause.
                    String tensor = dev.peft4j.model.NonFinite.firstNonFiniteParameter(model);
                    throw new TrainingDivergedException("the very first forward/backward (step 1, before any optimizer "
                            + "step) gave loss " + stepLoss + ", gradient norm " + norm + "; expected finite numbers. "
                            + "The learning rate is not the cause: "
                            + (tensor != null ? "the model's weights contain non-finite values (first: " + tensor + "); "
                                    + "re-download or re-export the base model (and check an --adapter you continue from)"
                                    : "the base model or the data produce non-finite values (all weights are finite: "
                                    + "f32 overflow, e.g. config.json rms_norm_eps / layer_norm_epsilon or rope settings, "
                                    + "or weights of huge magnitude). Check with `peft4j eval --task perplexity` on the base model")
                            + ". Nothing was saved");
                }
                Optional<Path> last = latestCheckpoint(output);
                throw new TrainingDivergedException("training diverged at step " + (step + 1) + ": loss " + stepLoss
                        + ", gradient norm " + norm + ". Nothing was saved for this step; the last good checkpoint is "
                        + last.map(Path::toString).orElse("none (no checkpoint was written yet)")
                        + ". Try a lower --lr (now " + cfg.lr() + ") or --max-grad-norm 1.0, then --resume");
            }
            double lr = cfg.lr() * schedule.factor(step);
            opt.step(lr);
            step++;
            if (hook != null) hook.afterOptimizerStep(step, total);   // gradients still present
            lastLoss = stepLoss;
            double seconds = (System.nanoTime() - t0) / 1e9;
            tokensSum += tokens;
            secondsSum += seconds;
            double tps = tokens / seconds;

            boolean evalStep = (cfg.evalEvery() > 0 && step % cfg.evalEvery() == 0) || step == total;
            if (evalStep && !validation.isEmpty()) valLoss = evaluate();
            Map<String, Double> scores = new LinkedHashMap<>();
            Map<String, Boolean> directions = new LinkedHashMap<>();
            if (evalStep && evaluator != null)
                for (Evaluator.Score s : evaluator.evaluate(step)) {
                    if (scores.put(s.name(), s.value()) != null)
                        throw new Peft4jException("the evaluator returned the score '" + s.name() + "' twice at step " + step
                                + "; give every task a distinct name");
                    directions.put(s.name(), s.higherIsBetter());
                }
            StepMetrics metrics = new StepMetrics(step, total, stepLoss, lr, norm, tps, train.epoch(),
                    evalStep ? valLoss : null, Map.copyOf(scores));
            appendMetrics(metrics, scores);
            if (step % cfg.logEvery() == 0 || step == total)
                bar.log(String.format("step %d/%d  loss %.4f  lr %.3e  grad_norm %.3f  %.0f tokens/s", step, total, stepLoss, lr, norm, tps));
            bar.update(step, String.format("loss %.4f | %.0f tok/s", stepLoss, tps));
            if (metrics.valLoss() != null) console.printf("step %d: validation loss %.4f%n", step, metrics.valLoss());
            if (!scores.isEmpty()) {
                StringBuilder line = new StringBuilder("step " + step + ": eval");
                scores.forEach((k, v) -> line.append(String.format(java.util.Locale.ROOT, "  %s %.4f", k, v)));
                console.println(line);
            }
            if (evalStep && watched() != null) watch(step, metrics.valLoss(), scores, directions);
            listener.onStep(metrics);
            if (cfg.saveEvery() > 0 && step % cfg.saveEvery() == 0 && step < total) saveCheckpoint(step, opt);
            if (step >= stopAfter && step < total) {
                if (cfg.saveEvery() == 0 || step % cfg.saveEvery() != 0) saveCheckpoint(step, opt);
                stoppedEarly = true;
                break;
            }
            if (evalStep && patience > 0 && evalsWithoutImprovement >= patience && step < total) {
                console.printf(java.util.Locale.ROOT, "early stopping at step %d of %d: %s has not improved for %d evaluation%s "
                        + "(patience %d); best %s %.4f at step %d%n", step, total, watched(), evalsWithoutImprovement,
                        evalsWithoutImprovement == 1 ? "" : "s", patience, watched(), bestValue, bestStep);
                earlyStopped = true;
                break;
            }
        }
        Path adapterDir = output;
        if (!stoppedEarly) {
            adapterWriter.write(output);
            console.printf("saved to %s%s%n", output, earlyStopped ? " (the adapter of step " + step + ", where early stopping ended the run)" : "");
        }
        Best best = bestStep < 0 ? null : new Best(bestStep, watched(), bestValue, watchHigherIsBetter);
        return new Result(step, lastLoss, valLoss, secondsSum > 0 ? tokensSum / secondsSum : 0, adapterDir, stoppedEarly,
                initialValLoss, earlyStopped, best);
    }

    // ---- best checkpoint and early stopping ----

    /** Refuses a keepBest / earlyStopping setting that cannot work, before anything is written. */
    private void checkWatch() {
        String w = watched();
        if (w == null) return;
        String why = keepBest != null ? "keeping the best checkpoint (" + keepBest + ")" : "early stopping on " + VAL_LOSS;
        if (cfg.evalEvery() == 0)
            throw new Peft4jException(why + " needs evaluations during training, but eval_every is 0 (evaluate at the end only); "
                    + "set eval_every, e.g. --eval-every 50");
        if (w.equals(VAL_LOSS) && validation.isEmpty())
            throw new Peft4jException(why + " needs validation data, and there is none: give validation examples (--val-data FILE or "
                    + "--val-fraction 0.1)" + (keepBest == null ? ", or watch a task metric with --keep-best, e.g. --keep-best mc:acc" : ""));
        if (!w.equals(VAL_LOSS) && evaluator == null)
            throw new Peft4jException(why + ": no evaluator computes '" + w + "'; the metrics available are " + VAL_LOSS
                    + " and the evaluation task's (e.g. --eval-task mc gives mc:acc and mc:acc_norm)");
    }

    /** After an evaluation: compares the watched metric with the best so far; saves OUTPUT/best on an improvement. */
    private void watch(int step, Double valLoss, Map<String, Double> scores, Map<String, Boolean> directions) {
        String w = watched();
        Double value;
        boolean higher;
        if (w.equals(VAL_LOSS)) {
            value = valLoss;
            higher = false;
        } else {
            value = scores.get(w);
            if (value == null)
                throw new Peft4jException("the metric to watch, '" + w + "', was not computed at step " + step + "; computed: "
                        + (validation.isEmpty() ? "" : VAL_LOSS + ", ") + String.join(", ", scores.keySet())
                        + ". Name one of those (e.g. --keep-best " + scores.keySet().stream().findFirst().orElse(VAL_LOSS) + ")");
            higher = directions.get(w);
        }
        if (watchHigherIsBetter != null && watchHigherIsBetter != higher)
            throw new Peft4jException("the direction of '" + w + "' changed during the run");
        watchHigherIsBetter = higher;
        if (Evaluator.Score.improves(value, bestValue, higher)) {
            bestValue = value;
            bestStep = step;
            evalsWithoutImprovement = 0;
            if (keepBest != null) {
                saveBest(step, value, higher);
                console.printf(java.util.Locale.ROOT, "step %d: new best %s %.4f: adapter saved to %s%n", step, w, value,
                        output.resolve(BEST_DIR));
            }
        } else {
            evalsWithoutImprovement++;
            console.printf(java.util.Locale.ROOT, "step %d: %s %.4f, no improvement on %.4f (step %d) for %d evaluation%s%s%n", step, w,
                    value, bestValue, bestStep, evalsWithoutImprovement, evalsWithoutImprovement == 1 ? "" : "s",
                    patience > 0 ? " (patience " + patience + ")" : "");
        }
    }

    /** The adapter as it is now into OUTPUT/best/ with best.json: written beside it, then renamed into place. */
    private void saveBest(int step, double value, boolean higherIsBetter) {
        Path dir = output.resolve(BEST_DIR), tmp = output.resolve("." + BEST_DIR + ".tmp"), old = output.resolve("." + BEST_DIR + ".old");
        try {
            deleteRecursively(tmp);
            Files.createDirectories(tmp);
            adapterWriter.write(tmp);
            ObjectNode info = json.createObjectNode();
            info.put("step", step);
            info.put("metric", watched());
            info.put("value", value);
            info.put("higher_is_better", higherIsBetter);
            json.writeValue(tmp.resolve(BEST_JSON).toFile(), info);
            if (Files.exists(dir)) {
                deleteRecursively(old);
                Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
                deleteRecursively(old);
            } else {
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            }
        } catch (IOException e) {
            throw new Peft4jException("could not write the best adapter to " + dir + ": " + e.getMessage()
                    + "; the previous best is untouched. Check free disk space and permissions", e);
        }
    }

    /** Token-weighted mean loss over the validation set, no dropout, no tape. */
    public double evaluate() {
        DataLoader loader = new DataLoader(validation, cfg.batchSize(), false, cfg.seed(), padId, false);
        int batches = cfg.evalBatches() > 0 ? Math.min(cfg.evalBatches(), loader.batchesPerEpoch()) : loader.batchesPerEpoch();
        double sum = 0;
        long count = 0;
        for (int i = 0; i < batches; i++) {
            Batch b = loader.next();
            int n = LmLoss.countTargets(model, b.labels(), b.B(), b.T());
            if (n == 0) continue;
            sum += LmLoss.loss(null, model, b.inputIds(), b.labels(), b.B(), b.T()).data[0] * (double) n;
            count += n;
        }
        return count == 0 ? Double.NaN : sum / count;
    }

    /** Dropout seed of (run seed, step, micro-batch): stateless, so resume needs no RNG snapshot. */
    static long dropoutSeed(long seed, int step, int micro) {
        long z = seed * 0x9E3779B97F4A7C15L + step * 0xBF58476D1CE4E5B9L + micro * 0x94D049BB133111EBL;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        return z ^ (z >>> 31);
    }

    // ---- checkpoints ----

    private void saveCheckpoint(int step, AdamW opt) {
        Path dir = output.resolve("checkpoint-" + step);
        Path tmp = output.resolve(".checkpoint-" + step + ".tmp");
        try {
            deleteRecursively(tmp);
            Files.createDirectories(tmp);
            adapterWriter.write(tmp);
            List<SafeTensorsWriter.Tensor> tensors = new ArrayList<>();
            for (int i = 0; i < params.size(); i++) {
                Tensor p = params.get(i);
                long[] shape = java.util.Arrays.stream(p.shape).asLongStream().toArray();
                tensors.add(new SafeTensorsWriter.Tensor("param." + i, DType.F32, shape, p.data));
                tensors.add(new SafeTensorsWriter.Tensor("exp_avg." + i, DType.F32, shape, opt.firstMoments()[i]));
                tensors.add(new SafeTensorsWriter.Tensor("exp_avg_sq." + i, DType.F32, shape, opt.secondMoments()[i]));
            }
            if (hook != null)
                for (Map.Entry<String, float[]> e : hook.stateTensors().entrySet())
                    tensors.add(new SafeTensorsWriter.Tensor(HOOK_PREFIX + e.getKey(), DType.F32, new long[] {e.getValue().length}, e.getValue()));
            SafeTensorsWriter.write(tmp.resolve(STATE_TENSORS), Map.of("format", "peft4j-trainer-state"), tensors);
            ObjectNode state = json.createObjectNode();
            state.put("step", step);
            state.put("optimizer_step", opt.stepCount());
            state.put("seed", cfg.seed());
            state.set("data_state", json.valueToTree(train.state()));
            state.set("param_names", json.valueToTree(params.stream().map(t -> t.name).toList()));
            state.set("train_config", json.valueToTree(cfg));
            if (hook != null) state.set("hook_state", json.valueToTree(hook.state()));
            if (watched() != null && bestStep >= 0) {
                ObjectNode w = state.putObject("watch");
                w.put("metric", watched());
                w.put("best_value", bestValue);
                w.put("best_step", bestStep);
                w.put("higher_is_better", watchHigherIsBetter);
                w.put("evals_without_improvement", evalsWithoutImprovement);
            }
            json.writeValue(tmp.resolve(STATE_JSON).toFile(), state);
            if (Files.exists(dir)) {
                Path old = output.resolve(".checkpoint-" + step + ".old");
                deleteRecursively(old);
                Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
                deleteRecursively(old);
            } else {
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            }
        } catch (IOException e) {
            throw new Peft4jException("could not write checkpoint " + dir + ": " + e.getMessage()
                    + "; the previous checkpoint is untouched. Check free disk space and permissions", e);
        }
    }

    private int restore(Path dir, AdamW opt) {
        try {
            var state = json.readTree(dir.resolve(STATE_JSON).toFile());
            List<String> names = new ArrayList<>();
            state.get("param_names").forEach(n -> names.add(n.asText()));
            List<String> ours = params.stream().map(t -> t.name).toList();
            if (!names.equals(ours))
                throw new Peft4jException("checkpoint " + dir + " was made for a different adapter (" + names.size()
                        + " tensors, first " + names.stream().findFirst().orElse("-") + ") than this run (" + ours.size()
                        + " tensors); resume with the same model and LoRA options, or use a new --output");
            float[][] m = new float[params.size()][], v = new float[params.size()][];
            Map<String, float[]> hookTensors = new LinkedHashMap<>();
            try (SafeTensorsFile f = SafeTensorsFile.open(dir.resolve(STATE_TENSORS))) {
                for (int i = 0; i < params.size(); i++) {
                    f.readFloats("param." + i, params.get(i).data, 0);
                    m[i] = f.readFloats("exp_avg." + i);
                    v[i] = f.readFloats("exp_avg_sq." + i);
                }
                for (var t : f.tensors())
                    if (t.name().startsWith(HOOK_PREFIX)) hookTensors.put(t.name().substring(HOOK_PREFIX.length()), f.readFloats(t.name()));
            }
            if (hook != null) {
                @SuppressWarnings("unchecked")
                Map<String, Object> hs = state.has("hook_state") ? json.convertValue(state.get("hook_state"), Map.class) : Map.of();
                hook.restore(hs, hookTensors);
            }
            opt.restore(state.get("optimizer_step").asLong(), m, v);
            train.restore(json.treeToValue(state.get("data_state"), DataLoader.State.class));
            var w = state.get("watch");
            if (w != null && w.path("metric").asText().equals(watched())) {
                bestValue = w.get("best_value").asDouble();
                bestStep = w.get("best_step").asInt();
                watchHigherIsBetter = w.get("higher_is_better").asBoolean();
                evalsWithoutImprovement = w.get("evals_without_improvement").asInt();
                console.printf(java.util.Locale.ROOT, "resumed the watch on %s: best %.4f at step %d, %d evaluation(s) without improvement since%n",
                        watched(), bestValue, bestStep, evalsWithoutImprovement);
            } else if (w != null && watched() != null) {
                console.println("note: the checkpoint watched " + w.path("metric").asText() + ", this run watches " + watched()
                        + ": its best value starts afresh");
            }
            return state.get("step").asInt();
        } catch (IOException e) {
            throw new Peft4jException("could not read checkpoint " + dir + ": " + e.getMessage(), e);
        }
    }

    /** The complete checkpoint with the highest step (temporary directories are ignored). */
    public static Optional<Path> latestCheckpoint(Path output) {
        if (!Files.isDirectory(output)) return Optional.empty();
        try (var s = Files.list(output)) {
            return s.filter(p -> p.getFileName().toString().matches("checkpoint-\\d+") && Files.exists(p.resolve(STATE_JSON)))
                    .max(Comparator.comparingInt(p -> Integer.parseInt(p.getFileName().toString().substring(11))));
        } catch (IOException e) {
            throw new Peft4jException("cannot list " + output + ": " + e.getMessage(), e);
        }
    }

    // ---- metrics ----

    private void appendMetrics(StepMetrics m, Map<String, Double> scores) {
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("step", m.step());
        row.put("loss", m.loss());
        row.put("lr", m.lr());
        row.put("grad_norm", m.gradNorm());
        row.put("tokens_per_s", Math.round(m.tokensPerSecond() * 10) / 10.0);
        row.put("epoch", m.epoch());
        if (m.valLoss() != null) row.put(VAL_LOSS, m.valLoss());
        scores.forEach((k, v) -> row.put(EVAL_PREFIX + k, v));
        if (hook != null) row.putAll(hook.metrics());
        appendRow(row);
    }

    private void appendRow(Map<String, Object> row) {
        try {
            Files.writeString(output.resolve(METRICS), new ObjectMapper().writeValueAsString(row) + "\n",
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new Peft4jException("cannot append to " + output.resolve(METRICS) + ": " + e.getMessage(), e);
        }
    }

    /** Keeps the metrics rows up to the resumed step (later ones are recomputed by the resumed run). */
    private void trimMetrics(int step) {
        Path f = output.resolve(METRICS);
        if (!Files.exists(f)) return;
        try {
            ObjectMapper om = new ObjectMapper();
            List<String> keep = new ArrayList<>();
            for (String line : Files.readAllLines(f)) {
                if (line.isBlank()) continue;
                try {
                    if (om.readTree(line).path("step").asInt() <= step) keep.add(line);
                } catch (IOException bad) { /* a line cut by a kill: drop it */ }
            }
            Path tmp = output.resolve("." + METRICS + ".tmp");     // atomic: a kill here leaves the old log whole
            Files.write(tmp, keep);
            Files.move(tmp, f, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new Peft4jException("cannot rewrite " + f + ": " + e.getMessage(), e);
        }
    }

    private static void createDirs(Path p) {
        try {
            Files.createDirectories(p);
        } catch (IOException e) {
            throw new Peft4jException("cannot create output directory " + p + ": " + e.getMessage(), e);
        }
    }

    /**
     * Leftovers of a run killed while it wrote a checkpoint or rewrote the log: a checkpoint being
     * replaced (".checkpoint-N.old" without "checkpoint-N") is renamed back, unfinished temporaries
     * are deleted. Never taken for valid: latestCheckpoint() only sees complete "checkpoint-N" dirs.
     */
    private void recoverLeftovers() {
        if (!Files.isDirectory(output)) return;
        try (var s = Files.list(output)) {
            for (Path p : s.toList()) {
                String n = p.getFileName().toString();
                if (n.matches("\\.checkpoint-\\d+\\.old") || n.equals("." + BEST_DIR + ".old")) {
                    Path dir = output.resolve(n.substring(1, n.length() - 4));
                    if (!Files.exists(dir)) {
                        Files.move(p, dir, StandardCopyOption.ATOMIC_MOVE);
                        console.println("note: restored " + dir + " (a run was stopped while replacing it)");
                    } else {
                        deleteRecursively(p);
                    }
                } else if (n.matches("\\.checkpoint-\\d+\\.tmp") || n.equals("." + METRICS + ".tmp") || n.equals("." + BEST_DIR + ".tmp")) {
                    deleteRecursively(p);
                    console.println("note: removed " + p + " (unfinished, from a run that was stopped)");
                }
            }
        } catch (IOException e) {
            throw new Peft4jException("cannot clean up " + output + " after an earlier stopped run: " + e.getMessage(), e);
        }
    }

    static void deleteRecursively(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (var s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(q);
        }
    }
}
