/*
 * PeftAdapter: writes an adapter of any PEFT method exactly as HF PEFT's save_pretrained does, so
 * Python PEFT, vLLM and friends load it unchanged, and reads such directories back:
 *   adapter_config.json        the method's config as PEFT's to_dict writes it (AdapterConfig.toPeftJson),
 *                              keys sorted, base_model_name_or_path added
 *   adapter_model.safetensors  metadata {"format": "pt"}; base_model.model.<module>.<suffix> for every
 *                              tensor of every adapted module (AdapterLayer.stateDict: lora_A.weight
 *                              [r, in], lora_B.weight [out, r], ia3_l, ...; the adapter name is not part
 *                              of the key), the method's shared tensors under their own keys, and
 *                              modules_to_save tensors under their module name, in the base's layout
 *                              (GPT-2 Conv1D copies transposed back to [in, out])
 *   README.md                  a Hugging Face model card (ModelCard)
 * Every file is written to a temporary name and renamed into place, weights before the config.
 *
 * load() reads such a directory back (written by peft4j or by Python PEFT): peft_type picks the
 * method from the registry (PeftMethods), unknown config keys are ignored and missing optional ones
 * take PEFT's defaults; every tensor is checked against the base model (a missing module, an
 * unexpected key or a wrong shape is an error naming the tensor).
 */
package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;
import dev.peft4j.tuner.lora.InitLoraWeights;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.io.DType;
import dev.peft4j.io.OutputDir;
import dev.peft4j.io.SafeTensorsWriter;
import dev.peft4j.nn.Linear;
import dev.peft4j.nn.AdapterLayer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

public final class PeftAdapter {
    public static final String CONFIG = "adapter_config.json", WEIGHTS = "adapter_model.safetensors";

    /** What the model card says besides the config: where the data came from and how training went. */
    public record Card(String data, String metrics) {}

    private PeftAdapter() {}

