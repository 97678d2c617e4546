/*
 * LogLikelihood: log p(continuation | context) under a causal LM, as lm-evaluation-harness computes
 * it for `loglikelihood` requests (HFLM._encode_pair / _loglikelihood_tokens):
 *   - trailing whitespace of the context moves to the front of the continuation;
 *   - context tokens = encode(context), continuation tokens = encode(context + continuation)
 *     beyond the first len(context tokens) (so the context may "steal" a merged token);
 *   - an empty context is replaced by a single prefix token (BOS, else EOS);
 *   - the model reads (context ++ continuation) minus its last token, keeping at most the model's
 *     maximum positions from the right, in ONE forward; the score is the sum over continuation
 *     tokens of log-softmax(logits) at the preceding position, computed in double with max-shift.
 * Here encode = Tokenizer.encodeWithSpecial (BOS as the tokenizer config asks; a trailing EOS that
 * the config would append is dropped so that it is not scored as part of the continuation).
 * Items whose model input has the same length run together in one batched forward.
 */
package dev.peft4j.eval;

import dev.peft4j.Peft4jException;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.NonFinite;
import dev.peft4j.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public final class LogLikelihood {
    /** Sum of continuation log-probabilities, their token count, and whether greedy decoding would produce them. */
    public record Score(double logLikelihood, int tokens, boolean greedy) {}

    /** Text to token ids (BOS included as the model expects), and the token an empty context becomes. */
    public interface Encoder {
        int[] encode(String text);

        int prefixToken();

        /** Tokenizer.encodeWithSpecial without a trailing EOS; prefix = BOS, else the first EOS id. */
        static Encoder of(Tokenizer tok) {
            return new Encoder() {
                @Override
                public int[] encode(String text) {
                    int[] ids = tok.encodeWithSpecial(text);
                    if (tok.addsEos() && ids.length > 0 && tok.eosIds().contains(ids[ids.length - 1])) {
                        ids = Arrays.copyOf(ids, ids.length - 1);
                    }
                    return ids;
                }

                @Override
                public int prefixToken() {
                    if (tok.bosId().isPresent()) return tok.bosId().getAsInt();
                    if (tok.eosId().isPresent()) return tok.eosId().getAsInt();
                    if (!tok.eosIds().isEmpty()) return tok.eosIds().iterator().next();
                    throw new Peft4jException("the tokenizer has neither a BOS nor an EOS token to stand for an empty context");
                }
            };
        }
    }

    /** Upper bound on floats of logits held by one batched forward (B·T·V). */
    static final long MAX_LOGITS = 1L << 26;

    private LogLikelihood() {}

    /** (context tokens, continuation tokens) as lm-eval-harness's _encode_pair makes them. */
    public static int[][] encodePair(Encoder enc, String context, String continuation) {
        int keep = context.length();
        while (keep > 0 && Character.isWhitespace(context.charAt(keep - 1))) keep--;
        String cont = context.substring(keep) + continuation;
        String ctx = context.substring(0, keep);
        int[] whole = enc.encode(ctx + cont);
        int[] ctxIds = enc.encode(ctx);
        int[] contIds = Arrays.copyOfRange(whole, Math.min(ctxIds.length, whole.length), whole.length);
        if (ctxIds.length == 0) ctxIds = new int[] {enc.prefixToken()};
        return new int[][] {ctxIds, contIds};
    }

    public static Score score(CausalLM model, Tokenizer tok, String context, String continuation) {
        return score(model, Encoder.of(tok), java.util.Collections.singletonList(new String[] {context, continuation})).get(0);
    }

    /** pairs: {context, continuation}. */
    public static List<Score> score(CausalLM model, Tokenizer tok, List<String[]> pairs) {
        return score(model, Encoder.of(tok), pairs);
    }

    public static List<Score> score(CausalLM model, Encoder enc, List<String[]> pairs) {
        List<int[][]> tokens = new ArrayList<>(pairs.size());
        for (String[] p : pairs) tokens.add(encodePair(enc, p[0], p[1]));
        return scoreTokens(model, tokens);
    }

    /** Token-level form: context and continuation ids given directly (no tokenizer). */
    public static Score scoreTokens(CausalLM model, int[] context, int[] continuation) {
        return scoreTokens(model, List.<int[][]>of(new int[][] {context, continuation})).get(0);
    }

    /** Each element: {context ids, continuation ids}; context must be non-empty, continuation non-empty. */
    public static List<Score> scoreTokens(CausalLM model, List<int[][]> pairs) {
        int maxPos = model.config().maxPositions() > 0 ? model.config().maxPositions() : Integer.MAX_VALUE;
        List<int[]> inputs = new ArrayList<>(pairs.size());
        int[] contLen = new int[pairs.size()];
        List<int[]> full = new ArrayList<>(pairs.size());
        for (int i = 0; i < pairs.size(); i++) {
            int[] ctx = pairs.get(i)[0], cont = pairs.get(i)[1];
            if (cont.length == 0) throw new Peft4jException("item " + i + ": the continuation has no tokens");
            if (ctx.length == 0) throw new Peft4jException("item " + i + ": the context has no tokens (use a BOS/prefix token)");
            int[] all = new int[ctx.length + cont.length];
            System.arraycopy(ctx, 0, all, 0, ctx.length);
            System.arraycopy(cont, 0, all, ctx.length, cont.length);
            if (cont.length > maxPos) {
                throw new Peft4jException("item " + i + ": continuation of " + cont.length + " tokens exceeds the model's " + maxPos + " positions");
            }
            if (all.length - 1 > maxPos) all = Arrays.copyOfRange(all, all.length - 1 - maxPos, all.length);
            full.add(all);
            inputs.add(Arrays.copyOf(all, all.length - 1));
            contLen[i] = cont.length;
        }
        Score[] out = new Score[pairs.size()];
        int V = model.config().vocabSize();
        forEachLogits(model, inputs, (i, logits, base) -> {
            int[] all = full.get(i);
            int T = all.length - 1, k = contLen[i];
            double sum = 0;
            boolean greedy = true;
            for (int j = 0; j < k; j++) {
                int pos = T - k + j;
                int target = all[pos + 1];
                int off = (base + pos) * V;
                sum += logSoftmaxAt(logits, off, V, target);
                if (argmax(logits, off, V) != target) greedy = false;
            }
            out[i] = new Score(sum, k, greedy);
        });
        return Arrays.asList(out);
    }

    /** Callback per sequence: logits (rows·V) of the batch and the first row of sequence i in it. */
    interface LogitsSink {
        void accept(int index, float[] logits, int baseRow);
    }

    /**
     * Runs the model over every input sequence (whole sequences, no cache), batching sequences of
     * equal length, in a deterministic order (groups by first appearance of their length).
     */
    static void forEachLogits(CausalLM model, List<int[]> inputs, LogitsSink sink) {
        long V = model.config().vocabSize();
        Map<Integer, List<Integer>> byLength = new LinkedHashMap<>();
        for (int i = 0; i < inputs.size(); i++) {
            if (inputs.get(i).length == 0) throw new Peft4jException("sequence " + i + " is empty");
            byLength.computeIfAbsent(inputs.get(i).length, k -> new ArrayList<>()).add(i);
        }
        for (var e : byLength.entrySet()) {
            int T = e.getKey();
            List<Integer> ids = e.getValue();
            int maxB = (int) Math.max(1, Math.min(64, MAX_LOGITS / (V * T)));
            for (int s = 0; s < ids.size(); s += maxB) {
                int B = Math.min(maxB, ids.size() - s);
                int[] tokens = new int[B * T];
                for (int b = 0; b < B; b++) System.arraycopy(inputs.get(ids.get(s + b)), 0, tokens, b * T, T);
                float[] logits = model.forward(null, tokens, B, T, null, null, false).floats();
                NonFinite.checkLogits(model, logits, 0, (int) (B * T * V), "logits of a batch of " + B + " sequences of " + T + " tokens");
                for (int b = 0; b < B; b++) sink.accept(ids.get(s + b), logits, b * T);
            }
        }
    }

    /** log softmax(x)[target] over x[off, off+V), in double, shifted by the maximum. */
    static double logSoftmaxAt(float[] x, int off, int V, int target) {
        return x[off + target] - logSumExp(x, off, V);
    }

    static double logSumExp(float[] x, int off, int V) {
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < V; v++) max = Math.max(max, x[off + v]);
        double s = 0;
        for (int v = 0; v < V; v++) s += Math.exp(x[off + v] - max);
        return max + Math.log(s);
    }

    static int argmax(float[] x, int off, int V) {
        int best = 0;
        for (int v = 1; v < V; v++) if (x[off + v] > x[off + best]) best = v;
        return best;
    }
}
