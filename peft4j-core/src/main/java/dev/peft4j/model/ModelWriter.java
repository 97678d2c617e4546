/*
 * ModelWriter: saves a model as a HuggingFace model directory — config.json and model.safetensors
 * with transformers' tensor names, in F32, F16 or BF16, sharded above a size limit with a
 * model.safetensors.index.json, every file written atomically. The tensors written are the
 * model's current base weights (so a merged adapter is exported with its deltas folded in).
 * GPT-2 Conv1D weights are transposed back to their [in, out] layout; a tied head is not written.
 */
package dev.peft4j.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.io.DType;
import dev.peft4j.io.SafeTensorsWriter;
import dev.peft4j.nn.Linear;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

public final class ModelWriter {
    private ModelWriter() {}

    /** Every base tensor under its checkpoint name, in the checkpoint's layout (f32 data). */
    public static Map<String, SafeTensorsWriter.Tensor> tensors(CausalLM model, DType dtype) {
        IdentityHashMap<Tensor, Linear> owner = new IdentityHashMap<>();
        for (Linear l : model.linears()) owner.put(l.weight(), l);
        Map<String, SafeTensorsWriter.Tensor> out = new TreeMap<>();
        boolean tied = model.config().tieWordEmbeddings();
        for (Tensor t : model.parameters()) {
            Linear lin = owner.get(t);
            if (lin != null && lin.name.equals("lm_head") && tied) lin = null;   // tied: it is the embedding, saved under its name
            String name = lin != null ? lin.name + ".weight" : t.name;
            if (lin != null && lin.conv1d) {
                float[] tr = new float[t.size()];
                for (int o = 0; o < lin.out; o++)
                    for (int i = 0; i < lin.in; i++) tr[i * lin.out + o] = t.data[o * lin.in + i];
                out.put(name, new SafeTensorsWriter.Tensor(name, dtype, new long[] {lin.in, lin.out}, tr));
            } else {
                long[] shape = java.util.Arrays.stream(t.shape).asLongStream().toArray();
                out.put(name, new SafeTensorsWriter.Tensor(name, dtype, shape, t.data));
            }
        }
        return out;
    }

    /** Writes model.safetensors (or shards of at most maxShardBytes with an index) into dir. */
    public static void saveWeights(CausalLM model, Path dir, DType dtype, long maxShardBytes) {
        Map<String, SafeTensorsWriter.Tensor> all = tensors(model, dtype);
        List<List<SafeTensorsWriter.Tensor>> shards = new ArrayList<>();
        List<SafeTensorsWriter.Tensor> current = new ArrayList<>();
        long size = 0, total = 0;
        for (SafeTensorsWriter.Tensor t : all.values()) {
            long b = t.byteSize();
            if (!current.isEmpty() && size + b > maxShardBytes) { shards.add(current); current = new ArrayList<>(); size = 0; }
            current.add(t);
            size += b;
            total += b;
        }
        if (!current.isEmpty()) shards.add(current);
        try {
            Files.createDirectories(dir);
            if (shards.size() == 1) {
                SafeTensorsWriter.write(dir.resolve("model.safetensors"), Map.of("format", "pt"), shards.get(0));
                return;
            }
            Map<String, String> weightMap = new TreeMap<>();
            for (int i = 0; i < shards.size(); i++) {
                String file = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
                SafeTensorsWriter.write(dir.resolve(file), Map.of("format", "pt"), shards.get(i));
                for (SafeTensorsWriter.Tensor t : shards.get(i)) weightMap.put(t.name(), file);
            }
            Map<String, Object> index = new LinkedHashMap<>();
            index.put("metadata", Map.of("total_size", total));
            index.put("weight_map", weightMap);
            writeJson(dir.resolve("model.safetensors.index.json"), index);
        } catch (IOException e) {
            throw new Peft4jException("cannot write model weights to " + dir + ": " + e.getMessage(), e);
        }
    }

    /** config.json for a model made in memory (ModelFactory), in transformers' field names. */
    public static void saveConfig(ModelConfig c, Path dir) {
        Map<String, Object> m = new TreeMap<>();
        if (c.isGpt2()) {
            m.put("model_type", "gpt2");
            m.put("architectures", List.of("GPT2LMHeadModel"));
            m.put("n_embd", c.hiddenSize());
            m.put("n_head", c.numHeads());
            m.put("n_layer", c.numLayers());
            m.put("n_positions", c.maxPositions());
            m.put("n_inner", c.intermediateSize());
            m.put("activation_function", "gelu_new");
            m.put("layer_norm_epsilon", c.normEps());
        } else {
            m.put("model_type", c.family().modelType);
            m.put("architectures", List.of(switch (c.family()) {
                case MISTRAL -> "MistralForCausalLM";
                case QWEN2 -> "Qwen2ForCausalLM";
                default -> "LlamaForCausalLM";
            }));
            m.put("hidden_size", c.hiddenSize());
            m.put("intermediate_size", c.intermediateSize());
            m.put("num_hidden_layers", c.numLayers());
            m.put("num_attention_heads", c.numHeads());
            m.put("num_key_value_heads", c.numKvHeads());
            m.put("head_dim", c.headDim());
            m.put("max_position_embeddings", c.maxPositions());
            m.put("rms_norm_eps", c.normEps());
            m.put("rope_theta", c.ropeTheta());
            m.put("hidden_act", "silu");
            m.put("attention_bias", c.qkvBias() && c.family() != ModelConfig.Family.QWEN2);
            m.put("mlp_bias", c.mlpBias());
        }
        m.put("vocab_size", c.vocabSize());
        m.put("tie_word_embeddings", c.tieWordEmbeddings());
        if (c.bosTokenId() >= 0) m.put("bos_token_id", c.bosTokenId());
        if (!c.eosTokenIds().isEmpty()) m.put("eos_token_id", c.eosTokenIds().size() == 1 ? c.eosTokenIds().get(0) : c.eosTokenIds());
        m.put("torch_dtype", c.torchDtype());
        try {
            Files.createDirectories(dir);
            writeJson(dir.resolve("config.json"), m);
        } catch (IOException e) {
            throw new Peft4jException("cannot write " + dir.resolve("config.json") + ": " + e.getMessage(), e);
        }
    }

    static void writeJson(Path file, Object value) throws IOException {
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(tmp.toFile(), value);
        Files.move(tmp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }
}
