package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.InitLoraWeights;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.Peft4jException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** LoraConfig's defaults are PEFT's; invalid or unsupported settings fail with a message that says how to fix them. */
class LoraConfigTest {
    @Test
    void defaultsArePeftDefaults() {
        LoraConfig c = LoraConfig.defaults();
        assertThat(c.r()).isEqualTo(8);
        assertThat(c.loraAlpha()).isEqualTo(8.0);
        assertThat(c.loraDropout()).isZero();
        assertThat(c.targetModules()).isNull();                 // the model type's default
        assertThat(c.excludeModules()).isNull();
        assertThat(c.initLoraWeights()).isEqualTo(InitLoraWeights.DEFAULT);
        assertThat(c.bias()).isEqualTo("none");
        assertThat(c.useRslora()).isFalse();
        assertThat(c.fanInFanOut()).isFalse();
        assertThat(c.layersToTransform()).isEmpty();
        assertThat(c.rankPattern()).isEmpty();
        assertThat(c.modulesToSave()).isEmpty();
        assertThat(c.scaling(8, 8)).isEqualTo(1.0);
    }

    @Test
    void scalingIsAlphaOverROrOverSqrtRWithRslora() {
        assertThat(LoraConfig.builder().r(8).alpha(16).build().scaling(8, 16)).isEqualTo(2.0);
        assertThat(LoraConfig.builder().r(16).alpha(32).useRslora(true).build().scaling(16, 32)).isEqualTo(8.0);
        assertThat(LoraConfig.builder().useRslora(true).build().scaling(2, 3)).isEqualTo(3 / Math.sqrt(2));
    }

    @Test
    void numericFieldsAreValidatedWithAFix() {
        assertThatThrownBy(() -> LoraConfig.builder().r(0).build()).isInstanceOf(Peft4jException.class)
                .hasMessage("LoraConfig r must be > 0 (got 0); e.g. LoraConfig.builder().r(8)");   // the API names its methods
        assertThatThrownBy(() -> LoraConfig.builder().r(-3).build()).hasMessageContaining("(got -3)");
        assertThatThrownBy(() -> LoraConfig.builder().dropout(1f).build()).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("dropout must be in [0, 1) (got 1.0)").hasMessageContaining("LoraConfig.builder().dropout(0.05f)")
                .hasMessageNotContaining("--lora");
        assertThatThrownBy(() -> LoraConfig.builder().dropout(-0.1f).build()).hasMessageContaining("dropout must be in [0, 1)");
        assertThatThrownBy(() -> LoraConfig.builder().alpha(Double.NaN).build()).hasMessageContaining("alpha must be a finite number");
        assertThatThrownBy(() -> LoraConfig.builder().rankPattern("q_proj", 0).build())
                .hasMessageContaining("rankPattern entry 'q_proj' must be > 0 (got 0)");
        assertThatThrownBy(() -> LoraConfig.builder().alphaPattern("q_proj", Double.POSITIVE_INFINITY).build())
                .hasMessageContaining("alphaPattern entry 'q_proj'");
    }

    @Test
    void unsupportedFeaturesSaySo() {
        assertThatThrownBy(() -> LoraConfig.builder().bias("all").build()).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("bias = 'all' is not supported yet").hasMessageContaining("LoraConfig.builder().bias(\"none\")");
        assertThatThrownBy(() -> LoraConfig.builder().bias("lora_only").build()).hasMessageContaining("not supported yet");
        assertThatThrownBy(() -> LoraConfig.builder().bias("some").build()).hasMessageContaining("must be one of none, all, lora_only");
        assertThat(LoraConfig.builder().useDora(true).build().useDora()).as("DoRA is supported").isTrue();
        assertThatThrownBy(() -> LoraConfig.builder().loraBias(true).build()).hasMessageContaining("not supported yet");
        assertThatThrownBy(() -> InitLoraWeights.fromPeft("loftq")).hasMessageContaining("'loftq' is not supported yet");
        assertThatThrownBy(() -> InitLoraWeights.fromPeft("eva")).hasMessageContaining("not supported yet");
        assertThatThrownBy(() -> InitLoraWeights.fromPeft("kaiming")).hasMessageContaining("unknown initialization 'kaiming'");
    }

