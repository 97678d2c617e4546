/*
 * Perplexity: token-weighted mean negative log-likelihood of texts and exp of it, with a bootstrap
 * interval over documents. Each text is encoded with Tokenizer.encodeWithSpecial (BOS as the
 * tokenizer config asks); every token after the first is predicted once. Texts longer than
 * maxLength are split into NON-OVERLAPPING windows of at most maxLength input tokens (HF's
 * "perplexity of fixed-length models" with stride = max_length): the context restarts at each
 * window, so the first predictions of a window see less context than a sliding window would
 * give them (a slightly pessimistic perplexity). Windows of equal length run batched.
 */
package dev.peft4j.eval;

import dev.peft4j.Peft4jException;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

public final class Perplexity {
    /**
     * nll: Σ token NLL / Σ tokens (nats); perplexity = exp(nll); nllCi: bootstrap over documents of
     * the token-weighted mean; perplexityCi = exp of its bounds. docNll[i]: mean NLL of document i
     * (NaN when it has no predicted token), docTokens[i]: its predicted tokens.
     */
    public record Result(double nll, double perplexity, long tokens, Ci.Estimate nllCi, Ci.Estimate perplexityCi,
                         double[] docNll, int[] docTokens) {
        @Override
        public String toString() {
            return String.format(java.util.Locale.ROOT, "nll %.4f [%.4f, %.4f] ppl %.3f [%.3f, %.3f] over %d tokens, %d docs",
                    nll, nllCi.lo(), nllCi.hi(), perplexity, perplexityCi.lo(), perplexityCi.hi(), tokens, docNll.length);
        }
    }

    private Perplexity() {}

    public static Result evaluate(CausalLM model, Tokenizer tok, List<String> texts, int maxLength) {
        List<int[]> docs = new ArrayList<>(texts.size());
        for (String t : texts) docs.add(tok.encodeWithSpecial(t));
        return evaluateTokens(model, docs, maxLength);
    }

    /** Token-level form (no tokenizer): each document is its ids. */
    public static Result evaluateTokens(CausalLM model, List<int[]> docs, int maxLength) {
        double[][] perToken = tokenNll(model, docs, maxLength);
        return summarise(perToken);
    }

    /** Per document, the NLL (nats) of each of its tokens after the first, in order. */
    static double[][] tokenNll(CausalLM model, List<int[]> docs, int maxLength) {
        List<int[]> inputs = new ArrayList<>();
        List<int[]> where = new ArrayList<>(); // {doc, first target index}
        for (int d = 0; d < docs.size(); d++) {
            for (int[] w : windows(docs.get(d).length, maxLength)) {
                inputs.add(Arrays.copyOfRange(docs.get(d), w[0] - 1, w[1] - 1));
                where.add(new int[] {d, w[0]});
            }
        }
        double[][] out = new double[docs.size()][];
        for (int d = 0; d < docs.size(); d++) out[d] = new double[Math.max(0, docs.get(d).length - 1)];
        int V = model.config().vocabSize();
        LogLikelihood.forEachLogits(model, inputs, (i, logits, base) -> {
            int d = where.get(i)[0], t0 = where.get(i)[1];
            int[] ids = docs.get(d);
            int T = inputs.get(i).length;
            for (int p = 0; p < T; p++) {
                out[d][t0 + p - 1] = -LogLikelihood.logSoftmaxAt(logits, (base + p) * V, V, ids[t0 + p]);
            }
        });
        return out;
    }

    /**
     * Windows over the targets 1..n-1 of an n-token document: [t0, t1) with t1 - t0 <= maxLength;
     * the window's input is ids[t0-1, t1-1). Consecutive windows do not overlap.
     */
    static List<int[]> windows(int n, int maxLength) {
        if (maxLength < 1) throw new Peft4jException("maxLength must be at least 1 (got " + maxLength + ")");
        List<int[]> w = new ArrayList<>();
        for (int t0 = 1; t0 < n; t0 += maxLength) w.add(new int[] {t0, Math.min(n, t0 + maxLength)});
        return w;
    }

    static Result summarise(double[][] perToken) {
        int D = perToken.length;
        double[] docNll = new double[D];
        int[] docTokens = new int[D];
        double sum = 0;
        long tokens = 0;
        List<Double> vals = new ArrayList<>();
        List<Double> wts = new ArrayList<>();
        for (int d = 0; d < D; d++) {
            double s = 0;
            for (double x : perToken[d]) s += x;
            docTokens[d] = perToken[d].length;
            docNll[d] = docTokens[d] == 0 ? Double.NaN : s / docTokens[d];
            sum += s;
            tokens += docTokens[d];
            if (docTokens[d] > 0) {
                vals.add(docNll[d]);
                wts.add((double) docTokens[d]);
            }
        }
        if (tokens == 0) throw new Peft4jException("no text had two or more tokens: nothing to score");
        double nll = sum / tokens;
        Ci.Estimate ci = Ci.bootstrap(vals.stream().mapToDouble(Double::doubleValue).toArray(),
                wts.stream().mapToDouble(Double::doubleValue).toArray());
        ci = new Ci.Estimate(nll, ci.lo(), ci.hi(), ci.n());
        Ci.Estimate pplCi = new Ci.Estimate(Math.exp(nll), Math.exp(ci.lo()), Math.exp(ci.hi()), ci.n());
        return new Result(nll, Math.exp(nll), tokens, ci, pplCi, docNll, docTokens);
    }
}
