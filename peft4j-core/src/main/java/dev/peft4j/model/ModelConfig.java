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
     * qkNorm:     RMSNorm on q and k after the projections, before RoPE: over each head (weights [head_dim], Qwen3),
     *             or, with qkNormFull, over the whole projection (weights [NH*HS] and [KVH*HS], OLMo 2).
     * postNorm:   OLMo 2's blocks: x + norm(attn(x)), then x + norm(mlp(x)); no norm before the sublayers.
     * nopeLayers: the layers that skip RoPE (SmolLM3: the 0 entries of no_rope_layers); empty in the other families.
     * rotaryDim:  RoPE turns only the first rotaryDim of each head's HS values, the rest pass through
     *             (Phi-4-mini's partial_rotary_factor 0.75: int(HS * factor)); 0 means all HS.
     */
    public record Arch(boolean qkNorm, boolean qkNormFull, boolean postNorm, List<Integer> nopeLayers, int rotaryDim,
                       Gemma gemma) {
        public static final Arch NONE = new Arch(false);

        public Arch { nopeLayers = List.copyOf(nopeLayers); }

        public Arch(boolean qkNorm) { this(qkNorm, false, false, List.of(), 0, null); }

        public Arch(boolean qkNorm, boolean qkNormFull, boolean postNorm, List<Integer> nopeLayers) {
            this(qkNorm, qkNormFull, postNorm, nopeLayers, 0, null);
        }

        public Arch(boolean qkNorm, int rotaryDim) { this(qkNorm, false, false, List.of(), rotaryDim, null); }

        public Arch(boolean qkNorm, Gemma gemma) { this(qkNorm, false, false, List.of(), 0, gemma); }

        /** Whether layer l rotates q and k (every layer but SmolLM3's NoPE layers). */
        public boolean rope(int l) { return !nopeLayers.contains(l); }

        /** For `peft4j inspect`: the switches that are on, e.g. "q/k norm per head"; "" when none. */
        public String describe() {
            List<String> on = new ArrayList<>();
            if (qkNorm) on.add(qkNormFull ? "q/k RMSNorm over the full projection" : "q/k RMSNorm per head");
            if (postNorm) on.add("post-norm blocks (norm after attention and after the MLP)");
            if (!nopeLayers.isEmpty()) on.add("no RoPE in layers " + nopeLayers);
            return String.join(", ", on);
        }
    }

    /** Head values RoPE rotates: HS, or fewer with a partial_rotary_factor (Phi-4-mini). */
    public int rotaryDim() { return arch.rotaryDim() > 0 ? arch.rotaryDim() : headDim; }

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
        LLAMA("llama"), MISTRAL("mistral"), QWEN2("qwen2"), QWEN3("qwen3"), SMOLLM3("smollm3"), OLMO2("olmo2"), GPT2("gpt2"), PHI3("phi3"),
        GEMMA2("gemma2"), GEMMA3_TEXT("gemma3_text");

        public final String modelType;

        Family(String modelType) { this.modelType = modelType; }

        public static Family of(String modelType) {
            for (Family f : values()) if (f.modelType.equals(modelType)) return f;
            throw new Peft4jException("unsupported model_type '" + modelType + "' in config.json; peft4j supports "
                    + supportedList() + " (Llama 2/3, TinyLlama, SmolLM, Mistral, Qwen2/2.5, Qwen3, SmolLM3, OLMo 2, GPT-2, Phi-3/3.5/4-mini, Gemma 2, Gemma 3 text)"
                    + (modelType.equals("gemma3") ? "; for a multimodal gemma3 checkpoint use the text-only gemma3_text model "
                    + "(e.g. google/gemma-3-1b-it, or extract its text_config and language_model weights)" : ""));
        }

        public static String supportedList() {
            List<String> names = new ArrayList<>();
            for (Family f : values()) names.add(f.modelType);
            return String.join(", ", names);
        }
    }

    /**
     * rope_scaling: "linear" (positions / factor), "llama3" (frequency-dependent, Llama 3.1+) or "longrope"
     * (Phi-3/4: each frequency divided by short_factor[i] up to originalMaxPositions tokens, by long_factor[i]
     * beyond, cos/sin scaled by sqrt(1 + ln(factor) / ln(originalMaxPositions)); factor = max_position_embeddings /
     * original_max_position_embeddings). shortFactor/longFactor: empty except for longrope.
     */
    public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor,
                              int originalMaxPositions, List<Double> shortFactor, List<Double> longFactor) {
        public RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {
            this(type, factor, lowFreqFactor, highFreqFactor, originalMaxPositions, List.of(), List.of());
        }
    }

    public boolean isGpt2() { return family == Family.GPT2; }

    public static ModelConfig load(Path modelDir) {
        modelDir = GgufModel.view(modelDir);                                     // a GGUF file: its HF view
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
        c = ropeParameters(c, source);
        String modelType = c.path("model_type").asText("");
        if (modelType.isEmpty())
            throw new Peft4jException(source + " has no \"model_type\"; peft4j supports " + Family.supportedList());
        Family family = Family.of(modelType);
        Reader r = new Reader(c, source);
        if (family == Family.PHI3) return phi3(c, r, source);
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
        // defaults of the families' configuration classes: SmolLM3Config rope_theta 2e6 and tied embeddings,
        // Olmo2Config rms_norm_eps 1e-5; OlmoMLP has no biases whatever mlp_bias says
        ModelConfig cfg = new ModelConfig(family, r.req("vocab_size"), C, r.req("intermediate_size"),
                r.req("num_hidden_layers"), NH, KVH, HS, r.optInt("max_position_embeddings", 2048),
                r.epsilon("rms_norm_eps", family == Family.OLMO2 ? 1e-5 : 1e-6),
                r.positive("rope_theta", family == Family.SMOLLM3 ? 2000000.0 : 10000.0),
                ropeScaling(c.get("rope_scaling"), source),
                c.path("tie_word_embeddings").asBoolean(family == Family.SMOLLM3),
                qkvBias, outBias, family != Family.OLMO2 && c.path("mlp_bias").asBoolean(false), window,
                r.optId("bos_token_id"), r.ids("eos_token_id"), c.path("torch_dtype").asText("float32")).validate(source);
        return cfg.withArch(switch (family) {                               // (after validate: the layer count is sane)
            case QWEN3 -> new Arch(true);                                   // q_norm/k_norm per head
            case SMOLLM3 -> new Arch(false, false, false, smolLm3NopeLayers(c, r, cfg.numLayers(), source));
            case OLMO2 -> new Arch(true, true, true, List.of());            // full-projection q/k norm, post-norm blocks
            default -> Arch.NONE;
        });
    }

    /**
     * SmolLM3's layers without RoPE, as SmolLM3Config resolves them: no_rope_layers holds one entry per layer,
     * 1 = RoPE, 0 = NoPE; when absent, every no_rope_layer_interval-th layer (default 4: layers 3, 7, 11, ...)
     * is NoPE. Sliding-window layers (layer_types "sliding_attention", or use_sliding_window with a
     * sliding_window, which SmolLM3Config turns into sliding NoPE layers) are refused by name.
     */
    private static List<Integer> smolLm3NopeLayers(JsonNode c, Reader r, int L, String source) {
        List<Integer> nope = new ArrayList<>();
        JsonNode flags = c.get("no_rope_layers");
        if (flags == null || flags.isNull()) {
            int every = r.optInt("no_rope_layer_interval", 4);
            for (int l = 0; l < L; l++) if ((l + 1) % every == 0) nope.add(l);
        } else {
            if (!flags.isArray() || flags.size() < L)
                throw new Peft4jException(source + ": \"no_rope_layers\" must be a list with one entry per layer ("
                        + L + "), 1 = RoPE, 0 = no RoPE (got " + flags + ")");
            for (int l = 0; l < L; l++) {
                JsonNode f = flags.get(l);
                if (!f.isIntegralNumber() || (f.asInt() != 0 && f.asInt() != 1))
                    throw new Peft4jException(source + ": \"no_rope_layers\"[" + l + "] must be 1 (RoPE) or 0 (no RoPE) (got " + f + ")");
                if (f.asInt() == 0) nope.add(l);
            }
        }
        JsonNode types = c.get("layer_types");
        boolean sliding;
        if (types == null || types.isNull()) {            // SmolLM3Config makes the NoPE layers sliding
            sliding = c.path("use_sliding_window").asBoolean(false) && c.hasNonNull("sliding_window") && !nope.isEmpty();
        } else {
            if (!types.isArray())
                throw new Peft4jException(source + ": \"layer_types\" must be a list of \"full_attention\" entries, one per "
                        + "layer, or null (got " + types + ")");
            sliding = false;
            for (JsonNode t : types) {
                if (t.asText().equals("sliding_attention")) sliding = true;
                else if (!t.asText().equals("full_attention"))
                    throw new Peft4jException(source + ": \"layer_types\" entry " + t + " is not a smollm3 layer type; "
                            + "expected \"full_attention\" (or \"sliding_attention\")");
            }
        }
        if (sliding)
            throw new Peft4jException(source + ": sliding-window layers (use_sliding_window with sliding_window, or "
                    + "layer_types \"sliding_attention\") are not supported for smollm3 yet; the released SmolLM3 checkpoints "
                    + "attend over the full context in every layer: set use_sliding_window to false and layer_types to \"full_attention\"");
        return nope;
    }

    /**
     * Phi3Config (transformers configuration_phi3.py; partial_rotary_factor as in the releases that load
     * Phi-4-mini): head_dim = hidden / heads, fused qkv_proj / gate_up_proj (ModelLoader), no biases,
     * rope_scaling null or longrope ("su" and "yarn" are transformers' old names for it), sliding_window
     * null or a window in tokens.
     */
    private static ModelConfig phi3(JsonNode c, Reader r, String source) {
        int C = r.req("hidden_size"), NH = r.req("num_attention_heads");
        int KVH = c.hasNonNull("num_key_value_heads") ? r.req("num_key_value_heads") : NH;
        int HS = r.divide(C, NH, "hidden_size", "num_attention_heads");
        if (c.hasNonNull("head_dim") && r.req("head_dim") != HS)
            throw new Peft4jException(source + ": phi3 derives head_dim from hidden_size / num_attention_heads = " + HS
                    + "; \"head_dim\": " + c.get("head_dim") + " is not supported (remove it or fix it to " + HS + ")");
        String act = c.path("hidden_act").asText("silu");
        if (!act.equals("silu") && !act.equals("swish"))
            throw new Peft4jException(source + ": hidden_act '" + act + "' is not supported for phi3; peft4j implements "
                    + "Phi3MLP's gate_up_proj with silu (SwiGLU)");
        for (String key : new String[] {"attention_bias", "mlp_bias", "lm_head_bias"})
            if (c.path(key).asBoolean(false))
                throw new Peft4jException(source + ": \"" + key + "\": true is not supported for phi3 (Phi3's projections "
                        + "have no biases); set it to false");
        for (String key : new String[] {"resid_pdrop", "embd_pdrop", "attention_dropout"})
            if (c.hasNonNull(key) && c.get(key).asDouble() != 0)
                throw new Peft4jException(source + ": \"" + key + "\": " + c.get(key) + " is not supported for phi3; peft4j "
                        + "runs the base model without dropout (the released Phi-3/3.5/4-mini configs use 0.0): set it to 0.0");
        double partial = r.positive("partial_rotary_factor", 1.0);
        int rotary = (int) (HS * partial);                        // transformers: int(head_dim * partial_rotary_factor)
        if (partial > 1 || rotary < 2 || rotary % 2 != 0)
            throw new Peft4jException(source + ": \"partial_rotary_factor\" " + partial + " gives " + rotary + " rotary "
                    + "dimensions of head_dim " + HS + "; it must be in (0, 1] and give an even number >= 2");
        int maxPos = r.optInt("max_position_embeddings", 4096);
        int origMax = r.optInt("original_max_position_embeddings", 4096);
        RopeScaling scaling = null;
        JsonNode s = c.get("rope_scaling");
        if (s != null && !s.isNull()) {
            if (!s.isObject())
                throw new Peft4jException(source + ": \"rope_scaling\" must be null or an object {\"type\": \"longrope\", "
                        + "\"short_factor\": [...], \"long_factor\": [...]} for phi3 (got " + s + ")");
            String type = s.hasNonNull("type") ? s.get("type").asText() : s.path("rope_type").asText("");
            if (!type.equals("longrope") && !type.equals("su") && !type.equals("yarn"))
                throw new Peft4jException(source + ": rope_scaling type '" + type + "' is not supported for phi3; peft4j "
                        + "supports longrope (and its old names su, yarn), as transformers' Phi3 does");
            for (java.util.Iterator<String> it = s.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                if (!List.of("type", "rope_type", "short_factor", "long_factor").contains(k))
                    throw new Peft4jException(source + ": \"rope_scaling." + k + "\" is not supported for phi3's longrope; "
                            + "peft4j reads type, short_factor and long_factor (the attention scaling comes from "
                            + "max_position_embeddings / original_max_position_embeddings)");
            }
            Reader rs = new Reader(s, source, "rope_scaling.");
            scaling = new RopeScaling("longrope", (double) maxPos / origMax, 0, 0, origMax,
                    rs.factors("short_factor", rotary / 2), rs.factors("long_factor", rotary / 2));
        }
        int window = 0;
        if (c.hasNonNull("sliding_window")) {
            window = r.req("sliding_window");
            if (window < 0)
                throw new Peft4jException(source + ": \"sliding_window\" must be >= 0 tokens, or null for full attention "
                        + "(got " + window + ")");
        }
        ModelConfig cfg = new ModelConfig(Family.PHI3, r.req("vocab_size"), C, r.req("intermediate_size"),
                r.req("num_hidden_layers"), NH, KVH, HS, maxPos, r.epsilon("rms_norm_eps", 1e-5),
                r.positive("rope_theta", 10000.0), scaling, c.path("tie_word_embeddings").asBoolean(false),
                false, false, false, window, r.optId("bos_token_id"), r.ids("eos_token_id"),
                c.path("torch_dtype").asText("float32"), new Arch(false, rotary == HS ? 0 : rotary));
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

    /**
     * transformers 5 writes RoPE settings as "rope_parameters": {"rope_theta", "rope_type", factor...} instead of
     * top-level rope_theta / rope_scaling. Read them from there (never silently fall back to the default theta);
     * a file holding both with different values is refused.
     */
    static JsonNode ropeParameters(JsonNode c, String source) {
        JsonNode rp = c.get("rope_parameters");
        if (rp == null || rp.isNull() || !c.isObject()) return c;
        if (!rp.isObject())
            throw new Peft4jException(source + ": \"rope_parameters\" must be an object like {\"rope_theta\": 10000.0, \"rope_type\": "
                    + "\"default\"} (got " + rp + ")");
        if (c.path("model_type").asText("").startsWith("gemma")) return c;    // refused by name in gemma(): per-layer-type dicts
        com.fasterxml.jackson.databind.node.ObjectNode out = ((com.fasterxml.jackson.databind.node.ObjectNode) c).deepCopy();
        if (rp.has("rope_theta")) {
            if (c.hasNonNull("rope_theta") && c.get("rope_theta").asDouble() != rp.get("rope_theta").asDouble())
                throw new Peft4jException(source + ": \"rope_theta\" (" + c.get("rope_theta") + ") and \"rope_parameters.rope_theta\" ("
                        + rp.get("rope_theta") + ") disagree; keep one of them");
            out.set("rope_theta", rp.get("rope_theta"));
        }
        String type = rp.path("rope_type").asText(rp.path("type").asText("default"));
        if (!type.equals("default") && !c.hasNonNull("rope_scaling")) {
            com.fasterxml.jackson.databind.node.ObjectNode scaling = ((com.fasterxml.jackson.databind.node.ObjectNode) rp).deepCopy();
            scaling.remove("rope_theta");
            out.set("rope_scaling", scaling);
        }
        out.remove("rope_parameters");
        return out;
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

    /**
     * LongRoPE's inverse frequencies (rotaryDim/2): 1 / (factor[i] * theta^(2i/rotaryDim)), with the short
     * factors (long = false) or the long ones; without rope_scaling the plain frequencies over rotaryDim.
     */
    public double[] longRopeInverseFrequencies(boolean useLong) {
        int R = rotaryDim(), half = R / 2;
        double[] inv = new double[half];
        for (int i = 0; i < half; i++) {
            double ext = ropeScaling == null ? 1.0 : (useLong ? ropeScaling.longFactor() : ropeScaling.shortFactor()).get(i);
            inv[i] = 1.0 / (ext * Math.pow(ropeTheta, (2.0 * i) / R));
        }
        return inv;
    }

    /** LongRoPE's cos/sin multiplier: sqrt(1 + ln(factor) / ln(original_max_position_embeddings)), 1 when factor <= 1. */
    public double longRopeAttentionFactor() {
        if (ropeScaling == null || ropeScaling.factor() <= 1.0) return 1.0;
        return Math.sqrt(1 + Math.log(ropeScaling.factor()) / Math.log(ropeScaling.originalMaxPositions()));
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

        /** A required list of n finite numbers > 0 (LongRoPE's per-frequency factors). */
        List<Double> factors(String key, int n) {
            JsonNode a = c.get(key);
            if (a == null || !a.isArray() || a.size() != n)
                throw new Peft4jException(source + ": \"" + prefix + key + "\" must be a list of " + n + " numbers, one per "
                        + "rotary frequency (rotary dims / 2) (got " + (a == null ? "nothing" : a.isArray() ? a.size() + " numbers" : a) + ")");
            List<Double> out = new ArrayList<>();
            for (JsonNode x : a) {
                double v = finite(key, x);
                if (!(v > 0))
                    throw new Peft4jException(source + ": \"" + prefix + key + "\" must hold numbers > 0 (got " + v + ")");
                out.add(v);
            }
            return List.copyOf(out);
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
