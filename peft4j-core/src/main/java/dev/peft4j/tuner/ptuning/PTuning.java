/*
 * PTuning: attaches a P-tuning adapter to a loaded model, as PEFT 0.14's get_peft_model with a
 * PromptEncoderConfig: the model-derived fields are filled as _prepare_prompt_learning_config does
 * (token_dim = hidden size, num_layers, num_attention_heads; encoder_hidden_size = token_dim when
 * unset), then a PromptEncoder is built (training) — or, for a config in inference mode (read back
 * from a saved adapter), only a table (P, token_dim) that load() fills with the saved encoder output.
 *
 * Saved and loaded adapters (PEFT's save_and_load.py): PEFT saves "prompt_embeddings" = the encoder's
 * OUTPUT (get_prompt_embedding_to_save), not its weights, and from_pretrained reads it back into the
 * embedding table of an encoder built in inference mode, whose prompt is that table as it is. So a
 * loaded P-tuning adapter is a fixed table of virtual tokens: the encoder is gone. Continuing to train
 * it (train --adapter) trains that table directly, as prompt tuning does; it is saved the same way
 * (prompt_embeddings = the table) and the config keeps its encoder fields. (PEFT's own
 * from_pretrained(is_trainable=True) would put the saved output into the table of a freshly
 * initialised encoder and run it through new random layers, which changes the prompt; peft4j does not
 * reproduce that.)
 */
package dev.peft4j.tuner.ptuning;

import com.fasterxml.jackson.databind.JsonNode;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.ModelConfig;
import dev.peft4j.tuner.AdapterModel;
import dev.peft4j.tuner.PeftMethod;
import dev.peft4j.tuner.prompt.PromptLearningConfig;
import java.nio.file.Path;

public final class PTuning {
    private PTuning() {}

    /** P-tuning in the method registry. */
    public static final PeftMethod METHOD = PeftMethod.of(PTuningConfig.PEFT_TYPE, "P-tuning", PTuningConfig.class, PTuning::readConfig, PTuning::apply);

    /** A saved adapter_config.json -> config (inference mode as written: PEFT writes true). */
    public static PTuningConfig readConfig(JsonNode c, Path file) {
        PTuningConfig.EncoderType type;
        try {
            type = c.hasNonNull("encoder_reparameterization_type")
                    ? PTuningConfig.EncoderType.parse(c.get("encoder_reparameterization_type").asText()) : PTuningConfig.EncoderType.MLP;
        } catch (Peft4jException e) {
            throw new Peft4jException(file + ": " + e.getMessage());
        }
        Integer hidden = null;
        if (c.hasNonNull("encoder_hidden_size")) {
            JsonNode n = c.get("encoder_hidden_size");
            if (!n.isIntegralNumber() || !n.canConvertToInt())
                throw new Peft4jException(file + ": \"encoder_hidden_size\" must be an integer (got " + n + ")");
            hidden = n.asInt();
        }
        int layers = PTuningConfig.DEFAULT_NUM_LAYERS;
        if (c.hasNonNull("encoder_num_layers")) {
            JsonNode n = c.get("encoder_num_layers");
            if (!n.isIntegralNumber() || !n.canConvertToInt())
                throw new Peft4jException(file + ": \"encoder_num_layers\" must be an integer (got " + n + ")");
            layers = n.asInt();
        }
        double dropout = 0.0;
        if (c.hasNonNull("encoder_dropout")) {
            JsonNode n = c.get("encoder_dropout");
            if (!n.isNumber()) throw new Peft4jException(file + ": \"encoder_dropout\" must be a number (got " + n + ")");
            dropout = n.asDouble();
        }
        try {
            return new PTuningConfig(PromptLearningConfig.read(c, file), type, hidden, layers, dropout);
        } catch (Peft4jException e) {
            throw e.getMessage().startsWith(file.toString()) ? e : new Peft4jException(file + ": " + e.getMessage());
        }
    }

    /**
     * PEFT's trainable count of a fresh adapter on a model of this shape (print_trainable_parameters: the
     * whole prompt encoder): P·D + MLP 3 Linear layers (D→H, H→H, H→D), or LSTM layers (per layer and direction
     * 4H·in + 4H·H + 8H, in = D then 2H) + Linear(2H, 2H) + Linear(2H, D).
     */
    public static long trainableParameterCount(ModelConfig mc, PTuningConfig config) {
        PromptLearningConfig r = config.base().resolve(mc, false);
        long P = (long) r.numVirtualTokens() * r.numTransformerSubmodules(), D = r.tokenDim();
        long H = config.encoderHiddenSize() != null ? config.encoderHiddenSize() : D;
        if (config.encoderType() == PTuningConfig.EncoderType.MLP) return P * D + (D * H + H) + (H * H + H) + (H * D + D);
        long n = P * D;
        for (int k = 0; k < config.encoderNumLayers(); k++) n += 2 * (4 * H * (k == 0 ? D : 2 * H) + 4 * H * H + 8 * H);
        return n + (2 * H * 2 * H + 2 * H) + (2 * H * D + D);
    }

    /** print_trainable_parameters' line for a fresh adapter on a model of this shape. */
    public static String trainableSummary(ModelConfig mc, PTuningConfig config) {
        long t = trainableParameterCount(mc, config);
        return dev.peft4j.tuner.lora.LoraPlan.formatTrainable(t, dev.peft4j.tuner.ModelModules.of(mc).baseParameterCount() + t);
    }

    public static PTuningModel apply(CausalLM model, PTuningConfig config, String adapterName, long seed) {
        PromptLearningConfig resolved = config.base().resolve(model.config(), false);
        resolved.checkFits(model.config(), false, "P-tuning");
        if (resolved.tokenDim() != model.config().hiddenSize())
            throw new Peft4jException("P-tuning: token_dim " + resolved.tokenDim() + " differs from the model's hidden size "
                    + model.config().hiddenSize() + "; virtual tokens are input embeddings, so they must be as wide");
        int P = resolved.numVirtualTokens() * resolved.numTransformerSubmodules(), D = resolved.tokenDim();
        int H = config.encoderHiddenSize() != null ? config.encoderHiddenSize() : D;
        PTuningConfig full = config.withBase(resolved, H);
        if (resolved.inferenceMode())
            return new PTuningModel(model, adapterName, full, null, Tensor.param(adapterName + ".embedding.weight", new float[P * D], P, D));
        if (config.encoderType() == PTuningConfig.EncoderType.MLP && config.encoderNumLayers() != PTuningConfig.DEFAULT_NUM_LAYERS)
            System.err.println("warning: for MLP, encoder_num_layers " + config.encoderNumLayers() + " is ignored; exactly "
                    + PTuningConfig.DEFAULT_NUM_LAYERS + " hidden MLP layers are used (as in PEFT)");
        PromptEncoder enc = new PromptEncoder(adapterName, config.encoderType(), P, D, H, config.encoderNumLayers(),
                (float) config.encoderDropout(), seed);
        return new PTuningModel(model, adapterName, full, enc, null);
    }
}
