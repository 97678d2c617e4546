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
}
