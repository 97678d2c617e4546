/*
 * PrefixTuning: attaches a prefix-tuning adapter to a loaded model, as PEFT 0.14's get_peft_model
 * with a PrefixTuningConfig (peft_model.py _setup_prompt_encoder, tuners/prefix_tuning/model.py):
 * the config is resolved as _prepare_prompt_learning_config does (GQA: token_dim = hidden / NH * KVH,
 * num_attention_heads = KVH; encoder_hidden_size defaults to token_dim), then
 *   without projection: a table (P, num_layers*2*token_dim), N(0, 1) (nn.Embedding's init)
 *   with projection:    embedding (P, token_dim) N(0, 1); Linear(token_dim, encoder_hidden_size) and
 *                       Linear(encoder_hidden_size, num_layers*2*token_dim) with torch's default
 *                       nn.Linear init (weight and bias U(-1/sqrt(in), 1/sqrt(in)))
 * all drawn from the seed. A config in inference mode (a saved adapter read back) has the plain table,
 * which load() fills — for a projected prefix PEFT saves the projected output, so it is read back
 * as the table, as PEFT's from_pretrained does; training can continue on that table.
 */
package dev.peft4j.tuner.prefixtuning;

import com.fasterxml.jackson.databind.JsonNode;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.ModelConfig;
import dev.peft4j.tuner.AdapterModel;
import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.PeftMethod;
import dev.peft4j.tuner.prompt.PromptLearningConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

public final class PrefixTuning {
    private PrefixTuning() {}

    /** Prefix tuning in the method registry. */
    public static final PeftMethod METHOD = PeftMethod.of(PrefixTuningConfig.PEFT_TYPE, "prefix tuning", PrefixTuningConfig.class, PrefixTuning::readConfig, PrefixTuning::apply);

    /**
     * A saved adapter_config.json -> config. A projected prefix is always read in inference mode:
     * its file holds the projected output (the table), not the MLP.
     */
    public static PrefixTuningConfig readConfig(JsonNode c, Path file) {
        PromptLearningConfig base = PromptLearningConfig.read(c, file);
        boolean projection = c.hasNonNull("prefix_projection") && c.get("prefix_projection").asBoolean();
        if (projection) base = base.withInferenceMode(true);
        Integer hidden = null;
        if (c.hasNonNull("encoder_hidden_size")) {
            if (!c.get("encoder_hidden_size").canConvertToInt())
                throw new Peft4jException(file + ": \"encoder_hidden_size\" must be an integer (got " + c.get("encoder_hidden_size") + ")");
            hidden = c.get("encoder_hidden_size").asInt();
        }
        return new PrefixTuningConfig(base, hidden, projection);
    }

    /** The trainable values on a model of this shape (no weights needed), as PEFT counts the PrefixEncoder. */
    public static long trainableParameterCount(ModelConfig mc, PrefixTuningConfig config) {
        PromptLearningConfig b = config.base().resolve(mc, true);
        long P = b.numVirtualTokens(), D = b.tokenDim(), W = (long) b.numLayers() * 2 * D;
        long E = config.encoderHiddenSize() != null ? config.encoderHiddenSize() : D;
        return config.projecting() ? P * D + D * E + E + E * W + W : P * W;
    }

    /** PEFT's print_trainable_parameters line on a model of this shape. */
    public static String trainableSummary(ModelConfig mc, PrefixTuningConfig config) {
        long t = trainableParameterCount(mc, config);
        return dev.peft4j.tuner.lora.LoraPlan.formatTrainable(t, dev.peft4j.tuner.ModelModules.of(mc).baseParameterCount() + t);
    }

    public static PrefixTuningModel apply(CausalLM model, PrefixTuningConfig config, String adapterName, long seed) {
        ModelConfig mc = model.config();
        PromptLearningConfig base = config.base().resolve(mc, true);
        base.checkFits(mc, true, "prefix tuning");
        if (base.tokenDim() != mc.numKvHeads() * mc.headDim())
            throw new Peft4jException("prefix tuning: token_dim " + base.tokenDim() + " is not the model's key/value width "
                    + mc.numKvHeads() + " x " + mc.headDim() + " (PEFT sizes it hidden / heads x key/value heads); "
                    + "this model's head_dim differs from hidden_size / num_attention_heads, which PEFT 0.14 does not support");
        PrefixTuningConfig resolved = new PrefixTuningConfig(base,
                config.encoderHiddenSize() != null ? config.encoderHiddenSize() : base.tokenDim(), config.prefixProjection());
        int P = base.numVirtualTokens(), D = base.tokenDim(), W = base.numLayers() * 2 * D, E = resolved.encoderHiddenSize();
        SplittableRandom rnd = new SplittableRandom(seed);
        List<Tensor> params = new ArrayList<>();
        String n = adapterName;                     // PEFT: prompt_encoder.<name>.embedding.weight, .transform.0.weight, ...
        if (!resolved.projecting()) {
            float[] t = new float[P * W];
            if (!base.inferenceMode()) Lora.normal(t, 1.0, rnd);
            params.add(Tensor.param(n + ".embedding.weight", t, P, W));
        } else {
            float[] emb = new float[P * D], w1 = new float[E * D], b1 = new float[E], w2 = new float[W * E], b2 = new float[W];
            Lora.normal(emb, 1.0, rnd);
            Lora.uniform(w1, 1 / Math.sqrt(D), rnd);
            Lora.uniform(b1, 1 / Math.sqrt(D), rnd);
            Lora.uniform(w2, 1 / Math.sqrt(E), rnd);
            Lora.uniform(b2, 1 / Math.sqrt(E), rnd);
            params.add(Tensor.param(n + ".embedding.weight", emb, P, D));
            params.add(Tensor.param(n + ".transform.0.weight", w1, E, D));
            params.add(Tensor.param(n + ".transform.0.bias", b1, E));
            params.add(Tensor.param(n + ".transform.2.weight", w2, W, E));
            params.add(Tensor.param(n + ".transform.2.bias", b2, W));
        }
        return new PrefixTuningModel(model, adapterName, resolved, params);
    }
}
