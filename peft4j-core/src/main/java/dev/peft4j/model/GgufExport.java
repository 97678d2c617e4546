/*
 * GgufExport: a peft4j model (adapters merged in, or not) as a llama.cpp GGUF file, and a LoRA adapter
 * as a GGUF LoRA (what llama.cpp's convert_lora_to_gguf.py writes), for the llama family.
 *
 * Model files carry what convert_hf_to_gguf.py writes for a llama: general.architecture "llama",
 * llama.context_length / embedding_length / block_count / feed_forward_length / rope.dimension_count /
 * attention.head_count / head_count_kv / layer_norm_rms_epsilon / rope.freq_base, the tokenizer
 * (tokenizer.ggml.model "llama": tokens, scores, token types, bos / eos / unk ids, add_bos_token, the chat
 * template), and tensors named token_embd, blk.N.attn_norm / attn_q / attn_k / attn_v / attn_output /
 * ffn_norm / ffn_gate / ffn_up / ffn_down, output_norm, output (absent when tied). The q and k rows are
 * permuted for llama.cpp's RoPE (convert_hf_to_gguf's permute). Norms stay F32; matrices take the
 * requested type, or a wider one when a row does not fill whole blocks (as llama-quantize falls back),
 * each fallback reported.
 *
 * Tokenizer: a model read from a GGUF keeps its tokenizer.* metadata as it was. A HuggingFace BPE
 * tokenizer is written either SentencePiece-style (byte_fallback, "▁" for spaces, as Llama 2, Mistral,
 * TinyLlama: tokenizer.ggml.model "llama", tokens in id order, each merge result scored by its merge rank
 * (−rank), so llama.cpp's SentencePiece tokenizer merges in BPE order) or byte-level (GPT-2, Llama 3,
 * Qwen2, SmolLM: model "gpt2" with its merges and tokenizer.ggml.pre naming the pre-tokenizer).
 */
package dev.peft4j.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.io.GgmlType;
import dev.peft4j.io.GgufFile;
import dev.peft4j.io.GgufWriter;
import dev.peft4j.nn.Linear;
import dev.peft4j.quant.Ggml;
import dev.peft4j.tuner.lora.LoraAdapter;
import dev.peft4j.tuner.lora.LoraModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

public final class GgufExport {
    private GgufExport() {}

    /** What was written: the file, its size, and every tensor that fell back to a wider type. */
    public record Result(Path file, long bytes, int tensors, List<String> fallbacks) {}

