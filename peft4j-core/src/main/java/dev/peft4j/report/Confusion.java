/*
 * Confusion: the confusion matrix and per-class accuracy of one multiple-choice task for one
 * variant, from its ItemResults. Classes are the choices: their texts (trimmed) when every item
 * offers the same choices (SST-2, PubMedQA), else "choice 0", "choice 1", ... counts[g][p]: items
 * whose gold class is g and whose prediction is p. Per-class accuracy of g: counts[g][g] / Σ_p
 * counts[g][p], with a 95% Wilson interval and its n.
 */
package dev.peft4j.report;

import dev.peft4j.eval.Ci;

import java.util.ArrayList;
import java.util.List;

public record Confusion(String task, List<String> labels, int[][] counts) {
    public record ClassAccuracy(String label, int correct, int n, Ci.Estimate acc) {}

    /** The confusion of the multiple-choice items of task among items; null when it has none. */
    public static Confusion of(String task, List<ItemResult> items) {
        List<ItemResult> mine = items.stream().filter(i -> i.task().equals(task) && i.isChoice()).toList();
        if (mine.isEmpty()) return null;
        List<String> first = mine.getFirst().choices();
        boolean same = mine.stream().allMatch(i -> i.choices().equals(first));
        int k = mine.stream().mapToInt(i -> i.choices().size()).max().orElse(0);
        List<String> labels = new ArrayList<>();
        for (int c = 0; c < k; c++) labels.add(same ? first.get(c).strip() : "choice " + c);
        int[][] counts = new int[k][k];
        for (ItemResult i : mine) counts[i.goldIndex()][i.predictedIndex()]++;
        return new Confusion(task, labels, counts);
    }

    public List<ClassAccuracy> perClass() {
        List<ClassAccuracy> out = new ArrayList<>();
        for (int g = 0; g < labels.size(); g++) {
            int n = 0;
            for (int c : counts[g]) n += c;
            out.add(new ClassAccuracy(labels.get(g), counts[g][g], n, Ci.wilson(counts[g][g], n)));
        }
        return out;
    }

    public int total() {
        int n = 0;
        for (int[] row : counts) for (int c : row) n += c;
        return n;
    }
}
