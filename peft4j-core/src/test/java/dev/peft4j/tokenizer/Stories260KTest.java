/*
 * Stories260KTest: the tokenizer of the stories260K model (../shared/models/stories260K: a
 * SentencePiece-style BPE tokenizer.json with byte fallback and add_bos_token=true) against the
 * model's reference_outputs.json, whose ids come from an independent implementation:
 * prompt_logits.input_ids for "<s>Once upon a time", and greedy_from_bos.generated_ids / text.
 */
package dev.peft4j.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.SharedArtefacts;
import java.io.IOException;
import java.nio.file.Path;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class Stories260KTest {
    private Tokenizer tok;
    private JsonNode reference;

    /** Loads once; each test calls this so that each one is reported skipped when ../shared is absent. */
    @BeforeEach
    void load() throws IOException {
        if (tok != null) return;
        Path dir = SharedArtefacts.require("models/stories260K");
        reference = new ObjectMapper().readTree(SharedArtefacts.require("models/stories260K/reference_outputs.json").toFile());
        tok = Tokenizer.load(dir);
    }

    @AfterAll
    void close() {
        if (tok != null) tok.close();
    }

    private static int[] ints(JsonNode array) {
        return StreamSupport.stream(array.spliterator(), false).mapToInt(JsonNode::asInt).toArray();
    }

    @Test
    void promptIdsMatchTheReference() {
        JsonNode prompt = reference.path("prompt_logits");
        assertThat(prompt.path("text").asText()).isEqualTo("Once upon a time");
        assertThat(ints(prompt.path("input_ids"))).containsExactly(1, 403, 407, 261, 378);
        assertThat(tok.encodeWithSpecial("Once upon a time")).containsExactly(ints(prompt.path("input_ids")));
        assertThat(tok.encode("Once upon a time")).containsExactly(403, 407, 261, 378);
    }

    @Test
    void specialTokens() {
        assertThat(tok.addsBos()).isTrue();
        assertThat(tok.addsEos()).isFalse();
        assertThat(tok.bosId()).hasValue(1);
        assertThat(tok.eosIds()).contains(2);
        assertThat(tok.vocabSize()).isEqualTo(512);
        assertThat(tok.tokenText(1)).isEqualTo("<s>");
        assertThat(tok.idOf("</s>")).hasValue(2);
        assertThat(tok.isSpecial(1)).isTrue();
        assertThat(tok.isSpecial(403)).isFalse();
        assertThat(tok.source()).isEqualTo(Tokenizer.Source.TOKENIZER_JSON);
    }

    @Test
    void greedyIdsDecodeToTheReferenceText() {
        JsonNode greedy = reference.path("greedy_from_bos");
        int[] ids = ints(greedy.path("generated_ids"));
        assertThat(ids).hasSize(255);
        String text = greedy.path("text").asText();
        assertThat(tok.decode(ids)).isEqualTo(text);
        // With the BOS in front the text is the same: BOS is special and skipped, and the
        // SentencePiece decoder's leading-space strip applies to the first decoded piece.
        int[] withBos = new int[ids.length + 1];
        withBos[0] = 1;
        System.arraycopy(ids, 0, withBos, 1, ids.length);
        assertThat(tok.decode(withBos)).isEqualTo(text);
        assertThat(tok.decode(withBos, false)).isEqualTo("<s> " + text);   // as HF: the strip only hits position 0
        // And the text encodes back to the greedy ids (the model generated canonical tokens).
        assertThat(tok.encode(text)).containsExactly(ids);
    }

    @Test
    void streamingTheGreedyIdsReproducesTheText() {
        JsonNode greedy = reference.path("greedy_from_bos");
        Tokenizer.Stream stream = tok.newStream();
        StringBuilder out = new StringBuilder();
        out.append(stream.push(1));                                    // BOS: special, prints nothing
        for (int id : ints(greedy.path("generated_ids"))) out.append(stream.push(id));
        out.append(stream.flush());
        assertThat(out.toString()).isEqualTo(greedy.path("text").asText());
    }
}
