package dev.peft4j.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.generate.Sampler;
import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.PeftModel;
import dev.peft4j.tuner.lora.InitLoraWeights;
import dev.peft4j.tuner.lora.LoraConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Continuous batching's two model-side pieces, checked against plain cache-less forwards:
 * a ragged KV-cache view (sequences of different lengths, each in its own cache, decoded in one
 * batch) and per-sequence adapter routing (LoRA rows through the additive fast path, DoRA rows
 * through their own forward, base rows untouched). Each sequence, prefilled alone, then decoded
 * in the mixed batch, must give the logits of its own full forward with its adapter active.
 */
class RaggedBatchTest {
    static final int STEPS = 5;

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2", "qwen2", "mistral", "gemma2", "phi3", "qwen3"})
    void mixedAdaptersAndLengthsDecodeLikeEachSequenceAlone(String name) throws Exception {
        CausalLM m = CausalLM.load(ModelGoldenTest.dir(name));
        int V = m.config().vocabSize();
        PeftModel pm = new PeftModel(m);
        pm.addAdapter(LoraConfig.builder().r(4).allLinear().init(InitLoraWeights.RANDOM).build(), "a", 1);
        pm.addAdapter(LoraConfig.builder().r(2).alpha(8).allLinear().init(InitLoraWeights.RANDOM).build(), "b", 2);
        pm.addAdapter(LoraConfig.builder().r(2).allLinear().useDora(true).init(InitLoraWeights.RANDOM).build(), "d", 3);
        pm.disableAdapters();
        // sequence i: prompt, adapter (null = base), virtual prompt (the last one: 3 virtual tokens)
        int[][] prompts = {{5, 17, 3}, {9, 41, 7, 30, 12, 6, 33}, {2, 19, 8, 27, 14}, {11, 4}, {7, 7, 21, 3}, {13, 6, 1}};
        String[] adapter = {"a", null, "b", "a", "d", null};
        VirtualPrompt.Tokens[] virtual = new VirtualPrompt.Tokens[prompts.length];
        virtual[5] = VirtualPromptTest.tokensOf(m, VirtualPromptTest.embedTable(m));
        int B = prompts.length, ownSteps = 0;

        List<KvCache> caches = new ArrayList<>();
        List<List<Integer>> seqs = new ArrayList<>();
        int[] next = new int[B];
        for (int i = 0; i < B; i++) {                                             // prefill alone, routed
            route(m, new String[] {adapter[i]});
            m.setPrompt(virtual[i]);
            KvCache c = m.newCache(1, prompts[i].length + STEPS);
            float[] logits = m.forward(prompts[i], 1, prompts[i].length, c, null, true);
            m.setPrompt(null);
            assertClose(logits, reference(m, pm, adapter[i], virtual[i], prompts[i], List.of()), name + " prefill " + i);
            caches.add(c);
            next[i] = Sampler.argmax(logits, 0, V);
            seqs.add(new ArrayList<>(List.of(next[i])));
        }
        for (int step = 0; step < STEPS; step++) {                               // decode all six in one batch
            // a sequence whose step rebuilds its cache (Phi-3 passing original_max) runs alone, the rest together
            List<Integer> together = new ArrayList<>();
            float[] logits = new float[B * V];
            for (int i = 0; i < B; i++) {
                if (!m.needsOwnStep(caches.get(i), 1)) { together.add(i); continue; }
                route(m, new String[] {adapter[i]});
                System.arraycopy(m.forward(new int[] {next[i]}, 1, 1, caches.get(i), null, true), 0, logits, i * V, V);
                ownSteps++;
            }
            KvCache view = KvCache.ragged(together.stream().map(caches::get).toList());
            route(m, together.stream().map(i -> adapter[i]).toArray(String[]::new));
            float[] part = m.forward(together.stream().mapToInt(i -> next[i]).toArray(), together.size(), 1, view, view.pad(), true);
            for (int j = 0; j < together.size(); j++) System.arraycopy(part, j * V, logits, together.get(j) * V, V);
            for (int i = 0; i < B; i++) {
                float[] row = Arrays.copyOfRange(logits, i * V, (i + 1) * V);
                assertClose(row, reference(m, pm, adapter[i], virtual[i], prompts[i], seqs.get(i)), name + " step " + step + " seq " + i);
                next[i] = Sampler.argmax(row, 0, V);
                seqs.get(i).add(next[i]);
            }
            for (int i = 0; i < B; i++) assertThat(caches.get(i).length())
                    .isEqualTo((virtual[i] == null ? 0 : 3) + prompts[i].length + step + 1);
        }
        route(m, null);
        // the phi3 fixture's original_max_position_embeddings (5) is crossed by the four shortest prompts
        assertThat(ownSteps).isEqualTo(name.equals("phi3") ? 4 : 0);
    }

    @Test
    void raggedViewRefusesEmptyOrBatchedCaches() throws Exception {
        CausalLM m = CausalLM.load(ModelGoldenTest.dir("llama"));
        assertThatThrownBy(() -> KvCache.ragged(List.of(m.newCache(1, 4)))).hasMessageContaining("prefill first");
        assertThatThrownBy(() -> KvCache.ragged(List.of(m.newCache(2, 4)))).hasMessageContaining("batch 1");
    }

    static void route(CausalLM m, String[] adapters) {
        for (Linear l : m.linears()) l.setRouting(adapters);
    }

    /** Logits of the last position of [prompt, generated] from a cache-less forward with only that adapter active. */
    static float[] reference(CausalLM m, PeftModel pm, String adapter, VirtualPrompt.Tokens vp, int[] prompt, List<Integer> generated) {
        route(m, null);
        if (adapter == null) pm.disableAdapters(); else pm.setAdapter(adapter);
        m.setPrompt(vp);
        int[] ids = new int[prompt.length + generated.size()];
        System.arraycopy(prompt, 0, ids, 0, prompt.length);
        for (int j = 0; j < generated.size(); j++) ids[prompt.length + j] = generated.get(j);
        float[] out = m.forward(ids, 1, ids.length, null, null, true);
        m.setPrompt(null);
        pm.disableAdapters();
        return out;
    }

    static void assertClose(float[] got, float[] want, String what) {
        double max = 0, scale = 1e-6;
        for (int i = 0; i < want.length; i++) { max = Math.max(max, Math.abs(got[i] - want[i])); scale = Math.max(scale, Math.abs(want[i])); }
        assertThat(max / scale).as(what + ": max |diff| " + max).isLessThan(2e-5);
    }
}
