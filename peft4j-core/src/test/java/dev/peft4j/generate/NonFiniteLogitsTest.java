/*
 * NonFiniteLogitsTest: a model whose forward gives NaN/Inf logits makes generation and evaluation
 * fail with an error naming the likely cause (here: the first weight holding NaN), instead of
 * printing nothing (argmax of NaN rows) or reporting a NaN perplexity with exit code 0.
 */
package dev.peft4j.generate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.Golden;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.eval.Perplexity;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.NonFinite;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class NonFiniteLogitsTest {
    private static CausalLM withNaNWeight(String tensorName) {
        CausalLM model = CausalLM.load(Golden.model("llama"));
        Tensor t = model.parameters().stream().filter(p -> p.name.equals(tensorName)).findFirst().orElseThrow();
        t.data[5] = Float.NaN;
        return model;
    }

    @Test
    void generateWithNaNWeightsNamesTheTensor() {
        CausalLM model = withNaNWeight("model.layers.1.mlp.down_proj.weight");
        assertThatThrownBy(() -> new Generator(model).generate(new int[] {1, 5, 9}, SamplingConfig.greedy(4), Set.of(2), null))
                .isInstanceOf(Peft4jException.class)
                .hasMessageContaining("non-finite logits")
                .hasMessageContaining("model.layers.1.mlp.down_proj.weight[5] = NaN");
    }

    @Test
    void perplexityWithNaNWeightsIsAnErrorNotANaNResult() {
        CausalLM model = withNaNWeight("model.norm.weight");
        assertThatThrownBy(() -> Perplexity.evaluateTokens(model, List.of(new int[] {1, 5, 9, 3, 7}), 64))
                .isInstanceOf(Peft4jException.class)
                .hasMessageContaining("non-finite logits").hasMessageContaining("model.norm.weight[5] = NaN");
    }

    @Test
    void overflowWithFiniteWeightsPointsAtTheConfigAndMagnitudes() {
        CausalLM model = CausalLM.load(Golden.model("llama"));
        Tensor head = model.lmHead().weight();
        java.util.Arrays.fill(head.data, 3e38f);      // finite, but the logits overflow to Inf
        assertThat(NonFinite.firstNonFiniteParameter(model)).isNull();
        assertThatThrownBy(() -> new Generator(model).generate(new int[] {1, 5}, SamplingConfig.greedy(2), Set.of(2), null))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("overflow");
    }

    @Test
    void finiteModelStillGenerates() {
        CausalLM model = CausalLM.load(Golden.model("llama"));
        assertThat(new Generator(model).generate(new int[] {1, 5, 9}, SamplingConfig.greedy(4), Set.of(), null)).hasSize(4);
    }
}
