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
import dev.peft4j.io.OutputDir;
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
        boolean tied = model.headTied();
        for (Tensor t : model.parameters()) {
            Linear lin = owner.get(t);
            if (lin != null && lin.name.equals("lm_head") && tied) lin = null;   // tied: it is the embedding, saved under its name
            String name = lin != null ? lin.name + ".weight" : t.name;
            float[] values = t.floats();
            if (lin != null && lin.conv1d) {
                float[] tr = new float[t.size()];
                for (int o = 0; o < lin.out; o++)
                    for (int i = 0; i < lin.in; i++) tr[i * lin.out + o] = values[o * lin.in + i];
                out.put(name, new SafeTensorsWriter.Tensor(name, dtype, new long[] {lin.in, lin.out}, tr));
            } else {
                long[] shape = java.util.Arrays.stream(t.shape).asLongStream().toArray();
                out.put(name, new SafeTensorsWriter.Tensor(name, dtype, shape, values));
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

    /** Tokenizer and generation files copied along with an exported model. */
    public static final List<String> SIDE_FILES = List.of("generation_config.json", "tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json", "chat_template.jinja");

    /**
     * A complete HF model directory for model (e.g. after merge-and-unload): the base's config.json
     * (torch_dtype set to the written dtype), weights in dtype (sharded above maxShardBytes), and the
     * base's tokenizer/generation files. Written to a temporary sibling directory and renamed, so out
     * is either complete or absent; an existing non-empty out is refused.
     */
    public static void export(CausalLM model, Path baseDir, Path out, DType dtype, long maxShardBytes) {
        export(model, baseDir, OutputDir.prepare(out, OutputDir.Mode.NEW, OutputDir.Kind.MODEL), dtype, maxShardBytes);
    }

    /** export() into a prepared output (the CLI prepares it before loading, with its --overwrite). */
    public static void export(CausalLM model, Path baseDir, OutputDir out, DType dtype, long maxShardBytes) {
        writeDirectory(out, tmp -> {
            com.fasterxml.jackson.databind.node.ObjectNode cfg = baseConfig(baseDir);
            if (!model.headTied() && cfg.path("tie_word_embeddings").asBoolean(model.config().isGpt2()))
                cfg.put("tie_word_embeddings", false);      // the head was trained apart (modules_to_save): keep it
            cfg.put("torch_dtype", switch (dtype) {
                case BF16 -> "bfloat16";
                case F16 -> "float16";
                default -> "float32";
            });
            writeJson(tmp.resolve("config.json"), cfg);
            saveWeights(model, tmp, dtype, maxShardBytes);
            copySideFiles(baseDir, tmp);
        });
    }

    /** Java API: a new model directory (out must be absent or empty); see io/OutputDir for the policy. */
    private static void writeDirectory(Path out, DirWriter filler) {
        writeDirectory(OutputDir.prepare(out, OutputDir.Mode.NEW, OutputDir.Kind.MODEL), filler);
    }

    /** Fills out's work directory and commits it: the target ends complete, or as it was. */
    private static void writeDirectory(OutputDir out, DirWriter filler) {
        out.write(filler::fill);
    }

    @FunctionalInterface
    private interface DirWriter { void fill(Path dir) throws IOException; }

    private static com.fasterxml.jackson.databind.node.ObjectNode baseConfig(Path baseDir) throws IOException {
        return (com.fasterxml.jackson.databind.node.ObjectNode) new ObjectMapper().readTree(baseDir.resolve("config.json").toFile());
    }

    private static void copySideFiles(Path baseDir, Path dir) throws IOException {
        for (String f : SIDE_FILES)
            if (Files.isRegularFile(baseDir.resolve(f)))          // the bytes, not the source's (maybe read-only) permissions
                try (var in = Files.newInputStream(baseDir.resolve(f))) { Files.copy(in, dir.resolve(f)); }
    }

    /**
     * A quantised model directory (peft4j quantize): NF4 matrices in bitsandbytes' safetensors layout
     * (weight U8 [n/2, 1], weight.absmax, weight.quant_map, weight.nested_absmax,
     * weight.nested_quant_map, weight.quant_state.bitsandbytes__nf4), int8 ones in bnb's
     * weight/SCB layout, the other tensors (norms, biases) as in the base; config.json gains a
     * transformers-style quantization_config. Written to a temporary directory and renamed.
     */
    public static void exportQuantized(CausalLM model, Path baseDir, Path out, String method, DType otherDtype) {
        exportQuantized(model, baseDir, OutputDir.prepare(out, OutputDir.Mode.NEW, OutputDir.Kind.MODEL), method, otherDtype);
    }

    /** exportQuantized() into a prepared output. */
    public static void exportQuantized(CausalLM model, Path baseDir, OutputDir out, String method, DType otherDtype) {
        writeDirectory(out, tmp -> {
            IdentityHashMap<Tensor, Linear> owner = new IdentityHashMap<>();
            for (Linear l : model.linears()) owner.put(l.weight(), l);
            List<SafeTensorsWriter.Tensor> ts = new ArrayList<>();
            String dtypeName = otherDtype == DType.BF16 ? "bfloat16" : otherDtype == DType.F16 ? "float16" : "float32";
            for (Tensor t : model.parameters()) {
                Linear lin = owner.get(t);
                if (lin != null && lin.name.equals("lm_head") && model.headTied()) lin = null;
                String name = lin != null ? lin.name + ".weight" : t.name;
                String prefix = name.substring(0, name.length() - ".weight".length());
                if (t.compact() && t.matrix() instanceof dev.peft4j.kernels.Nf4Matrix m) {
                    ts.addAll(dev.peft4j.quant.QuantizedTensors.nf4(prefix, m, dtypeName));
                } else if (t.compact() && t.matrix() instanceof dev.peft4j.kernels.Int8Matrix m) {
                    ts.addAll(dev.peft4j.quant.QuantizedTensors.int8(prefix, m));
                } else {
                    ts.add(new SafeTensorsWriter.Tensor(name, otherDtype, java.util.Arrays.stream(t.shape).asLongStream().toArray(), t.floats()));
                }
            }
            SafeTensorsWriter.write(tmp.resolve("model.safetensors"), Map.of("format", "pt"), ts);
            com.fasterxml.jackson.databind.node.ObjectNode cfg = baseConfig(baseDir);
            com.fasterxml.jackson.databind.node.ObjectNode q = cfg.putObject("quantization_config");
            q.put("quant_method", "bitsandbytes");
            q.put("load_in_4bit", method.equals("nf4"));
            q.put("load_in_8bit", method.equals("int8"));
            if (method.equals("nf4")) {
                q.put("bnb_4bit_quant_type", "nf4");
                q.put("bnb_4bit_use_double_quant", true);
                q.put("bnb_4bit_compute_dtype", "float32");
                q.put("bnb_4bit_quant_storage", "uint8");
            }
            q.put("quantized_by", "peft4j (embeddings and lm_head are quantised too)");
            writeJson(tmp.resolve("config.json"), cfg);
            copySideFiles(baseDir, tmp);
        });
    }

    /** The dtype the base checkpoint stores its floating-point weights in (F32, F16 or BF16). */
    public static DType checkpointDtype(Path baseDir) {
        try (dev.peft4j.io.Checkpoint ck = dev.peft4j.io.Checkpoint.open(baseDir)) {
            for (String n : ck.names()) {
                DType d = ck.info(n).dtype();
                if (d == DType.F32 || d == DType.F16 || d == DType.BF16) return d;
            }
        }
        return DType.F32;
    }

    /**
     * About how many bytes a copy of baseDir's weights takes in dtype (the sum of its tensors'
     * sizes, rescaled from their stored dtypes; dtype null = as stored); read from the safetensors headers only. Used to
     * check free disk space before writing; 0 (unknown) when the weights cannot be read - loading
     * them reports why, after the output has been checked.
     */
    public static long estimatedBytes(Path baseDir, DType dtype) {
        if (!Files.isDirectory(baseDir) && !Files.isRegularFile(baseDir)) return 0;
        try (dev.peft4j.io.Checkpoint ck = dev.peft4j.io.Checkpoint.open(baseDir)) {
            long sum = 0;
            for (String n : ck.names()) {
                var info = ck.info(n);
                int stored = info.dtype().byteSize();
                sum += stored == 0 || dtype == null ? info.byteSize() : info.byteSize() / stored * dtype.byteSize();
            }
            return sum;
        } catch (Peft4jException e) {
            return 0;
        }
    }

    /** "5GB", "500MB", "2GiB", or a plain byte count. */
    public static long parseSize(String s) {
        String t = s.trim().toUpperCase(java.util.Locale.ROOT);
        long mult = 1;
        for (String[] u : new String[][] {{"GIB", "1073741824"}, {"MIB", "1048576"}, {"KIB", "1024"}, {"GB", "1000000000"},
                {"MB", "1000000"}, {"KB", "1000"}, {"B", "1"}}) {
            if (t.endsWith(u[0])) { mult = Long.parseLong(u[1]); t = t.substring(0, t.length() - u[0].length()).trim(); break; }
        }
        try {
            return (long) (Double.parseDouble(t) * mult);
        } catch (NumberFormatException e) {
            throw new Peft4jException("cannot read size '" + s + "'; use e.g. 5GB, 500MB or a byte count");
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
                case QWEN3 -> "Qwen3ForCausalLM";
                case SMOLLM3 -> "SmolLM3ForCausalLM";
                case OLMO2 -> "Olmo2ForCausalLM";
                case PHI3 -> "Phi3ForCausalLM";
                default -> "LlamaForCausalLM";
            }));
            if (c.family() == ModelConfig.Family.SMOLLM3) {          // one flag per layer: 1 = RoPE, 0 = NoPE
                List<Integer> flags = new java.util.ArrayList<>();
                for (int l = 0; l < c.numLayers(); l++) flags.add(c.arch().rope(l) ? 1 : 0);
                m.put("no_rope_layers", flags);
            }
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
            if (c.family() == ModelConfig.Family.PHI3) {     // Phi3Config: head_dim derived, rotary/longrope/window keys
                m.remove("head_dim");
                m.remove("mlp_bias");
                if (c.rotaryDim() != c.headDim()) m.put("partial_rotary_factor", (double) c.rotaryDim() / c.headDim());
                m.put("sliding_window", c.slidingWindow() > 0 ? c.slidingWindow() : null);
                ModelConfig.RopeScaling s = c.ropeScaling();
                m.put("original_max_position_embeddings", s == null ? c.maxPositions() : s.originalMaxPositions());
                m.put("rope_scaling", s == null ? null : Map.of("type", "longrope", "short_factor", s.shortFactor(),
                        "long_factor", s.longFactor()));
            }
            ModelConfig.Gemma g = c.arch().gemma();
            if (g != null) {          // Gemma2Config / Gemma3TextConfig: their own names for the activation and the rest
                m.put("architectures", List.of(c.family() == ModelConfig.Family.GEMMA2 ? "Gemma2ForCausalLM" : "Gemma3ForCausalLM"));
                m.remove("hidden_act");
                m.remove("mlp_bias");
                m.put("hidden_activation", "gelu_pytorch_tanh");
                m.put("query_pre_attn_scalar", g.queryPreAttnScalar());
                m.put("attn_logit_softcapping", g.attnSoftcap() > 0 ? (Object) (double) g.attnSoftcap() : null);
                m.put("final_logit_softcapping", g.finalSoftcap() > 0 ? (Object) (double) g.finalSoftcap() : null);
                m.put("sliding_window", c.slidingWindow());
                List<String> types = new java.util.ArrayList<>();
                for (boolean sl : g.sliding()) types.add(sl ? "sliding_attention" : "full_attention");
                m.put("layer_types", types);
                if (g.ropeLocalTheta() > 0) m.put("rope_local_base_freq", g.ropeLocalTheta());
                ModelConfig.RopeScaling rs = c.ropeScaling();
                if (rs != null) {     // Gemma 3 4B+: linear scaling of the global layers' RoPE
                    Map<String, Object> r = new TreeMap<>();
                    r.put("rope_type", rs.type());
                    r.put("factor", rs.factor());
                    if (rs.type().equals("llama3")) {
                        r.put("low_freq_factor", rs.lowFreqFactor());
                        r.put("high_freq_factor", rs.highFreqFactor());
                        r.put("original_max_position_embeddings", rs.originalMaxPositions());
                    }
                    m.put("rope_scaling", r);
                }
            }
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