    /** The model as a GGUF of the given type (f32, f16, bf16, q8_0, q4_0, q4_k, q6_k). modelDir provides the tokenizer (a directory or a .gguf). */
    public static Result model(CausalLM model, Path modelDir, String type, Path out) {
        if (!(model instanceof Llama llama) || model.config().isGpt2())
            throw new Peft4jException("GGUF export is for the llama family (llama, mistral, qwen2 with its biases refused); this model is "
                    + model.config().family().modelType);
        GgmlType want = type(type);
        ModelConfig c = model.config();
        if (c.arch().qkNorm() || c.arch().postNorm() || c.qkvBias() || c.outputBias() || c.mlpBias())
            throw new Peft4jException("GGUF export writes plain llama models; this " + c.family().modelType
                    + " has q/k norms, post-norms or biases, which llama.cpp names differently. Export it with llama.cpp's convert_hf_to_gguf.py");
        GgufWriter w = new GgufWriter();
        w.put("general.architecture", "llama");
        w.put("general.name", modelDir.toAbsolutePath().normalize().getFileName().toString());
        w.put("general.file_type", fileType(want));
        if (want.quantized()) w.put("general.quantization_version", 2);
        int heads = c.numHeads(), kv = c.numKvHeads();
        w.put("llama.context_length", c.maxPositions());
        w.put("llama.embedding_length", c.hiddenSize());
        w.put("llama.block_count", c.numLayers());
        w.put("llama.feed_forward_length", c.intermediateSize());
        w.put("llama.rope.dimension_count", c.headDim());
        w.put("llama.attention.head_count", heads);
        w.put("llama.attention.head_count_kv", kv);
        if (c.headDim() != c.hiddenSize() / heads) {
            w.put("llama.attention.key_length", c.headDim());
            w.put("llama.attention.value_length", c.headDim());
        }
        w.put("llama.attention.layer_norm_rms_epsilon", (float) c.normEps());
        w.put("llama.rope.freq_base", (float) c.ropeTheta());
        w.put("llama.vocab_size", c.vocabSize());
        tokenizer(w, modelDir, c.vocabSize());
        ModelConfig.RopeScaling rs = c.ropeScaling();
        if (rs != null) switch (rs.type()) {
            case "linear" -> { w.put("llama.rope.scaling.type", "linear"); w.put("llama.rope.scaling.factor", (float) rs.factor()); }
            case "llama3" -> {                        // as convert_hf_to_gguf: the per-frequency factors as a tensor
                float[] f = GgufModel.llama3Factors(c.ropeTheta(), c.headDim(), rs);
                w.add(new GgufWriter.Entry("rope_freqs.weight", new long[] {f.length}, GgmlType.F32, Ggml.quantize(GgmlType.F32, f, 0, f.length)));
            }
            default -> throw new Peft4jException("GGUF export writes linear and llama3 RoPE scaling; this model's rope_scaling is " + rs.type()
                    + ". Export it with llama.cpp's convert_hf_to_gguf.py");
        }
        List<String> fallbacks = new ArrayList<>();
        matrix(w, "token_embd.weight", llama.embed, want, false, 0, fallbacks);
        for (int l = 0; l < c.numLayers(); l++) {
            String b = "blk." + l + ".", p = "model.layers." + l + ".";
            Llama.Block blk = llama.blocks[l];
            vector(w, b + "attn_norm.weight", blk.attnNorm());
            matrix(w, b + "attn_q.weight", blk.q().weight(), want, true, heads, fallbacks);
            matrix(w, b + "attn_k.weight", blk.k().weight(), want, true, kv, fallbacks);
            matrix(w, b + "attn_v.weight", blk.v().weight(), want, false, 0, fallbacks);
            matrix(w, b + "attn_output.weight", blk.o().weight(), want, false, 0, fallbacks);
            vector(w, b + "ffn_norm.weight", blk.mlpNorm());
            matrix(w, b + "ffn_gate.weight", blk.gate().weight(), want, false, 0, fallbacks);
            matrix(w, b + "ffn_up.weight", blk.up().weight(), want, false, 0, fallbacks);
            matrix(w, b + "ffn_down.weight", blk.down().weight(), want, false, 0, fallbacks);
        }
        vector(w, "output_norm.weight", llama.finalNorm);
        if (!model.headTied()) matrix(w, "output.weight", model.lmHead().weight(), want, false, 0, fallbacks);
        long bytes = w.write(out);
        return new Result(out, bytes, w.tensors().size(), fallbacks);
    }

    /**
     * A LoRA adapter as GGUF (convert_lora_to_gguf.py's layout): general.type "adapter", adapter.type "lora",
     * adapter.lora.alpha, and per adapted matrix "<gguf name>.lora_a" (A, dims [in, r]) and ".lora_b" (B, dims
     * [r, out], q/k rows permuted like the weight). llama.cpp scales by alpha / r; each module's own scaling
     * (rsLoRA, rank/alpha patterns) is folded into its B so the product is exactly PEFT's.
     */
    public static Result lora(LoraModel lora, Path out) {
        ModelConfig c = lora.model().config();
        if (!(lora.model() instanceof Llama))
            throw new Peft4jException("GGUF LoRA export is for the llama family; this model is " + c.family().modelType);
        if (!lora.modulesToSave().isEmpty())
            throw new Peft4jException("adapter trains " + lora.modulesToSave() + " in full (modules_to_save), which a GGUF LoRA cannot carry; "
                    + "export the merged model instead (peft4j export gguf --adapter ...)");
        double alpha = lora.config().loraAlpha();
        GgufWriter w = new GgufWriter();
        w.put("general.architecture", "llama");
        w.put("general.type", "adapter");
        w.put("adapter.type", "lora");
        w.put("adapter.lora.alpha", (float) alpha);
        for (Map.Entry<String, LoraAdapter> e : lora.adapters().entrySet()) {
            LoraAdapter a = e.getValue();
            if (a.getClass() != LoraAdapter.class)
                throw new Peft4jException("module " + e.getKey() + " uses DoRA, which a GGUF LoRA cannot express; export the merged model instead");
            String g = GgufModel.ggufName(e.getKey() + ".weight");
            if (g == null || g.startsWith("output") || g.startsWith("token_embd"))
                throw new Peft4jException("module " + e.getKey() + " has no llama.cpp tensor name");
            int r = a.r, in = a.A.dim(1), outDim = a.B.dim(0);
            float fold = (float) (a.scaling * r / alpha);
            float[] A = a.A.floats(), B = a.B.floats().clone();
            for (int i = 0; i < B.length; i++) B[i] *= fold;
            if (g.endsWith("attn_q.weight")) B = permuteRows(B, outDim, r, c.numHeads());
            if (g.endsWith("attn_k.weight")) B = permuteRows(B, outDim, r, c.numKvHeads());
            w.add(new GgufWriter.Entry(g + ".lora_a", new long[] {in, r}, GgmlType.F32, Ggml.quantize(GgmlType.F32, A, 0, A.length)));
            w.add(new GgufWriter.Entry(g + ".lora_b", new long[] {r, outDim}, GgmlType.F32, Ggml.quantize(GgmlType.F32, B, 0, B.length)));
        }
        long bytes = w.write(out);
        return new Result(out, bytes, w.tensors().size(), List.of());
    }

