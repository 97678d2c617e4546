/*
 * ModelConfig: the architecture hyper-parameters of a HuggingFace causal LM, read from its
 * config.json. One record for every supported family; the family-specific defaults and names
 * (GPT-2's n_embd/n_head, Qwen2's q/k/v biases, ...) are resolved here, once, so the model code
 * never looks at JSON. Defaults follow transformers' configuration_<family>.py.
 */
package dev.peft4j.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
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
        String torchDtype,
        Arch arch) {             // family-specific architecture switches (Qwen3's q/k norms, ...)

    /** The 20 settings every family has; no family-specific switches (Arch.NONE). */
    public ModelConfig(Family family, int vocabSize, int hiddenSize, int intermediateSize, int numLayers, int numHeads,
                       int numKvHeads, int headDim, int maxPositions, float normEps, double ropeTheta, RopeScaling ropeScaling,
                       boolean tieWordEmbeddings, boolean qkvBias, boolean outputBias, boolean mlpBias, int slidingWindow,
                       int bosTokenId, List<Integer> eosTokenIds, String torchDtype) {
        this(family, vocabSize, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim, maxPositions, normEps,
                ropeTheta, ropeScaling, tieWordEmbeddings, qkvBias, outputBias, mlpBias, slidingWindow, bosTokenId, eosTokenIds,
                torchDtype, Arch.NONE);
    }

    /**
     * What distinguishes a family's decoder beyond the shared settings.
     * qkNorm: RMSNorm over each head of q and k (weights [head_dim]) after the projections, before RoPE (Qwen3).
     */
    public record Arch(boolean qkNorm, Gemma gemma) {
        public static final Arch NONE = new Arch(false, null);

        public Arch(boolean qkNorm) { this(qkNorm, null); }
    }

    /**
     * Gemma 2 / Gemma 3 settings (null in the other families); see Gemma.java.
     * queryPreAttnScalar: attention scale = query_pre_attn_scalar^-0.5 (not head_dim^-0.5).
     * attnSoftcap, finalSoftcap: attn_logit_softcapping / final_logit_softcapping, cap·tanh(x/cap); 0 = none.
     * sliding: per layer, true for "sliding_attention" (window slidingWindow()), false for "full_attention".
     * ropeLocalTheta: Gemma 3's rope_local_base_freq, the plain-RoPE base of the sliding layers (rope_theta and
     * rope_scaling serve the global ones); 0 in Gemma 2, where every layer uses rope_theta.
     */
    public record Gemma(double queryPreAttnScalar, float attnSoftcap, float finalSoftcap, List<Boolean> sliding,
                        double ropeLocalTheta) {}

    /** final_logit_softcapping in effect (Gemma), else 0. */
    public float finalLogitSoftcap() { return arch.gemma() == null ? 0f : arch.gemma().finalSoftcap(); }

    public ModelConfig withArch(Arch a) {
        return new ModelConfig(family, vocabSize, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim,
                maxPositions, normEps, ropeTheta, ropeScaling, tieWordEmbeddings, qkvBias, outputBias, mlpBias, slidingWindow,
                bosTokenId, eosTokenIds, torchDtype, a);
    }

    /** The supported model families, by config.json model_type. */
    public enum Family {
        LLAMA("llama"), MISTRAL("mistral"), QWEN2("qwen2"), QWEN3("qwen3"), GPT2("gpt2"),
        GEMMA2("gemma2"), GEMMA3_TEXT("gemma3_text");

        public final String modelType;

        Family(String modelType) { this.modelType = modelType; }

        public static Family of(String modelType) {
            for (Family f : values()) if (f.modelType.equals(modelType)) return f;
            throw new Peft4jException("unsupported model_type '" + modelType + "' in config.json; peft4j supports "
                    + supportedList() + " (Llama 2/3, TinyLlama, SmolLM, Mistral, Qwen2/2.5, Qwen3, GPT-2, Gemma 2, Gemma 3 text)"
                    + (modelType.equals("gemma3") ? "; for a multimodal gemma3 checkpoint use the text-only gemma3_text model "
                    + "(e.g. google/gemma-3-1b-it, or extract its text_config and language_model weights)" : ""));
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
            // NaN / Infinity (Python's json.dump writes them) are read, then refused by key name.
            root = JsonMapper.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build().readTree(file.toFile());
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
                    r.epsilon("layer_norm_epsilon", 1e-5), 0, null,
                    c.path("tie_word_embeddings").asBoolean(true), true, true, true, 0,
                    r.optId("bos_token_id"), r.ids("eos_token_id"), c.path("torch_dtype").asText("float32"));
            return cfg.validate(source);
        }
        if (family == Family.GEMMA2 || family == Family.GEMMA3_TEXT) return gemma(family, c, r, source);
        int C = r.req("hidden_size"), NH = r.req("num_attention_heads");
        int KVH = c.hasNonNull("num_key_value_heads") ? r.req("num_key_value_heads") : NH;
        // Qwen3Config defaults head_dim to 128 (the modelling code reads config.head_dim); the others derive it
        int HS = c.hasNonNull("head_dim") ? r.req("head_dim")
                : family == Family.QWEN3 ? 128 : r.divide(C, NH, "hidden_size", "num_attention_heads");
        String act = c.path("hidden_act").asText("silu");
        if (!act.equals("silu") && !act.equals("swish"))
            throw new Peft4jException(source + ": hidden_act '" + act + "' is not supported for " + modelType
                    + "; peft4j implements SwiGLU with silu");
        boolean attnBias = c.path("attention_bias").asBoolean(false);
        boolean qkvBias = family == Family.QWEN2 || attnBias;           // Qwen3: attention_bias on q/k/v/o, default false
        boolean outBias = family != Family.QWEN2 && attnBias;
        int window = 0;
        if (family == Family.MISTRAL && c.hasNonNull("sliding_window")) {
            window = r.req("sliding_window");
            if (window < 0)
                throw new Peft4jException(source + ": \"sliding_window\" must be >= 0 tokens, or null for full attention "
                        + "(got " + window + ")");
        }
        if ((family == Family.QWEN2 || family == Family.QWEN3) && c.path("use_sliding_window").asBoolean(false))
            throw new Peft4jException(source + ": use_sliding_window=true is not supported for " + modelType + " yet; "
                    + "set it to false (the released Qwen2/2.5/3 checkpoints use false)");
        ModelConfig cfg = new ModelConfig(family, r.req("vocab_size"), C, r.req("intermediate_size"),
                r.req("num_hidden_layers"), NH, KVH, HS, r.optInt("max_position_embeddings", 2048),
                r.epsilon("rms_norm_eps", 1e-6), r.positive("rope_theta", 10000.0),
                ropeScaling(c.get("rope_scaling"), source), c.path("tie_word_embeddings").asBoolean(false),
                qkvBias, outBias, c.path("mlp_bias").asBoolean(false), window,
                r.optId("bos_token_id"), r.ids("eos_token_id"), c.path("torch_dtype").asText("float32"),
                new Arch(family == Family.QWEN3));
        return cfg.validate(source);
    }

    /**
     * Gemma2Config / Gemma3TextConfig (transformers' configuration_gemma2.py, configuration_gemma3.py): head_dim 256,
     * query_pre_attn_scalar 224 (Gemma 2) / 256 (Gemma 3), tied head, GeGLU with hidden_activation gelu_pytorch_tanh;
     * Gemma 2: soft-capping 50 (attention) / 30 (final), even layers sliding; Gemma 3: no soft-capping unless set,
     * every sliding_window_pattern-th (6th) layer global, rope_local_base_freq for the sliding layers, q/k norms.
     * layer_types, when given, overrides both patterns. Settings of other Gemma variants are refused by name.
     */
    private static ModelConfig gemma(Family family, JsonNode c, Reader r, String source) {
        boolean g2 = family == Family.GEMMA2;
        int C = r.req("hidden_size"), NH = r.req("num_attention_heads"), L = r.req("num_hidden_layers");
        int KVH = c.hasNonNull("num_key_value_heads") ? r.req("num_key_value_heads") : NH;
        String act = c.hasNonNull("hidden_activation") ? c.get("hidden_activation").asText()
                : c.path("hidden_act").asText("gelu_pytorch_tanh");
        if (!act.equals("gelu_pytorch_tanh"))
            throw new Peft4jException(source + ": hidden_activation '" + act + "' is not supported for " + family.modelType
                    + "; peft4j implements Gemma's GeGLU with the tanh GELU (gelu_pytorch_tanh), as every released Gemma uses");
        if (c.path("use_bidirectional_attention").asBoolean(false))
            throw new Peft4jException(source + ": use_bidirectional_attention=true (EmbeddingGemma) is not supported; "
                    + "peft4j trains causal language models");
        for (String key : new String[] {"rope_parameters", "altup_num_inputs", "laurel_rank"})
            if (c.has(key))
                throw new Peft4jException(source + ": \"" + key + "\" is not supported for " + family.modelType
                        + " (a newer or different Gemma configuration); peft4j implements Gemma2Config and Gemma3TextConfig");
        int window = c.hasNonNull("sliding_window") ? r.req("sliding_window") : 4096;
        if (window <= 0)
            throw new Peft4jException(source + ": \"sliding_window\" must be a positive number of tokens (got " + window + ")");
        List<Boolean> sliding = new ArrayList<>();
        JsonNode types = c.get("layer_types");
        if (types != null && !types.isNull()) {
            if (!types.isArray() || types.size() != L)
                throw new Peft4jException(source + ": \"layer_types\" must list one of \"sliding_attention\" / \"full_attention\" "
                        + "per layer (" + L + " layers; got " + types + ")");
            for (JsonNode t : types) {
                String s = t.asText();
                if (!s.equals("sliding_attention") && !s.equals("full_attention"))
                    throw new Peft4jException(source + ": layer type '" + s + "' in \"layer_types\" is not supported; "
                            + "peft4j implements sliding_attention and full_attention");
                sliding.add(s.equals("sliding_attention"));
            }
        } else if (g2) {
            for (int l = 0; l < L; l++) sliding.add(l % 2 == 0);                      // Gemma2: even layers slide
        } else {
            String key = c.hasNonNull("sliding_window_pattern") ? "sliding_window_pattern" : "_sliding_window_pattern";
            int pattern = r.optInt(key, 6);
            for (int l = 0; l < L; l++) sliding.add((l + 1) % pattern != 0);           // every pattern-th layer global
        }
        double attnCap = r.optPositive("attn_logit_softcapping", g2 ? 50.0 : 0);
        double finalCap = r.optPositive("final_logit_softcapping", g2 ? 30.0 : 0);
        double localTheta = g2 ? 0 : r.positive("rope_local_base_freq", 10000.0);
        if (g2 && c.hasNonNull("rope_local_base_freq"))
            throw new Peft4jException(source + ": \"rope_local_base_freq\" is a Gemma 3 setting; gemma2 uses rope_theta for every layer");
        boolean attnBias = c.path("attention_bias").asBoolean(false);
        Gemma gemma = new Gemma(r.positive("query_pre_attn_scalar", g2 ? 224.0 : 256.0), (float) attnCap, (float) finalCap,
                List.copyOf(sliding), localTheta);
        ModelConfig cfg = new ModelConfig(family, r.req("vocab_size"), C, r.req("intermediate_size"), L, NH, KVH,
                c.hasNonNull("head_dim") ? r.req("head_dim") : 256,
                r.optInt("max_position_embeddings", g2 ? 8192 : 131072),
                r.epsilon("rms_norm_eps", 1e-6), r.positive("rope_theta", g2 ? 10000.0 : 1000000.0),
                ropeScaling(c.get("rope_scaling"), source), c.path("tie_word_embeddings").asBoolean(true),
                attnBias, attnBias, false, window,
                r.optId("bos_token_id"), r.ids("eos_token_id"), c.path("torch_dtype").asText("float32"),
                new Arch(!g2, gemma));
        return cfg.validate(source);
    }

    private ModelConfig validate(String source) {
        boolean gpt2 = isGpt2();
        Object[][] sizes = {
                {gpt2 ? "vocab_size" : "vocab_size", vocabSize}, {gpt2 ? "n_embd" : "hidden_size", hiddenSize},
                {gpt2 ? "n_inner" : "intermediate_size", intermediateSize}, {gpt2 ? "n_layer" : "num_hidden_layers", numLayers},
                {gpt2 ? "n_head" : "num_attention_heads", numHeads}, {gpt2 ? "n_head" : "num_key_value_heads", numKvHeads},
                {gpt2 ? "n_embd / n_head" : "head_dim", headDim},
                {gpt2 ? "n_positions" : "max_position_embeddings", maxPositions}};
        for (Object[] kv : sizes)
            if ((int) kv[1] <= 0) throw new Peft4jException(source + ": \"" + kv[0] + "\" must be a positive integer (got "
                    + kv[1] + "); fix config.json to the model's real value");
        // Sizes far beyond any released model (the largest have head_dim 256, ~160 heads, ~130 layers) would only
        // exhaust memory later (RoPE tables, per-layer buffers): refuse them by name now.
        Object[][] plausible = {{gpt2 ? "n_layer" : "num_hidden_layers", numLayers, 4096},
                {gpt2 ? "n_head" : "num_attention_heads", numHeads, 8192}, {gpt2 ? "n_embd / n_head" : "head_dim", headDim, 8192}};
        for (Object[] kv : plausible)
            if ((int) kv[1] > (int) kv[2]) throw new Peft4jException(source + ": \"" + kv[0] + "\" = " + kv[1]
                    + " is larger than peft4j supports (at most " + kv[2] + "; released models use far less); fix config.json");
        // Every weight matrix is one Java array of floats: at most Integer.MAX_VALUE - 8 elements.
        long maxArray = Integer.MAX_VALUE - 8L;
        long[][] shapes = {{vocabSize, hiddenSize}, {intermediateSize, hiddenSize},
                {(long) numHeads * headDim, hiddenSize}, {(long) maxPositions, hiddenSize}};
        String[] what = {"vocab_size x hidden_size", "intermediate_size x hidden_size",
                "num_attention_heads x head_dim x hidden_size", "max_position_embeddings x hidden_size"};
        for (int i = 0; i < shapes.length; i++) {
            if (!gpt2 && i == 3) continue;     // only GPT-2 has a position-embedding matrix
            double elements = (double) shapes[i][0] * shapes[i][1];
            if (elements > maxArray)
                throw new Peft4jException(source + ": " + what[i] + " = " + (long) elements + " weights in one matrix; "
                        + "peft4j holds a matrix in one Java array of at most " + maxArray + " floats. Check the sizes "
                        + "in config.json (" + this + ")");
        }
        if (bosTokenId >= vocabSize)
            throw new Peft4jException(source + ": \"bos_token_id\" must be a token id in [0, vocab_size " + vocabSize
                    + ") (got " + bosTokenId + "); fix it in config.json or remove it");
        for (int id : eosTokenIds)
            if (id >= vocabSize)
                throw new Peft4jException(source + ": \"eos_token_id\" must hold token ids in [0, vocab_size " + vocabSize
                        + ") (got " + id + "); fix it in config.json or remove it");
        if (numHeads % numKvHeads != 0)
            throw new Peft4jException(source + ": num_attention_heads (" + numHeads + ") must be a multiple of "
                    + "num_key_value_heads (" + numKvHeads + ")");
        if (!isGpt2() && headDim % 2 != 0)
            throw new Peft4jException(source + ": head_dim must be even for RoPE (got " + headDim + ")");
        return this;
    }

    private static RopeScaling ropeScaling(JsonNode s, String source) {
        if (s == null || s.isNull()) return null;
        if (!s.isObject())
            throw new Peft4jException(source + ": \"rope_scaling\" must be an object like {\"rope_type\": \"linear\", "
                    + "\"factor\": 2.0} or null (got " + s + ")");
        String type = s.hasNonNull("rope_type") ? s.get("rope_type").asText() : s.path("type").asText("default");
        Reader r = new Reader(s, source, "rope_scaling.");
        return switch (type) {
            case "default" -> null;
            case "linear" -> new RopeScaling(type, r.positive("factor", 1.0), 0, 0, 0);
            case "llama3" -> {
                double low = r.positive("low_freq_factor", 1.0), high = r.positive("high_freq_factor", 4.0);
                if (high <= low)     // transformers divides by (high - low)
                    throw new Peft4jException(source + ": \"rope_scaling.high_freq_factor\" must be greater than "
                            + "\"rope_scaling.low_freq_factor\" (got " + high + " <= " + low + ")");
                yield new RopeScaling(type, r.positive("factor", 8.0), low, high,
                        r.optInt("original_max_position_embeddings", 8192));
            }
            default -> throw new Peft4jException(source + ": rope_scaling type '" + type
                    + "' is not supported; peft4j supports default, linear and llama3");
        };
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

    /**
     * Reads config values with errors that name the file and the key, what was expected and what
     * was found. prefix: the path of a nested object's keys ("rope_scaling.").
     */
    private record Reader(JsonNode c, String source, String prefix) {
        Reader(JsonNode c, String source) { this(c, source, ""); }

        int req(String key) {
            JsonNode n = c.get(key);
            if (n == null || n.isNull())
                throw new Peft4jException(source + " is missing \"" + prefix + key + "\" (required for model_type "
                        + c.path("model_type").asText() + ")");
            return integer(key, n);
        }

        private int integer(String key, JsonNode n) {
            if (!n.canConvertToInt() || !n.isIntegralNumber())
                throw new Peft4jException(source + ": \"" + prefix + key + "\" must be an integer (got " + n + ")");
            return n.asInt();
        }

        /** An optional positive integer. */
        int optInt(String key, int dflt) {
            JsonNode n = c.get(key);
            if (n == null || n.isNull()) return dflt;
            int v = integer(key, n);
            if (v <= 0)
                throw new Peft4jException(source + ": \"" + prefix + key + "\" must be a positive integer (got " + v + ")");
            return v;
        }

        /** An optional finite number > 0 (a zero or negative scale or base makes NaN/Inf in the forward). */
        double positive(String key, double dflt) {
            JsonNode n = c.get(key);
            if (n == null || n.isNull()) return dflt;
            double v = finite(key, n);
            if (!(v > 0))
                throw new Peft4jException(source + ": \"" + prefix + key + "\" must be > 0 (got " + n + "); "
                        + "use the model's published value (default " + dflt + ")");
            return v;
        }

        /** An optional finite number > 0, or null / absent for dflt (0 meaning "off"). */
        double optPositive(String key, double dflt) {
            JsonNode n = c.get(key);
            if (n == null) return dflt;
            if (n.isNull()) return 0;
            double v = finite(key, n);
            if (!(v > 0))
                throw new Peft4jException(source + ": \"" + prefix + key + "\" must be > 0, or null to disable it (got " + n + ")");
            return v;
        }

        /** An optional norm epsilon: > 0 and representable in f32 (computed in f32: 1e-50 would be 0). */
        float epsilon(String key, double dflt) {
            double v = positive(key, dflt);
            float f = (float) v;
            if (!(f > 0) || !Float.isFinite(f) || v > 1)
                throw new Peft4jException(source + ": \"" + prefix + key + "\" must be a small positive number in "
                        + "(1e-38, 1] such as " + dflt + " (got " + c.get(key) + ")");
            return f;
        }

        private double finite(String key, JsonNode n) {
            if (!n.isNumber())
                throw new Peft4jException(source + ": \"" + prefix + key + "\" must be a number (got " + n + ")");
            double v = n.asDouble();
            if (!Double.isFinite(v))      // v, not n: Jackson writes a NaN node as the string "NaN"
                throw new Peft4jException(source + ": \"" + prefix + key + "\" must be a finite number (got " + v + ")");
            return v;
        }

        /** An optional token id (-1 when absent). */
        int optId(String key) {
            JsonNode n = c.get(key);
            if (n == null || n.isNull()) return -1;
            int v = integer(key, n);
            if (v < 0)
                throw new Peft4jException(source + ": \"" + prefix + key + "\" must be a token id >= 0 or null (got " + v + ")");
            return v;
        }

        /** Token ids: an int or a list of ints (empty when absent). */
        List<Integer> ids(String key) {
            JsonNode n = c.get(key);
            List<Integer> out = new ArrayList<>();
            if (n == null || n.isNull()) return out;
            for (JsonNode x : n.isArray() ? n : List.of(n)) {
                int v = integer(key, x);
                if (v < 0)
                    throw new Peft4jException(source + ": \"" + prefix + key + "\" must hold token ids >= 0 (got " + v + ")");
                out.add(v);
            }
            return List.copyOf(out);
        }

        int divide(int a, int b, String an, String bn) {
            if (b <= 0 || a % b != 0)
                throw new Peft4jException(source + ": " + an + " (" + a + ") must be divisible by " + bn + " (" + b + ")");
            return a / b;
        }
    }
}
