/*
 * PromptTuning: attaches a prompt-tuning adapter to a loaded model, as PEFT 0.14's get_peft_model
 * with a PromptTuningConfig (peft_model.py _setup_prompt_encoder, tuners/prompt_tuning/model.py):
 * the config's model-derived fields are filled as _prepare_prompt_learning_config does
 * (PromptLearningConfig.resolve), then a table (P * submodules, token_dim) is made:
 *   RANDOM  N(0, 1) values (torch.nn.Embedding's default init), drawn from the seed
 *   TEXT    tokenizer(prompt_tuning_init_text)["input_ids"] — with the special tokens the tokenizer
 *           adds (BOS for Llama-family tokenizers), as HF's __call__ does — truncated to P ids or
 *           repeated ceil(P / n) times and cut to P; the rows are the base model's input embeddings
 *           of those ids (a copy, float32)
 * A config in inference mode (read back from a saved adapter) skips the init: load() fills the table.
 */
package dev.peft4j.tuner.prompttuning;

import com.fasterxml.jackson.databind.JsonNode;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Ops;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.ModelConfig;
import dev.peft4j.tokenizer.Tokenizer;
import dev.peft4j.tuner.AdapterModel;
import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.PeftMethod;
import dev.peft4j.tuner.prompt.PromptLearningConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

public final class PromptTuning {
    private PromptTuning() {}

    /** Prompt tuning in the method registry. */
    public static final PeftMethod METHOD = PeftMethod.of(PromptTuningConfig.PEFT_TYPE, "prompt tuning", PromptTuningConfig.class, PromptTuning::readConfig, PromptTuning::apply);

    /** A saved adapter_config.json -> config (inference mode as written: PEFT writes true, so TEXT is not re-tokenised). */
    public static PromptTuningConfig readConfig(JsonNode c, Path file) {
        if (c.hasNonNull("tokenizer_kwargs") && c.get("tokenizer_kwargs").size() > 0)
            System.err.println("warning: " + file + ": tokenizer_kwargs " + c.get("tokenizer_kwargs") + " ignored (used only to initialise from text)");
        return new PromptTuningConfig(PromptLearningConfig.read(c, file),
                c.hasNonNull("prompt_tuning_init") ? PromptTuningConfig.Init.parse(c.get("prompt_tuning_init").asText()) : PromptTuningConfig.Init.RANDOM,
                c.hasNonNull("prompt_tuning_init_text") ? c.get("prompt_tuning_init_text").asText() : null,
                c.hasNonNull("tokenizer_name_or_path") ? c.get("tokenizer_name_or_path").asText() : null);
    }

    public static PromptTuningModel apply(CausalLM model, PromptTuningConfig config, String adapterName, long seed) {
        PromptLearningConfig base = config.base();
        PromptLearningConfig resolved = base.resolve(model.config(), false);
        resolved.checkFits(model.config(), false, "prompt tuning");
        if (resolved.tokenDim() != model.config().hiddenSize())
            throw new Peft4jException("prompt tuning: token_dim " + resolved.tokenDim() + " differs from the model's hidden size "
                    + model.config().hiddenSize() + "; virtual tokens are input embeddings, so they must be as wide");
        int P = resolved.numVirtualTokens() * resolved.numTransformerSubmodules(), C = resolved.tokenDim();
        float[] w = new float[P * C];
        if (!resolved.inferenceMode()) {
            if (config.init() == PromptTuningConfig.Init.TEXT) textInit(model, config, P, w);
            else Lora.normal(w, 1.0, new SplittableRandom(seed));
        }
        Tensor table = Tensor.param(adapterName + ".embedding.weight", w, P, C);    // PEFT: prompt_encoder.<name>.embedding.weight
        return new PromptTuningModel(model, adapterName, config.withBase(resolved), table);
    }

    /** The trainable values on a model of this shape (no weights needed): P * submodules * token_dim. */
    public static long trainableParameterCount(ModelConfig mc, PromptTuningConfig config) {
        PromptLearningConfig r = config.base().resolve(mc, false);
        return (long) r.numVirtualTokens() * r.numTransformerSubmodules() * r.tokenDim();
    }

    /** PEFT's print_trainable_parameters line on a model of this shape. */
    public static String trainableSummary(ModelConfig mc, PromptTuningConfig config) {
        long t = trainableParameterCount(mc, config);
        return dev.peft4j.tuner.lora.LoraPlan.formatTrainable(t, dev.peft4j.tuner.ModelModules.of(mc).baseParameterCount() + t);
    }

    /** The ids PEFT initialises from: the text's ids (with special tokens) truncated to P, or repeated and cut to P. */
    public static int[] initIds(int[] textIds, int P) {
        if (textIds.length == 0)
            throw new Peft4jException("prompt_tuning_init_text tokenises to no tokens; give a non-empty text");
        int[] out = new int[P];
        for (int i = 0; i < P; i++) out[i] = textIds[i % textIds.length];
        return out;
    }

    /** The model's input embedding table (V, C): the first of CausalLM.parameters() for every family (embed_tokens / wte). */
    static Tensor inputEmbeddings(CausalLM model) {
        Tensor t = model.parameters().get(0);
        if (t.shape.length != 2 || t.dim(0) != model.config().vocabSize() || t.dim(1) != model.config().hiddenSize())
            throw new IllegalStateException("the model's first parameter is not its input embedding table (vocab x hidden)");
        return t;
    }

    private static void textInit(CausalLM model, PromptTuningConfig config, int P, float[] w) {
        Path dir = Path.of(config.tokenizerNameOrPath());
        if (!Files.isDirectory(dir))
            throw new Peft4jException("tokenizer_name_or_path " + dir + " is not a directory; give the base model's directory "
                    + "(peft4j reads the tokenizer from local files)");
        int[] ids;
        try (Tokenizer tok = Tokenizer.load(dir)) {
            ids = initIds(tok.encodeWithSpecial(config.initText()), P);
        }
        Tensor rows = Ops.embedding(null, inputEmbeddings(model), ids);
        // PEFT calls the embedding module: Gemma 3's (Gemma3TextScaledWordEmbedding) multiplies by √hidden itself
        if (model.config().family() == dev.peft4j.model.ModelConfig.Family.GEMMA3_TEXT)
            rows = Ops.scale(null, rows, (float) Math.sqrt(model.config().hiddenSize()));
        System.arraycopy(rows.floats(), 0, w, 0, w.length);
    }
}
