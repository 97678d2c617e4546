/*
 * ModelFactory: builds a model of a given configuration with random weights in memory, no
 * checkpoint needed — for benchmarks at real shapes (GPT-2-124M, SmolLM2-135M) and for the
 * quickstart's small base model. Weights ~ N(0, std) (GPT-2's initializer_range 0.02; the embedding may
 * get its own std, e.g. torch.nn.Embedding's 1.0), norms 1,
 * biases 0, drawn from a seeded SplittableRandom in parameter order.
 */
package dev.peft4j.model;

import dev.peft4j.autograd.Tensor;
import dev.peft4j.nn.Linear;
import java.util.List;
import java.util.SplittableRandom;

public final class ModelFactory {
    private ModelFactory() {}

    /** GPT-2 small (124M): 12 layers, C 768, 12 heads, V 50257, 1024 positions, tied head. */
    public static ModelConfig gpt2Small() {
        return new ModelConfig(ModelConfig.Family.GPT2, 50257, 768, 3072, 12, 12, 12, 64, 1024, 1e-5f, 0, null,
                true, true, true, true, 0, 50256, List.of(50256), "float32");
    }

    /** SmolLM2-135M: 30 layers, C 576, 9 heads / 3 KV heads, MLP 1536, V 49152, tied head, rope theta 100000. */
    public static ModelConfig smolLm2_135m() {
        return new ModelConfig(ModelConfig.Family.LLAMA, 49152, 576, 1536, 30, 9, 3, 64, 8192, 1e-5f, 100000.0, null,
                true, false, false, false, 0, 0, List.of(0), "bfloat16");
    }

    /** Llama 3.2 1B: 16 layers, C 2048, 32 heads / 8 KV heads, MLP 8192, V 128256, tied head, rope theta 500000 (llama3 scaling not applied). */
    public static ModelConfig llama32_1b() {
        return new ModelConfig(ModelConfig.Family.LLAMA, 128256, 2048, 8192, 16, 32, 8, 64, 131072, 1e-5f, 500000.0, null,
                true, false, false, false, 0, 128000, List.of(128001), "bfloat16");
    }

    /** Qwen2.5-0.5B: 24 layers, C 896, 14 heads / 2 KV heads, MLP 4864, V 151936, q/k/v biases, tied head, rope theta 1e6. */
    public static ModelConfig qwen25_05b() {
        return new ModelConfig(ModelConfig.Family.QWEN2, 151936, 896, 4864, 24, 14, 2, 64, 32768, 1e-6f, 1000000.0, null,
                true, true, false, false, 0, -1, List.of(151643), "bfloat16");
    }

    /** Llama 3.2 3B: 28 layers, C 3072, 24 heads / 8 KV heads of 128, MLP 8192, V 128256, tied head, rope theta 500000. */
    public static ModelConfig llama32_3b() {
        return new ModelConfig(ModelConfig.Family.LLAMA, 128256, 3072, 8192, 28, 24, 8, 128, 131072, 1e-5f, 500000.0, null,
                true, false, false, false, 0, 128000, List.of(128001), "bfloat16");
    }

    /** Llama 3.1 8B: 32 layers, C 4096, 32 heads / 8 KV heads of 128, MLP 14336, V 128256, untied head, rope theta 500000. */
    public static ModelConfig llama31_8b() {
        return new ModelConfig(ModelConfig.Family.LLAMA, 128256, 4096, 14336, 32, 32, 8, 128, 131072, 1e-5f, 500000.0, null,
                false, false, false, false, 0, 128000, List.of(128001), "bfloat16");
    }

    /** The benchmark shapes by name (true dimensions, random weights): gpt2-124m, smollm2-135m, qwen2.5-0.5b, llama-3.2-1b, llama-3.2-3b, llama-3.1-8b. */
    public static final List<String> SHAPES = List.of("gpt2-124m", "smollm2-135m", "qwen2.5-0.5b", "llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b");

    public static ModelConfig shape(String name) {
        return switch (name) {
            case "gpt2-124m", "gpt2" -> gpt2Small();
            case "smollm2-135m", "smollm" -> smolLm2_135m();
            case "qwen2.5-0.5b" -> qwen25_05b();
            case "llama-3.2-1b" -> llama32_1b();
            case "llama-3.2-3b" -> llama32_3b();
            case "llama-3.1-8b" -> llama31_8b();
            default -> throw new dev.peft4j.Peft4jException("unknown --shape '" + name + "'; use one of " + String.join(", ", SHAPES));
        };
    }