    /**
     * Writes the adapter's files into dir (created if needed), as PEFT's save_pretrained does:
     * weights first, then adapter_config.json, each file atomically, so a directory whose config is
     * present has its weights. A model directory is refused. To replace a whole directory only once
     * the new adapter is complete, use {@link #save(AdapterModel, OutputDir, String, Card)}.
     */
    public static void save(AdapterModel lm, Path dir, String baseModelNameOrPath, Card card) {
        if (OutputDir.isModelDirectory(dir))
            throw new Peft4jException(dir + " is a model directory (config.json and model weights); an adapter saved there would be"
                    + " mixed with the model. Save it to a directory of its own");
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new Peft4jException("cannot create adapter directory " + dir + ": " + e.getMessage(), e);
        }
        List<SafeTensorsWriter.Tensor> tensors = new ArrayList<>();
        for (Map.Entry<String, ? extends AdapterLayer> e : lm.layers().entrySet())
            for (Map.Entry<String, Tensor> t : e.getValue().stateDict().entrySet())
                tensors.add(tensor(Lora.KEY_PREFIX + e.getKey() + "." + t.getKey(), t.getValue()));
        for (Map.Entry<String, Tensor> t : lm.sharedStateDict().entrySet()) tensors.add(tensor(t.getKey(), t.getValue()));
        for (String module : lm.modulesToSave()) {
            Linear lin = linear(lm, module);
            String key = Lora.KEY_PREFIX + module;
            Tensor w = lin.weight();
            if (lin.conv1d) {                        // held as (out, in); GPT-2 stores Conv1D as [in, out]
                float[] t = new float[w.size()], wd = w.floats();
                for (int o = 0; o < lin.out; o++)
                    for (int i = 0; i < lin.in; i++) t[i * lin.out + o] = wd[o * lin.in + i];
                tensors.add(new SafeTensorsWriter.Tensor(key + ".weight", DType.F32, new long[] {lin.in, lin.out}, t));
            } else {
                tensors.add(tensor(key + ".weight", w));
            }
            if (lin.bias() != null) tensors.add(tensor(key + ".bias", lin.bias()));
        }
        SafeTensorsWriter.write(dir.resolve(WEIGHTS), Map.of("format", "pt"), tensors);
        writeAtomically(dir.resolve(CONFIG), configJson(lm.config(), baseModelNameOrPath));
        writeAtomically(dir.resolve(ModelCard.FILE), modelCard(lm, dir, baseModelNameOrPath, card));
    }

    /** Writes the adapter into a prepared output (OutputDir.prepare with Kind.ADAPTER) and commits it. */
    public static Path save(AdapterModel lm, OutputDir out, String baseModelNameOrPath, Card card) {
        return out.write(dir -> save(lm, dir, baseModelNameOrPath, card));
    }

    /** adapter_config.json as PEFT writes it (the config's to_dict plus base_model_name_or_path, json.dumps(sort_keys=True, indent=2)). */
    public static String configJson(AdapterConfig c, String baseModelNameOrPath) {
        Map<String, Object> m = new TreeMap<>(c.toPeftJson());
        m.put("base_model_name_or_path", baseModelNameOrPath);
        try {
            return new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
                    .configure(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, true).writeValueAsString(m) + "\n";
        } catch (IOException e) {
            throw new Peft4jException("cannot serialise adapter config: " + e.getMessage(), e);
        }
    }

    /** The HF model card of a freshly saved adapter (ModelCard; train rewrites it once the provenance is written). */
    private static String modelCard(AdapterModel lm, Path dir, String base, Card card) {
        return ModelCard.render(new ModelCard.Input(ModelCard.nameOf(dir), lm.config(), base, lm.trainableSummary(), card, null, null));
    }

    /** adapter_config.json -> the config of its method (peft_type; PEFT's field names; unknown keys ignored, missing ones defaulted). */
    public static AdapterConfig readConfig(Path dir) {
        Path file = dir.resolve(CONFIG);
        if (!Files.isRegularFile(file))
            throw new Peft4jException("no " + CONFIG + " in " + dir + "; expected a PEFT adapter directory "
                    + "(adapter_config.json + adapter_model.safetensors), as written by save_pretrained or peft4j train");
        com.fasterxml.jackson.databind.JsonNode c;
        try {
            c = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new Peft4jException("cannot parse " + file + " as JSON: " + e.getMessage(), e);
        }
        if (c == null || !c.isObject()) throw new Peft4jException(file + " is not a JSON object");
        if (c.has("peft_type") && !c.get("peft_type").isTextual())
            throw new Peft4jException(file + ": \"peft_type\" must be a string such as \"LORA\" (got " + c.get("peft_type") + ")");
        PeftMethod method = PeftMethods.of(c.path("peft_type").asText(LoraConfig.PEFT_TYPE), file);
        try {
            return method.readConfig(c, file);
        } catch (LoraConfig.Invalid e) {
            throw e.inFile(file);
        } catch (Peft4jException e) {
            if (e.getMessage() != null && e.getMessage().contains(file.toString())) throw e;
            throw new Peft4jException(file + ": " + e.getMessage(), e);
        }
    }

    /** readConfig for a directory that must hold a LoRA adapter. */
    public static LoraConfig readLoraConfig(Path dir) {
        AdapterConfig c = readConfig(dir);
        if (c instanceof LoraConfig lc) return lc;
        throw new Peft4jException(dir.resolve(CONFIG) + " holds a " + c.peftType() + " adapter; this needs a LoRA adapter (peft_type LORA)");
    }

    /** base_model_name_or_path from adapter_config.json, or null. */
    public static String baseModelOf(Path dir) {
        try {
            com.fasterxml.jackson.databind.JsonNode c = new ObjectMapper().readTree(dir.resolve(CONFIG).toFile());
            return c.hasNonNull("base_model_name_or_path") ? c.get("base_model_name_or_path").asText() : null;
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * Attaches the adapter stored in dir to model under adapterName (active on its modules, as after
     * PEFT's set_adapter), whatever its method. Its tensors are trainable, so training can continue from them.
     */
    public static AdapterModel load(dev.peft4j.model.CausalLM model, Path dir, String adapterName) {
        AdapterConfig cfg = readConfig(dir);
        Path weights = dir.resolve(WEIGHTS);
        if (!Files.isRegularFile(weights)) {
            if (Files.isRegularFile(dir.resolve("adapter_model.bin")))
                throw new Peft4jException(dir + " holds adapter_model.bin (a pickled PyTorch file); peft4j reads safetensors only. "
                        + "Re-save it in Python with model.save_pretrained(dir, safe_serialization=True)");
            throw new Peft4jException("no " + WEIGHTS + " in " + dir);
        }
        AdapterModel lm = PeftMethods.of(cfg.peftType(), dir.resolve(CONFIG)).apply(model, cfg, adapterName, 0);
        try (dev.peft4j.io.SafeTensorsFile f = dev.peft4j.io.SafeTensorsFile.open(weights)) {
            java.util.Set<String> expected = new java.util.TreeSet<>();
            for (Map.Entry<String, ? extends AdapterLayer> e : lm.layers().entrySet())
                for (Map.Entry<String, Tensor> t : e.getValue().stateDict().entrySet())
                    fill(f, Lora.KEY_PREFIX + e.getKey() + "." + t.getKey(), t.getValue(), dir, expected);
            for (Map.Entry<String, Tensor> t : lm.sharedStateDict().entrySet()) fill(f, t.getKey(), t.getValue(), dir, expected);
            for (String module : lm.modulesToSave()) {
                Linear lin = linear(lm, module);
                String key = savedKey(f, Lora.KEY_PREFIX + module, adapterName);
                if (lin.conv1d) {
                    String name = key + ".weight";
                    float[] w = readShaped(f, name, new long[] {lin.in, lin.out}, dir);
                    for (int i = 0; i < lin.in; i++)
                        for (int o = 0; o < lin.out; o++) lin.weight().data[o * lin.in + i] = w[i * lin.out + o];
                    expected.add(name);
                } else {
                    fill(f, key + ".weight", lin.weight(), dir, expected);
                }
                if (lin.bias() != null) fill(f, key + ".bias", lin.bias(), dir, expected);
            }
            List<String> unexpected = new ArrayList<>();
            for (dev.peft4j.io.TensorInfo t : f.tensors()) if (!expected.contains(t.name())) unexpected.add(t.name());
            if (!unexpected.isEmpty()) {
                throw new Peft4jException(weights + " holds tensors this configuration does not explain: "
                        + unexpected.subList(0, Math.min(5, unexpected.size())) + (unexpected.size() > 5 ? " ..." : "")
                        + "; adapter_config.json and the weights do not match (or the adapter is for another model)");
            }
        } catch (RuntimeException e) {
            lm.unload();                      // leave the model as it was
            throw e;
        }
        return lm;
    }

    /** load() for a directory that must hold a LoRA adapter (for LoRA-only operations such as combining). */
    public static LoraModel loadLora(dev.peft4j.model.CausalLM model, Path dir, String adapterName) {
        readLoraConfig(dir);
        return (LoraModel) load(model, dir, adapterName);
    }

    /** PEFT saves modules_to_save as <module>.weight; the long form <module>.modules_to_save.<name>.weight (a state_dict saved by hand) is accepted too. */
    private static String savedKey(dev.peft4j.io.SafeTensorsFile f, String key, String adapterName) {
        if (f.contains(key + ".weight")) return key;
        for (String n : List.of(adapterName, "default"))
            if (f.contains(key + ".modules_to_save." + n + ".weight")) return key + ".modules_to_save." + n;
        return key;
    }

    private static void fill(dev.peft4j.io.SafeTensorsFile f, String name, Tensor t, Path dir, java.util.Set<String> seen) {
        float[] v = readShaped(f, name, java.util.Arrays.stream(t.shape).asLongStream().toArray(), dir);
        System.arraycopy(v, 0, t.data, 0, v.length);
        seen.add(name);
    }

    private static float[] readShaped(dev.peft4j.io.SafeTensorsFile f, String name, long[] shape, Path dir) {
        if (!f.contains(name))
            throw new Peft4jException("adapter " + dir + " has no tensor " + name + ", which its adapter_config.json implies "
                    + "for this base model; the adapter was trained for a different model or configuration");
        long[] got = f.info(name).shape();
        if (!java.util.Arrays.equals(got, shape))
            throw new Peft4jException("adapter tensor " + name + " in " + dir + " has shape " + java.util.Arrays.toString(got)
                    + " but this base model needs " + java.util.Arrays.toString(shape)
                    + "; the adapter was trained for a different model (check base_model_name_or_path)");
        return f.readFloats(name);
    }

    private static Linear linear(AdapterModel lm, String module) {
        for (Linear l : lm.model().linears()) if (l.name.equals(module)) return l;
        throw new Peft4jException("module " + module + " not found in the model");
    }

    private static SafeTensorsWriter.Tensor tensor(String key, Tensor t) {
        return new SafeTensorsWriter.Tensor(key, DType.F32, java.util.Arrays.stream(t.shape).asLongStream().toArray(), t.data);
    }

    public static void writeAtomically(Path file, String text) {
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
        try {
            Files.writeString(tmp, text, StandardCharsets.UTF_8);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            try { Files.deleteIfExists(tmp); } catch (IOException ignored) { }
            throw new Peft4jException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }
}
