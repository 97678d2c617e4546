/*
 * GgufTokenizer: a HuggingFace tokenizer.json (and tokenizer_config.json) built from a GGUF file's
 * tokenizer.ggml.* metadata, as transformers' GGUF loader does (integrations/ggml.py):
 *   model "llama" (SentencePiece): a byte-fallback BPE over tokenizer.ggml.tokens; when the file has no
 *     merges, every split of a token into two vocabulary tokens is a merge, ordered by the merged
 *     token's score (descending), ties by the parts' scores — transformers' GGUFTokenizerSkeleton;
 *     normalizer Prepend("▁") + Replace(" " → "▁"), decoder Replace("▁" → " "), ByteFallback, Fuse, Strip;
 *   model "gpt2" (byte-level BPE): tokens + tokenizer.ggml.merges, the pre-tokenizer of
 *     tokenizer.ggml.pre (gpt2/default, llama-bpe/llama3, qwen2, smollm).
 * Control tokens (token_type 3) and the unknown token are special added tokens.
 */
package dev.peft4j.model;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.peft4j.io.GgufFile;
import dev.peft4j.io.GgufFormatException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

final class GgufTokenizer {
    private GgufTokenizer() {}

    static final String LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    static final String QWEN2_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    static String tokenizerJson(GgufFile g) {
        String model = g.string("tokenizer.ggml.model");
        List<?> tokensRaw = g.array("tokenizer.ggml.tokens");
        List<String> tokens = new ArrayList<>(tokensRaw.size());
        for (Object o : tokensRaw) {
            if (!(o instanceof String s)) throw new GgufFormatException(g.path() + ": tokenizer.ggml.tokens must be strings");
            tokens.add(s);
        }
        List<?> types = g.has("tokenizer.ggml.token_type") ? g.array("tokenizer.ggml.token_type") : List.of();
        ObjectNode root = GgufModel.JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        long unk = g.integer("tokenizer.ggml.unknown_token_id", -1);
        for (int i = 0; i < tokens.size(); i++) {
            long type = i < types.size() && types.get(i) instanceof Long l ? l : 1;
            if (type == 3 || i == unk)
                added.addObject().put("id", i).put("content", tokens.get(i)).put("single_word", false).put("lstrip", false)
                        .put("rstrip", false).put("normalized", false).put("special", true);
        }
        ObjectNode bpe;
        switch (model) {
            case "llama" -> {
                ObjectNode norm = root.putObject("normalizer");
                norm.put("type", "Sequence");
                ArrayNode ns = norm.putArray("normalizers");
                ns.addObject().put("type", "Prepend").put("prepend", "\u2581");
                ns.addObject().put("type", "Replace").put("content", "\u2581").putObject("pattern").put("String", " ");
                root.putNull("pre_tokenizer");
                root.putNull("post_processor");
                ObjectNode dec = root.putObject("decoder");
                dec.put("type", "Sequence");
                ArrayNode ds = dec.putArray("decoders");
                ds.addObject().put("type", "Replace").put("content", " ").putObject("pattern").put("String", "\u2581");
                ds.addObject().put("type", "ByteFallback");
                ds.addObject().put("type", "Fuse");
                ds.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);
                bpe = bpeModel(root, tokens, unk >= 0 ? tokens.get((int) unk) : null, true);
                ArrayNode merges = bpe.putArray("merges");
                if (g.has("tokenizer.ggml.merges")) for (Object m : g.array("tokenizer.ggml.merges")) merges.add(String.valueOf(m));
                else for (String[] m : mergesFromScores(tokens, scores(g, tokens.size()))) merges.add(m[0] + " " + m[1]);
            }
            case "gpt2" -> {
                String pre = g.string("tokenizer.ggml.pre", "default");
                ObjectNode pt = root.putObject("pre_tokenizer");
                String regex = switch (pre) {
                    case "default", "gpt-2", "gpt2" -> null;
                    case "llama-bpe", "llama3", "smollm", "olmo" -> LLAMA3_REGEX;
                    case "qwen2" -> QWEN2_REGEX;
                    default -> throw new GgufFormatException(g.path() + ": tokenizer.ggml.pre '" + pre + "' is not read yet; peft4j knows "
                            + "default/gpt-2, llama-bpe/llama3/smollm/olmo and qwen2. Use the model's HuggingFace directory");
                };
                if (regex == null) {
                    pt.put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true).put("use_regex", true);
                } else {
                    pt.put("type", "Sequence");
                    ArrayNode ps = pt.putArray("pretokenizers");
                    ObjectNode split = ps.addObject().put("type", "Split").put("behavior", "Isolated").put("invert", false);
                    split.putObject("pattern").put("Regex", regex);
                    ps.addObject().put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", false).put("use_regex", false);
                }
                root.putNull("normalizer");
                root.putNull("post_processor");
                root.putObject("decoder").put("type", "ByteLevel").put("add_prefix_space", true).put("trim_offsets", true).put("use_regex", true);
                bpe = bpeModel(root, tokens, null, false);
                if (regex != null) bpe.put("ignore_merges", true);
                ArrayNode merges = bpe.putArray("merges");
                for (Object m : g.array("tokenizer.ggml.merges")) merges.add(String.valueOf(m));
            }
            default -> throw new GgufFormatException(g.path() + ": tokenizer.ggml.model '" + model + "' is not read; peft4j builds "
                    + "tokenizers for 'llama' (SentencePiece) and 'gpt2' (byte-level BPE)");
        }
        try {
            return GgufModel.JSON.writeValueAsString(root);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static ObjectNode bpeModel(ObjectNode root, List<String> tokens, String unk, boolean byteFallback) {
        ObjectNode bpe = root.putObject("model");
        bpe.put("type", "BPE");
        bpe.putNull("dropout");
        if (unk == null) bpe.putNull("unk_token"); else bpe.put("unk_token", unk);
        bpe.putNull("continuing_subword_prefix");
        bpe.putNull("end_of_word_suffix");
        bpe.put("fuse_unk", byteFallback);
        bpe.put("byte_fallback", byteFallback);
        ObjectNode vocab = bpe.putObject("vocab");
        for (int i = 0; i < tokens.size(); i++) if (!vocab.has(tokens.get(i))) vocab.put(tokens.get(i), i);
        return bpe;
    }

    private static double[] scores(GgufFile g, int n) {
        double[] s = new double[n];
        if (!g.has("tokenizer.ggml.scores")) return s;
        List<?> l = g.array("tokenizer.ggml.scores");
        if (l.size() != n) throw new GgufFormatException(g.path() + ": " + l.size() + " tokenizer scores for " + n + " tokens");
        for (int i = 0; i < n; i++) s[i] = ((Number) l.get(i)).doubleValue();
        return s;
    }

    /** transformers' GGUFTokenizerSkeleton merges: every 2-way split of a token into vocabulary tokens, by score. */
    static List<String[]> mergesFromScores(List<String> tokens, double[] scores) {
        Map<String, Double> score = new HashMap<>();
        for (int i = 0; i < tokens.size(); i++) score.put(tokens.get(i), scores[i]);
        Set<String> vocab = new HashSet<>(tokens);
        List<Object[]> merges = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (String merge : tokens) {
            if (!seen.add(merge)) continue;                      // Python iterates the dict: each token once
            double pieceScore = score.get(merge);
            List<Object[]> local = new ArrayList<>();
            int cps = merge.codePointCount(0, merge.length());
            for (int index = 1; index < cps; index++) {
                int cut = merge.offsetByCodePoints(0, index);
                String l = merge.substring(0, cut), r = merge.substring(cut);
                if (vocab.contains(l) && vocab.contains(r)) local.add(new Object[] {l, r, pieceScore});
            }
            local.sort((a, b) -> {                                // sorted(key=(vocab[l], vocab[r]), reverse=True), stable
                int c = Double.compare(score.get((String) b[0]), score.get((String) a[0]));
                return c != 0 ? c : Double.compare(score.get((String) b[1]), score.get((String) a[1]));
            });
            merges.addAll(local);
        }
        merges.sort((a, b) -> Double.compare((double) b[2], (double) a[2]));
        List<String[]> out = new ArrayList<>(merges.size());
        for (Object[] m : merges) out.add(new String[] {(String) m[0], (String) m[1]});
        return out;
    }

    static ObjectNode tokenizerConfig(GgufFile g, ObjectNode config) {
        List<?> tokens = g.array("tokenizer.ggml.tokens");
        ObjectNode c = GgufModel.JSON.createObjectNode();
        String model = g.string("tokenizer.ggml.model");
        c.put("tokenizer_class", model.equals("llama") ? "LlamaTokenizer" : "PreTrainedTokenizerFast");
        for (String[] k : new String[][] {{"bos_token", "bos_token_id"}, {"eos_token", "eos_token_id"}, {"unk_token", "unknown_token_id"},
                {"pad_token", "padding_token_id"}}) {
            long id = g.integer("tokenizer.ggml." + k[1], -1);
            if (id >= 0 && id < tokens.size()) c.put(k[0], String.valueOf(tokens.get((int) id)));
        }
        c.put("add_bos_token", g.bool("tokenizer.ggml.add_bos_token", model.equals("llama")));
        c.put("add_eos_token", g.bool("tokenizer.ggml.add_eos_token", false));
        c.put("clean_up_tokenization_spaces", false);
        c.put("model_max_length", config.get("max_position_embeddings").asLong());
        if (model.equals("llama")) c.put("legacy", true);
        if (g.has("tokenizer.chat_template")) c.put("chat_template", g.string("tokenizer.chat_template"));
        return c;
    }
}
