package dev.peft4j.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.autograd.Tensor;
import java.util.List;
import org.junit.jupiter.api.Test;

class BenchmarkShapesTest {
    @Test
    void realShapesHaveTheirPublishedParameterCounts() {
        // parameter counts of the HuggingFace checkpoints (tied heads counted once)
        assertThat(params(ModelFactory.shape("qwen2.5-0.5b"))).isEqualTo(494_032_768L);
        assertThat(params(ModelFactory.shape("llama-3.2-1b"))).isEqualTo(1_235_814_400L);
        assertThat(params(ModelFactory.shape("llama-3.2-3b"))).isEqualTo(3_212_749_824L);
        assertThat(params(ModelFactory.shape("llama-3.1-8b"))).isEqualTo(8_030_261_248L);
        assertThatThrownBy(() -> ModelFactory.shape("llama-70b")).hasMessageContaining("llama-3.1-8b");
    }

    /** Counted from the config the way transformers does, without building the model. */
    static long params(ModelConfig c) {
        long C = c.hiddenSize(), I = c.intermediateSize(), HS = c.headDim(), q = c.numHeads() * HS, kv = c.numKvHeads() * HS;
        long block = C * q + 2 * C * kv + q * C + 3 * C * I + 2 * C + (c.qkvBias() ? q + 2 * kv : 0);
        return c.numLayers() * block + (long) c.vocabSize() * C * (c.tieWordEmbeddings() ? 1 : 2) + C;
    }

    @Test
    void losslessBf16CompactsOnlyMatricesHoldingBf16Numbers() {
        Tensor exact = Tensor.frozen("a", new float[] {1f, 0.5f, -2f, 3.25f}, 2, 2);
        Tensor inexact = Tensor.frozen("b", new float[] {1f, 0.1f, -2f, 3.25f}, 2, 2);
        CausalLM.compactToBf16IfExact(exact);
        CausalLM.compactToBf16IfExact(inexact);
        assertThat(exact.compact()).isTrue();
        assertThat(exact.floats()).containsExactly(1f, 0.5f, -2f, 3.25f);
        assertThat(inexact.compact()).isFalse();
        assertThat(List.of(ModelFactory.SHAPES.size())).containsExactly(6);
    }
}
