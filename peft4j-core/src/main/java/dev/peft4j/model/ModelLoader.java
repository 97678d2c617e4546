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
import java.util.List;

public final class ModelLoader {
    private ModelLoader() {}

    public static CausalLM load(Path dir) { return load(dir, null, 64); }

    /**
     * Loads with the frozen weight matrices quantised as they are read (quantize: "nf4", "int8" or
     * null): each tensor goes f32 → quantised one at a time, so the quantised form is the only
     * resident copy and the f32 model never exists on the heap. Matrices already stored in
     * bitsandbytes' 4-bit layout (a pre-quantised checkpoint) are read as they are.
     */
    public static CausalLM load(Path dir, String quantize, int blocksize) {
        Path gguf = GgufModel.isGguf(dir) ? dir : null;                       // a llama.cpp GGUF file (GgufModel)
        ModelConfig cfg = ModelConfig.load(GgufModel.view(dir));
        if (gguf != null) {
            try (GgufModel.Source src = new GgufModel.Source(gguf, cfg)) {
                return llama(cfg, new Weights(null, dir, quantize, blocksize, src));
            }
        }
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            if (quantize == null) {     // every weight becomes an f32 array (quantised loads hold ~1/4 to 1/8 of it)
                long f32 = 0;
                for (String name : ckpt.names()) f32 += ckpt.info(name).numel() * Float.BYTES;
                dev.peft4j.Memory.require(f32, "the f32 weights of " + dir, "load it quantised (--quantize nf4 or int8) "
                        + "or use a smaller model");
            }
            Weights w = new Weights(ckpt, dir, quantize, blocksize, null);
            if (cfg.family() == ModelConfig.Family.PHI3) return phi3(cfg, w);
            if (cfg.arch().gemma() != null) return gemma(cfg, w);
            return cfg.isGpt2() ? gpt2(cfg, w) : llama(cfg, w);
        }
    }

    private static Llama llama(ModelConfig c, Weights w) {
        int C = c.hiddenSize(), V = c.vocabSize(), NH = c.numHeads(), KVH = c.numKvHeads(), HS = c.headDim();
        int I = c.intermediateSize();
        Tensor embed = w.matrix("model.embed_tokens.weight", V, C);
        Llama.Block[] blocks = new Llama.Block[c.numLayers()];
        List<String> norms = Llama.normNames(c);
        int[] qk = Llama.qkNormSizes(c);
        for (int l = 0; l < blocks.length; l++) {
            String p = "model.layers." + l + ".";
            blocks[l] = new Llama.Block(
                    w.get(p + norms.get(0) + ".weight", C),
                    w.linear(p + "self_attn.q_proj", NH * HS, C, c.qkvBias()),
                    w.linear(p + "self_attn.k_proj", KVH * HS, C, c.qkvBias()),
                    w.linear(p + "self_attn.v_proj", KVH * HS, C, c.qkvBias()),
                    w.linear(p + "self_attn.o_proj", C, NH * HS, c.outputBias()),
                    c.arch().qkNorm() ? w.get(p + "self_attn.q_norm.weight", qk[0]) : null,
                    c.arch().qkNorm() ? w.get(p + "self_attn.k_norm.weight", qk[1]) : null,
                    w.get(p + norms.get(1) + ".weight", C),
                    w.linear(p + "mlp.gate_proj", I, C, c.mlpBias()),
                    w.linear(p + "mlp.up_proj", I, C, c.mlpBias()),
                    w.linear(p + "mlp.down_proj", C, I, c.mlpBias()));
        }
        Tensor norm = w.get("model.norm.weight", C);
        Linear head = c.tieWordEmbeddings() ? new Linear("lm_head", embed, null, false)
                : w.linear("lm_head", V, C, false);
        return new Llama(c, embed, blocks, norm, head);
    }

    /** Phi-3: fused self_attn.qkv_proj [(NH + 2*KVH)*HS, C] (q, k, v rows in that order) and mlp.gate_up_proj [2I, C]. */
    private static Phi3 phi3(ModelConfig c, Weights w) {
        int C = c.hiddenSize(), V = c.vocabSize(), NH = c.numHeads(), KVH = c.numKvHeads(), HS = c.headDim();
        int I = c.intermediateSize();
        Tensor embed = w.matrix("model.embed_tokens.weight", V, C);
        Phi3.Block[] blocks = new Phi3.Block[c.numLayers()];
        for (int l = 0; l < blocks.length; l++) {
            String p = "model.layers." + l + ".";
            blocks[l] = new Phi3.Block(
                    w.get(p + "input_layernorm.weight", C),
                    w.linear(p + "self_attn.qkv_proj", (NH + 2 * KVH) * HS, C, false),
                    w.linear(p + "self_attn.o_proj", C, NH * HS, false),
                    w.get(p + "post_attention_layernorm.weight", C),
                    w.linear(p + "mlp.gate_up_proj", 2 * I, C, false),
                    w.linear(p + "mlp.down_proj", C, I, false));
        }
        Tensor norm = w.get("model.norm.weight", C);
        Linear head = c.tieWordEmbeddings() ? new Linear("lm_head", embed, null, false)
                : w.linear("lm_head", V, C, false);
        return new Phi3(c, embed, blocks, norm, head);
    }

    /** Gemma 2 / Gemma 3 text: four norms per block, q_norm/k_norm in Gemma 3, tied head unless lm_head.weight is given. */
    private static Gemma gemma(ModelConfig c, Weights w) {
        int C = c.hiddenSize(), V = c.vocabSize(), NH = c.numHeads(), KVH = c.numKvHeads(), HS = c.headDim();
        int I = c.intermediateSize();
        Tensor embed = w.matrix("model.embed_tokens.weight", V, C);
        Gemma.Block[] blocks = new Gemma.Block[c.numLayers()];
        for (int l = 0; l < blocks.length; l++) {
            String p = "model.layers." + l + ".";
            blocks[l] = new Gemma.Block(
                    w.get(p + "input_layernorm.weight", C),
                    w.linear(p + "self_attn.q_proj", NH * HS, C, c.qkvBias()),
                    w.linear(p + "self_attn.k_proj", KVH * HS, C, c.qkvBias()),
                    w.linear(p + "self_attn.v_proj", KVH * HS, C, c.qkvBias()),
                    w.linear(p + "self_attn.o_proj", C, NH * HS, c.outputBias()),
                    c.arch().qkNorm() ? w.get(p + "self_attn.q_norm.weight", HS) : null,
                    c.arch().qkNorm() ? w.get(p + "self_attn.k_norm.weight", HS) : null,
                    w.get(p + "post_attention_layernorm.weight", C),
                    w.get(p + "pre_feedforward_layernorm.weight", C),
                    w.linear(p + "mlp.gate_proj", I, C, false),
                    w.linear(p + "mlp.up_proj", I, C, false),
                    w.linear(p + "mlp.down_proj", C, I, false),
                    w.get(p + "post_feedforward_layernorm.weight", C));
        }
        Tensor norm = w.get("model.norm.weight", C);
        Linear head = c.tieWordEmbeddings() ? new Linear("lm_head", embed, null, false)
                : w.linear("lm_head", V, C, false);
        return new Gemma(c, embed, blocks, norm, head);
    }

    private static Gpt2 gpt2(ModelConfig c, Weights w) {
        int C = c.hiddenSize(), V = c.vocabSize(), I = c.intermediateSize();
        // transformers' GPT2LMHeadModel saves "transformer.*"; a bare GPT2Model saves the same names without it
        String root = w.ckpt.contains("transformer.wte.weight") ? "transformer." : "";
        Tensor wte = w.matrix(root + "wte.weight", V, C);
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
    private record Weights(Checkpoint ckpt, Path dir, String quantize, int blocksize, GgufModel.Source gguf) {
        /** A frozen matrix: read from bitsandbytes' 4-bit layout, or read as f32 and quantised at once when asked. */
        Tensor matrix(String name, int rows, int cols) {
            if (gguf != null) {                                                   // ggml blocks stay as they are
                Tensor t = gguf.get(name, rows, cols);
                if (!t.compact() && quantize != null && !quantize.equals("none")) t.compactTo(quantise(t.data, rows, cols));
                return t;
            }
            String prefix = name.endsWith(".weight") ? name.substring(0, name.length() - ".weight".length()) : name;
            if (ckpt.contains(name + ".quant_state.bitsandbytes__nf4")) {
                dev.peft4j.kernels.Nf4Matrix m = dev.peft4j.quant.QuantizedTensors.readNf4(ckpt.fileOf(name), prefix);
                if (m.rows() != rows || m.cols() != cols)
                    throw new Peft4jException("quantised tensor '" + name + "' in " + dir + " is " + m.rows() + "x" + m.cols()
                            + " but config.json implies " + rows + "x" + cols);
                return Tensor.frozen(name, m);
            }
            if (ckpt.contains(prefix + ".SCB") && ckpt.contains(name) && dev.peft4j.quant.QuantizedTensors.isInt8(ckpt.fileOf(name), prefix)) {
                dev.peft4j.kernels.Int8Matrix m = dev.peft4j.quant.QuantizedTensors.readInt8(ckpt.fileOf(name), prefix);
                if (m.rows() != rows || m.cols() != cols)
                    throw new Peft4jException("quantised tensor '" + name + "' in " + dir + " is " + m.rows() + "x" + m.cols()
                            + " but config.json implies " + rows + "x" + cols);
                return Tensor.frozen(name, m);
            }
            Tensor t = get(name, rows, cols);
            if (quantize != null && !quantize.equals("none")) t.compactTo(quantise(t.data, rows, cols));
            return t;
        }

        dev.peft4j.kernels.WeightMatrix quantise(float[] w, int rows, int cols) {
            return switch (quantize.toLowerCase(java.util.Locale.ROOT)) {
                case "nf4" -> dev.peft4j.quant.Quantize.nf4(w, rows, cols, blocksize, true);
                case "int8" -> dev.peft4j.quant.Quantize.int8(w, rows, cols);
                case "q8_0" -> dev.peft4j.quant.Quantize.ggml(dev.peft4j.io.GgmlType.Q8_0, w, rows, cols);
                case "q4_k" -> dev.peft4j.quant.Quantize.ggml(dev.peft4j.io.GgmlType.Q4_K, w, rows, cols);
                default -> throw new Peft4jException("--quantize must be none, nf4, int8, q8_0 or q4_k (got " + quantize + ")");
            };
        }

        Tensor get(String name, int... shape) {
            if (gguf != null) return gguf.get(name, shape);
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
            return new Linear(name, matrix(name + ".weight", out, in), bias ? get(name + ".bias", out) : null, false);
        }

        /** GPT-2 Conv1D: weight stored [in, out]; transposed here to [out, in]. moduleName is the HF module path. */
        Linear conv1d(String key, String moduleName, int in, int out) {
            if (ckpt.contains(key + ".weight.quant_state.bitsandbytes__nf4") || ckpt.contains(key + ".SCB"))   // quantised: stored [out, in]
                return new Linear(moduleName, matrix(key + ".weight", out, in), get(key + ".bias", out), true);
            float[] w = get(key + ".weight", in, out).data, t = new float[w.length];
            for (int i = 0; i < in; i++)
                for (int o = 0; o < out; o++) t[o * in + i] = w[i * out + o];
            Tensor wt = Tensor.frozen(key + ".weight", t, out, in);
            if (quantize != null && !quantize.equals("none")) wt.compactTo(quantise(t, out, in));
            return new Linear(moduleName, wt, get(key + ".bias", out), true);
        }
    }
}
