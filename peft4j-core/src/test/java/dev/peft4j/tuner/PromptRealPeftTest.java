package dev.peft4j.tuner;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tuner.prefixtuning.PrefixTuningConfig;
import dev.peft4j.tuner.prompttuning.PromptTuningConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The prompt-learning cases RealPeftInteropTest's `run.sh make` does not cover, against the real HF PEFT 0.14
 * on stories260K: a prefix trained with prefix_projection (PEFT saves the MLP's output; peft4j reads it back
 * as the table, both ways), and a TEXT-initialised prompt tuning adapter written by peft4j (PEFT reads it in
 * inference mode). PEFT's adapters come from scripts/golden/prompt_realpeft.py. Skipped without ../shared or torch.
 */
@Tag("slow")
class PromptRealPeftTest {
    @TempDir Path tmp;

    @Test
    void projectedPrefixSavedByPeftLoadsWithItsLogits() throws Exception {
        Path runSh = RealPeftInteropTest.realPeft(), stories = RealPeftInteropTest.shared("models/stories260K");
        Path script = Path.of("../scripts/golden/prompt_realpeft.py").toAbsolutePath().normalize();
        RealPeftInteropTest.run(runSh, tmp.resolve("make.log"), script.toString(), tmp.toString(), stories.toString());
        Path dir = tmp.resolve("prefix_proj");
        JsonNode e = new ObjectMapper().readTree(dir.resolve("expected.json").toFile());
        int[] ids = new int[e.get("input_ids").size()];
        for (int i = 0; i < ids.length; i++) ids[i] = e.get("input_ids").get(i).asInt();
        CausalLM m = CausalLM.load(stories);
        AdapterModel am = PeftAdapter.load(m, dir, "from_peft");
        assertThat(am.config().toPeftJson()).containsEntry("prefix_projection", true).containsEntry("encoder_hidden_size", 24);
        assertThat(am.trainableParameters()).hasSize(1);                      // read back as the projected table
        assertThat(am.trainableParameters().get(0).shape).containsExactly(5, 5 * 2 * 32);
        float[] lg = RealPeftInteropTest.logits(m, ids);
        assertThat(RealPeftInteropTest.maxDiff(lg, e.get("base_logits"))).isGreaterThan(1e-2);
        double d = RealPeftInteropTest.maxDiff(lg, e.get("logits_input_positions"));
        System.out.printf("[realpeft] prefix_tuning + projection: PEFT -> peft4j max |logits diff| %.2e%n", d);
        assertThat(d).isLessThan(1e-4);
    }

    /**
     * PEFT's training loss with labels = input_ids: prompt tuning prepends -100 labels over the virtual tokens,
     * so the last virtual token predicts labels[0]; a prefix leaves the labels alone. peft4j's LmLoss equals both.
     */
    @Test
    void trainingLossWithLabelsEqualsPeftsForVirtualTokensAndPrefixes() throws Exception {
        Path runSh = RealPeftInteropTest.realPeft(), stories = RealPeftInteropTest.shared("models/stories260K");
        Path script = Path.of("../scripts/golden/prompt_realpeft.py").toAbsolutePath().normalize();
        RealPeftInteropTest.run(runSh, tmp.resolve("make.log"), script.toString(), tmp.toString(), stories.toString());
        for (String name : List.of("prompt", "prefix_proj")) {
            JsonNode e = new ObjectMapper().readTree(tmp.resolve(name).resolve("expected.json").toFile());
            int[] ids = new int[e.get("input_ids").size()];
            for (int i = 0; i < ids.length; i++) ids[i] = e.get("input_ids").get(i).asInt();
            CausalLM m = CausalLM.load(stories);
            PeftAdapter.load(m, tmp.resolve(name), "from_peft");
            double mine = dev.peft4j.train.LmLoss.loss(null, m, ids, ids, 1, ids.length).data[0];
            double peft = e.get("loss_labels_input_ids").asDouble();
            System.out.printf("[realpeft] %s: training loss PEFT %.6f, peft4j %.6f%n", name, peft, mine);
            assertThat(Math.abs(mine - peft) / peft).as(name).isLessThan(1e-5);
            assertThat(dev.peft4j.train.LmLoss.countTargets(m, ids, 1, ids.length))
                    .isEqualTo(name.equals("prompt") ? ids.length : ids.length - 1);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"prefix-projection", "prompt-text"})
    void savedByPeft4jLoadsInPeftWithTheSameLogits(String kind) throws Exception {
        Path runSh = RealPeftInteropTest.realPeft(), stories = RealPeftInteropTest.shared("models/stories260K"), out = tmp.resolve(kind);
        int[] ids = {1, 403, 407, 261, 378, 77, 300};
        CausalLM m = CausalLM.load(stories);
        AdapterConfig cfg = kind.equals("prompt-text")
                ? PromptTuningConfig.text(7, "Once upon a time", stories.toString())
                : PrefixTuningConfig.of(5, true, 24);
        AdapterModel am = new PeftModel(m).addAdapter(cfg, "default", 3);
        if (kind.equals("prefix-projection")) {
            assertThat(am.trainableParameters()).hasSize(5);
            int k = 0;
            for (Tensor t : am.trainableParameters()) {
                k++;
                for (int i = 0; i < t.size(); i++) t.data[i] = (float) (0.05 * Math.sin(i + 1.3 * k));
            }
        }
        PeftAdapter.save(am, out, stories.toString(), null);
        float[] lg = RealPeftInteropTest.logits(m, ids);
        int V = lg.length / ids.length;
        List<List<Float>> rows = new ArrayList<>();
        for (int t = 0; t < ids.length; t++) {
            List<Float> row = new ArrayList<>(V);
            for (int v = 0; v < V; v++) row.add(lg[t * V + v]);
            rows.add(row);
        }
        Path mine = tmp.resolve(kind + "-logits.json");
        new ObjectMapper().writeValue(mine.toFile(), Map.of("logits_input_positions", rows));
        StringBuilder idList = new StringBuilder();
        for (int id : ids) idList.append(idList.isEmpty() ? "" : ",").append(id);
        String log = RealPeftInteropTest.run(runSh, tmp.resolve("check.log"), "check-adapter", stories.toString(), out.toString(),
                idList.toString(), "--compare", mine.toString(), "--atol", "1e-4", "--out", tmp.resolve("check.json").toString());
        System.out.printf("[realpeft] %s: peft4j -> PEFT %s%n", kind, log.strip());
        assertThat(log).contains("OK");
    }
}
