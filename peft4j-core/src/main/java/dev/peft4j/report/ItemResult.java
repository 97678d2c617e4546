/*
 * ItemResult: one scored item of one task for one variant, for the per-item predictions table.
 *   multiple choice: choices, scores (summed log-likelihood per choice), goldIndex, predictedIndex,
 *                    gold/predicted = the choice texts, correct;
 *   generation:      gold = reference answer, predicted = extracted answer, correct;
 *   perplexity:      nll (mean nats/token of the document) and tokens; correct is null.
 * index: 0-based position in the task's data (after --limit); id: the item's own id when the data
 * has one (PubMedQA), else the index as text; prompt: the prompt (or document) text.
 */
package dev.peft4j.report;

import java.util.List;
import java.util.Objects;

public record ItemResult(String task, int index, String id, String prompt, List<String> choices, double[] scores,
                         int goldIndex, int predictedIndex, String gold, String predicted, Boolean correct,
                         Double nll, Integer tokens) {
    public ItemResult {
        Objects.requireNonNull(task, "task");
        choices = choices == null ? List.of() : List.copyOf(choices);
        scores = scores == null ? new double[0] : scores.clone();
        id = id == null ? String.valueOf(index) : id;
        prompt = prompt == null ? "" : prompt;
    }

    public static ItemResult choice(String task, int index, String id, String prompt, List<String> choices, double[] scores,
                                    int goldIndex, int predictedIndex) {
        return new ItemResult(task, index, id, prompt, choices, scores, goldIndex, predictedIndex,
                choices.get(goldIndex), choices.get(predictedIndex), goldIndex == predictedIndex, null, null);
    }

    public static ItemResult generated(String task, int index, String prompt, String gold, String predicted, boolean correct) {
        return new ItemResult(task, index, null, prompt, null, null, -1, -1, gold, predicted, correct, null, null);
    }

    public static ItemResult document(String task, int index, String text, double nll, int tokens) {
        return new ItemResult(task, index, null, text, null, null, -1, -1, null, null, null, nll, tokens);
    }

    public boolean isChoice() {
        return goldIndex >= 0 && !choices.isEmpty();
    }
}
