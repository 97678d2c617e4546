package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;
import dev.peft4j.tuner.lora.LoraPlan;

import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.nn.Linear;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * Parameter counts as PEFT's print_trainable_parameters reports them: the reference figures of
 * ../shared/bench/README.md (PEFT on GPT-2-124M and SmolLM2-135M shapes) from shapes alone, and on the
 * golden models by counting the tensors themselves.
 */
class LoraCountsTest {
    @Test
    void gpt2_124mWithR8OnCAttn() {
        LoraPlan p = LoraPlan.of(Fixtures.gpt2_124m(), LoraConfig.builder().r(8).alpha(16).build());   // default target: c_attn
        assertThat(p.baseParameterCount()).isEqualTo(124_439_808L);                 // transformers' GPT2LMHeadModel, tied head
        assertThat(p.targets()).hasSize(12);
        assertThat(p.trainableParameterCount()).isEqualTo(294_912L);
        assertThat(p.allParameterCount()).isEqualTo(124_734_720L);
        assertThat(p.trainableSummary()).isEqualTo("trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364");
    }

    @Test
    void smollm2_135mWithR16OnAllProjections() {
        LoraPlan p = LoraPlan.of(Fixtures.smollm2_135m(), LoraConfig.builder().r(16).alpha(32)
                .targetModules("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj").build());
        assertThat(p.baseParameterCount()).isEqualTo(134_515_008L);
        assertThat(p.targets()).hasSize(30 * 7);
        assertThat(p.trainableParameterCount()).isEqualTo(4_884_480L);
        assertThat(p.allParameterCount()).isEqualTo(139_399_488L);
        assertThat(p.trainableSummary()).isEqualTo("trainable params: 4,884,480 || all params: 139,399,488 || trainable%: 3.5039");
        // all-linear selects the same modules here (everything but lm_head)
        assertThat(LoraPlan.of(Fixtures.smollm2_135m(), LoraConfig.builder().r(16).alpha(32).allLinear().build()).trainableParameterCount())
                .isEqualTo(4_884_480L);
    }

    @Test
    void modulesToSaveAddATrainableCopyToBothCounts() {
        LoraPlan p = LoraPlan.of(Fixtures.gpt2_124m(), LoraConfig.builder().modulesToSave("lm_head").build());
        long head = 50_257L * 768;
        assertThat(p.modulesToSaveParameterCount()).isEqualTo(head);
        assertThat(p.trainableParameterCount()).isEqualTo(294_912L + head);
        assertThat(p.allParameterCount()).isEqualTo(124_734_720L + head);  // the tied original stays, counted once
    }

    @Test
    void summaryFormatIsPythons() {
        assertThat(LoraPlan.formatTrainable(0, 5)).isEqualTo("trainable params: 0 || all params: 5 || trainable%: 0.0000");
        assertThat(LoraPlan.formatTrainable(1, 3)).isEqualTo("trainable params: 1 || all params: 3 || trainable%: 33.3333");
        assertThat(LoraPlan.formatTrainable(1, 8)).isEqualTo("trainable params: 1 || all params: 8 || trainable%: 12.5000");
        // 100/160000 = 0.000625 exactly in decimal but not in binary: Python's :.4f gives 0.0006 (the double is below the tie)
        assertThat(LoraPlan.formatTrainable(1, 160_000)).endsWith("trainable%: 0.0006");
        assertThat(LoraPlan.formatTrainable(1_234_567, 9_876_543_210L)).startsWith("trainable params: 1,234,567 || all params: 9,876,543,210");
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2", "llama-tied", "mistral", "qwen2", "qwen3", "smollm3", "olmo2", "llama-sharded", "phi3", "phi3-tied", "gemma2", "gemma3"})
    void moduleTreeFromConfigMatchesTheLoadedModel(String name) {
        CausalLM model = Fixtures.load(name);
        ModelModules fromConfig = ModelModules.of(model.config());
        assertThat(fromConfig.baseParameterCount()).isEqualTo(model.parameterCount());
        List<Linear> lin = model.linears();
        List<ModelModules.Module> mods = fromConfig.linears();
        assertThat(mods).hasSameSizeAs(lin);
        for (int i = 0; i < lin.size(); i++) {
            assertThat(mods.get(i).name()).isEqualTo(lin.get(i).name);
            assertThat(mods.get(i).parameterCount()).isEqualTo(lin.get(i).parameterCount());
        }
        ModelModules.of(model);    // the cross-check itself does not throw
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2", "llama-tied", "qwen2", "qwen3", "smollm3", "olmo2", "phi3", "phi3-tied", "gemma2", "gemma3"})
    void countsOnAGoldenModelEqualTheTensorsAttached(String name) {
        CausalLM model = Fixtures.load(name);
        long base = model.parameterCount();
        LoraModel lm = Lora.apply(model, LoraConfig.builder().r(4).alpha(8).allLinear().modulesToSave("lm_head").build(), 1L);
        long trainable = 0;
        for (Tensor t : lm.trainableParameters()) {
            assertThat(t.requiresGrad).isTrue();
            trainable += t.size();
        }
        long lora = 0, head = 0;
        for (Linear l : model.linears()) {
            if (l.adapters().containsKey("default")) lora += l.adapters().get("default").parameterCount();
            if (l.name.equals("lm_head")) head = l.weight().size();
        }
        assertThat(trainable).isEqualTo(lora + head).isEqualTo(lm.plan().trainableParameterCount());
        assertThat(lm.trainableParameterCount()).isEqualTo(trainable);
        assertThat(lm.allParameterCount()).isEqualTo(base + lora + head);
        assertThat(lm.trainableSummary()).isEqualTo(LoraPlan.formatTrainable(lora + head, base + lora + head));
        // the model's own count now holds the trainable head copy (and no longer a separate untied original)
        long originalHead = model.config().tieWordEmbeddings() ? 0 : head;
        assertThat(model.parameterCount()).isEqualTo(base - originalHead + head);
    }
}