    @Test
    void layerSelectionRulesFollowPeftPostInit() {
        assertThatThrownBy(() -> LoraConfig.builder().targetRegex(".*q_proj").layersToTransform(0).build())
                .isInstanceOf(Peft4jException.class)
                .hasMessageContaining("layers_to_transform cannot be used when target_modules is a string");
        assertThatThrownBy(() -> LoraConfig.builder().allLinear().layersToTransform(0).build())
                .hasMessageContaining("layers_to_transform cannot be used");
        assertThatThrownBy(() -> LoraConfig.builder().targetRegex(".*q_proj").layersPattern("layers").layersToTransform(List.of()).build())
                .hasMessageContaining("layers_pattern cannot be used");
        assertThatThrownBy(() -> LoraConfig.builder().targetModules("q_proj").layersPattern("layers").build())
                .hasMessageContaining("layers_to_transform is not");
        assertThat(LoraConfig.builder().targetModules("q_proj").layersToTransform(1, 0).layersPattern("layers").build()
                .layersToTransform()).containsExactly(1, 0);
    }

    @Test
    void badRegexesFailAtConfigurationTime() {
        assertThatThrownBy(() -> LoraConfig.builder().targetRegex("(q_proj").build()).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("'(q_proj' is not a valid regular expression");
        assertThatThrownBy(() -> LoraConfig.builder().rankPattern("[", 4).build()).hasMessageContaining("not a valid regular expression");
        assertThatThrownBy(() -> LoraConfig.builder().modulesToSave("lm_head(").build()).hasMessageContaining("modules_to_save entry");
    }

    @Test
    void targetModulesForms() {
        assertThat(TargetModules.parse("q_proj, v_proj")).isEqualTo(TargetModules.names("q_proj", "v_proj"));
        assertThat(TargetModules.parse("All-Linear")).isSameAs(TargetModules.ALL_LINEAR);
        assertThat(TargetModules.parse("regex:.*\\.(q|v)_proj")).isEqualTo(new TargetModules.Regex(".*\\.(q|v)_proj"));
        assertThat(TargetModules.fromPeft(List.of("c_attn"))).isEqualTo(TargetModules.names("c_attn"));
        assertThat(TargetModules.fromPeft("all-linear")).isSameAs(TargetModules.ALL_LINEAR);
        assertThat(TargetModules.fromPeft(".*proj")).isInstanceOf(TargetModules.Regex.class);
        assertThat(TargetModules.names("q_proj", "v_proj", "q_proj").toPeft()).isEqualTo(List.of("q_proj", "v_proj"));
        assertThat(TargetModules.ALL_LINEAR.toPeft()).isEqualTo("all-linear");
        assertThat(LoraConfig.builder().targetModules(new TargetModules.Regex("ALL-LINEAR")).build().targetModules())
                .isSameAs(TargetModules.ALL_LINEAR);                    // PEFT compares the shorthand case-insensitively
        assertThatThrownBy(() -> TargetModules.names("q_proj", "")).hasMessageContaining("non-empty module names");
        assertThatThrownBy(() -> TargetModules.parse(" ")).hasMessageContaining("lora.target_modules is empty");
        assertThatThrownBy(() -> TargetModules.fromPeft(42)).hasMessageContaining("list of module names or a regex");
    }

    @Test
    void initLoraWeightsPeftValues() {
        assertThat(InitLoraWeights.fromPeft(true)).isEqualTo(InitLoraWeights.DEFAULT);
        assertThat(InitLoraWeights.fromPeft(false)).isEqualTo(InitLoraWeights.RANDOM);
        assertThat(InitLoraWeights.fromPeft("Gaussian")).isEqualTo(InitLoraWeights.GAUSSIAN);
        for (InitLoraWeights w : InitLoraWeights.values()) assertThat(InitLoraWeights.fromPeft(w.peftValue())).isEqualTo(w);
    }

    @Test
    void patternMapsKeepOrderAndCallerMapsAreNotTouched() {
        Map<String, Integer> mine = new LinkedHashMap<>();
        mine.put("v_proj", 2);
        mine.put("q_proj", 4);
        LoraConfig c = LoraConfig.builder().rankPattern(mine).rankPattern("o_proj", 6).build();
        assertThat(c.rankPattern().keySet()).containsExactly("v_proj", "q_proj", "o_proj");
        assertThat(mine).hasSize(2);
        assertThatThrownBy(() -> c.rankPattern().put("x", 1)).isInstanceOf(UnsupportedOperationException.class);
        LoraConfig round = c.toBuilder().build();
        assertThat(round).isEqualTo(c);
    }
}