    static GgmlType type(String t) {
        return switch (t.toLowerCase(java.util.Locale.ROOT)) {
            case "f32" -> GgmlType.F32;
            case "f16" -> GgmlType.F16;
            case "bf16" -> GgmlType.BF16;
            case "q8_0" -> GgmlType.Q8_0;
            case "q4_0" -> GgmlType.Q4_0;
            case "q4_k" -> GgmlType.Q4_K;
            case "q6_k" -> GgmlType.Q6_K;
            default -> throw new Peft4jException("--type must be f32, f16, bf16, q8_0, q4_0, q4_k or q6_k (got '" + t + "')");
        };
    }

    /** llama.cpp's LLAMA_FTYPE of a whole-model type. */
    static int fileType(GgmlType t) {
        return switch (t) {
            case F32 -> 0;
            case F16 -> 1;
            case Q4_0 -> 2;
            case Q8_0 -> 7;
            case BF16 -> 32;
            case Q4_K -> 14;                                   // LLAMA_FTYPE_MOSTLY_Q4_K_S: every matrix Q4_K
            case Q6_K -> 18;
            default -> throw new IllegalArgumentException(t.name());
        };
    }

    private static void vector(GgufWriter w, String name, Tensor t) {
        float[] v = t.floats();
        w.add(new GgufWriter.Entry(name, new long[] {v.length}, GgmlType.F32, Ggml.quantize(GgmlType.F32, v, 0, v.length)));
    }

    private static void matrix(GgufWriter w, String name, Tensor t, GgmlType want, boolean permute, int heads, List<String> fallbacks) {
        int rows = t.dim(0), cols = t.dim(1);
        float[] v = t.floats();
        if (permute) v = permuteRows(v, rows, cols, heads);
        GgmlType type = want;
        while (cols % type.blockSize != 0) {
            GgmlType wider = type == GgmlType.Q4_K || type == GgmlType.Q6_K ? GgmlType.Q8_0
                    : type == GgmlType.Q4_0 || type == GgmlType.Q8_0 ? GgmlType.F16 : GgmlType.F32;
            fallbacks.add(name + " (" + rows + "x" + cols + "): " + cols + " columns are not a multiple of " + type + "'s block of "
                    + type.blockSize + ", written as " + wider);
            type = wider;
        }
        w.add(new GgufWriter.Entry(name, new long[] {cols, rows}, type, Ggml.quantize(type, v, 0, v.length)));
    }

    static float[] permuteRows(float[] src, int rows, int cols, int heads) {
        return GgufModel.permuteRows(src, new float[src.length], rows, cols, heads, true);
    }

