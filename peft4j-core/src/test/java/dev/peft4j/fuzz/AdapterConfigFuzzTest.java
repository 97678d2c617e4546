/*
 * AdapterConfigFuzzTest: coverage-guided fuzzing (Jazzer) of a PEFT adapter's adapter_config.json:
 * PeftAdapter.readConfig (peft_type picks the method from the registry: LoRA/DoRA, IA3, VeRA, LoHa, LoKr
 * configs into their validated records) and then PeftAdapter.load onto a tiny random Llama, which
 * resolves target_modules / exclude_modules / layers_to_transform / rank_pattern / alpha_pattern /
 * modules_to_save against real module names and checks the fixed adapter_model.safetensors (LoRA r 2
 * on q_proj, v_proj) against what the config implies.
 * Oracle: TypedErrors (only a Peft4jException with a message may escape).
 * Seeds: src/test/resources/dev/peft4j/fuzz/AdapterConfigFuzzTestInputs/adapterConfig/; fuzzing: bin/fuzz.
 */
package dev.peft4j.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.ModelConfig;
import dev.peft4j.model.ModelFactory;
import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;
import dev.peft4j.tuner.PeftAdapter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

class AdapterConfigFuzzTest {
    private static final int MAX_INPUT = 1 << 16;

    private static CausalLM model;
    private static Path adapterDir;

    @FuzzTest
    void adapterConfig(byte[] data) throws Exception {
        if (data.length <= MAX_INPUT) accepts(data);
    }

    /** True when the bytes, as adapter_config.json, load (with the fixed weights) onto the tiny model. */
    static boolean accepts(byte[] data) throws Exception {
        setUp();
        FuzzFiles.write(adapterDir, PeftAdapter.CONFIG, data);
        return TypedErrors.check(() -> {
            if (PeftAdapter.readConfig(adapterDir) instanceof LoraConfig c) c.scaling(c.r(), c.loraAlpha());
            PeftAdapter.load(model, adapterDir, "fuzz").unload();
        });
    }

    /** True when the bytes parse as adapter_config.json (PeftAdapter.readConfig), whatever the weights. */
    static boolean parses(byte[] data) throws Exception {
        setUp();
        FuzzFiles.write(adapterDir, PeftAdapter.CONFIG, data);
        return TypedErrors.check(() -> PeftAdapter.readConfig(adapterDir));
    }

    /** A 2-layer Llama (C 8, 2 heads) and, beside the fuzzed config, the weights of an r-2 q_proj/v_proj adapter. */
    private static synchronized void setUp() throws Exception {
        if (model != null) return;
        ModelConfig cfg = new ModelConfig(ModelConfig.Family.LLAMA, 16, 8, 16, 2, 2, 1, 4, 32, 1e-5f, 10000.0, null,
                false, false, false, false, 0, 1, List.of(2), "float32");
        CausalLM m = ModelFactory.random(cfg, 7, 0.02f);
        Path saved = FuzzFiles.dir("adapter-saved");
        LoraModel lm = Lora.apply(m, LoraConfig.builder().r(2).alpha(8).targetModules("q_proj", "v_proj").build(), 7);
        PeftAdapter.save(lm, saved.resolve("a"), "tiny-llama", null);
        lm.unload();
        Path dir = FuzzFiles.dir("adapter");
        Files.copy(saved.resolve("a").resolve(PeftAdapter.WEIGHTS), dir.resolve(PeftAdapter.WEIGHTS),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        adapterDir = dir;
        model = m;
    }
}
