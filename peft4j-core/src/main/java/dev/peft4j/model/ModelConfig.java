/*
 * ModelConfig: the architecture hyper-parameters of a HuggingFace causal LM, read from its
 * config.json. One record for every supported family; the family-specific defaults and names
 * (GPT-2's n_embd/n_head, Qwen2's q/k/v biases, ...) are resolved here, once, so the model code
 * never looks at JSON. Defaults follow transformers' configuration_<family>.py.
 */
package dev.peft4j.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Peft4jException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

public record ModelConfig(
        Family family,
        int vocabSize,
        int hiddenSize,          // C
        int intermediateSize,    // MLP width
        int numLayers,           // L
        int numHeads,            // NH
        int numKvHeads,          // KVH (grouped-query attention when < NH)
        int headDim,             // HS
        int maxPositions,
        float normEps,
        double ropeTheta,
        RopeScaling ropeScaling, // null: plain RoPE (and always null for GPT-2)
        boolean tieWordEmbeddings,
        boolean qkvBias,
        boolean outputBias,
        boolean mlpBias,
        int slidingWindow,       // 0: full causal attention
        int bosTokenId,          // -1 when absent
        List<Integer> eosTokenIds,
        String torchDtype) {

    /** The supported model families, by config.json model_type. */
    public enum Family {
        LLAMA("llama"), MISTRAL("mistral"), QWEN2("qwen2"), GPT2("gpt2");

        public final String modelType;

        Family(String modelType) { this.modelType = modelType; }

        public static Family of(String modelType) {
            for (Family f : values()) if (f.modelType.equals(modelType)) return f;
            throw new Peft4jException("unsupported model_type '" + modelType + "' in config.json; peft4j supports "
                    + supportedList() + " (Llama 2/3, TinyLlama, SmolLM, Mistral, Qwen2/2.5, GPT-2)");
        }

        public static String supportedList() {
            List<String> names = new ArrayList<>();
            for (Family f : values()) names.add(f.modelType);
            return String.join(", ", names);
        }
    }

    /** rope_scaling: "linear" (positions / factor) or "llama3" (frequency-dependent, Llama 3.1+). */
    public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor,
                              int originalMaxPositions) {}

    public boolean isGpt2() { return family == Family.GPT2; }

    public static ModelConfig load(Path modelDir) {
        Path file = Files.isDirectory(modelDir) ? modelDir.resolve("config.json") : modelDir;
        if (!Files.isRegularFile(file))
            throw new Peft4jException("no config.json in " + modelDir + "; expected a HuggingFace model directory "
                    + "(config.json + *.safetensors + tokenizer files), e.g. from `huggingface-cli download`");
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new Peft4jException("cannot parse " + file + " as JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) throw new Peft4jException(file + " is not a JSON object");
        return parse(root, file.toString());
    }

    public static ModelConfig parse(JsonNode c, String source) {
        String modelType = c.path("model_type").asText("");
        if (modelType.isEmpty())
            throw new Peft4jException(source + " has no \"model_type\"; peft4j supports " + Family.supportedList());
        Family family = Family.of(modelType);
        Reader r = new Reader(c, source);
        if (family == Family.GPT2) {
            int C = r.req("n_embd"), NH = r.req("n_head");
            int inner = c.hasNonNull("n_inner") ? r.req("n_inner") : 4 * C;
            String act = c.path("activation_function").asText("gelu_new");
            if (!act.equals("gelu_new") && !act.equals("gelu_pytorch_tanh"))
                throw new Peft4jException(source + ": GPT-2 activation_function '" + act
                        + "' is not supported; peft4j implements the tanh GELU (gelu_new, gelu_pytorch_tanh)");
            ModelConfig cfg = new ModelConfig(family, r.req("vocab_size"), C, inner, r.req("n_layer"), NH, NH,
                    r.divide(C, NH, "n_embd", "n_head"), r.req("n_positions"),
                    (float) c.path("layer_norm_epsilon").asDouble(1e-5), 0, null,
                    c.path("tie_word_embeddings").asBoolean(true), true, true, true, 0,
                    c.path("bos_token_id").asInt(-1), ids(c.get("eos_token_id")), c.path("torch_dtype").asText("float32"));
            return cfg.validate(source);
        }
        int C = r.req("hidden_size"), NH = r.req("num_attention_heads");
        int KVH = c.hasNonNull("num_key_value_heads") ? r.req("num_key_value_heads") : NH;
        int HS = c.hasNonNull("head_dim") ? r.req("head_dim") : r.divide(C, NH, "hidden_size", "num_attention_heads");
        String act = c.path("hidden_act").asText("silu");
        if (!act.equals("silu") && !act.equals("swish"))
            throw new Peft4jException(source + ": hidden_act '" + act + "' is not supported for " + modelType
                    + "; peft4j implements SwiGLU with silu");
        boolean attnBias = c.path("attention_bias").asBoolean(false);
        boolean qkvBias = family == Family.QWEN2 || attnBias;
        boolean outBias = family != Family.QWEN2 && attnBias;
        int window = 0;
        if (family == Family.MISTRAL && c.hasNonNull("sliding_window")) window = r.req("sliding_window");
        if (family == Family.QWEN2 && c.path("use_sliding_window").asBoolean(false))
            throw new Peft4jException(source + ": use_sliding_window=true is not supported for qwen2 yet; "
                    + "set it to false (the released Qwen2/2.5 checkpoints use false)");
        ModelConfig cfg = new ModelConfig(family, r.req("vocab_size"), C, r.req("intermediate_size"),
                r.req("num_hidden_layers"), NH, KVH, HS, c.path("max_position_embeddings").asInt(2048),
                (float) c.path("rms_norm_eps").asDouble(1e-6), c.path("rope_theta").asDouble(10000.0),
                ropeScaling(c.get("rope_scaling"), source), c.path("tie_word_embeddings").asBoolean(false),
                qkvBias, outBias, c.path("mlp_bias").asBoolean(false), window,
                c.path("bos_token_id").asInt(-1), ids(c.get("eos_token_id")), c.path("torch_dtype").asText("float32"));
        return cfg.validate(source);
    }

    private ModelConfig validate(String source) {
        if (numHeads % numKvHeads != 0)
            throw new Peft4jException(source + ": num_attention_heads (" + numHeads + ") must be a multiple of "
                    + "num_key_value_heads (" + numKvHeads + ")");
        if (!isGpt2() && headDim % 2 != 0)
            throw new Peft4jException(source + ": head_dim must be even for RoPE (got " + headDim + ")");
        for (int v : new int[] {vocabSize, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim, maxPositions})
            if (v <= 0) throw new Peft4jException(source + ": sizes must be positive (got " + this + ")");
        return this;
    }

    private static RopeScaling ropeScaling(JsonNode s, String source) {
        if (s == null || s.isNull()) return null;
        String type = s.hasNonNull("rope_type") ? s.get("rope_type").asText() : s.path("type").asText("default");
        return switch (type) {
            case "default" -> null;
            case "linear" -> new RopeScaling(type, s.path("factor").asDouble(1.0), 0, 0, 0);
            case "llama3" -> new RopeScaling(type, s.path("factor").asDouble(8.0), s.path("low_freq_factor").asDouble(1.0),
                    s.path("high_freq_factor").asDouble(4.0), s.path("original_max_position_embeddings").asInt(8192));
            default -> throw new Peft4jException(source + ": rope_scaling type '" + type
                    + "' is not supported; peft4j supports default, linear and llama3");
        };
    }

    private static List<Integer> ids(JsonNode n) {
        List<Integer> out = new ArrayList<>();
        if (n == null || n.isNull()) return out;
        if (n.isArray()) n.forEach(x -> out.add(x.asInt()));
        else out.add(n.asInt());
        return List.copyOf(out);
    }

    /** Inverse RoPE frequencies (HS/2 of them), with rope_scaling applied as transformers' modeling_rope_utils does. */
    public double[] ropeInverseFrequencies() {
        int half = headDim / 2;
        double[] inv = new double[half];
        for (int i = 0; i < half; i++) inv[i] = 1.0 / Math.pow(ropeTheta, (2.0 * i) / headDim);
        if (ropeScaling == null) return inv;
        RopeScaling s = ropeScaling;
        if (s.type().equals("linear")) {
            for (int i = 0; i < half; i++) inv[i] /= s.factor();
            return inv;
        }
        // llama3: long wavelengths are divided by factor, short ones kept, the band between interpolated.
        double lowWavelen = s.originalMaxPositions() / s.lowFreqFactor();
        double highWavelen = s.originalMaxPositions() / s.highFreqFactor();
        for (int i = 0; i < half; i++) {
            double wavelen = 2 * Math.PI / inv[i];
            if (wavelen < highWavelen) continue;
            if (wavelen > lowWavelen) { inv[i] /= s.factor(); continue; }
            double smooth = (s.originalMaxPositions() / wavelen - s.lowFreqFactor()) / (s.highFreqFactor() - s.lowFreqFactor());
            inv[i] = (1 - smooth) * inv[i] / s.factor() + smooth * inv[i];
        }
        return inv;
    }

    /** Reads required positive ints with errors that name the key and the file. */
    private record Reader(JsonNode c, String source) {
        int req(String key) {
            JsonNode n = c.get(key);
            if (n == null || n.isNull())
                throw new Peft4jException(source + " is missing \"" + key + "\" (required for model_type "
                        + c.path("model_type").asText() + ")");
            if (!n.canConvertToInt() || !n.isIntegralNumber())
                throw new Peft4jException(source + ": \"" + key + "\" must be an integer (got " + n + ")");
            return n.asInt();
        }

        int divide(int a, int b, String an, String bn) {
            if (b <= 0 || a % b != 0)
                throw new Peft4jException(source + ": " + an + " (" + a + ") must be divisible by " + bn + " (" + b + ")");
            return a / b;
        }
    }
}
