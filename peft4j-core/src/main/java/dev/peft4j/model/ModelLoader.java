/*
 * ModelLoader: builds a CausalLM from a HuggingFace model directory — config.json for the
 * architecture, safetensors (single or sharded) for the weights, read through the memory map and
 * converted to f32 tensor by tensor (see Linear for why f32 at load). Every tensor's shape is
 * checked against the config before use; a mismatch names the tensor, both shapes and the likely
 * cause. Tensor names follow transformers (model.layers.N.self_attn.q_proj.weight, transformer.h.N...).
 */
package dev.peft4j.model;

import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.io.Checkpoint;
import dev.peft4j.io.TensorInfo;
import dev.peft4j.nn.Linear;
import java.nio.file.Path;
import java.util.Arrays;

public final class ModelLoader {
    private ModelLoader() {}

    public static CausalLM load(Path dir) {
        ModelConfig cfg = ModelConfig.load(dir);
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            Weights w = new Weights(ckpt, dir);
            return cfg.isGpt2() ? gpt2(cfg, w) : llama(cfg, w);
        }
    }

    private static Llama llama(ModelConfig c, Weights w) {
        int C = c.hiddenSize(), V = c.vocabSize(), NH = c.numHeads(), KVH = c.numKvHeads(), HS = c.headDim();
        int I = c.intermediateSize();
        Tensor embed = w.get("model.embed_tokens.weight", V, C);
        Llama.Block[] blocks = new Llama.Block[c.numLayers()];
        for (int l = 0; l < blocks.length; l++) {
            String p = "model.layers." + l + ".";
            blocks[l] = new Llama.Block(
                    w.get(p + "input_layernorm.weight", C),
                    w.linear(p + "self_attn.q_proj", NH * HS, C, c.qkvBias()),
                    w.linear(p + "self_attn.k_proj", KVH * HS, C, c.qkvBias()),
                    w.linear(p + "self_attn.v_proj", KVH * HS, C, c.qkvBias()),
                    w.linear(p + "self_attn.o_proj", C, NH * HS, c.outputBias()),
                    w.get(p + "post_attention_layernorm.weight", C),
                    w.linear(p + "mlp.gate_proj", I, C, c.mlpBias()),
                    w.linear(p + "mlp.up_proj", I, C, c.mlpBias()),
                    w.linear(p + "mlp.down_proj", C, I, c.mlpBias()));
        }
        Tensor norm = w.get("model.norm.weight", C);
        Linear head = c.tieWordEmbeddings() ? new Linear("lm_head", embed, null, false)
                : w.linear("lm_head", V, C, false);
        return new Llama(c, embed, blocks, norm, head);
    }

    private static Gpt2 gpt2(ModelConfig c, Weights w) {
        int C = c.hiddenSize(), V = c.vocabSize(), I = c.intermediateSize();
        // transformers' GPT2LMHeadModel saves "transformer.*"; a bare GPT2Model saves the same names without it
        String root = w.ckpt.contains("transformer.wte.weight") ? "transformer." : "";
        Tensor wte = w.get(root + "wte.weight", V, C);
        Tensor wpe = w.get(root + "wpe.weight", c.maxPositions(), C);
        Gpt2.Block[] blocks = new Gpt2.Block[c.numLayers()];
        for (int l = 0; l < blocks.length; l++) {
            String p = root + "h." + l + ".";
            blocks[l] = new Gpt2.Block(
                    w.get(p + "ln_1.weight", C), w.get(p + "ln_1.bias", C),
                    w.conv1d(p + "attn.c_attn", "transformer.h." + l + ".attn.c_attn", C, 3 * C),
                    w.conv1d(p + "attn.c_proj", "transformer.h." + l + ".attn.c_proj", C, C),
                    w.get(p + "ln_2.weight", C), w.get(p + "ln_2.bias", C),
                    w.conv1d(p + "mlp.c_fc", "transformer.h." + l + ".mlp.c_fc", C, I),
                    w.conv1d(p + "mlp.c_proj", "transformer.h." + l + ".mlp.c_proj", I, C));
        }
        Tensor lnW = w.get(root + "ln_f.weight", C), lnB = w.get(root + "ln_f.bias", C);
        Linear head = c.tieWordEmbeddings() || !w.ckpt.contains("lm_head.weight")
                ? new Linear("lm_head", wte, null, false) : w.linear("lm_head", V, C, false);
        return new Gpt2(c, wte, wpe, blocks, lnW, lnB, head);
    }

    /** Shape-checked access to the checkpoint's tensors as f32. */
    private record Weights(Checkpoint ckpt, Path dir) {
        Tensor get(String name, int... shape) {
            if (!ckpt.contains(name))
                throw new Peft4jException("tensor '" + name + "' is missing from " + dir + " (config.json expects it"
                        + (name.startsWith("lm_head") ? "; if the model ties its head to the embedding, set "
                        + "\"tie_word_embeddings\": true in config.json" : "") + ")");
            TensorInfo info = ckpt.info(name);
            if (!Arrays.equals(info.shape(), Arrays.stream(shape).asLongStream().toArray()))
                throw new Peft4jException("tensor '" + name + "' in " + dir + " has shape " + Arrays.toString(info.shape())
                        + " but config.json implies " + Arrays.toString(shape)
                        + "; config.json and the weights do not belong to the same model");
            return Tensor.frozen(name, ckpt.readFloats(name), shape);
        }

        Linear linear(String name, int out, int in, boolean bias) {
            return new Linear(name, get(name + ".weight", out, in), bias ? get(name + ".bias", out) : null, false);
        }

        /** GPT-2 Conv1D: weight stored [in, out]; transposed here to [out, in]. moduleName is the HF module path. */
        Linear conv1d(String key, String moduleName, int in, int out) {
            float[] w = get(key + ".weight", in, out).data, t = new float[w.length];
            for (int i = 0; i < in; i++)
                for (int o = 0; o < out; o++) t[o * in + i] = w[i * out + o];
            return new Linear(moduleName, Tensor.frozen(key + ".weight", t, out, in), get(key + ".bias", out), true);
        }
    }
}