    /** tokenizer.* metadata: copied from a GGUF source, or built from the model's BPE tokenizer (SentencePiece-style or byte-level). */
    private static void tokenizer(GgufWriter w, Path modelDir, int vocabSize) {
        if (GgufModel.isGguf(modelDir)) {
            try (GgufFile g = GgufFile.open(modelDir)) {
                for (Map.Entry<String, Object> e : g.metadata().entrySet()) {
                    if (!e.getKey().startsWith("tokenizer.")) continue;
                    Object v = e.getValue();
                    if (e.getKey().equals("tokenizer.ggml.scores")) v = new GgufWriter.Array(GgufWriter.F32, (List<?>) v);
                    else if (e.getKey().equals("tokenizer.ggml.token_type")) v = new GgufWriter.Array(GgufWriter.I32, (List<?>) v);
                    else if (v instanceof Long l && e.getKey().endsWith("_id")) v = (int) (long) l;
                    w.put(e.getKey(), v);
                }
            }
            return;
        }
        Path view = GgufModel.view(modelDir);
        JsonNode tj, cfg;
        dev.peft4j.tokenizer.Tokenizer tok;
        try {
            tok = dev.peft4j.tokenizer.Tokenizer.load(view);
            tj = tok.tokenizerJson();
            Path tc = view.resolve("tokenizer_config.json");
            cfg = Files.exists(tc) ? GgufModel.JSON.readTree(tc.toFile()) : GgufModel.JSON.createObjectNode();
        } catch (IOException e) {
            throw new Peft4jException("GGUF export needs the model's tokenizer_config.json as JSON: " + e.getMessage(), e);
        }
        try (tok) {
            JsonNode m = tj.path("model");
            if (!"BPE".equals(m.path("type").asText()))
                throw new Peft4jException("GGUF export writes BPE tokenizers (SentencePiece-style with byte_fallback, as Llama 2 / Mistral, or "
                        + "byte-level, as GPT-2 / Llama 3 / Qwen2 / SmolLM); " + modelDir + "'s tokenizer is " + m.path("type").asText()
                        + ". Convert the model with llama.cpp's convert_hf_to_gguf.py instead");
            if (m.path("byte_fallback").asBoolean(false)) sentencePiece(w, tj, cfg, vocabSize);
            else byteLevel(w, tj, tok, modelDir, vocabSize);
            if (cfg.path("chat_template").isTextual()) w.put("tokenizer.chat_template", cfg.path("chat_template").asText());
        }
    }

    /**
     * A byte-level BPE (GPT-2 style) as llama.cpp's "gpt2" vocabulary: tokens in id order (ids the tokenizer lacks
     * become "[PAD<id>]", unused), added tokens as control (special) or user-defined, merges as "left right", and
     * tokenizer.ggml.pre naming the pre-tokenizer: gpt-2 (ByteLevel's own regex), llama-bpe (Llama 3's split regex)
     * or qwen2 (Qwen2's).
     */
    private static void byteLevel(GgufWriter w, JsonNode tj, dev.peft4j.tokenizer.Tokenizer tok, Path modelDir, int vocabSize) {
        JsonNode m = tj.path("model");
        String[] tokens = new String[vocabSize];
        m.path("vocab").fields().forEachRemaining(e -> { if (e.getValue().asInt() < vocabSize) tokens[e.getValue().asInt()] = e.getKey(); });
        int[] type = new int[vocabSize];
        for (JsonNode a : tj.path("added_tokens")) {
            int id = a.path("id").asInt();
            if (id < 0 || id >= vocabSize) continue;
            tokens[id] = a.path("content").asText();
            type[id] = a.path("special").asBoolean() ? 3 : 4;
        }
        List<Object> toks = new ArrayList<>(vocabSize), types = new ArrayList<>(vocabSize), merges = new ArrayList<>();
        for (int i = 0; i < vocabSize; i++) {
            toks.add(tokens[i] == null ? "[PAD" + i + "]" : tokens[i]);
            types.add(tokens[i] == null ? 5 : type[i] == 0 ? 1 : type[i]);
        }
        for (JsonNode mg : m.path("merges")) merges.add(mg.isArray() ? mg.get(0).asText() + " " + mg.get(1).asText() : mg.asText());
        w.put("tokenizer.ggml.model", "gpt2");
        w.put("tokenizer.ggml.pre", byteLevelPre(tj.path("pre_tokenizer"), modelDir));
        w.put("tokenizer.ggml.tokens", new GgufWriter.Array(GgufWriter.STRING, toks));
        w.put("tokenizer.ggml.token_type", new GgufWriter.Array(GgufWriter.I32, types));
        w.put("tokenizer.ggml.merges", new GgufWriter.Array(GgufWriter.STRING, merges));
        tok.bosId().ifPresent(id -> { if (id < vocabSize) w.put("tokenizer.ggml.bos_token_id", id); });
        tok.eosId().ifPresent(id -> { if (id < vocabSize) w.put("tokenizer.ggml.eos_token_id", id); });
        tok.padId().ifPresent(id -> { if (id < vocabSize) w.put("tokenizer.ggml.padding_token_id", id); });
        w.put("tokenizer.ggml.add_bos_token", tok.addsBos());
        w.put("tokenizer.ggml.add_eos_token", tok.addsEos());
    }

