package dev.peft4j.eval;

import static org.junit.jupiter.api.Assertions.*;

import dev.peft4j.Golden;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import java.util.List;
import org.junit.jupiter.api.Test;

class DriftTest {
    static final List<int[]> DOCS = List.of(new int[] {1, 5, 9, 13, 2}, new int[] {1, 7}, new int[] {1, 3, 30, 40, 50, 60, 70});

    @Test
    void klOfAModelAgainstItselfIsExactlyZero() {
        CausalLM m = LogLikelihoodTest.MODEL;
        Drift.KlResult r = Drift.klTokens(m, m, DOCS, 4);
        assertEquals(0.0, r.mean(), 0);
        assertEquals(0.0, r.ci().hi(), 0);
        assertArrayEquals(new int[] {5, 2, 7}, r.positions());
        Drift.Forgetting f = Drift.forgettingTokens(m, m, DOCS, 4);
        assertEquals(0.0, f.delta(), 0);
    }

    @Test
    void klAgainstAPerturbedCopyIsPositiveAndMatchesTheDefinition() {
        CausalLM base = LogLikelihoodTest.MODEL;
        CausalLM adapted = CausalLM.load(Golden.model("llama"));
        Tensor head = adapted.lmHead().weight();
        float[] w = head.data;
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(3);
        for (int i = 0; i < w.length; i++) w[i] += (float) (0.2 * rnd.nextGaussian());
        Drift.KlResult r = Drift.klTokens(base, adapted, DOCS, 64);
        assertTrue(r.mean() > 0, "KL " + r.mean());
        assertTrue(r.ci().lo() > 0 && r.ci().lo() <= r.mean() && r.mean() <= r.ci().hi(), r.ci().toString());

        // independent KL on the single-position doc {1, 7}: positions 0 and 1
        int V = base.config().vocabSize();
        int[] doc = DOCS.get(1);
        float[] lb = base.forward(null, doc, 1, 2, null, null, false).floats();
        float[] la = adapted.forward(null, doc, 1, 2, null, null, false).floats();
        double total = 0;
        for (int p = 0; p < 2; p++) {
            double za = 0, zb = 0;
            for (int v = 0; v < V; v++) { za += Math.exp(la[p * V + v]); zb += Math.exp(lb[p * V + v]); }
            for (int v = 0; v < V; v++) {
                double pa = Math.exp(la[p * V + v]) / za;
                total += pa * (Math.log(pa) - Math.log(Math.exp(lb[p * V + v]) / zb));
            }
        }
        assertEquals(total / 2, r.perText()[1], 1e-6);

        Drift.Forgetting f = Drift.forgettingTokens(base, adapted, DOCS, 64);
        assertEquals(f.after().nll() - f.before().nll(), f.delta(), 1e-12);
        assertEquals(f.delta(), f.deltaCi().value(), 0);
    }
}