    /**
     * A random model for benchmarks at real sizes: each frozen weight matrix is handed to storage as soon as
     * it is made (quantise it, store it in bf16), so an 8B model never exists in f32 at once; values are
     * N(0, std) rounded to bf16 when the config's dtype is bfloat16 (as its checkpoint holds them), filled on
     * all threads. Not the stream of random(): use that where values must be reproducible across versions.
     */
    public static CausalLM randomForBenchmark(ModelConfig c, long seed, float std, java.util.function.Consumer<Tensor> storage) {
        return random(c, new Init(new SplittableRandom(seed), false, storage, "bfloat16".equals(c.torchDtype())), std, std);
    }

    public static CausalLM random(ModelConfig c, long seed, float std) { return random(c, seed, std, std); }

    /** As random(c, seed, std) with a separate standard deviation for the token embedding (and tied head). */
    public static CausalLM random(ModelConfig c, long seed, float std, float embedStd) {
        return random(c, seed, std, embedStd, false);
    }

    /**
     * As random(c, seed, std, embedStd); trainable: every weight requires a gradient (to pretrain a small
     * model from scratch, as the quickstart does for its base), otherwise all are frozen like a loaded base's.
     */
    public static CausalLM random(ModelConfig c, long seed, float std, float embedStd, boolean trainable) {
        return random(c, new Init(new SplittableRandom(seed), trainable, null, false), std, embedStd);
    }

    private static CausalLM random(ModelConfig c, Init in, float std, float embedStd) {
        int C = c.hiddenSize(), V = c.vocabSize(), I = c.intermediateSize(), NH = c.numHeads(), KVH = c.numKvHeads(), HS = c.headDim();
        if (c.isGpt2()) {
            Tensor wte = in.normal("transformer.wte.weight", embedStd, V, C), wpe = in.normal("transformer.wpe.weight", std / 2, c.maxPositions(), C);
            Gpt2.Block[] blocks = new Gpt2.Block[c.numLayers()];
            for (int l = 0; l < blocks.length; l++) {
                String p = "transformer.h." + l + ".";
                blocks[l] = new Gpt2.Block(in.ones(p + "ln_1.weight", C), in.zeros(p + "ln_1.bias", C),
                        in.linear(p + "attn.c_attn", 3 * C, C, true, true, std), in.linear(p + "attn.c_proj", C, C, true, true, std),
                        in.ones(p + "ln_2.weight", C), in.zeros(p + "ln_2.bias", C),
                        in.linear(p + "mlp.c_fc", I, C, true, true, std), in.linear(p + "mlp.c_proj", C, I, true, true, std));
            }
            return new Gpt2(c, wte, wpe, blocks, in.ones("transformer.ln_f.weight", C), in.zeros("transformer.ln_f.bias", C),
                    new Linear("lm_head", wte, null, false));
        }
        if (c.arch().gemma() != null) {          // Gemma: norm weights are offsets from 1, so zeros (as transformers initialises them)
            Tensor embed = in.normal("model.embed_tokens.weight", embedStd, V, C);
            Gemma.Block[] blocks = new Gemma.Block[c.numLayers()];
            for (int l = 0; l < blocks.length; l++) {
                String p = "model.layers." + l + ".";
                blocks[l] = new Gemma.Block(in.zeros(p + "input_layernorm.weight", C),
                        in.linear(p + "self_attn.q_proj", NH * HS, C, c.qkvBias(), false, std),
                        in.linear(p + "self_attn.k_proj", KVH * HS, C, c.qkvBias(), false, std),
                        in.linear(p + "self_attn.v_proj", KVH * HS, C, c.qkvBias(), false, std),
                        in.linear(p + "self_attn.o_proj", C, NH * HS, c.outputBias(), false, std),
                        c.arch().qkNorm() ? in.zeros(p + "self_attn.q_norm.weight", HS) : null,
                        c.arch().qkNorm() ? in.zeros(p + "self_attn.k_norm.weight", HS) : null,
                        in.zeros(p + "post_attention_layernorm.weight", C),
                        in.zeros(p + "pre_feedforward_layernorm.weight", C),
                        in.linear(p + "mlp.gate_proj", I, C, false, false, std),
                        in.linear(p + "mlp.up_proj", I, C, false, false, std),
                        in.linear(p + "mlp.down_proj", C, I, false, false, std),
                        in.zeros(p + "post_feedforward_layernorm.weight", C));
            }
            Linear head = c.tieWordEmbeddings() ? new Linear("lm_head", embed, null, false)
                    : in.linear("lm_head", V, C, false, false, std);
            return new Gemma(c, embed, blocks, in.zeros("model.norm.weight", C), head);
        }
        Tensor embed = in.normal("model.embed_tokens.weight", embedStd, V, C);
        if (c.family() == ModelConfig.Family.PHI3) {
            Phi3.Block[] blocks = new Phi3.Block[c.numLayers()];
            for (int l = 0; l < blocks.length; l++) {
                String p = "model.layers." + l + ".";
                blocks[l] = new Phi3.Block(in.ones(p + "input_layernorm.weight", C),
                        in.linear(p + "self_attn.qkv_proj", (NH + 2 * KVH) * HS, C, false, false, std),
                        in.linear(p + "self_attn.o_proj", C, NH * HS, false, false, std),
                        in.ones(p + "post_attention_layernorm.weight", C),
                        in.linear(p + "mlp.gate_up_proj", 2 * I, C, false, false, std),
                        in.linear(p + "mlp.down_proj", C, I, false, false, std));
            }
            Linear head = c.tieWordEmbeddings() ? new Linear("lm_head", embed, null, false)
                    : in.linear("lm_head", V, C, false, false, std);
            return new Phi3(c, embed, blocks, in.ones("model.norm.weight", C), head);
        }
        Llama.Block[] blocks = new Llama.Block[c.numLayers()];
        List<String> norms = Llama.normNames(c);
        int[] qk = Llama.qkNormSizes(c);
        for (int l = 0; l < blocks.length; l++) {
            String p = "model.layers." + l + ".";
            blocks[l] = new Llama.Block(in.ones(p + norms.get(0) + ".weight", C),
                    in.linear(p + "self_attn.q_proj", NH * HS, C, c.qkvBias(), false, std),
                    in.linear(p + "self_attn.k_proj", KVH * HS, C, c.qkvBias(), false, std),
                    in.linear(p + "self_attn.v_proj", KVH * HS, C, c.qkvBias(), false, std),
                    in.linear(p + "self_attn.o_proj", C, NH * HS, c.outputBias(), false, std),
                    c.arch().qkNorm() ? in.ones(p + "self_attn.q_norm.weight", qk[0]) : null,
                    c.arch().qkNorm() ? in.ones(p + "self_attn.k_norm.weight", qk[1]) : null,
                    in.ones(p + norms.get(1) + ".weight", C),
                    in.linear(p + "mlp.gate_proj", I, C, c.mlpBias(), false, std),
                    in.linear(p + "mlp.up_proj", I, C, c.mlpBias(), false, std),
                    in.linear(p + "mlp.down_proj", C, I, c.mlpBias(), false, std));
        }
        Linear head = c.tieWordEmbeddings() ? new Linear("lm_head", embed, null, false)
                : in.linear("lm_head", V, C, false, false, std);
        return new Llama(c, embed, blocks, in.ones("model.norm.weight", C), head);
    }

