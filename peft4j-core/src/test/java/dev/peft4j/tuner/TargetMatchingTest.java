package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraPlan;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.Peft4jException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Module selection as HF PEFT does it (tuners_utils.check_target_module_exists, _maybe_include_all_linear_layers,
 * utils/other.get_pattern_key, _set_trainable), checked on the shapes of the golden llama (2 layers) and gpt2.
 */
class TargetMatchingTest {
    static final ModelModules LLAMA = ModelModules.of(Fixtures.config("llama"));
    static final ModelModules GPT2 = ModelModules.of(Fixtures.config("gpt2"));

    static LoraPlan plan(ModelModules mm, LoraConfig.Builder b) { return LoraPlan.of(mm, b.build()); }

    static List<String> targets(ModelModules mm, LoraConfig.Builder b) { return plan(mm, b).targetModuleNames(); }

    static List<String> llamaLinears(int layer, String... kinds) {
        List<String> out = new ArrayList<>();
        for (String k : kinds) out.add("model.layers." + layer + "." + (k.endsWith("_proj") && !k.startsWith("gate") && !k.startsWith("up")
                && !k.startsWith("down") ? "self_attn." : "mlp.") + k);
        return out;
    }

    @Test
    void defaultTargetsPerModelType() {
        assertThat(targets(LLAMA, LoraConfig.builder())).containsExactly("model.layers.0.self_attn.q_proj",
                "model.layers.0.self_attn.v_proj", "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj");
        LoraPlan g = plan(GPT2, LoraConfig.builder());
        assertThat(g.targetModuleNames()).containsExactly("transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn");
        assertThat(g.config().targetModules()).isEqualTo(TargetModules.names("c_attn"));
        // GPT-2's Conv1D: PEFT's dispatch_default flips fan_in_fan_out to True, with a warning
        assertThat(g.config().fanInFanOut()).isTrue();
        assertThat(g.targets()).allMatch(LoraPlan.Target::fanInFanOut);
        assertThat(g.warnings()).anyMatch(w -> w.contains("fan_in_fan_out is set to False but the target module")
                && w.contains("Setting fan_in_fan_out to True."));
        assertThat(PeftRules.defaultTargetModules(Fixtures.config("qwen2").family())).containsExactly("q_proj", "v_proj");
        assertThat(PeftRules.defaultTargetModules(Fixtures.config("qwen3").family())).containsExactly("q_proj", "v_proj");
        assertThat(PeftRules.defaultTargetModules(Fixtures.config("mistral").family())).containsExactly("q_proj", "v_proj");
        // and the reverse: fan_in_fan_out=True on nn.Linear is switched off
        LoraPlan l = plan(LLAMA, LoraConfig.builder().fanInFanOut(true));
        assertThat(l.config().fanInFanOut()).isFalse();
        assertThat(l.warnings()).anyMatch(w -> w.contains("Setting fan_in_fan_out to False."));
    }

    @Test
    void listEntriesMatchExactlyOrAsDottedSuffix() {
        assertThat(targets(LLAMA, LoraConfig.builder().targetModules("self_attn.q_proj")))
                .containsExactly("model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.q_proj");
        assertThat(targets(LLAMA, LoraConfig.builder().targetModules("model.layers.1.mlp.down_proj")))
                .containsExactly("model.layers.1.mlp.down_proj");
        // "proj" is not a suffix at a "." boundary of any module, so nothing matches
        assertThatThrownBy(() -> plan(LLAMA, LoraConfig.builder().targetModules("proj"))).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("Target modules proj not found in the base model");
        // entries that match nothing next to ones that do are only a warning, as in PEFT
        LoraPlan p = plan(LLAMA, LoraConfig.builder().targetModules("q_proj", "bogus"));
        assertThat(p.targetModuleNames()).hasSize(2);
        assertThat(p.warnings()).anyMatch(w -> w.contains("'bogus' matches no module"));
        // "attn" hits GPT-2's attention container (transformer.h.0.attn), which PEFT cannot adapt either
        assertThatThrownBy(() -> plan(GPT2, LoraConfig.builder().targetModules("attn")))
                .hasMessageContaining("transformer.h.0.attn (GPT2Attention)").hasMessageContaining("linear layers");
    }

