/*
 * GgufModel: a llama.cpp GGUF file as a peft4j model — `--model file.gguf` anywhere a model directory
 * is accepted. The file's metadata becomes a HuggingFace view (config.json, tokenizer.json,
 * tokenizer_config.json with the chat template) in a temporary directory, so every command reads it
 * as usual; the weights are read from the GGUF itself:
 *   token_embd → model.embed_tokens, blk.N.attn_q/k/v/output → model.layers.N.self_attn.q/k/v/o_proj,
 *   attn_norm / ffn_norm → input_layernorm / post_attention_layernorm, ffn_gate/up/down → mlp.*,
 *   output_norm → model.norm, output → lm_head (absent: tied to the embedding).
 * llama.cpp stores a "llama" model's q and k rows permuted for its RoPE (convert_hf_to_gguf's
 * permute: within each head, rows [i * HS/2 + j] move to [2j + i]); they are put back here, which for a
 * quantised matrix is a reordering of whole rows of blocks. Quantised tensors stay quantised
 * (GgmlMatrix, decoded inside the GEMM's packing); F32 / F16 / BF16 become f32.
 */
package dev.peft4j.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.io.GgmlType;
import dev.peft4j.io.GgufFile;
import dev.peft4j.io.GgufFormatException;
import dev.peft4j.kernels.GgmlMatrix;
import dev.peft4j.quant.Ggml;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

public final class GgufModel {
    private GgufModel() {}

    static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<Path, Path> VIEWS = new HashMap<>();
    /** The file in a view directory that points back at its GGUF. */
    public static final String SOURCE_FILE = "peft4j-gguf-source.txt";

    /** True for a path to a GGUF file (by its magic, whatever its name). */
    public static boolean isGguf(Path p) { return p != null && !Files.isDirectory(p) && GgufFile.isGguf(p); }