    /** Initialises tensors from one random stream, frozen or trainable. */
    /**
     * Initialises tensors from one random stream, frozen or trainable. storage (benchmarks): applied to each frozen
     * matrix when made, with the values filled in parallel from split streams (bf16-rounded when bf16 is set).
     */
    private record Init(SplittableRandom rng, boolean trainable, java.util.function.Consumer<Tensor> storage, boolean bf16) {
        Linear linear(String name, int out, int in, boolean bias, boolean conv1d, float std) {
            return new Linear(name, normal(name + ".weight", std, out, in), bias ? zeros(name + ".bias", out) : null, conv1d);
        }

        Tensor normal(String name, float std, int... shape) {
            int size = 1;
            for (int d : shape) size *= d;
            final int n = size;
            float[] x = new float[n];
            if (storage == null) {
                for (int i = 0; i < n; i++) x[i] = (float) (gaussian(rng) * std);
            } else {                                              // benchmark models: parallel, from split streams
                int chunks = Math.max(1, n >> 20);
                SplittableRandom[] streams = new SplittableRandom[chunks];
                for (int k = 0; k < chunks; k++) streams[k] = rng.split();
                dev.peft4j.kernels.Parallel.forEachChunk(chunks, k -> {
                    SplittableRandom r = streams[k];
                    int from = (int) ((long) n * k / chunks), to = (int) ((long) n * (k + 1) / chunks);
                    for (int i = from; i < to; i++) {
                        float v = (float) (gaussian(r) * std);
                        x[i] = bf16 ? dev.peft4j.io.FloatCodec.bf16ToFloat(dev.peft4j.io.FloatCodec.floatToBf16(v)) : v;
                    }
                });
            }
            Tensor t = make(name, x, shape);
            if (storage != null && !t.requiresGrad && shape.length == 2) storage.accept(t);
            return t;
        }

        Tensor ones(String name, int n) {
            float[] x = new float[n];
            java.util.Arrays.fill(x, 1f);
            return make(name, x, n);
        }

        Tensor zeros(String name, int n) { return make(name, new float[n], n); }

        private Tensor make(String name, float[] x, int... shape) {
            return trainable ? new Tensor(name, x, true, shape) : Tensor.frozen(name, x, shape);
        }
    }

    /** Standard normal by Box–Muller (SplittableRandom has no nextGaussian of its own on every JDK). */
    static double gaussian(SplittableRandom rng) {
        double u = 1.0 - rng.nextDouble(), v = rng.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }
}
