package dev.peft4j.report;

import dev.peft4j.Peft4jException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class LossCurveTest {
    @Test
    void readsTrainerRowsAndTheInitialValidationRow(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("metrics.jsonl"), """
                {"step":0,"val_loss":3.25}
                {"step":1,"loss":3.1,"lr":1.0E-4,"grad_norm":2.5,"tokens_per_s":812.3,"epoch":0.01}

                {"step":2,"loss":2.9,"lr":2.0E-4,"grad_norm":2.1,"tokens_per_s":820.0,"epoch":0.02,"val_loss":3.0}
                {"step":3,"loss":2.
                """);
        List<LossPoint> pts = LossCurve.read(dir);
        assertThat(pts).containsExactly(
                new LossPoint(0, null, 3.25, null, null, null, null),
                new LossPoint(1, 3.1, null, 1e-4, 2.5, 812.3, 0.01),
                new LossPoint(2, 2.9, 3.0, 2e-4, 2.1, 820.0, 0.02));
        assertThat(LossCurve.read(dir.resolve("metrics.jsonl"))).isEqualTo(pts);
    }

    @Test
    void aBadLineInTheMiddleIsAnError() {
        assertThatThrownBy(() -> LossCurve.parse(List.of("{\"step\":1,\"loss\":2}", "oops", "{\"step\":2}"), "m.jsonl"))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("m.jsonl line 2");
        assertThatThrownBy(() -> LossCurve.parse(List.of("{\"loss\":2}"), "m.jsonl"))
                .hasMessageContaining("\"step\"");
    }

    @Test
    void downsampleKeepsFirstLastMinimumAndValidationRowsWithinTheBound() {
        List<LossPoint> curve = new java.util.ArrayList<>();
        curve.add(LossPoint.validation(0, 3.0));
        for (int s = 1; s <= 5000; s++) {
            double loss = 2 + Math.cos(s / 50.0) + (s == 3333 ? -1.5 : 0);   // a single lowest point at step 3333
            curve.add(new LossPoint(s, loss, s % 250 == 0 ? 2.2 - s / 1e5 : null, null, null, null, null));
        }
        List<LossPoint> d = LossCurve.downsample(curve, 500);
        assertThat(d.size()).isLessThanOrEqualTo(500).isGreaterThan(400);
        assertThat(d.getFirst().step()).isZero();
        assertThat(d.getLast().step()).isEqualTo(5000);
        assertThat(d).extracting(LossPoint::step).contains(3333L).isSorted();
        assertThat(d.stream().filter(p -> p.valLoss() != null).count()).as("every validation row (step 0 and 20 more)").isEqualTo(21);
        assertThat(LossCurve.downsample(curve.subList(0, 100), 500)).hasSize(100);
    }

    @Test
    void incomparableRunsAreFlagged() {
        var a = new Variant("a", List.of(), List.of(LossPoint.train(1, 2.0)), null, List.of(),
                java.util.Map.of("data", "train.jsonl", "completion-only-loss", "true", "max-length", "512"));
        var b = new Variant("b", List.of(), List.of(LossPoint.train(1, 1.0)), null, List.of(),
                java.util.Map.of("data", "train.jsonl", "completion-only-loss", "false", "max-length", "512"));
        var c = new Variant("c", List.of(), List.of(LossPoint.train(1, 1.5)), null, List.of(),
                java.util.Map.of("data", "train.jsonl", "completion-only-loss", "true", "max-length", "512"));
        assertThat(CompareReport.of("m", List.of(), List.of(a, c)).lossWarnings()).isEmpty();
        var r = CompareReport.of("m", List.of(), List.of(a, b, c));
        assertThat(r.lossWarnings()).containsExactly("losses are not comparable: completion-only-loss differs (a: true; b: false; c: true)");
        assertThat(r.toText()).contains("warning: training losses are not comparable: completion-only-loss differs");
        assertThat(r.toHtml()).contains("class=\"warn\"").contains("completion-only-loss differs");
    }
}
