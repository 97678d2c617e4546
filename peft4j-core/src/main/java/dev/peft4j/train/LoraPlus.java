/*
 * LoraPlus: LoRA+ (Hayou et al. 2024, https://arxiv.org/abs/2402.12354) as HF PEFT builds it
 * (peft/optimizers/loraplus.py create_loraplus_optimizer): the optimizer's parameter groups give
 *   - every tensor whose name contains "lora_B", and every 1-D tensor, lr × loraplus_lr_ratio;
 *   - every other tensor (lora_A, modules_to_save weights, ...) lr;
 * with weight decay loraplus_weight_decay on both, except tensors whose name contains "bias" (PEFT's
 * decay_parameters exclude biases and layer norms), which get none. (PEFT's separate embedding group,
 * lr 1e-6, has no member here: peft4j does not put LoRA on embeddings.) The scheduler scales every
 * group's lr by the same factor, as transformers' schedulers do.
 */
package dev.peft4j.train;

import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import java.util.ArrayList;
import java.util.List;

public final class LoraPlus {
    private LoraPlus() {}

    /** PEFT's group of one trainable tensor, from its name and shape. */
    public static AdamW.Group group(Tensor t, double lrRatio, double weightDecay) {
        String name = t.name == null ? "" : t.name;
        boolean b = name.contains("lora_B") || t.shape.length == 1;
        boolean decay = !name.contains("bias");
        return new AdamW.Group(b ? lrRatio : 1.0, decay ? weightDecay : 0.0);
    }

    /** The groups of params, in order (for AdamW's constructor). */
    public static List<AdamW.Group> groups(List<Tensor> params, double lrRatio, double weightDecay) {
        if (!(lrRatio > 0) || Double.isInfinite(lrRatio))
            throw new Peft4jException("loraplus_lr_ratio must be a positive number (got " + lrRatio + "); the paper and PEFT suggest "
                    + "values >= 1, e.g. 16");
        List<AdamW.Group> out = new ArrayList<>(params.size());
        for (Tensor t : params) out.add(group(t, lrRatio, weightDecay));
        return out;
    }
}
