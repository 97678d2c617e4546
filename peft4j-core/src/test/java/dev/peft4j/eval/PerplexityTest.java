package dev.peft4j.eval;

import static org.junit.jupiter.api.Assertions.*;

import dev.peft4j.model.CausalLM;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class PerplexityTest {
    static final CausalLM MODEL = LogLikelihoodTest.MODEL;

    /** Independent: NLL of ids[from..to) given ids[start..from) as the only context, via one forward. */
    static double nllSum(CausalLM m, int[] ids, int start, int to) {
        int[] in = Arrays.copyOfRange(ids, start, to - 1);
        int V = m.config().vocabSize();
        float[] logits = m.forward(null, in, 1, in.length, null, null, false).floats();
        double s = 0;
        for (int p = 0; p < in.length; p++) {
            double z = 0;
            for (int v = 0; v < V; v++) z += Math.exp(logits[p * V + v]);
            s -= logits[p * V + ids[start + p + 1]] - Math.log(z);
        }
        return s;
    }

    @Test
    void perplexityIsExpOfTokenWeightedMeanNll() {
        List<int[]> docs = List.of(new int[] {1, 5, 9, 13, 2}, new int[] {1, 7, 7}, new int[] {1, 3, 30, 40, 50, 60, 70});
        Perplexity.Result r = Perplexity.evaluateTokens(MODEL, docs, 64);
        double sum = 0;
        long n = 0;
        for (int[] d : docs) {
            sum += nllSum(MODEL, d, 0, d.length);
            n += d.length - 1;
        }
        assertEquals(n, r.tokens());
        assertEquals(sum / n, r.nll(), 1e-5);
        assertEquals(Math.exp(sum / n), r.perplexity(), 1e-4);
        assertArrayEquals(new int[] {4, 2, 6}, r.docTokens());
        assertTrue(r.nllCi().lo() <= r.nll() && r.nll() <= r.nllCi().hi(), r.toString());
        assertEquals(Math.exp(r.nllCi().lo()), r.perplexityCi().lo(), 1e-12);
        Perplexity.Result again = Perplexity.evaluateTokens(MODEL, docs, 64);
        assertEquals(r.nll(), again.nll(), 0);
        assertEquals(r.nllCi(), again.nllCi());
    }

    @Test
    void longTextsAreSplitIntoNonOverlappingWindows() {
        int[] doc = {1, 3, 30, 40, 50, 60, 70, 80};  // 7 targets, windows of 3 inputs: 3 + 3 + 1
        Perplexity.Result r = Perplexity.evaluateTokens(MODEL, List.of(doc), 3);
        double sum = nllSum(MODEL, doc, 0, 4) + nllSum(MODEL, doc, 3, 7) + nllSum(MODEL, doc, 6, 8);
        assertEquals(7, r.tokens());
        assertEquals(sum / 7, r.nll(), 1e-5);
        assertEquals(3, Perplexity.windows(8, 3).size());
        assertArrayEquals(new int[] {1, 4}, Perplexity.windows(8, 3).get(0));
        assertArrayEquals(new int[] {7, 8}, Perplexity.windows(8, 3).get(2));
    }
}
