/*
 * GenerationTask: prompts answered by greedy generation and scored by exact match after an
 * extraction step. The extractor is a regex searched in the generated text; the answer is its
 * first capture group (the whole match if it has none), or, with no extractor, the whole trimmed
 * text. A generation where the regex finds nothing scores as wrong (the extracted answer is "").
 * References are compared trimmed. Prompts run in left-padded batches (Generator); generation stops
 * at an end-of-sequence token or after maxNewTokens.
 */
package dev.peft4j.eval;

import dev.peft4j.generate.Generator;
import dev.peft4j.generate.SamplingConfig;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** pairs: {prompt, reference answer}; extractor: null for the whole trimmed text. */
public record GenerationTask(List<String[]> pairs, Pattern extractor) {
    /** One generated answer: the raw text, what was extracted from it, and whether it matched. */
    public record Item(String prompt, String expected, String generated, String extracted, boolean correct) {}

    public record Result(Ci.Estimate accuracy, int correct, int total, List<Item> items) {}

    public GenerationTask {
        pairs = List.copyOf(pairs);
    }

    /** The extracted answer of generated text. */
    public String extract(String generated) {
        return extract(extractor, generated);
    }

    public static String extract(Pattern extractor, String generated) {
        if (extractor == null) return generated.trim();
        Matcher m = extractor.matcher(generated);
        if (!m.find()) return "";
        String s = m.groupCount() >= 1 && m.group(1) != null ? m.group(1) : m.group();
        return s.trim();
    }

    public Result evaluate(CausalLM model, Tokenizer tok, int maxNewTokens, int batch) {
        Generator gen = new Generator(model);
        List<Item> items = new ArrayList<>();
        int correct = 0;
        for (int s = 0; s < pairs.size(); s += Math.max(1, batch)) {
            int n = Math.min(Math.max(1, batch), pairs.size() - s);
            List<int[]> prompts = new ArrayList<>(n);
            for (int i = 0; i < n; i++) prompts.add(tok.encodeWithSpecial(pairs.get(s + i)[0]));
            List<int[]> outs = gen.generate(prompts, SamplingConfig.greedy(maxNewTokens), tok.eosIds(), null);
            for (int i = 0; i < n; i++) {
                String[] p = pairs.get(s + i);
                String text = tok.decodeContinuation(prompts.get(i), outs.get(i));   // in context: keeps a leading space
                String got = extract(text);
                boolean ok = got.equals(p[1].trim());
                if (ok) correct++;
                items.add(new Item(p[0], p[1], text, got, ok));
            }
        }
        return new Result(Ci.wilson(correct, pairs.size()), correct, pairs.size(), List.copyOf(items));
    }
}
