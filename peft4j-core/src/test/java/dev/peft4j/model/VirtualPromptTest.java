package dev.peft4j.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The model-side hook of the prompt-learning methods (VirtualPrompt), checked by equivalences that
 * need no reference implementation: virtual tokens that ARE the embeddings of real tokens p must
 * give the logits of the sequence [p; x]; key/value prefixes that ARE the model's own keys/values of
 * p must give the same; generation over a KV cache (prefill + decode) must equal the cache-less
 * forward; a left-padded batch must equal its rows run one by one; gradients reach the prompt.
 * On the GQA Llama golden model (RoPE, llama3 rope scaling) and on GPT-2 (learned positions).
 */
class VirtualPromptTest {
    static final int[] P_IDS = {5, 17, 42};

    static CausalLM model(String name) throws Exception { return CausalLM.load(ModelGoldenTest.dir(name)); }

    static Tensor embedTable(CausalLM m) {
        return m instanceof Llama l ? l.embed : m instanceof Gemma g ? g.embed : m instanceof Phi3 p ? p.embed : ((Gpt2) m).wte;
    }

    /** Virtual tokens = the embeddings of P_IDS (optionally a trainable copy). */
    static VirtualPrompt.Tokens tokensOf(CausalLM m, Tensor table) {
        int C = m.config().hiddenSize(), P = P_IDS.length;
        return new VirtualPrompt.Tokens() {
            public int length() { return P; }
            public Tensor embeddings(Tape tape, int B) {
                float[] rows = new float[B * P * C];
                Tensor t = table;
                for (int b = 0; b < B; b++)
                    for (int p = 0; p < P; p++) System.arraycopy(t.floats(), P_IDS[p] * C, rows, (b * P + p) * C, C);
                // Gemma 3 scales in its embedding module, so PEFT's inputs_embeds of real tokens are already x √hidden
                if (m.config().family() == ModelConfig.Family.GEMMA3_TEXT)
                    for (int i = 0; i < rows.length; i++) rows[i] *= (float) Math.sqrt(C);
                if (!t.requiresGrad) return Tensor.activation(rows, false, B * P, C);
                return dev.peft4j.autograd.Ops.embedding(tape, t, repeat(B));
            }
        };
    }

    static int[] repeat(int B) {
        int[] ids = new int[B * P_IDS.length];
        for (int b = 0; b < B; b++) System.arraycopy(P_IDS, 0, ids, b * P_IDS.length, P_IDS.length);
        return ids;
    }

    /** Key/value prefixes = the model's own keys/values of P_IDS (per layer, (B*P, KVH*HS)). */
    static VirtualPrompt.Prefix prefixOf(CausalLM m, int B) {
        int P = P_IDS.length;
        m.setPrompt(null);
        KvCache c = m.newCache(B, P);
        m.forward(repeat(B), B, P, c, null, false);
        int L = m.config().numLayers(), KVH = c.kvHeads, HS = c.headDim;
        float[][][] kv = new float[L][2][B * P * KVH * HS];
        for (int l = 0; l < L; l++)
            for (int b = 0; b < B; b++)
                for (int h = 0; h < KVH; h++)
                    for (int p = 0; p < P; p++) {
                        int src = ((b * KVH + h) * c.capacity + p) * HS, dst = ((b * P + p) * KVH + h) * HS;
                        System.arraycopy(c.k[l], src, kv[l][0], dst, HS);
                        System.arraycopy(c.v[l], src, kv[l][1], dst, HS);
                    }
        return new VirtualPrompt.Prefix() {
            public int length() { return P; }
            public Tensor[] keysValues(Tape tape, int layer, int rows) {
                assertThat(rows).isEqualTo(B);
                return new Tensor[] {Tensor.activation(kv[layer][0].clone(), false, B * P, KVH * HS),
                        Tensor.activation(kv[layer][1].clone(), false, B * P, KVH * HS)};
            }
        };
    }

