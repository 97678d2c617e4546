package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;
import dev.peft4j.tuner.lora.InitLoraWeights;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.nn.Linear;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * PEFT's invariants for an injected adapter: identity at init (B = 0), the base model back when the adapter is
 * disabled or unloaded, and modules_to_save as a trainable copy that unties a tied head (ModulesToSaveWrapper).
 */
class LoraApplyTest {
    static final int B = 2, T = 6;

    static float[] logits(CausalLM m) {
        int V = m.config().vocabSize();
        int[] tok = new int[B * T];
        System.arraycopy(Fixtures.tokens(T, V, 1), 0, tok, 0, T);
        System.arraycopy(Fixtures.tokens(T, V, 2), 0, tok, T, T);
        return m.forward(tok, B, T, null, null, false);
    }

    static float[] cachedLogits(CausalLM m) {
        int[] tok = Fixtures.tokens(T, m.config().vocabSize(), 3);
        return m.forward(tok, 1, T, m.newCache(1, T), null, false);
    }

    /** Element-wise ==, so that exactness is the claim (not a tolerance). */
    static boolean same(float[] a, float[] b) {
        if (a.length != b.length) return false;
        for (int i = 0; i < a.length; i++) if (!(a[i] == b[i])) return false;
        return true;
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2", "llama-tied", "mistral", "qwen2", "qwen3", "gemma2", "gemma3"})
    void freshAdapterLeavesLogitsExactlyUnchanged(String name) {
        CausalLM model = Fixtures.load(name);
        float[] base = logits(model), baseCached = cachedLogits(model);
        LoraModel lm = Lora.apply(model, LoraConfig.builder().r(4).alpha(8).dropout(0.1f).allLinear().modulesToSave("lm_head").build(), 9);
        assertThat(lm.adaptedModules()).isNotEmpty();
        assertThat(same(logits(model), base)).as("%s: logits with a fresh adapter", name).isTrue();
        assertThat(same(cachedLogits(model), baseCached)).as("%s: KV-cache path", name).isTrue();
        lm.unload();
        LoraModel g = Lora.apply(model, LoraConfig.builder().r(4).init(InitLoraWeights.GAUSSIAN).build(), 9);
        assertThat(same(logits(model), base)).as("%s: gaussian init", name).isTrue();
        g.unload();
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2"})
    void disableAndUnloadGiveTheBaseModelBack(String name) {
        CausalLM model = Fixtures.load(name);
        float[] base = logits(model);
        LoraModel lm = Lora.apply(model, LoraConfig.builder().r(4).allLinear().init(InitLoraWeights.RANDOM).build(), 3);
        float[] adapted = logits(model);
        assertThat(same(adapted, base)).as("init_lora_weights=false is not a no-op").isFalse();
        lm.disable();
        assertThat(lm.enabled()).isFalse();
        assertThat(same(logits(model), base)).isTrue();
        lm.enable();
        assertThat(same(logits(model), adapted)).isTrue();
        lm.unload();
        assertThat(same(logits(model), base)).isTrue();
        for (Linear l : model.linears()) {
            assertThat(l.adapters()).isEmpty();
            assertThat(l.active()).isEmpty();
        }
        assertThatThrownBy(lm::enable).isInstanceOf(IllegalStateException.class).hasMessageContaining("unloaded");
    }

    @Test
    void modulesToSaveUntiesTheHeadFromTheEmbedding() {
        CausalLM model = Fixtures.load("llama-tied");
        Tensor embed = model.parameters().get(0);
        Linear head = model.linears().get(model.linears().size() - 1);
        assertThat(embed.name).isEqualTo("model.embed_tokens.weight");
        assertThat(head.weight()).isSameAs(embed);                          // tied: one tensor
        float[] base = logits(model), embedBefore = embed.data.clone();

        LoraModel lm = Lora.apply(model, LoraConfig.builder().modulesToSave("lm_head").build(), 1);
        Tensor copy = head.weight();
        assertThat(copy).isNotSameAs(embed);
        assertThat(copy.requiresGrad).isTrue();
        assertThat(copy.name).isEqualTo("base_model.model.lm_head.weight");
        assertThat(copy.data).isEqualTo(embed.data);
        assertThat(embed.requiresGrad).isFalse();
        assertThat(lm.modulesToSave()).containsExactly("lm_head");
        assertThat(lm.trainableParameters()).contains(copy).hasSize(4 * 2 + 1);   // q,v A/B in 2 layers + the head copy
        assertThat(model.parameters()).contains(embed, copy);
        assertThat(same(logits(model), base)).isTrue();

        for (int j = 0; j < 64; j++) copy.data[5 * 64 + j] += 0.5f;            // train the head copy: row of token 5
        assertThat(same(logits(model), base)).isFalse();
        assertThat(embed.data).isEqualTo(embedBefore);                       // the input embedding did not move
        lm.disable();
        assertThat(head.weight()).isSameAs(embed);
        assertThat(same(logits(model), base)).isTrue();
        lm.enable();
        assertThat(head.weight()).isSameAs(copy);
        lm.unload();
        assertThat(head.weight()).isSameAs(embed);
        assertThat(same(logits(model), base)).isTrue();
    }

    @Test
    void modulesToSaveOnAnUntiedHeadAndOnAConv1D() {
        CausalLM model = Fixtures.load("gpt2");
        LoraModel lm = Lora.apply(model, LoraConfig.builder().targetModules("c_attn").modulesToSave("mlp.c_proj").build(), 1);
        assertThat(lm.modulesToSave()).containsExactly("transformer.h.0.mlp.c_proj", "transformer.h.1.mlp.c_proj");
        // module order: h.0 c_attn A, B, h.0 mlp.c_proj weight, bias, then layer 1
        assertThat(lm.trainableParameters()).extracting(t -> t.name).containsExactly(
                "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight", "base_model.model.transformer.h.0.attn.c_attn.lora_B.weight",
                "base_model.model.transformer.h.0.mlp.c_proj.weight", "base_model.model.transformer.h.0.mlp.c_proj.bias",
                "base_model.model.transformer.h.1.attn.c_attn.lora_A.weight", "base_model.model.transformer.h.1.attn.c_attn.lora_B.weight",
                "base_model.model.transformer.h.1.mlp.c_proj.weight", "base_model.model.transformer.h.1.mlp.c_proj.bias");
        assertThat(lm.config().fanInFanOut()).isTrue();
    }

    @Test
    void adapterNamesAndRepeatedApplication() {
        CausalLM model = Fixtures.load("llama");
        assertThatThrownBy(() -> Lora.apply(model, LoraConfig.defaults(), "my.adapter", 1)).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("contain no '.'");
        LoraModel a = Lora.apply(model, LoraConfig.builder().modulesToSave("lm_head").build(), 1);
        assertThat(a.adapterName()).isEqualTo("default");
        assertThatThrownBy(() -> Lora.apply(model, LoraConfig.defaults(), 2)).hasMessageContaining("already has an adapter named 'default'");
        assertThatThrownBy(() -> Lora.apply(model, LoraConfig.builder().modulesToSave("lm_head").build(), "other", 2))
                .hasMessageContaining("modules_to_save for several adapters");
        LoraModel b = Lora.apply(model, LoraConfig.builder().targetModules("q_proj").build(), "other", 2);
        Linear q0 = model.linears().get(0);
        assertThat(q0.adapters()).containsOnlyKeys("default", "other");
        assertThat(q0.active()).containsExactly("other");
        b.unload();
        a.enable();      // already enabled: no-op
        assertThat(q0.adapters()).containsOnlyKeys("default");
        assertThat(a.toString()).contains("adapter 'default'").contains("modules_to_save [lm_head]");
    }
}
