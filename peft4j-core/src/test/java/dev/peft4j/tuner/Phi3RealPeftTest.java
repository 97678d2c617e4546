package dev.peft4j.tuner;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Golden;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.ModelConfig;
import dev.peft4j.tuner.lora.LoraConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LoRA on Phi-3's fused modules judged by the real PEFT 0.14 + transformers 4.46 (../shared/realpeft): peft4j
 * puts LoRA on qkv_proj, o_proj, gate_up_proj and down_proj of the phi3-tied golden model (tied head, sliding
 * window 3, LongRoPE), perturbs every A and B, saves the adapter, and PEFT's PeftModel.from_pretrained on
 * transformers' Phi3ForCausalLM reproduces its logits over 12 tokens (past original_max 8: the long factors).
 * (The "phi3" fixture's partial_rotary_factor is newer than transformers 4.46, so it is not used here.)
 * Skipped when ../shared or Debian's python3-torch is missing (tagged slow, as the other real-PEFT tests).
 * Also: PEFT has no default target_modules for phi3, and the refusal names the fused modules.
 */
class Phi3RealPeftTest {
    @TempDir Path tmp;

    @Test
    @Tag("slow")
    void loraOnTheFusedModulesSavedByPeft4jLoadsInPeftWithTheSameLogits() throws Exception {
        Path runSh = RealPeftInteropTest.realPeft(), base = Golden.model("phi3-tied"), out = tmp.resolve("lora");
        int[] ids = {5, 17, 3, 22, 9, 41, 7, 30, 11, 2, 64, 13};
        CausalLM m = CausalLM.load(base);
        AdapterModel am = new PeftModel(m).addAdapter(LoraConfig.builder().r(4).alpha(8)
                .targetModules("qkv_proj", "o_proj", "gate_up_proj", "down_proj").build(), "default", 3);
        assertThat(am.trainableParameters()).hasSize(16);
        int k = 0;
        for (Tensor t : am.trainableParameters()) {
            k++;
            for (int i = 0; i < t.size(); i++) t.data[i] += (float) (0.05 * Math.sin(i + 1.3 * k));
        }
        PeftAdapter.save(am, out, base.toString(), null);
        float[] lg = RealPeftInteropTest.logits(m, ids);
        int V = lg.length / ids.length;
        List<List<Float>> rows = new ArrayList<>();
        for (int t = 0; t < ids.length; t++) {
            List<Float> row = new ArrayList<>(V);
            for (int v = 0; v < V; v++) row.add(lg[t * V + v]);
            rows.add(row);
        }
        Path mine = tmp.resolve("peft4j-logits.json");
        new ObjectMapper().writeValue(mine.toFile(), Map.of("logits", rows, "logits_input_positions", rows));
        StringBuilder idList = new StringBuilder();
        for (int id : ids) idList.append(idList.isEmpty() ? "" : ",").append(id);
        String log = RealPeftInteropTest.run(runSh, tmp.resolve("check.log"), "check-adapter", base.toString(), out.toString(),
                idList.toString(), "--compare", mine.toString(), "--atol", "1e-4", "--out", tmp.resolve("check.json").toString());
        System.out.printf("[realpeft] phi3 LoRA on qkv_proj,o_proj,gate_up_proj,down_proj: peft4j -> PEFT %s%n", log.strip());
        assertThat(log).contains("OK");
    }

    @Test
    void noDefaultTargetsForPhi3NameTheFusedModules() {
        assertThatThrownBy(() -> PeftRules.defaultTargetModules(ModelConfig.Family.PHI3)).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("Please specify `target_modules` in `peft_config`")
                .hasMessageContaining("--lora.target-modules qkv_proj,o_proj,gate_up_proj,down_proj");
        CausalLM m = CausalLM.load(Golden.model("phi3"));
        assertThatThrownBy(() -> new PeftModel(m).addAdapter(LoraConfig.builder().r(4).build(), "default", 1))
                .hasMessageContaining("LoRA has no default target modules for model type phi3");
        assertThatThrownBy(() -> dev.peft4j.tuner.ia3.Ia3.defaultFeedforwardModules(ModelConfig.Family.PHI3))
                .hasMessageContaining("--ia3.feedforward-modules down_proj");
    }
}