    @Test
    void aStringIsARegexThatMustMatchTheWholeName() {
        assertThatThrownBy(() -> plan(LLAMA, LoraConfig.builder().targetRegex("q_proj")))
                .hasMessageContaining("Target modules q_proj not found");   // re.fullmatch, not re.search
        assertThat(targets(LLAMA, LoraConfig.builder().targetRegex(".*\\.(q|v)_proj"))).hasSize(4);
        assertThat(targets(LLAMA, LoraConfig.builder().targetRegex(".*layers\\.1\\..*_proj")))
                .containsExactlyElementsOf(llamaLinears(1, "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"));
        assertThat(targets(LLAMA, LoraConfig.builder().targetRegex("lm_head"))).containsExactly("lm_head");
        assertThatThrownBy(() -> plan(LLAMA, LoraConfig.builder().targetRegex(".*mlp")))
                .hasMessageContaining("model.layers.0.mlp (LlamaMLP)");
        assertThatThrownBy(() -> plan(LLAMA, LoraConfig.builder().targetRegex(".*embed_tokens")))
                .hasMessageContaining("LoRA on embeddings is not supported yet");
        assertThatThrownBy(() -> plan(GPT2, LoraConfig.builder().targetRegex(".*ln_\\d")))
                .hasMessageContaining("transformer.h.0.ln_1 (LayerNorm)");
    }

