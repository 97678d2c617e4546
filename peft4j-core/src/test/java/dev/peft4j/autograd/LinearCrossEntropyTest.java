package dev.peft4j.autograd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The fused, chunked LM head + loss equals Ops.linear followed by Ops.crossEntropy, value and gradients. */
class LinearCrossEntropyTest {
    @Test
    void matchesTheUnfusedOpsAcrossChunkBoundaries() {
        Random r = new Random(5);
        int C = 24, V = 300000;                             // chunkRows(V) = 16 rows
        int rows = 2 * LinearCrossEntropy.chunkRows(V) + 5;   // three chunks, the last partial
        float[] h0 = new float[rows * C], w0 = new float[V * C], b0 = new float[V];
        for (int i = 0; i < h0.length; i++) h0[i] = (float) r.nextGaussian();
        for (int i = 0; i < w0.length; i++) w0[i] = (float) (0.3 * r.nextGaussian());
        for (int i = 0; i < V; i++) b0[i] = (float) (0.1 * r.nextGaussian());
        int[] targets = new int[rows];
        for (int i = 0; i < rows; i++) targets[i] = i % 7 == 0 ? Ops.IGNORE_INDEX : r.nextInt(V);
        for (int i = 16; i < 32; i++) targets[i] = Ops.IGNORE_INDEX;    // a chunk with nothing to learn

        Tensor h1 = Tensor.param("h", h0.clone(), rows, C), w1 = Tensor.param("w", w0.clone(), V, C), b1 = Tensor.param("b", b0.clone(), V);
        Tape t1 = new Tape(0);
        Tensor l1 = LinearCrossEntropy.forward(t1, h1, w1, b1, targets);
        t1.backward(l1, 0.5f);

        Tensor h2 = Tensor.param("h", h0.clone(), rows, C), w2 = Tensor.param("w", w0.clone(), V, C), b2 = Tensor.param("b", b0.clone(), V);
        Tape t2 = new Tape(0);
        Tensor l2 = Ops.crossEntropy(t2, Ops.linear(t2, h2, w2, b2), targets);
        t2.backward(l2, 0.5f);

        assertThat((double) l1.data[0]).isCloseTo(l2.data[0], within(1e-5));
        close(h1.grad(), h2.grad(), "dh");
        close(w1.grad(), w2.grad(), "dW");
        close(b1.grad(), b2.grad(), "db");
    }

    @Test
    void frozenHeadGetsNoGradientBuffer() {
        Tensor h = Tensor.param("h", new float[4 * 3], 4, 3), w = Tensor.frozen("w", new float[5 * 3], 5, 3);
        Tape t = new Tape(0);
        t.backward(LinearCrossEntropy.forward(t, h, w, null, new int[] {1, 2, 3, Ops.IGNORE_INDEX}));
        assertThat(w.hasGrad()).isFalse();
        assertThat(h.hasGrad()).isTrue();
    }

    static void close(float[] a, float[] b, String what) {
        double max = 0, ref = 1e-6;
        for (int i = 0; i < a.length; i++) { max = Math.max(max, Math.abs(a[i] - b[i])); ref = Math.max(ref, Math.abs(b[i])); }
        assertThat(max / ref).as(what).isLessThan(1e-5);
    }
}
