package dev.peft4j.eval;

import static org.junit.jupiter.api.Assertions.*;

import dev.peft4j.model.CausalLM;
import java.util.List;
import org.junit.jupiter.api.Test;

class MultipleChoiceTest {
    static final CausalLM MODEL = LogLikelihoodTest.MODEL;

    @Test
    void accuracyFollowsIndependentlyComputedLogLikelihoods() {
        LogLikelihood.Encoder enc = LogLikelihoodTest.charEncoder();
        String[] prompts = {"The sky is", "Two plus two is", "Cats say"};
        List<List<String>> choices = List.of(List.of(" blue", " green", " x"), List.of(" 3", " four"), List.of(" meow", " woof"));
        double[][] ref = new double[3][];
        int[] best = new int[3], bestNorm = new int[3];
        for (int i = 0; i < 3; i++) {
            ref[i] = new double[choices.get(i).size()];
            for (int c = 0; c < ref[i].length; c++) {
                int[][] p = LogLikelihood.encodePair(enc, prompts[i], choices.get(i).get(c));
                ref[i][c] = LogLikelihoodTest.reference(MODEL, p[0], p[1]);
                if (ref[i][c] > ref[i][best[i]]) best[i] = c;
                double norm = ref[i][c] / choices.get(i).get(c).length();
                if (norm > ref[i][bestNorm[i]] / choices.get(i).get(bestNorm[i]).length()) bestNorm[i] = c;
            }
        }
        // answers forced: items 0 and 1 answered by the model's argmax, item 2 by another choice
        List<MultipleChoice.Item> items = List.of(
                new MultipleChoice.Item(prompts[0], choices.get(0), best[0]),
                new MultipleChoice.Item(prompts[1], choices.get(1), best[1]),
                new MultipleChoice.Item(prompts[2], choices.get(2), 1 - best[2]));
        MultipleChoice.Result r = MultipleChoice.evaluate(MODEL, enc, items);
        assertEquals(2, r.correct());
        assertEquals(3, r.total());
        assertEquals(2 / 3.0, r.acc().value(), 1e-12);
        assertEquals(Ci.wilson(2, 3), r.acc());
        int expectedNorm = 0;
        for (int i = 0; i < 3; i++) if (bestNorm[i] == items.get(i).answer()) expectedNorm++;
        assertEquals(expectedNorm, r.correctNorm());
        for (int i = 0; i < 3; i++) {
            assertArrayEquals(ref[i], r.items().get(i).logLikelihoods(), 1e-5);
            assertEquals(best[i], r.items().get(i).predicted());
            assertEquals(bestNorm[i], r.items().get(i).predictedNorm());
        }
        // a choice's token count: " blue" is 5 characters = 5 tokens under the char encoder
        assertEquals(5, r.items().get(0).tokens()[0]);
    }

    @Test
    void accNormDividesByCharacters() {
        List<MultipleChoice.Item> items = List.of(
                new MultipleChoice.Item("p", List.of("a", "bbbb"), 1),
                new MultipleChoice.Item("q", List.of("cc", "d"), 0));
        // item 0: -2 vs -3 → acc picks 0; per char -2 vs -0.75 → acc_norm picks 1
        // item 1: -4 vs -1 → acc picks 1; per char -2 vs -1 → acc_norm picks 1
        MultipleChoice.Result r = MultipleChoice.fromLogLikelihoods(items, new double[][] {{-2, -3}, {-4, -1}}, null);
        assertEquals(0, r.correct());
        assertEquals(1, r.correctNorm());
        assertEquals(1, r.items().get(0).predictedNorm());
        // ties: the first choice, as numpy's argmax
        MultipleChoice.Result tie = MultipleChoice.fromLogLikelihoods(List.of(items.get(1)), new double[][] {{-1, -1}}, null);
        assertEquals(0, tie.items().get(0).predicted());
    }
}