    /** llama.cpp's name for a byte-level pre-tokenizer (the regexes GgufTokenizer reads back). */
    static String byteLevelPre(JsonNode pt, Path modelDir) {
        if ("ByteLevel".equals(pt.path("type").asText()) && pt.path("use_regex").asBoolean(true)) return "gpt-2";
        JsonNode seq = pt.path("pretokenizers");
        if ("Sequence".equals(pt.path("type").asText()) && seq.size() == 2 && "Split".equals(seq.get(0).path("type").asText())
                && "ByteLevel".equals(seq.get(1).path("type").asText()) && !seq.get(1).path("use_regex").asBoolean(true)) {
            String regex = seq.get(0).path("pattern").path("Regex").asText();
            if (regex.equals(GgufTokenizer.LLAMA3_REGEX)) return "llama-bpe";
            if (regex.equals(GgufTokenizer.QWEN2_REGEX)) return "qwen2";
        }
        throw new Peft4jException(modelDir + "'s byte-level tokenizer splits text with a pre-tokenizer peft4j cannot name for llama.cpp ("
                + pt + "); it writes GPT-2's, Llama 3's (llama-bpe) and Qwen2's. Convert the model with llama.cpp's convert_hf_to_gguf.py instead");
    }

    /** A SentencePiece-style BPE (byte_fallback, "▁" for spaces) as llama.cpp's "llama" vocabulary, scored by merge rank. */
    private static void sentencePiece(GgufWriter w, JsonNode tj, JsonNode cfg, int vocabSize) {
        JsonNode m = tj.path("model");
        String[] tokens = new String[vocabSize];
        m.path("vocab").fields().forEachRemaining(e -> { if (e.getValue().asInt() < vocabSize) tokens[e.getValue().asInt()] = e.getKey(); });
        Map<String, Integer> special = new HashMap<>();
        for (JsonNode a : tj.path("added_tokens")) {
            int id = a.path("id").asInt();
            if (id < vocabSize) { tokens[id] = a.path("content").asText(); if (a.path("special").asBoolean()) special.put(tokens[id], id); }
        }
        Map<String, Integer> rank = new HashMap<>();
        int r = 0;
        for (JsonNode mg : m.path("merges")) {
            String merged = mg.isArray() ? mg.get(0).asText() + mg.get(1).asText() : mg.asText().replaceFirst(" ", "");
            rank.putIfAbsent(merged, r++);
        }
        List<Object> toks = new ArrayList<>(), scores = new ArrayList<>(), types = new ArrayList<>();
        String unk = m.path("unk_token").isTextual() ? m.path("unk_token").asText() : null;
        for (int i = 0; i < vocabSize; i++) {
            String t = tokens[i] == null ? "[PAD" + i + "]" : tokens[i];
            toks.add(t);
            scores.add(rank.containsKey(t) ? (float) -rank.get(t) : 0f);
            int type = t.equals(unk) ? 2 : special.containsKey(t) ? 3 : t.matches("<0x[0-9A-Fa-f]{2}>") ? 6 : tokens[i] == null ? 5 : 1;
            types.add(type);
        }
        w.put("tokenizer.ggml.model", "llama");
        w.put("tokenizer.ggml.tokens", new GgufWriter.Array(GgufWriter.STRING, toks));
        w.put("tokenizer.ggml.scores", new GgufWriter.Array(GgufWriter.F32, scores));
        w.put("tokenizer.ggml.token_type", new GgufWriter.Array(GgufWriter.I32, types));
        for (String[] k : new String[][] {{"bos_token", "tokenizer.ggml.bos_token_id"}, {"eos_token", "tokenizer.ggml.eos_token_id"},
                {"unk_token", "tokenizer.ggml.unknown_token_id"}, {"pad_token", "tokenizer.ggml.padding_token_id"}}) {
            JsonNode v = cfg.path(k[0]);
            String s = v.isTextual() ? v.asText() : v.path("content").isTextual() ? v.path("content").asText() : null;
            if (s == null) continue;
            for (int i = 0; i < vocabSize; i++) if (s.equals(toks.get(i))) { w.put(k[1], i); break; }
        }
        w.put("tokenizer.ggml.add_bos_token", cfg.path("add_bos_token").asBoolean(true));
        w.put("tokenizer.ggml.add_eos_token", cfg.path("add_eos_token").asBoolean(false));
    }
}
