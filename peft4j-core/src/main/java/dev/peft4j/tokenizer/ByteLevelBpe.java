/*
 * ByteLevelBpe: turns a "slow" byte-level BPE tokenizer directory (vocab.json + merges.txt, as
 * written for GPT-2 and Qwen2) into the equivalent HuggingFace tokenizer.json document, so that
 * the same Rust tokenizer (through DJL) encodes it exactly like transformers' fast tokenizer.
 *
 * The pipeline per family follows transformers' convert_slow_tokenizer.py:
 *   GPT2Converter  - BPE(vocab, merges), ByteLevel pre-tokenizer with the built-in GPT-2 split
 *                    regex (use_regex=true, add_prefix_space from tokenizer_config.json), ByteLevel
 *                    decoder, no normalizer.
 *   Qwen2Converter - BPE(vocab, merges, unk=None, byte_fallback=false), NFC normalizer, Split by the
 *                    Qwen2 regex (single digits \p{N}, letters glued to one leading non-letter,
 *                    "isolated" behaviour) followed by ByteLevel(use_regex=false), ByteLevel decoder.
 * Added / special tokens come from tokenizer_config.json "added_tokens_decoder" (older configs
 * without it: the special tokens named in the config that exist in vocab.json).
 *
 * Constraints: merges.txt is read like tokenization_qwen2.py does - a first line starting with
 * "#version" is a header, blank lines are skipped, each merge is two whitespace-separated tokens.
 * (GPT2Tokenizer always drops line 1; every GPT-2 merges.txt starts with the header, so the two
 * rules agree on real files.) Nothing is written to disk; the result is a JSON tree.
 */
package dev.peft4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.peft4j.Peft4jException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

final class ByteLevelBpe {
    private ByteLevelBpe() {}

    /** The byte-level BPE families whose vocab.json + merges.txt we know how to assemble. */
    enum Family {
        GPT2, QWEN2;

        /**
         * Decides the family from tokenizer_config.json "tokenizer_class" (Qwen2Tokenizer[Fast],
         * GPT2Tokenizer[Fast]), else config.json "model_type" (qwen2*, qwen3*, gpt2); with neither
         * present, GPT-2 (the format's origin). An unknown class or model type is an error rather
         * than a guess, because a wrong split regex silently changes token ids.
         */
        static Family detect(TokenizerSpec spec, Path dir) {
            Optional<String> cls = spec.tokenizerClass();
            if (cls.isPresent()) {
                String c = cls.get();
                if (c.startsWith("Qwen2Tokenizer") || c.startsWith("Qwen3Tokenizer")) return QWEN2;
                if (c.startsWith("GPT2Tokenizer")) return GPT2;
            }
            Optional<String> type = spec.modelType().map(s -> s.toLowerCase(Locale.ROOT));
            if (type.isPresent()) {
                String t = type.get();
                if (t.startsWith("qwen2") || t.startsWith("qwen3")) return QWEN2;
                if (t.equals("gpt2")) return GPT2;
            }
            if (cls.isEmpty() && type.isEmpty()) return GPT2;
            throw new Peft4jException("cannot build a tokenizer from vocab.json + merges.txt in " + dir
                    + ": tokenizer_class=" + cls.orElse("(none)") + ", model_type=" + type.orElse("(none)")
                    + "; only GPT-2 and Qwen2 byte-level BPE are supported this way. Fix: write a "
                    + "tokenizer.json with transformers: AutoTokenizer.from_pretrained(dir).save_pretrained(dir)");
        }
    }

    /** transformers' Qwen2 pre-tokenizer split regex (tokenization_qwen2.py PRETOKENIZE_REGEX). */
    static final String QWEN2_SPLIT_REGEX =
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    /** Builds the tokenizer.json tree for the vocab.json + merges.txt in dir. */
    static ObjectNode build(Path dir, Family family, TokenizerSpec spec) {
        Path vocabFile = dir.resolve("vocab.json");
        Path mergesFile = dir.resolve("merges.txt");
        ObjectNode vocab = readVocab(vocabFile);
        ArrayNode merges = readMerges(mergesFile);
        ArrayNode added = addedTokens(spec, vocab, dir);

        ObjectNode root = TokenizerSpec.JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        root.set("added_tokens", added);
        boolean addPrefixSpace = spec.flag("add_prefix_space").orElse(false);
        switch (family) {
            case GPT2 -> {
                root.putNull("normalizer");
                root.set("pre_tokenizer", byteLevel(addPrefixSpace, true));
            }
            case QWEN2 -> {
                root.set("normalizer", TokenizerSpec.JSON.createObjectNode().put("type", "NFC"));
                ObjectNode split = TokenizerSpec.JSON.createObjectNode().put("type", "Split");
                split.putObject("pattern").put("Regex", QWEN2_SPLIT_REGEX);
                split.put("behavior", "Isolated").put("invert", false);
                ObjectNode seq = TokenizerSpec.JSON.createObjectNode().put("type", "Sequence");
                seq.putArray("pretokenizers").add(split).add(byteLevel(addPrefixSpace, false));
                root.set("pre_tokenizer", seq);
            }
        }
        // Special tokens are added by Tokenizer itself (BOS/EOS from the configs), so the post
        // processor is the converters' no-op ByteLevel(trim_offsets=false).
        root.set("post_processor", byteLevel(true, true).put("trim_offsets", false));
        root.set("decoder", byteLevel(true, true));

        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.put("continuing_subword_prefix", "");
        model.put("end_of_word_suffix", "");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("ignore_merges", false);
        model.set("vocab", vocab);
        model.set("merges", merges);
        return root;
    }

