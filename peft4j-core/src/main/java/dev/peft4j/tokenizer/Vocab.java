/*
 * Vocab: the id <-> token-string table of a HuggingFace tokenizer.json, plus which ids are
 * special added tokens. The Rust tokenizer behind DJL does the actual encoding and decoding;
 * this table answers the questions DJL's API does not expose (vocabulary size, token text,
 * token lookup, the special flag).
 *
 * Constraints: mirrors tokenizers' lookup order - added tokens shadow model tokens with the same
 * text; ids may have gaps (a gap reads as "no token"). Model types: BPE / WordPiece / WordLevel
 * (vocab is an object {token: id}) and Unigram (vocab is a list of [token, score], id = index).
 */
package dev.peft4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.peft4j.Peft4jException;
import java.util.BitSet;
import java.util.HashMap;
import java.util.Map;

final class Vocab {
    private final String[] idToToken;           // [V]; null where no token has that id
    private final Map<String, Integer> tokenToId;
    private final BitSet special;

    private Vocab(String[] idToToken, Map<String, Integer> tokenToId, BitSet special) {
        this.idToToken = idToToken;
        this.tokenToId = tokenToId;
        this.special = special;
    }

    /** Builds the table from a parsed tokenizer.json ("model.vocab" and "added_tokens"). */
    static Vocab of(JsonNode tokenizerJson, String where) {
        JsonNode model = tokenizerJson.path("model");
        JsonNode vocab = model.path("vocab");
        Map<String, Integer> tokenToId = new HashMap<>(Math.max(16, vocab.size() * 4 / 3 + 1));
        int maxId = -1;
        if (vocab.isObject()) {
            for (Map.Entry<String, JsonNode> e : vocab.properties()) {
                int id = e.getValue().asInt(-1);
                if (id < 0) throw new Peft4jException(where + ": model.vocab entry '" + e.getKey()
                        + "' has id " + e.getValue() + "; expected a non-negative integer");
                tokenToId.put(e.getKey(), id);
                maxId = Math.max(maxId, id);
            }
        } else if (vocab.isArray()) {               // Unigram: [[piece, score], ...]
            int id = 0;
            for (JsonNode e : vocab) tokenToId.put(e.path(0).asText(), id++);
            maxId = id - 1;
        } else {
            throw new Peft4jException(where + ": model.vocab is missing (model type "
                    + model.path("type").asText("?") + "); expected a tokenizer.json written by "
                    + "HuggingFace tokenizers");
        }
        JsonNode added = tokenizerJson.path("added_tokens");
        for (JsonNode t : added) maxId = Math.max(maxId, t.path("id").asInt(-1));

        String[] idToToken = new String[maxId + 1];
        for (Map.Entry<String, Integer> e : tokenToId.entrySet()) idToToken[e.getValue()] = e.getKey();
        BitSet special = new BitSet(maxId + 1);
        for (JsonNode t : added) {               // added tokens shadow model tokens (tokenizers' order)
            int id = t.path("id").asInt(-1);
            String content = t.path("content").asText(null);
            if (id < 0 || content == null) continue;
            idToToken[id] = content;
            tokenToId.put(content, id);
            if (t.path("special").asBoolean(false)) special.set(id);
        }
        return new Vocab(idToToken, tokenToId, special);
    }

    /** Size of the id space: highest id + 1 (model vocabulary plus added tokens). */
    int size() { return idToToken.length; }

    /** The token string for an id, or null when the id is in a gap. */
    String token(int id) {
        return id >= 0 && id < idToToken.length ? idToToken[id] : null;
    }

    /** The id of an exact token string, or null. */
    Integer id(String token) { return tokenToId.get(token); }

    boolean isSpecial(int id) { return id >= 0 && special.get(id); }
}
