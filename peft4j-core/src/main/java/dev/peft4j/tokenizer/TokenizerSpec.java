/*
 * TokenizerSpec: the tokenizer-related settings of a HuggingFace model directory, read from the
 * small JSON files next to the vocabulary: tokenizer_config.json, special_tokens_map.json,
 * generation_config.json and config.json. Every file is optional; a missing file or key reads as
 * "not set" so that the caller can apply HuggingFace's own defaults.
 *
 * Constraints: only reads (never writes) the directory; understands the two spellings transformers
 * uses for special tokens (a plain string, or an AddedToken object {"content": ...}) and for
 * token ids in model configs (an int, or a list of ints).
 */
package dev.peft4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.MissingNode;
import dev.peft4j.Peft4jException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Settings read from a model directory's tokenizer_config.json, special_tokens_map.json,
 * generation_config.json and config.json.
 *
 * @param tokenizerConfig   tokenizer_config.json (MissingNode when absent)
 * @param specialTokensMap  special_tokens_map.json (MissingNode when absent)
 * @param generationConfig  generation_config.json (MissingNode when absent)
 * @param modelConfig       config.json (MissingNode when absent)
 */
record TokenizerSpec(JsonNode tokenizerConfig, JsonNode specialTokensMap,
                     JsonNode generationConfig, JsonNode modelConfig) {

    static final ObjectMapper JSON = new ObjectMapper();

    static TokenizerSpec read(Path dir) {
        return new TokenizerSpec(
                readOptional(dir.resolve("tokenizer_config.json")),
                readOptional(dir.resolve("special_tokens_map.json")),
                readOptional(dir.resolve("generation_config.json")),
                readOptional(dir.resolve("config.json")));
    }

    /** Parses a JSON file, or returns MissingNode when the file does not exist. */
    static JsonNode readOptional(Path file) {
        if (!Files.isRegularFile(file)) return MissingNode.getInstance();
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new Peft4jException("cannot parse " + file + " as JSON: " + e.getMessage()
                    + "; fix or delete the file", e);
        }
    }

    /** tokenizer_config.json "tokenizer_class" (e.g. "Qwen2Tokenizer"), if set. */
    Optional<String> tokenizerClass() {
        JsonNode n = tokenizerConfig.path("tokenizer_class");
        return n.isTextual() ? Optional.of(n.asText()) : Optional.empty();
    }

    /** config.json "model_type" (e.g. "qwen2"), if set. */
    Optional<String> modelType() {
        JsonNode n = modelConfig.path("model_type");
        return n.isTextual() ? Optional.of(n.asText()) : Optional.empty();
    }

    /**
     * The text of a special token ("bos_token", "eos_token", ...): tokenizer_config.json first,
     * then special_tokens_map.json. An explicit JSON null in tokenizer_config.json means "none"
     * (Qwen2.5 writes "bos_token": null) and is not overridden by the map.
     */
    Optional<String> specialToken(String key) {
        if (tokenizerConfig.has(key)) return tokenText(tokenizerConfig.get(key));
        return tokenText(specialTokensMap.path(key));
    }

    /** tokenizer_config.json boolean flag such as "add_bos_token"; empty when absent or not a boolean. */
    Optional<Boolean> flag(String key) {
        JsonNode n = tokenizerConfig.path(key);
        return n.isBoolean() ? Optional.of(n.asBoolean()) : Optional.empty();
    }

    /**
     * Token ids under key ("bos_token_id" / "eos_token_id") as HuggingFace generation sees them:
     * generation_config.json when that file exists, else config.json. Both an int and a list are
     * accepted.
     */
    List<Integer> generationIds(String key) {
        JsonNode source = generationConfig.isMissingNode() ? modelConfig : generationConfig;
        return ids(source.path(key));
    }

    /** added_tokens_decoder of tokenizer_config.json: id -> AddedToken object (empty when absent). */
    List<Map.Entry<Integer, JsonNode>> addedTokensDecoder() {
        JsonNode n = tokenizerConfig.path("added_tokens_decoder");
        List<Map.Entry<Integer, JsonNode>> out = new ArrayList<>();
        if (!n.isObject()) return out;
        for (Map.Entry<String, JsonNode> e : n.properties()) {
            int id;
            try {
                id = Integer.parseInt(e.getKey());
            } catch (NumberFormatException ex) {
                throw new Peft4jException("tokenizer_config.json added_tokens_decoder has a non-numeric id '"
                        + e.getKey() + "'; expected keys like \"151643\"");
            }
            out.add(Map.entry(id, e.getValue()));
        }
        out.sort(Map.Entry.comparingByKey());
        return out;
    }

    /** A special token given as "text" or {"content": "text", ...}; empty for null/absent. */
    static Optional<String> tokenText(JsonNode n) {
        if (n == null) return Optional.empty();
        if (n.isTextual()) return Optional.of(n.asText());
        if (n.isObject() && n.path("content").isTextual()) return Optional.of(n.get("content").asText());
        return Optional.empty();
    }

    /** An id field given as an int or a list of ints. */
    static List<Integer> ids(JsonNode n) {
        List<Integer> out = new ArrayList<>();
        if (n == null) return out;
        if (n.isIntegralNumber()) out.add(n.asInt());
        else if (n.isArray()) for (JsonNode e : n) if (e.isIntegralNumber()) out.add(e.asInt());
        return out;
    }
}
