/*
 * ExactMatch: greedy completion of prompts compared with reference answers. Each prompt is
 * continued for as many tokens as its reference has (stopping early at an end-of-sequence token),
 * the continuation decoded and compared, trimmed, with the reference. Prompts run in left-padded
 * batches over the KV cache.
 */
package dev.peft4j.eval;

import dev.peft4j.generate.Generator;
import dev.peft4j.generate.SamplingConfig;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

public final class ExactMatch {
    /** One scored prompt. */
    public record Item(String prompt, String expected, String got, boolean correct) {}

    public record Result(int correct, int total, List<Item> items) {
        public double accuracy() { return total == 0 ? 0 : (double) correct / total; }
    }

    private ExactMatch() {}

    /** pairs: {prompt, reference completion}. */
    public static Result evaluate(CausalLM lm, Tokenizer tok, List<String[]> pairs, int batch) {
        List<Item> items = new ArrayList<>();
        int correct = 0;
        Generator gen = new Generator(lm);
        for (int s = 0; s < pairs.size(); s += batch) {
            int n = Math.min(batch, pairs.size() - s);
            List<int[]> prompts = new ArrayList<>();
            int[] answerLength = new int[n];
            int maxNew = 1;
            for (int i = 0; i < n; i++) {
                String[] p = pairs.get(s + i);
                int[] promptIds = tok.encodeWithSpecial(p[0]);
                prompts.add(promptIds);
                answerLength[i] = Math.max(1, tok.encodeWithSpecial(p[0] + p[1]).length - promptIds.length);
                maxNew = Math.max(maxNew, answerLength[i]);
            }
            List<int[]> outs = gen.generate(prompts, SamplingConfig.greedy(maxNew), tok.eosIds(), null);
            for (int i = 0; i < n; i++) {
                String[] p = pairs.get(s + i);
                int[] ids = outs.get(i);
                // Decoded as the continuation of its prompt (SentencePiece drops the first token's space alone).
                String got = tok.decodeContinuation(prompts.get(i), Arrays.copyOf(ids, Math.min(ids.length, answerLength[i])));
                boolean ok = got.trim().equals(p[1].trim());
                if (ok) correct++;
                items.add(new Item(p[0], p[1], got, ok));
            }
        }
        return new Result(correct, pairs.size(), items);
    }
}
