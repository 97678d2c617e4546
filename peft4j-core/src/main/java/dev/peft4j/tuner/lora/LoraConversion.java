/*
 * LoraConversion: saves a PiSSA/OLoRA adapter as a plain LoRA adapter relative to the ORIGINAL base
 * weight, as PEFT 0.14's save_pretrained(path_initial_model_for_weight_conversion=...) does
 * (peft_model.py save_mutated_as_lora, tuners/lora/model.py subtract_mutated_init):
 *
 *   W = W_res + s·B0·A0 (at init),  W + ΔW = W_res + s·B·A  ⇒  ΔW = s·(B·A − B0·A0) = s·[B | −B0]·[A ; A0]
 *
 * so each module's saved lora_A is [A ; A0] (2r × in, torch.cat dim 0) and lora_B is [B, −B0]
 * (out × 2r, torch.cat dim 1). The config is the trained one with init_lora_weights = true, r doubled,
 * lora_alpha doubled (×√2 with use_rslora, so that alpha/√r keeps the scaling) and every rank_pattern
 * and alpha_pattern value doubled. Only lora_A/lora_B tensors are written, as in PEFT; PEFT raises for
 * use_rslora with rank_pattern/alpha_pattern and peft4j refuses it the same way. peft4j also refuses
 * what PEFT's conversion silently drops or gets wrong: DoRA magnitudes (the converted config would
 * re-initialise them from the original base) and modules_to_save copies (PEFT leaves them out of the
 * converted file).
 *
 * Usage: Initial init = LoraConversion.initial(lm) right after Lora.apply (PEFT: save the initial
 * adapter before training), train, then LoraConversion.save(lm, init, dir, base).
 */
package dev.peft4j.tuner.lora;

import dev.peft4j.tuner.PeftAdapter;

import dev.peft4j.Peft4jException;
import dev.peft4j.io.DType;
import dev.peft4j.io.SafeTensorsWriter;
import dev.peft4j.tuner.lora.LoraAdapter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public final class LoraConversion {
    private LoraConversion() {}

    /** The initial A0 (r × in) and B0 (out × r) of every adapted module, copied. */
    public record Initial(Map<String, float[]> a0, Map<String, float[]> b0) {}

    /** Copies the adapter's current (initial) A and B; call before training. */
    public static Initial initial(LoraModel lm) {
        Map<String, float[]> a = new LinkedHashMap<>(), b = new LinkedHashMap<>();
        for (Map.Entry<String, LoraAdapter> e : lm.adapters().entrySet()) {
            a.put(e.getKey(), e.getValue().A.data.clone());
            b.put(e.getKey(), e.getValue().B.data.clone());
        }
        return new Initial(Map.copyOf(a), Map.copyOf(b));
    }

    /** The converted plain-LoRA config (init true, r and alpha doubled, patterns doubled). */
    public static LoraConfig convertedConfig(LoraConfig c) {
        check(c);
        Map<String, Integer> rp = new LinkedHashMap<>();
        c.rankPattern().forEach((k, v) -> rp.put(k, 2 * v));
        Map<String, Double> ap = new LinkedHashMap<>();
        c.alphaPattern().forEach((k, v) -> ap.put(k, 2 * v));
        return c.toBuilder().init(InitLoraWeights.DEFAULT).r(2 * c.r())
                .alpha(c.useRslora() ? c.loraAlpha() * Math.sqrt(2.0) : 2 * c.loraAlpha())
                .rankPattern(rp).alphaPattern(ap).build();
    }

    private static void check(LoraConfig c) {
        if (c.useRslora() && (!c.rankPattern().isEmpty() || !c.alphaPattern().isEmpty()))
            throw new Peft4jException("converting a PiSSA/OLoRA adapter to LoRA is not supported with use_rslora together with "
                    + "rank_pattern/alpha_pattern (as in PEFT); train without one of them, or save without conversion");
        if (c.useDora())
            throw new Peft4jException("converting a PiSSA/OLoRA adapter to LoRA does not carry DoRA magnitudes (PEFT's conversion "
                    + "drops them); save without conversion (--lora.convert-to-lora false) and use the residual base");
        if (!c.modulesToSave().isEmpty())
            throw new Peft4jException("converting a PiSSA/OLoRA adapter to LoRA does not carry modules_to_save " + c.modulesToSave()
                    + " (PEFT's conversion drops them); save without conversion (--lora.convert-to-lora false) or drop modules_to_save");
    }

    /** The converted tensors: key -> (values, shape), in module order. */
    public static List<SafeTensorsWriter.Tensor> convertedTensors(LoraModel lm, Initial init) {
        List<SafeTensorsWriter.Tensor> out = new ArrayList<>();
        for (Map.Entry<String, LoraAdapter> e : lm.adapters().entrySet()) {
            String module = e.getKey();
            LoraAdapter ad = e.getValue();
            float[] a = ad.A.floats(), b = ad.B.floats(), a0 = init.a0().get(module), b0 = init.b0().get(module);
            if (a0 == null || a0.length != a.length || b0.length != b.length)
                throw new Peft4jException("no initial A/B of the same shape for " + module + "; take LoraConversion.initial(model) "
                        + "right after applying the adapter");
            int r = ad.A.dim(0), in = ad.A.dim(1), outDim = ad.B.dim(0);
            float[] a2 = new float[2 * r * in], b2 = new float[outDim * 2 * r];
            System.arraycopy(a, 0, a2, 0, a.length);                  // [A ; A0]
            System.arraycopy(a0, 0, a2, a.length, a0.length);
            for (int o = 0; o < outDim; o++)                           // [B, -B0]
                for (int c = 0; c < r; c++) {
                    b2[o * 2 * r + c] = b[o * r + c];
                    b2[o * 2 * r + r + c] = -b0[o * r + c];
                }
            String key = Lora.KEY_PREFIX + module;
            out.add(new SafeTensorsWriter.Tensor(key + ".lora_A.weight", DType.F32, new long[] {2L * r, in}, a2));
            out.add(new SafeTensorsWriter.Tensor(key + ".lora_B.weight", DType.F32, new long[] {outDim, 2L * r}, b2));
        }
        return out;
    }

    /** Writes the converted plain-LoRA adapter (adapter_model.safetensors, adapter_config.json, README.md) into dir. */
    public static void save(LoraModel lm, Initial init, Path dir, String baseModelNameOrPath) {
        LoraConfig conv = convertedConfig(lm.config());
        List<SafeTensorsWriter.Tensor> tensors = convertedTensors(lm, init);
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new Peft4jException("cannot create adapter directory " + dir + ": " + e.getMessage(), e);
        }
        SafeTensorsWriter.write(dir.resolve(PeftAdapter.WEIGHTS), Map.of("format", "pt"), tensors);
        PeftAdapter.writeAtomically(dir.resolve(PeftAdapter.CONFIG), PeftAdapter.configJson(conv, baseModelNameOrPath));
        PeftAdapter.writeAtomically(dir.resolve("README.md"), "---\nbase_model: " + baseModelNameOrPath
                + "\nlibrary_name: peft\ntags:\n- lora\n- peft4j\n---\n\n# LoRA adapter for " + baseModelNameOrPath + "\n\n"
                + "Trained with peft4j from a " + lm.config().initLoraWeights() + " initialisation and converted to a plain LoRA "
                + "adapter (r " + conv.r() + " = 2 x " + lm.config().r() + ") relative to the original base model, as PEFT's "
                + "save_pretrained(path_initial_model_for_weight_conversion=...) does: lora_A = [A; A0], lora_B = [B, -B0].\n");
    }
}