    /**
     * The HuggingFace view directory of a GGUF file (made once per file and JVM), or p itself when p is
     * not a GGUF file.
     */
    public static synchronized Path view(Path p) {
        if (!isGguf(p)) return p;
        Path key = p.toAbsolutePath().normalize();
        Path dir = VIEWS.get(key);
        if (dir != null && Files.isDirectory(dir)) return dir;
        try (GgufFile g = GgufFile.open(key)) {
            dir = Files.createTempDirectory("peft4j-gguf-view-");
            ObjectNode config = config(g);
            Files.writeString(dir.resolve("config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(config));
            Files.writeString(dir.resolve("tokenizer.json"), GgufTokenizer.tokenizerJson(g));
            Files.writeString(dir.resolve("tokenizer_config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(GgufTokenizer.tokenizerConfig(g, config)));
            Files.writeString(dir.resolve(SOURCE_FILE), key.toString());
            for (String f : List.of("config.json", "tokenizer.json", "tokenizer_config.json", SOURCE_FILE)) dir.resolve(f).toFile().deleteOnExit();
            dir.toFile().deleteOnExit();
            VIEWS.put(key, dir);
            return dir;
        } catch (IOException e) {
            throw new Peft4jException("cannot write the model view of " + p + " in the temporary directory: " + e.getMessage(), e);
        }
    }

    /**
     * What the view of a GGUF file would hold, without writing it: config.json and tokenizer.json as text
     * (the fuzz target's way through the same code as view()). Throws GgufFormatException for what is not read.
     */
    public static String[] describe(Path file) {
        try (GgufFile g = GgufFile.open(file)) {
            ObjectNode config = config(g);
            return new String[] {config.toString(), GgufTokenizer.tokenizerJson(g), GgufTokenizer.tokenizerConfig(g, config).toString()};
        }
    }

    /** The GGUF file behind a view directory, or null for an ordinary model directory. */
    public static Path sourceOf(Path dir) {
        Path f = dir.resolve(SOURCE_FILE);
        if (!Files.isRegularFile(f)) return null;
        try {
            return Path.of(Files.readString(f).strip());
        } catch (IOException e) {
            throw new Peft4jException("cannot read " + f + ": " + e.getMessage(), e);
        }
    }

    /** The architecture prefix of the metadata keys ("llama", "qwen2", ...), checked to be one peft4j reads. */
    static String arch(GgufFile g) {
        String a = g.string("general.architecture");
        if (!List.of("llama", "mistral", "qwen2").contains(a))
            throw new GgufFormatException(g.path() + " holds a '" + a + "' model; peft4j reads GGUF models of the llama family "
                    + "(general.architecture llama, mistral, qwen2). Convert the HuggingFace model instead (--model DIR)");
        return a;
    }

    /** config.json (transformers' names) from the GGUF metadata. */
    static ObjectNode config(GgufFile g) {
        String a = arch(g);
        ObjectNode c = JSON.createObjectNode();
        c.put("model_type", a.equals("qwen2") ? "qwen2" : a.equals("mistral") ? "mistral" : "llama");
        c.putArray("architectures").add(a.equals("qwen2") ? "Qwen2ForCausalLM" : a.equals("mistral") ? "MistralForCausalLM" : "LlamaForCausalLM");
        int hidden = (int) g.integer(a + ".embedding_length");
        int heads = (int) g.integer(a + ".attention.head_count");
        c.put("hidden_size", hidden);
        c.put("intermediate_size", g.integer(a + ".feed_forward_length"));
        c.put("num_hidden_layers", g.integer(a + ".block_count"));
        c.put("num_attention_heads", heads);
        c.put("num_key_value_heads", g.integer(a + ".attention.head_count_kv", heads));
        if (g.has(a + ".attention.key_length") && g.integer(a + ".attention.key_length") != hidden / heads)
            c.put("head_dim", g.integer(a + ".attention.key_length"));
        c.put("rms_norm_eps", g.real(a + ".attention.layer_norm_rms_epsilon", 1e-5));
        c.put("rope_theta", g.real(a + ".rope.freq_base", 10000.0));
        c.put("max_position_embeddings", g.integer(a + ".context_length", 2048));
        GgufFile.Tensor embd = g.tensor("token_embd.weight");
        c.put("vocab_size", embd.rows());
        c.put("tie_word_embeddings", !g.tensors().containsKey("output.weight"));
        c.put("hidden_act", "silu");
        c.put("torch_dtype", "float32");
        String scaling = g.string(a + ".rope.scaling.type", "none");
        switch (scaling) {
            case "none" -> { }
            case "linear" -> c.putObject("rope_scaling").put("type", "linear").put("factor", g.real(a + ".rope.scaling.factor", 1.0));
            default -> throw new GgufFormatException(g.path() + ": rope scaling '" + scaling + "' is not read from GGUF yet (linear is)");
        }
        if (g.tensors().containsKey("rope_freqs.weight")) {                     // Llama 3.1+: llama3 scaling as per-frequency factors
            if (c.has("rope_scaling"))
                throw new GgufFormatException(g.path() + " has both rope.scaling.type " + scaling + " and rope_freqs; expected one of them");
            if (heads <= 0 || hidden <= 0)
                throw new GgufFormatException(g.path() + ": embedding_length " + hidden + " and attention.head_count " + heads + " must be positive");
            int headDim = c.has("head_dim") ? c.get("head_dim").asInt() : hidden / heads;
            if (headDim <= 0 || headDim % 2 != 0)
                throw new GgufFormatException(g.path() + ": head size " + headDim + " must be positive and even for RoPE");
            ModelConfig.RopeScaling rs = fitLlama3(g, ropeFreqs(g, headDim / 2), c.get("rope_theta").asDouble(), headDim);
            c.putObject("rope_scaling").put("rope_type", "llama3").put("factor", rs.factor()).put("low_freq_factor", rs.lowFreqFactor())
                    .put("high_freq_factor", rs.highFreqFactor()).put("original_max_position_embeddings", rs.originalMaxPositions());
        }
        if (g.has("tokenizer.ggml.bos_token_id")) c.put("bos_token_id", g.integer("tokenizer.ggml.bos_token_id"));
        if (g.has("tokenizer.ggml.eos_token_id")) c.put("eos_token_id", g.integer("tokenizer.ggml.eos_token_id"));
        if (a.equals("qwen2")) c.put("attention_bias", true);
        if (a.equals("llama") && g.tensors().containsKey("blk.0.attn_q.bias")) c.put("attention_bias", true);
        return c;
    }

    /** rope_freqs.weight: headDim / 2 positive F32 factors. */
    private static float[] ropeFreqs(GgufFile g, int half) {
        GgufFile.Tensor t = g.tensor("rope_freqs.weight");
        if (t.type() != dev.peft4j.io.GgmlType.F32 || t.elements() != half)
            throw new GgufFormatException(g.path() + ": rope_freqs.weight must be " + half + " F32 values (head_dim / 2); found "
                    + t.elements() + " " + t.type());
        java.lang.foreign.MemorySegment seg = g.bytes(t);
        float[] f = new float[half];
        for (int i = 0; i < half; i++) {
            f[i] = seg.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 4L * i);
            if (!(f[i] > 0) || Float.isInfinite(f[i]))
                throw new GgufFormatException(g.path() + ": rope_freqs.weight[" + i + "] is " + f[i] + "; frequency factors must be positive and finite");
        }
        return f;
    }

    /**
     * The llama3 rope_scaling (factor, low / high frequency factors, original context) whose frequency factors are those
     * of the file, within 1e-4 relative: factor is the largest; with low 1 and high 4 (Llama 3.1 / 3.2) or another small
     * ratio, the original context comes from the interpolated band (or, without one, a power of two that classifies every
     * frequency as the file does). Factors no llama3 scaling produces are refused.
     */
    static ModelConfig.RopeScaling fitLlama3(GgufFile g, float[] f, double theta, int headDim) {
        double factor = 0;
        for (float v : f) factor = Math.max(factor, v);
        double[][] bands = {{1, 4}, {1, 2}, {1, 8}, {2, 4}, {0.5, 4}, {1, 16}, {1, 32}};
        for (double[] b : bands) {
            List<Double> origs = new java.util.ArrayList<>();
            for (int i = 0; i < f.length; i++) {
                double wavelen = 2 * Math.PI * Math.pow(theta, (2.0 * i) / headDim);
                if (Math.abs(f[i] - 1) < 1e-6 || Math.abs(f[i] - factor) < 1e-6 * factor || factor <= 1) continue;
                double smooth = (1 / f[i] - 1 / factor) / (1 - 1 / factor);         // 1/f = (1 - s)/factor + s
                origs.add((smooth * (b[1] - b[0]) + b[0]) * wavelen);                // s = (orig/wavelen - low)/(high - low)
            }
            for (int e = 8; e <= 22; e++) origs.add((double) (1 << e));
            for (double orig : origs) {
                int o = (int) Math.round(orig);
                ModelConfig.RopeScaling rs = new ModelConfig.RopeScaling("llama3", factor, b[0], b[1], o);
                float[] want = llama3Factors(theta, headDim, rs);
                boolean ok = true;
                for (int i = 0; i < f.length && ok; i++) ok = Math.abs(want[i] - f[i]) <= 1e-4 * f[i];
                if (ok) return rs;
            }
        }
        throw new GgufFormatException(g.path() + ": rope_freqs.weight " + java.util.Arrays.toString(f) + " are not the factors of a llama3 "
                + "rope_scaling peft4j recognises; use the HuggingFace directory of the model (--model DIR)");
    }

    /** convert_hf_to_gguf's rope_freqs for a llama3 rope_scaling: 1 for short wavelengths, factor for long, the band between smoothed. */
    static float[] llama3Factors(double theta, int headDim, ModelConfig.RopeScaling s) {
        float[] f = new float[headDim / 2];
        double lowWavelen = s.originalMaxPositions() / s.lowFreqFactor(), highWavelen = s.originalMaxPositions() / s.highFreqFactor();
        for (int i = 0; i < f.length; i++) {
            double wavelen = 2 * Math.PI * Math.pow(theta, (2.0 * i) / headDim);
            if (wavelen < highWavelen) f[i] = 1f;
            else if (wavelen > lowWavelen) f[i] = (float) s.factor();
            else {
                double smooth = (s.originalMaxPositions() / wavelen - s.lowFreqFactor()) / (s.highFreqFactor() - s.lowFreqFactor());
                f[i] = (float) (1 / ((1 - smooth) / s.factor() + smooth));
            }
        }
        return f;
    }

    /** HF tensor name -> GGUF tensor name, for the llama family. */
    static String ggufName(String hf) {
        if (hf.equals("model.embed_tokens.weight")) return "token_embd.weight";
        if (hf.equals("model.norm.weight")) return "output_norm.weight";
        if (hf.equals("lm_head.weight")) return "output.weight";
        if (!hf.startsWith("model.layers.")) return null;
        String rest = hf.substring("model.layers.".length());
        int dot = rest.indexOf('.');
        String n = rest.substring(0, dot), m = rest.substring(dot + 1);
        String g = switch (m) {
            case "input_layernorm.weight" -> "attn_norm.weight";
            case "post_attention_layernorm.weight" -> "ffn_norm.weight";
            case "self_attn.q_proj.weight" -> "attn_q.weight";
            case "self_attn.k_proj.weight" -> "attn_k.weight";
            case "self_attn.v_proj.weight" -> "attn_v.weight";
            case "self_attn.o_proj.weight" -> "attn_output.weight";
            case "self_attn.q_proj.bias" -> "attn_q.bias";
            case "self_attn.k_proj.bias" -> "attn_k.bias";
            case "self_attn.v_proj.bias" -> "attn_v.bias";
            case "mlp.gate_proj.weight" -> "ffn_gate.weight";
            case "mlp.up_proj.weight" -> "ffn_up.weight";
            case "mlp.down_proj.weight" -> "ffn_down.weight";
            default -> null;
        };
        return g == null ? null : "blk." + n + "." + g;
    }

    /** Weights of a GGUF model under their HuggingFace names, un-permuted, quantised ones kept quantised. */
    static final class Source implements AutoCloseable {
        final GgufFile g;
        final boolean permuted;
        final int heads, kvHeads;

        Source(Path file, ModelConfig cfg) {
            this.g = GgufFile.open(file);
            this.permuted = arch(g).equals("llama") || arch(g).equals("mistral");
            this.heads = cfg.numHeads();
            this.kvHeads = cfg.numKvHeads();
        }

        boolean contains(String hf) {
            String n = ggufName(hf);
            return n != null && g.tensors().containsKey(n);
        }

        /** The tensor under its HF name, checked against the shape config.json implies (rows, cols) or (n). */
        Tensor get(String hf, int... shape) {
            String n = ggufName(hf);
            if (n == null || !g.tensors().containsKey(n))
                throw new GgufFormatException(g.path() + " has no tensor for " + hf + (n == null ? "" : " (GGUF name " + n + ")"));
            GgufFile.Tensor t = g.tensor(n);
            int rows = shape.length == 2 ? shape[0] : 1, cols = shape.length == 2 ? shape[1] : shape[0];
            if (t.elements() != (long) rows * cols || t.cols() != cols)
                throw new GgufFormatException(g.path() + ": tensor " + n + " has dims " + java.util.Arrays.toString(t.dims())
                        + " (ggml order) but the metadata implies " + java.util.Arrays.toString(shape) + " for " + hf);
            if (!t.type().readable)
                throw new GgufFormatException(g.path() + ": tensor " + n + " is " + t.type() + ", which peft4j does not decode; it reads "
                        + "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K. Requantise the model with llama.cpp's llama-quantize "
                        + "(e.g. to Q4_K_M or Q8_0)");
            byte[] raw = g.bytes(t).toArray(ValueLayout.JAVA_BYTE);
            int headsHere = hf.contains("q_proj") ? heads : kvHeads;
            boolean unpermute = permuted && (hf.endsWith("q_proj.weight") || hf.endsWith("k_proj.weight"));
            if (t.type().quantized() && shape.length == 2) {
                if (unpermute) raw = permuteRows(raw, new byte[raw.length], rows, raw.length / rows, headsHere, false);
                return Tensor.frozen(hf, GgmlMatrix.of(t.type(), raw, rows, cols));
            }
            float[] f = new float[rows * cols];
            Ggml.dequantize(t.type(), raw, 0, (int) (t.elements() / t.type().blockSize), f, 0);
            if (unpermute) f = permuteRows(f, new float[f.length], rows, cols, headsHere, false);
            return Tensor.frozen(hf, f, shape);
        }

        @Override public void close() { g.close(); }
    }

    /**
     * convert_hf_to_gguf's permute for llama.cpp's RoPE, on whole rows of any array (float[] values or byte[]
     * blocks): within each head, HF row i*HS/2 + j is GGUF row 2j + i. toGguf moves rows HF -> GGUF, else back.
     */
    static <A> A permuteRows(A src, A dst, int rows, int rowLen, int heads, boolean toGguf) {
        int hs = rows / heads, half = hs / 2;
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < half; j++) {
                    int hf = (h * hs + i * half + j) * rowLen, gg = (h * hs + 2 * j + i) * rowLen;
                    System.arraycopy(src, toGguf ? hf : gg, dst, toGguf ? gg : hf, rowLen);
                }
        return dst;
    }

    static ArrayNode strings(List<?> l) {
        ArrayNode a = JSON.createArrayNode();
        for (Object o : l) a.add(String.valueOf(o));
        return a;
    }
}