    @Test
    void allLinearIsEveryLinearButTheOutputHead() {
        LoraPlan l = plan(LLAMA, LoraConfig.builder().allLinear());
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < 2; i++) expected.addAll(llamaLinears(i, "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"));
        assertThat(l.targetModuleNames()).containsExactlyElementsOf(expected);
        // PEFT replaces "all-linear" by the set of matched names, which is what it saves
        assertThat(l.config().targetModules()).isEqualTo(TargetModules.names(expected));
        assertThat(targets(GPT2, LoraConfig.builder().allLinear())).containsExactly(
                "transformer.h.0.attn.c_attn", "transformer.h.0.attn.c_proj", "transformer.h.0.mlp.c_fc", "transformer.h.0.mlp.c_proj",
                "transformer.h.1.attn.c_attn", "transformer.h.1.attn.c_proj", "transformer.h.1.mlp.c_fc", "transformer.h.1.mlp.c_proj");
    }

    @Test
    void layersToTransformUsesTheFirstNumberedSegment() {
        assertThat(targets(LLAMA, LoraConfig.builder().targetModules("q_proj", "v_proj").layersToTransform(1)))
                .containsExactly("model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj");
        assertThat(targets(GPT2, LoraConfig.builder().targetModules("c_attn").layersToTransform(0).layersPattern("h")))
                .containsExactly("transformer.h.0.attn.c_attn");
        assertThatThrownBy(() -> plan(LLAMA, LoraConfig.builder().targetModules("q_proj").layersToTransform(0).layersPattern("blocks")))
                .hasMessageContaining("not found in the base model")
                .hasMessageContaining("Note: You specified 'layers_to_transform': [0].")
                .hasMessageContaining("You also specified 'layers_pattern': [blocks].");
        assertThatThrownBy(() -> plan(LLAMA, LoraConfig.builder().targetModules("q_proj").layersToTransform(5)))
                .hasMessageContaining("'layers_to_transform': [5]");
        // a full module name is an exact match, which PEFT accepts without looking at layers_to_transform
        assertThat(targets(LLAMA, LoraConfig.builder().targetModules("model.layers.0.self_attn.q_proj", "v_proj").layersToTransform(1)))
                .containsExactly("model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.v_proj");

        assertThat(PeftRules.layerIndex("model.layers.12.mlp.up_proj", List.of())).isEqualTo(12);
        assertThat(PeftRules.layerIndex("model.layers.3.block_sparse_moe.experts.7.w1", List.of())).isEqualTo(3);  // lazy: first index
        assertThat(PeftRules.layerIndex("lm_head", List.of())).isNull();
        assertThat(PeftRules.layerIndex("transformer.h.5.attn.c_attn", List.of("layers", "h"))).isEqualTo(5);
        assertThat(PeftRules.layerIndex("transformer.h.5.attn.c_attn", List.of("layers"))).isNull();
        // a layers_pattern with a group of its own still yields the layer digits (fuzzing found group(1) null)
        assertThat(PeftRules.layerIndex("model.layers.4.mlp.up_proj", List.of("(foo)?layers"))).isEqualTo(4);
        assertThat(PeftRules.layerIndex("model.layers.12345678901.mlp", List.of())).isEqualTo(Integer.MAX_VALUE);
        // an alternation in the pattern can leave the digits group unmatched: no index, no NullPointerException
        assertThat(PeftRules.layerIndex("model.layers.4.mlp.up_proj", List.of("|ayers"))).isNull();
        assertThatThrownBy(() -> PeftRules.layerIndex("model.layers.4.mlp", List.of("lay(ers")))
                .hasMessageContaining("layers_pattern 'lay(ers' is not a valid regular expression");
    }

    @Test
    void excludeModules() {
        assertThat(targets(LLAMA, LoraConfig.builder().allLinear().excludeModules(TargetModules.names("down_proj", "gate_proj"))))
                .hasSize(10).noneMatch(n -> n.endsWith("down_proj") || n.endsWith("gate_proj"));
        assertThat(targets(LLAMA, LoraConfig.builder().allLinear().excludeModules(TargetModules.regex("model\\.layers\\.0\\..*"))))
                .hasSize(7).allMatch(n -> n.startsWith("model.layers.1."));
        assertThatThrownBy(() -> plan(LLAMA, LoraConfig.builder().targetModules("q_proj").excludeModules(TargetModules.names("q_proj"))))
                .hasMessageContaining("No modules were targeted for adaptation");
    }

    @Test
    void modulesToSaveAreNeverAdaptedAndMatchBySuffix() {
        LoraPlan p = plan(LLAMA, LoraConfig.builder().allLinear().modulesToSave("lm_head"));
        assertThat(p.targetModuleNames()).hasSize(14).doesNotContain("lm_head");
        assertThat(p.modulesToSave()).containsExactly(new LoraPlan.ModuleToSave("lm_head", 64, 128, false));
        // the head excluded by modules_to_save and nothing else left to target
        assertThatThrownBy(() -> plan(LLAMA, LoraConfig.builder().targetRegex("lm_head").modulesToSave("lm_head")))
                .hasMessageContaining("No modules were targeted for adaptation").hasMessageContaining("modules_to_save [lm_head]");
        // _set_trainable matches a plain endswith: "head" selects lm_head ...
        assertThat(plan(LLAMA, LoraConfig.builder().modulesToSave("head")).modulesToSave()).extracting(LoraPlan.ModuleToSave::module)
                .containsExactly("lm_head");
        // ... while the target exclusion uses a dotted regex, so lm_head could end up both adapted and saved: refused
        assertThatThrownBy(() -> plan(LLAMA, LoraConfig.builder().targetRegex("lm_head").modulesToSave("head")))
                .hasMessageContaining("lm_head is both a LoRA target and in lora.modules_to_save");
        assertThatThrownBy(() -> plan(LLAMA, LoraConfig.builder().modulesToSave("embed_tokens")))
                .hasMessageContaining("model.embed_tokens (Embedding)").hasMessageContaining("not supported yet");
        assertThatThrownBy(() -> plan(LLAMA, LoraConfig.builder().modulesToSave("lm_hed")))
                .hasMessageContaining("modules_to_save entry 'lm_hed' matches no module").hasMessageContaining("lm_head");
    }

    @Test
    void rankAndAlphaPatternsFirstMatchingKeyWins() {
        // both keys match layer 1's q_proj; the first in insertion order decides
        LoraPlan a = plan(LLAMA, LoraConfig.builder().targetModules("q_proj", "v_proj").alpha(16)
                .rankPattern("q_proj", 4).rankPattern("model.layers.1.self_attn.q_proj", 2));
        assertThat(a.targets()).extracting(LoraPlan.Target::r).containsExactly(4, 8, 4, 8);
        LoraPlan b = plan(LLAMA, LoraConfig.builder().targetModules("q_proj", "v_proj").alpha(16)
                .rankPattern("model.layers.1.self_attn.q_proj", 2).rankPattern("q_proj", 4));
        assertThat(b.targets()).extracting(LoraPlan.Target::r).containsExactly(4, 8, 2, 8);
        assertThat(b.targets()).extracting(LoraPlan.Target::scaling).containsExactly(4.0, 2.0, 8.0, 2.0);
        // alpha is looked up independently of the rank
        LoraPlan c = plan(LLAMA, LoraConfig.builder().targetModules("q_proj", "v_proj").alpha(16)
                .alphaPattern("v_proj", 32).rankPattern("v_proj", 16));
        assertThat(c.targets()).extracting(LoraPlan.Target::alpha).containsExactly(16.0, 32.0, 16.0, 32.0);
        assertThat(c.targets()).extracting(LoraPlan.Target::scaling).containsExactly(2.0, 2.0, 2.0, 2.0);
        // rslora uses alpha / sqrt(r) with the per-module values
        LoraPlan d = plan(LLAMA, LoraConfig.builder().targetModules("q_proj").r(4).alpha(8).useRslora(true).rankPattern("layers\\.1\\..*", 16));
        assertThat(d.targets()).extracting(LoraPlan.Target::scaling).containsExactly(4.0, 2.0);
        // keys are regexes anchored at a "." boundary: "proj" does not reach into "q_proj", ".*_proj" does
        assertThat(plan(LLAMA, LoraConfig.builder().rankPattern("proj", 2)).targets()).allMatch(t -> t.r() == 8);
        assertThat(plan(LLAMA, LoraConfig.builder().rankPattern(".*_proj", 2)).targets()).allMatch(t -> t.r() == 2);
        // "^" pins a key to the start of the name (PEFT #2419): a full name with ^ selects that module only
        LoraPlan e = plan(LLAMA, LoraConfig.builder().rankPattern("^model.layers.1.self_attn.v_proj", 3).rankPattern("^v_proj", 5)
                .rankPattern("q_porj", 7));
        assertThat(e.targets()).extracting(LoraPlan.Target::r).containsExactly(8, 8, 8, 3);
        assertThat(e.warnings()).anyMatch(w -> w.startsWith("rank_pattern key '^v_proj' matches no adapted module"))
                .anyMatch(w -> w.startsWith("rank_pattern key 'q_porj' matches no adapted module"))
                .noneMatch(w -> w.contains("'^model.layers.1.self_attn.v_proj'"));
        assertThat(PeftRules.patternKey(List.of("k_proj", "self_attn\\.q_proj"), "model.layers.0.self_attn.q_proj"))
                .isEqualTo("self_attn\\.q_proj");
        assertThat(PeftRules.patternKey(List.of("k_proj"), "model.layers.0.self_attn.q_proj")).isEqualTo("model.layers.0.self_attn.q_proj");
        assertThat(PeftRules.rank(LoraConfig.builder().rankPattern(Map.of("model.layers.0.self_attn.q_proj", 3)).build(),
                "model.layers.0.self_attn.q_proj")).isEqualTo(3);
    }

    @Test
    void nothingMatchedListsWhatTheModelHas() {
        assertThatThrownBy(() -> plan(LLAMA, LoraConfig.builder().targetModules("query", "value")))
                .isInstanceOf(Peft4jException.class)
                .hasMessageStartingWith("Target modules query,value not found in the base model (llama, 2 layers). "
                        + "Please check the target modules and try again.")
                .hasMessageContaining("linear modules in this llama model: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, lm_head")
                .hasMessageContaining("model.layers.0.self_attn.q_proj").hasMessageContaining("all-linear");
        assertThatThrownBy(() -> plan(GPT2, LoraConfig.builder().targetModules("q_proj")))
                .hasMessageContaining("c_attn, c_proj, c_fc, lm_head");
        assertThatThrownBy(() -> plan(LLAMA, LoraConfig.builder().targetModules(TargetModules.names(List.of()))))
                .hasMessageContaining("lora.target_modules is empty").hasMessageContaining("q_proj,v_proj");
    }
}
