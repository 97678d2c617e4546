package dev.peft4j.eval;

import static org.junit.jupiter.api.Assertions.*;

import dev.peft4j.SharedArtefacts;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The evaluators end to end on the trained stories260K with its real tokenizer (skips without ../shared). */
class RealModelEvalTest {
    @Test
    void storiesEndToEnd() {
        Path dir = SharedArtefacts.require("models/stories260K");
        CausalLM model = CausalLM.load(dir);
        try (Tokenizer tok = Tokenizer.load(dir)) {
            // the tokenizer path equals the token path on the harness's encoding
            String ctx = "Once upon a time, there was a little", cont = " girl";
            int[][] pair = LogLikelihood.encodePair(LogLikelihood.Encoder.of(tok), ctx, cont);
            LogLikelihood.Score viaText = LogLikelihood.score(model, tok, ctx, cont);
            LogLikelihood.Score viaTokens = LogLikelihood.scoreTokens(model, pair[0], pair[1]);
            assertEquals(viaTokens, viaText);
            assertEquals(LogLikelihoodTest.reference(model, pair[0], pair[1]), viaText.logLikelihood(), 1e-4);
            // a trained story model prefers " girl" to " elephant" here
            LogLikelihood.Score other = LogLikelihood.score(model, tok, ctx, " elephant");
            assertTrue(viaText.logLikelihood() > other.logLikelihood(), viaText + " vs " + other);

            List<MultipleChoice.Item> items = List.of(
                    new MultipleChoice.Item("Once upon a time, there was a little", List.of(" girl", " elephant", " car"), 0),
                    new MultipleChoice.Item("Lily went to the", List.of(" park", " xylophone"), 0));
            MultipleChoice.Result r = MultipleChoice.evaluate(model, tok, items);
            assertEquals(r.correct(), MultipleChoice.evaluate(model, tok, items).correct());
            assertEquals(2, r.total());

            List<String> texts = List.of("Once upon a time, there was a little girl named Lily.", "She liked to play in the park with her ball.");
            Perplexity.Result p = Perplexity.evaluate(model, tok, texts, 8);
            assertTrue(p.perplexity() > 1 && p.perplexity() < tok.vocabSize(), p.toString());
            assertEquals(0.0, Drift.kl(model, model, tok, texts, 16).mean(), 0);

            GenerationTask g = new GenerationTask(List.<String[]>of(new String[] {"Once upon a time", "there"}),
                    java.util.regex.Pattern.compile("(\\w+)"));
            GenerationTask.Result gr = g.evaluate(model, tok, 4, 2);
            assertEquals(1, gr.total());
            assertFalse(gr.items().get(0).generated().isEmpty());
        }
    }
}
