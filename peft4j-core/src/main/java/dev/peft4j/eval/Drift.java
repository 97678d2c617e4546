/*
 * Drift: how far an adapted model moved from its base. kl(): the mean over positions of
 * KL(adapted ‖ base) = Σ_v p_a(v) (log p_a(v) − log p_b(v)) between the two next-token
 * distributions, computed in double from the logits with a max-shifted log-softmax, with a
 * bootstrap interval over texts (each text weighted by its positions). Texts longer than maxLength
 * are cut into non-overlapping windows of maxLength tokens (the context restarts at each window);
 * every input position counts, the last one included. forgetting(): loss_after − loss_before on
 * general text — Perplexity on both models — with a paired bootstrap interval over documents.
 */
package dev.peft4j.eval;

import dev.peft4j.Peft4jException;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

public final class Drift {
    /** mean: Σ KL / positions (nats); ci over texts; perText[i] mean KL of text i (NaN if empty); positions[i]. */
    public record KlResult(double mean, Ci.Estimate ci, double[] perText, int[] positions) {}

    /** delta = after.nll − before.nll (nats/token; > 0: the adapted model got worse on this text). */
    public record Forgetting(Perplexity.Result before, Perplexity.Result after, double delta, Ci.Estimate deltaCi) {}

    private Drift() {}

    public static KlResult kl(CausalLM base, CausalLM adapted, Tokenizer tok, List<String> texts, int maxLength) {
        List<int[]> docs = new ArrayList<>(texts.size());
        for (String t : texts) docs.add(tok.encodeWithSpecial(t));
        return klTokens(base, adapted, docs, maxLength);
    }

    public static KlResult klTokens(CausalLM base, CausalLM adapted, List<int[]> docs, int maxLength) {
        if (maxLength < 1) throw new Peft4jException("maxLength must be at least 1 (got " + maxLength + ")");
        int V = base.config().vocabSize();
        if (adapted.config().vocabSize() != V) {
            throw new Peft4jException("vocabulary sizes differ: base " + V + ", adapted " + adapted.config().vocabSize());
        }
        List<int[]> inputs = new ArrayList<>();
        List<Integer> owner = new ArrayList<>();
        for (int d = 0; d < docs.size(); d++) {
            int[] ids = docs.get(d);
            for (int s = 0; s < ids.length; s += maxLength) {
                inputs.add(Arrays.copyOfRange(ids, s, Math.min(ids.length, s + maxLength)));
                owner.add(d);
            }
        }
        double[] sum = new double[docs.size()];
        int[] positions = new int[docs.size()];
        float[][] baseLogits = new float[inputs.size()][];
        LogLikelihood.forEachLogits(base, inputs, (i, logits, row) -> {
            int T = inputs.get(i).length;
            baseLogits[i] = Arrays.copyOfRange(logits, row * V, (row + T) * V);
        });
        LogLikelihood.forEachLogits(adapted, inputs, (i, logits, row) -> {
            int T = inputs.get(i).length, d = owner.get(i);
            for (int p = 0; p < T; p++) sum[d] += klAt(logits, (row + p) * V, baseLogits[i], p * V, V);
            positions[d] += T;
            baseLogits[i] = null;
        });
        double total = 0;
        long count = 0;
        double[] perText = new double[docs.size()];
        List<double[]> vw = new ArrayList<>();
        for (int d = 0; d < docs.size(); d++) {
            perText[d] = positions[d] == 0 ? Double.NaN : sum[d] / positions[d];
            total += sum[d];
            count += positions[d];
            if (positions[d] > 0) vw.add(new double[] {perText[d], positions[d]});
        }
        if (count == 0) throw new Peft4jException("no text had any token: nothing to compare");
        double mean = total / count;
        Ci.Estimate ci = Ci.bootstrap(vw.stream().mapToDouble(a -> a[0]).toArray(), vw.stream().mapToDouble(a -> a[1]).toArray());
        return new KlResult(mean, new Ci.Estimate(mean, ci.lo(), ci.hi(), ci.n()), perText, positions);
    }

    /** KL(p ‖ q) for p = softmax(a[ao..ao+V)), q = softmax(b[bo..bo+V)), in double. Exactly 0 when the rows are equal. */
    static double klAt(float[] a, int ao, float[] b, int bo, int V) {
        double la = LogLikelihood.logSumExp(a, ao, V), lb = LogLikelihood.logSumExp(b, bo, V);
        double kl = 0;
        for (int v = 0; v < V; v++) {
            double lpa = a[ao + v] - la, lpb = b[bo + v] - lb;
            if (lpa == lpb) continue;
            kl += Math.exp(lpa) * (lpa - lpb);
        }
        return Math.max(0, kl);
    }

    public static Forgetting forgetting(CausalLM base, CausalLM adapted, Tokenizer tok, List<String> texts, int maxLength) {
        List<int[]> docs = new ArrayList<>(texts.size());
        for (String t : texts) docs.add(tok.encodeWithSpecial(t));
        return forgettingTokens(base, adapted, docs, maxLength);
    }

    public static Forgetting forgettingTokens(CausalLM base, CausalLM adapted, List<int[]> docs, int maxLength) {
        Perplexity.Result before = Perplexity.evaluateTokens(base, docs, maxLength);
        Perplexity.Result after = Perplexity.evaluateTokens(adapted, docs, maxLength);
        double delta = after.nll() - before.nll();
        List<double[]> vw = new ArrayList<>();
        for (int d = 0; d < docs.size(); d++) {
            if (before.docTokens()[d] > 0) vw.add(new double[] {after.docNll()[d] - before.docNll()[d], before.docTokens()[d]});
        }
        Ci.Estimate ci = Ci.bootstrap(vw.stream().mapToDouble(a -> a[0]).toArray(), vw.stream().mapToDouble(a -> a[1]).toArray());
        return new Forgetting(before, after, delta, new Ci.Estimate(delta, ci.lo(), ci.hi(), ci.n()));
    }
}
