package dev.peft4j.report;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import org.junit.jupiter.api.Test;

/** AdaLoRA's "rank_budget" in metrics.jsonl reaches the compare report's data and its rank-budget chart. */
class RankBudgetChartTest {
    @Test
    void rankBudgetIsReadAndCharted() {
        List<LossPoint> curve = LossCurve.parse(List.of(
                "{\"step\":0,\"val_loss\":3.2}",
                "{\"step\":1,\"loss\":3.1,\"lr\":0.01,\"rank_budget\":48,\"rank\":48}",
                "{\"step\":2,\"loss\":2.9,\"lr\":0.01,\"rank_budget\":40,\"rank\":40}"), "m.jsonl");
        assertThat(curve.get(0).rankBudget()).isNull();
        assertThat(curve.get(1).rankBudget()).isEqualTo(48.0);
        assertThat(curve.get(2).rankBudget()).isEqualTo(40.0);
        CompareReport r = CompareReport.of("m", List.of("t"), List.of(new Variant("base", List.of()),
                new Variant("adalora", List.of(), curve, null)));
        JsonNode rows = r.toJsonTree().get("variants").get(1).get("loss_curve");
        assertThat(rows.get(2).get("rank_budget").asDouble()).isEqualTo(40.0);
        assertThat(rows.get(0).has("rank_budget")).isFalse();
        String html = r.toHtml();
        assertThat(html).contains("id=\"rank-section\"").contains("rank-chart").contains("p.rank_budget");
        // a LoRA run has no budget: the section stays hidden (the script shows it only when a run logged one)
        assertThat(LossCurve.parse(List.of("{\"step\":1,\"loss\":3.1}"), "m").get(0).rankBudget()).isNull();
    }
}