    static int[] concat(int[] a, int[] b) {
        int[] out = new int[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** Logits of [P_IDS; x] without any prompt, rows P.. (one sequence). */
    static float[] reference(CausalLM m, int[] x) {
        m.setPrompt(null);
        int P = P_IDS.length, V = m.config().vocabSize();
        float[] all = m.forward(concat(P_IDS, x), 1, P + x.length, null, null, false);
        float[] out = new float[x.length * V];
        System.arraycopy(all, P * V, out, 0, out.length);
        return out;
    }

    static void close(float[] a, int aOff, float[] b, int bOff, int n, double tol, String what) {
        double max = 0, scale = 1e-6;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, Math.abs(a[aOff + i] - b[bOff + i]));
            scale = Math.max(scale, Math.abs(b[bOff + i]));
        }
        assertThat(max / scale).as(what).isLessThan(tol);
    }

    static final int[][] ROWS = {{3, 9, 27, 81 % 100, 11, 60}, {7, 8, 2, 33}};

    @ParameterizedTest
    @ValueSource(strings = {"llama:tokens", "llama:prefix", "gpt2:tokens", "gpt2:prefix", "qwen2:prefix", "mistral:tokens",
            "gemma2:tokens", "gemma2:prefix", "gemma3:tokens", "gemma3:prefix"})
    void promptOfRealTokensEqualsTheLongerSequence(String spec) throws Exception {
        String[] s = spec.split(":");
        CausalLM m = model(s[0]);
        int V = m.config().vocabSize();
        int[] x = ROWS[0];
        float[] want = reference(m, x);
        // whole sequence (training / evaluation path), B = 1
        m.setPrompt(s[1].equals("tokens") ? tokensOf(m, embedTable(m)) : prefixOf(m, 1));
        float[] got = m.forward(x, 1, x.length, null, null, false);
        assertThat(got).hasSize(x.length * V);                    // virtual rows dropped
        close(got, 0, want, 0, want.length, 2e-5, spec + " cache-less forward");
        // prefill all but the last two tokens, then decode them one by one over the cache
        KvCache cache = m.newCache(1, x.length);
        int pre = x.length - 2;
        float[] first = m.forward(java.util.Arrays.copyOf(x, pre), 1, pre, cache, null, false);
        close(first, 0, want, 0, pre * V, 2e-5, spec + " prefill");
        for (int t = pre; t < x.length; t++) {
            float[] step = m.forward(new int[] {x[t]}, 1, 1, cache, null, true);
            close(step, 0, want, t * V, V, 2e-5, spec + " decode step " + t);
        }
        assertThat(cache.length()).isEqualTo(P_IDS.length + x.length);
        assertThat(cache.virtualTokens()).isEqualTo(P_IDS.length);
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama:tokens", "llama:prefix", "gpt2:tokens", "gpt2:prefix"})
    void leftPaddedBatchEqualsRowsOneByOne(String spec) throws Exception {
        String[] s = spec.split(":");
        CausalLM m = model(s[0]);
        int V = m.config().vocabSize(), B = ROWS.length, T = ROWS[0].length, steps = 3;
        int[] next = {4, 12, 19};
        // one by one: prompt then `steps` decode steps, logits of the last position each time
        float[][][] single = new float[B][steps + 1][];
        for (int b = 0; b < B; b++) {
            m.setPrompt(s[1].equals("tokens") ? tokensOf(m, embedTable(m)) : prefixOf(m, 1));
            KvCache c = m.newCache(1, ROWS[b].length + steps);
            single[b][0] = m.forward(ROWS[b], 1, ROWS[b].length, c, null, true);
            for (int i = 0; i < steps; i++) single[b][i + 1] = m.forward(new int[] {next[i]}, 1, 1, c, null, true);
        }
        // batched, left-padded
        m.setPrompt(s[1].equals("tokens") ? tokensOf(m, embedTable(m)) : prefixOf(m, B));
        int[] pad = new int[B], tokens = new int[B * T];
        for (int b = 0; b < B; b++) {
            pad[b] = T - ROWS[b].length;
            System.arraycopy(ROWS[b], 0, tokens, b * T + pad[b], ROWS[b].length);
        }
        KvCache c = m.newCache(B, T + steps);
        float[] out = m.forward(tokens, B, T, c, pad, true);
        for (int b = 0; b < B; b++) close(out, b * V, single[b][0], 0, V, 2e-5, spec + " prefill row " + b);
        for (int i = 0; i < steps; i++) {
            int[] ids = new int[B];
            java.util.Arrays.fill(ids, next[i]);
            out = m.forward(ids, B, 1, c, pad, true);
            for (int b = 0; b < B; b++) close(out, b * V, single[b][i + 1], 0, V, 2e-5, spec + " step " + i + " row " + b);
        }
    }

    /** Σ g·logits as a function of one virtual-token value, against the tape's gradient (float, central differences). */
    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2"})
    void gradientsReachTheVirtualTokensAndThePrefix(String name) throws Exception {
        CausalLM m = model(name);
        int C = m.config().hiddenSize(), V = m.config().vocabSize(), P = P_IDS.length;
        int[] x = ROWS[1];
        Random r = new Random(3);
        float[] g = new float[x.length * V];
        for (int i = 0; i < g.length; i++) g[i] = (float) r.nextGaussian();
        // virtual tokens: a trainable table holding the prompt rows
        Tensor table = Tensor.param("prompt", embedTable(m).floats().clone(), embedTable(m).shape.clone());
        m.setPrompt(tokensOf(m, table));
        Tape tape = new Tape(0);
        Tensor y = m.forward(tape, x, 1, x.length, null, null, false);
        seed(tape, y, g);
        float[] analytic = table.grad().clone();
        double maxErr = 0, scale = 0;
        for (int p = 0; p < P; p++) for (int i = 0; i < C; i++) scale = Math.max(scale, Math.abs(analytic[P_IDS[p] * C + i]));
        for (int p = 0; p < P; p++)
            for (int i = 0; i < C; i += 7) {
                int idx = P_IDS[p] * C + i;
                double num = numeric(m, table.data, idx, x, g);
                maxErr = Math.max(maxErr, Math.abs(num - analytic[idx]));
            }
        assertThat(scale).isGreaterThan(0);
        assertThat(maxErr / scale).as("virtual-token gradient vs central differences").isLessThan(3e-2);

        // prefix: trainable keys/values of layer 0
        VirtualPrompt.Prefix frozen = prefixOf(m, 1);
        Tensor[] kv0 = frozen.keysValues(null, 0, 1);
        Tensor k0 = Tensor.param("k0", kv0[0].data.clone(), kv0[0].shape.clone()), v0 = Tensor.param("v0", kv0[1].data.clone(), kv0[1].shape.clone());
        m.setPrompt(new VirtualPrompt.Prefix() {
            public int length() { return P; }
            public Tensor[] keysValues(Tape t, int layer, int B) { return layer == 0 ? new Tensor[] {k0, v0} : frozen.keysValues(t, layer, B); }
        });
        tape = new Tape(0);
        y = m.forward(tape, x, 1, x.length, null, null, false);
        seed(tape, y, g);
        for (Tensor t : new Tensor[] {k0, v0}) {
            float[] a = t.grad().clone();
            double err = 0, sc = 0;
            for (float v : a) sc = Math.max(sc, Math.abs(v));
            for (int i = 0; i < a.length; i += 5) err = Math.max(err, Math.abs(numeric(m, t.data, i, x, g) - a[i]));
            assertThat(sc).isGreaterThan(0);
            assertThat(err / sc).as("prefix %s gradient vs central differences", t.name).isLessThan(3e-2);
        }
    }

    static void seed(Tape tape, Tensor y, float[] g) {
        Tensor loss = Tensor.activation(new float[] {0f}, true);
        tape.record(() -> { float[] dy = y.grad(); for (int i = 0; i < g.length; i++) dy[i] += g[i]; });
        tape.backward(loss);
    }

    static double numeric(CausalLM m, float[] data, int idx, int[] x, float[] g) {
        float keep = data[idx], h = 1e-2f;
        data[idx] = keep + h;
        double up = dot(g, m.forward(x, 1, x.length, null, null, false));
        data[idx] = keep - h;
        double down = dot(g, m.forward(x, 1, x.length, null, null, false));
        data[idx] = keep;
        return (up - down) / (2 * h);
    }

    static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += (double) a[i] * b[i];
        return s;
    }
}
