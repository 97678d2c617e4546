/*
 * TrainConfig: the training-loop options, with transformers' TrainingArguments names in mind
 * (learning_rate, lr_scheduler_type, warmup_steps/warmup_ratio, per_device_train_batch_size,
 * gradient_accumulation_steps, max_grad_norm, weight_decay, seed, logging/eval/save steps).
 * Every field is validated with a message that says how to fix it.
 */
package dev.peft4j.train;

import dev.peft4j.Peft4jException;

public record TrainConfig(
        int steps,               // optimizer steps; 0 = derive from epochs
        double epochs,           // used when steps == 0
        double lr,
        LrSchedule.Kind schedule,
        int warmupSteps,
        double warmupRatio,      // used when warmupSteps == 0
        int batchSize,           // sequences per micro-batch
        int gradAccum,           // micro-batches per optimizer step
        double maxGradNorm,      // 0 = no clipping
        double weightDecay,
        long seed,
        int logEvery,
        int evalEvery,           // 0 = evaluate only at the end (when there is validation data)
        int evalBatches,         // 0 = the whole validation set
        int saveEvery,           // 0 = only the final adapter
        int threads) {           // 0 = all cores

    public TrainConfig {
        if (steps < 0) throw new Peft4jException("steps must be >= 0 (got " + steps + "); 0 means: derive from --epochs");
        if (steps == 0 && !(epochs > 0)) throw new Peft4jException("give --steps N or --epochs E > 0 (got steps 0, epochs " + epochs + ")");
        if (!(lr > 0) || Double.isInfinite(lr)) throw new Peft4jException("lr must be a positive number (got " + lr + "); try --lr 2e-4");
        if (warmupSteps < 0) throw new Peft4jException("warmup steps must be >= 0 (got " + warmupSteps + ")");
        if (!(warmupRatio >= 0 && warmupRatio < 1)) throw new Peft4jException("warmup ratio must be in [0, 1) (got " + warmupRatio + ")");
        if (batchSize < 1) throw new Peft4jException("batch size must be >= 1 (got " + batchSize + "); try --batch-size 4");
        if (gradAccum < 1) throw new Peft4jException("grad-accum must be >= 1 (got " + gradAccum + ")");
        if (!(maxGradNorm >= 0)) throw new Peft4jException("max grad norm must be >= 0 (got " + maxGradNorm + "); 0 disables clipping");
        if (!(weightDecay >= 0)) throw new Peft4jException("weight decay must be >= 0 (got " + weightDecay + ")");
        if (logEvery < 1) throw new Peft4jException("log-every must be >= 1 (got " + logEvery + ")");
        if (evalEvery < 0 || saveEvery < 0 || evalBatches < 0 || threads < 0)
            throw new Peft4jException("eval-every, save-every, eval-batches and threads must be >= 0");
    }

    public static TrainConfig defaults() {
        return new TrainConfig(0, 1.0, 2e-4, LrSchedule.Kind.LINEAR, 0, 0.0, 4, 1, 1.0, 0.0, 42L, 10, 0, 0, 0, 0);
    }

    /** Total optimizer steps given the number of micro-batches in one epoch. */
    public int totalSteps(int batchesPerEpoch) {
        if (steps > 0) return steps;
        int perEpoch = Math.max(1, (int) Math.ceil(batchesPerEpoch / (double) gradAccum));
        return Math.max(1, (int) Math.ceil(epochs * perEpoch));
    }

    public int warmup(int totalSteps) {
        return warmupSteps > 0 ? warmupSteps : (int) Math.ceil(warmupRatio * totalSteps);
    }
}
