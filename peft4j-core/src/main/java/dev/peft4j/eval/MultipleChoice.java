/*
 * MultipleChoice: lm-evaluation-harness's `multiple_choice` output type. Each choice is scored as
 * a continuation of the prompt (LogLikelihood: summed log p of its tokens, one forward per
 * (prompt, choice), batched by length). acc: argmax of the summed log-likelihood; acc_norm: argmax
 * of log-likelihood / number of characters of the choice (the harness's
 * `completion_len = [float(len(i)) for i in choices]`). Ties go to the first choice (numpy argmax).
 * Both accuracies come with a 95% Wilson interval.
 */
package dev.peft4j.eval;

import dev.peft4j.Peft4jException;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;

public final class MultipleChoice {
    /** A question: the prompt, its choices (continuations, usually with a leading space), the correct index. */
    public record Item(String prompt, List<String> choices, int answer) {
        public Item {
            choices = List.copyOf(choices);
            if (choices.isEmpty()) throw new Peft4jException("a multiple-choice item needs at least one choice");
            if (answer < 0 || answer >= choices.size()) {
                throw new Peft4jException("answer index " + answer + " is outside the " + choices.size() + " choices");
            }
        }
    }

    /** One scored item: per-choice log-likelihoods and token counts, the two predictions. */
    public record Scored(Item item, double[] logLikelihoods, int[] tokens, int predicted, int predictedNorm) {
        public boolean correct() { return predicted == item.answer(); }

        public boolean correctNorm() { return predictedNorm == item.answer(); }
    }

    public record Result(Ci.Estimate acc, Ci.Estimate accNorm, int correct, int correctNorm, int total, List<Scored> items) {
        @Override
        public String toString() {
            return "acc " + acc + ", acc_norm " + accNorm;
        }
    }

    private MultipleChoice() {}

    public static Result evaluate(CausalLM model, Tokenizer tok, List<Item> items) {
        return evaluate(model, LogLikelihood.Encoder.of(tok), items);
    }

    public static Result evaluate(CausalLM model, LogLikelihood.Encoder enc, List<Item> items) {
        List<String[]> pairs = new ArrayList<>();
        for (Item it : items) for (String c : it.choices()) pairs.add(new String[] {it.prompt(), c});
        List<LogLikelihood.Score> scores = LogLikelihood.score(model, enc, pairs);
        double[][] ll = new double[items.size()][];
        int[][] tokens = new int[items.size()][];
        int k = 0;
        for (int i = 0; i < items.size(); i++) {
            int n = items.get(i).choices().size();
            ll[i] = new double[n];
            tokens[i] = new int[n];
            for (int c = 0; c < n; c++, k++) {
                ll[i][c] = scores.get(k).logLikelihood();
                tokens[i][c] = scores.get(k).tokens();
            }
        }
        return fromLogLikelihoods(items, ll, tokens);
    }

    /** Accuracies from given per-choice log-likelihoods (tokens may be null). */
    public static Result fromLogLikelihoods(List<Item> items, double[][] ll, int[][] tokens) {
        List<Scored> out = new ArrayList<>(items.size());
        int correct = 0, correctNorm = 0;
        for (int i = 0; i < items.size(); i++) {
            Item it = items.get(i);
            if (ll[i].length != it.choices().size()) {
                throw new Peft4jException("item " + i + ": " + ll[i].length + " scores for " + it.choices().size() + " choices");
            }
            double[] norm = new double[ll[i].length];
            for (int c = 0; c < norm.length; c++) norm[c] = ll[i][c] / Math.max(1, it.choices().get(c).length());
            Scored s = new Scored(it, ll[i].clone(), tokens == null ? new int[0] : tokens[i].clone(), argmax(ll[i]), argmax(norm));
            if (s.correct()) correct++;
            if (s.correctNorm()) correctNorm++;
            out.add(s);
        }
        int n = items.size();
        return new Result(Ci.wilson(correct, n), Ci.wilson(correctNorm, n), correct, correctNorm, n, List.copyOf(out));
    }

    static int argmax(double[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
