package dev.peft4j.eval;

import static org.junit.jupiter.api.Assertions.*;

import dev.peft4j.Golden;
import dev.peft4j.Peft4jException;
import dev.peft4j.model.CausalLM;
import java.util.List;
import org.junit.jupiter.api.Test;

class LogLikelihoodTest {
    static final CausalLM MODEL = CausalLM.load(Golden.model("llama"));

    /** Independent reference: log-softmax of the forward's logits, straight from the definition. */
    static double reference(CausalLM m, int[] ctx, int[] cont) {
        int[] all = new int[ctx.length + cont.length - 1];
        System.arraycopy(ctx, 0, all, 0, ctx.length);
        System.arraycopy(cont, 0, all, ctx.length, cont.length - 1);
        int T = all.length, V = m.config().vocabSize();
        float[] logits = m.forward(null, all, 1, T, null, null, false).floats();
        double sum = 0;
        for (int j = 0; j < cont.length; j++) {
            int row = ctx.length - 1 + j;
            double z = 0;
            for (int v = 0; v < V; v++) z += Math.exp(logits[row * V + v]);
            sum += logits[row * V + cont[j]] - Math.log(z);
        }
        return sum;
    }

    @Test
    void twoTokenContinuationIsTheSumOfLogSoftmax() {
        int[] ctx = {1, 5, 9}, cont = {4, 7};
        LogLikelihood.Score s = LogLikelihood.scoreTokens(MODEL, ctx, cont);
        assertEquals(2, s.tokens());
        assertEquals(reference(MODEL, ctx, cont), s.logLikelihood(), 1e-5);
        assertTrue(s.logLikelihood() < 0);
    }

    @Test
    void batchedEqualsOneAtATimeAndIsDeterministic() {
        List<int[][]> pairs = List.of(
                new int[][] {{1, 2, 3}, {4, 5}},
                new int[][] {{1, 2}, {3, 4, 5}},      // same input length: batched with the first
                new int[][] {{1}, {6}},
                new int[][] {{7, 8, 9, 10}, {11}});
        List<LogLikelihood.Score> batched = LogLikelihood.scoreTokens(MODEL, pairs);
        for (int i = 0; i < pairs.size(); i++) {
            double ref = reference(MODEL, pairs.get(i)[0], pairs.get(i)[1]);
            assertEquals(ref, batched.get(i).logLikelihood(), 1e-5, "item " + i);
            assertEquals(pairs.get(i)[1].length, batched.get(i).tokens());
        }
        assertEquals(batched, LogLikelihood.scoreTokens(MODEL, pairs));
    }

    @Test
    void encodePairFollowsTheHarness() {
        // char-level encoder with a BOS (id 1) and no merges
        LogLikelihood.Encoder enc = charEncoder();
        int[][] p = LogLikelihood.encodePair(enc, "ab ", "c");
        assertArrayEquals(new int[] {1, 'a' % 60 + 2, 'b' % 60 + 2}, p[0]);
        assertArrayEquals(new int[] {' ' % 60 + 2, 'c' % 60 + 2}, p[1]); // trailing space moved
        int[][] empty = LogLikelihood.encodePair(new LogLikelihood.Encoder() {
            public int[] encode(String t) { return t.chars().map(c -> c % 60 + 2).toArray(); }
            public int prefixToken() { return 0; }
        }, "", "x");
        assertArrayEquals(new int[] {0}, empty[0]);
        assertThrows(Peft4jException.class, () -> LogLikelihood.scoreTokens(MODEL, new int[] {1}, new int[0]));
    }

    /** Tokenizer-free encoder: BOS 1, then one id per character. */
    static LogLikelihood.Encoder charEncoder() {
        return new LogLikelihood.Encoder() {
            public int[] encode(String t) {
                return java.util.stream.IntStream.concat(java.util.stream.IntStream.of(1), t.chars().map(c -> c % 60 + 2)).toArray();
            }
            public int prefixToken() { return 1; }
        };
    }
}