    private static ObjectNode byteLevel(boolean addPrefixSpace, boolean useRegex) {
        return TokenizerSpec.JSON.createObjectNode().put("type", "ByteLevel")
                .put("add_prefix_space", addPrefixSpace).put("trim_offsets", true).put("use_regex", useRegex);
    }

    private static ObjectNode readVocab(Path file) {
        JsonNode n = TokenizerSpec.readOptional(file);
        if (!n.isObject() || n.isEmpty()) {
            throw new Peft4jException(file + " must be a non-empty JSON object {\"token\": id, ...}");
        }
        for (Map.Entry<String, JsonNode> e : n.properties()) {
            if (!e.getValue().canConvertToInt() || e.getValue().asInt() < 0) {
                throw new Peft4jException(file + ": token '" + e.getKey() + "' has id " + e.getValue()
                        + "; expected a non-negative integer");
            }
        }
        return (ObjectNode) n;
    }

    private static ArrayNode readMerges(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new Peft4jException("cannot read " + file + ": " + e.getMessage(), e);
        }
        ArrayNode merges = TokenizerSpec.JSON.createArrayNode();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || (i == 0 && line.startsWith("#version"))) continue;
            int sp = line.indexOf(' ');        // byte-level tokens never contain whitespace
            String left = sp < 0 ? "" : line.substring(0, sp);
            String right = sp < 0 ? "" : line.substring(sp + 1).strip();
            if (left.isEmpty() || right.isEmpty() || right.chars().anyMatch(Character::isWhitespace)) {
                throw new Peft4jException(file + " line " + (i + 1) + ": expected two tokens separated by a "
                        + "space (a BPE merge), found '" + line + "'");
            }
            merges.addArray().add(left).add(right);
        }
        return merges;
    }

    /**
     * The added_tokens block. Tokens whose id is beyond vocab.json (Qwen2's &lt;|endoftext|&gt;,
     * &lt;|im_start|&gt;, ...) are also entered into the model vocabulary with their configured id:
     * the Rust AddedVocabulary otherwise numbers new tokens sequentially after the vocabulary,
     * which is only right when the configured ids have no gaps.
     */
    private static ArrayNode addedTokens(TokenizerSpec spec, ObjectNode vocab, Path dir) {
        ArrayNode out = TokenizerSpec.JSON.createArrayNode();
        List<Map.Entry<Integer, JsonNode>> decoder = spec.addedTokensDecoder();
        if (!decoder.isEmpty()) {
            Map<Integer, String> byId = new HashMap<>();
            for (Map.Entry<String, JsonNode> e : vocab.properties()) {
                byId.put(e.getValue().asInt(), e.getKey());
            }
            for (Map.Entry<Integer, JsonNode> e : decoder) {
                int id = e.getKey();
                JsonNode t = e.getValue();
                String content = TokenizerSpec.tokenText(t).orElseThrow(() -> new Peft4jException(
                        dir.resolve("tokenizer_config.json") + ": added_tokens_decoder[" + id
                                + "] has no \"content\""));
                JsonNode inVocab = vocab.get(content);
                if (inVocab != null && inVocab.asInt() != id) {
                    throw new Peft4jException(dir + ": added token '" + content + "' has id " + id
                            + " in tokenizer_config.json but " + inVocab.asInt() + " in vocab.json; the files "
                            + "do not belong together");
                }
                if (inVocab == null) {
                    String other = byId.get(id);
                    if (other != null) {
                        throw new Peft4jException(dir + ": id " + id + " is '" + other + "' in vocab.json but '"
                                + content + "' in tokenizer_config.json added_tokens_decoder; the files do "
                                + "not belong together");
                    }
                    vocab.put(content, id);
                    byId.put(id, content);
                }
                out.add(addedToken(id, content, t.path("single_word").asBoolean(false),
                        t.path("lstrip").asBoolean(false), t.path("rstrip").asBoolean(false),
                        t.path("normalized").asBoolean(!t.path("special").asBoolean(false)),
                        t.path("special").asBoolean(false)));
            }
            return out;
        }
        // Older configs: the named special tokens that exist in vocab.json are special added tokens.
        Set<String> seen = new HashSet<>();
        for (String key : List.of("bos_token", "eos_token", "unk_token", "pad_token")) {
            spec.specialToken(key).ifPresent(content -> {
                JsonNode id = vocab.get(content);
                if (id != null && seen.add(content)) {
                    out.add(addedToken(id.asInt(), content, false, false, false, false, true));
                }
            });
        }
        return out;
    }

    private static ObjectNode addedToken(int id, String content, boolean singleWord, boolean lstrip,
                                         boolean rstrip, boolean normalized, boolean special) {
        return TokenizerSpec.JSON.createObjectNode().put("id", id).put("content", content)
                .put("single_word", singleWord).put("lstrip", lstrip).put("rstrip", rstrip)
                .put("normalized", normalized).put("special", special);
    }
}
