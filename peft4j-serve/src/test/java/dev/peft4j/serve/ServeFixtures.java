package dev.peft4j.serve;

import dev.peft4j.generate.Generator;
import dev.peft4j.generate.SamplingConfig;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tokenizer.Tokenizer;
import dev.peft4j.tuner.AdapterConfig;
import dev.peft4j.tuner.AdapterModel;
import dev.peft4j.tuner.PeftAdapter;
import dev.peft4j.tuner.PeftModel;
import dev.peft4j.tuner.lora.InitLoraWeights;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.prompttuning.PromptTuningConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;

/**
 * The served model (the real trained stories260K Llama from ../shared) and adapters of four kinds
 * written as PEFT directories: LoRA (two), DoRA (no additive fast path: served through its forward)
 * and prompt tuning (virtual tokens in the cache). Expected texts come from Generator, what
 * peft4j generate runs.
 */
final class ServeFixtures {
    private ServeFixtures() {}

    static Path stories() {
        String override = System.getProperty("peft4j.shared", System.getenv("PEFT4J_SHARED"));
        Path shared = override != null ? Path.of(override) : null;
        for (Path d = Path.of("").toAbsolutePath(); shared == null && d != null; d = d.getParent())
            if (Files.isDirectory(d.resolve("shared/models"))) shared = d.resolve("shared");
        Path p = shared == null ? Path.of("../shared/models/stories260K") : shared.resolve("models/stories260K");
        Assumptions.assumeTrue(Files.isDirectory(p), p + " not found; skipping (it is present in CI and dev sandboxes)");
        return p;
    }

    /** name -> adapter directory under root: lora-a, lora-b, dora, prompt. */
    static Map<String, Path> writeAdapters(Path model, Path root) {
        Map<String, AdapterConfig> configs = new LinkedHashMap<>();
        configs.put("lora-a", LoraConfig.builder().r(4).alpha(16).allLinear().init(InitLoraWeights.RANDOM).build());
        configs.put("lora-b", LoraConfig.builder().r(2).alpha(8).targetModules("q_proj", "v_proj", "down_proj").init(InitLoraWeights.RANDOM).build());
        configs.put("dora", LoraConfig.builder().r(2).alpha(8).allLinear().useDora(true).init(InitLoraWeights.RANDOM).build());
        configs.put("prompt", PromptTuningConfig.random(4));
        Map<String, Path> out = new LinkedHashMap<>();
        long seed = 11;
        for (Map.Entry<String, AdapterConfig> e : configs.entrySet()) {
            CausalLM lm = CausalLM.load(model);
            AdapterModel am = new PeftModel(lm).addAdapter(e.getValue(), e.getKey(), seed++);
            Path dir = root.resolve(e.getKey());
            PeftAdapter.save(am, dir, model.toString(), null);
            out.put(e.getKey(), dir);
        }
        return out;
    }

    /** The greedy continuation text peft4j generate prints after the prompt (adapter null: the base model). */
    static String generate(Path model, Path adapter, String prompt, int maxTokens) {
        CausalLM lm = CausalLM.load(model);
        if (adapter != null) new PeftModel(lm).loadAdapter(adapter, "x");
        try (Tokenizer tok = Tokenizer.load(model)) {
            int[] ids = tok.encodeWithSpecial(prompt);
            Tokenizer.Stream stream = tok.newStream(ids);
            StringBuilder sb = new StringBuilder();
            new Generator(lm).generate(ids, SamplingConfig.greedy(maxTokens), tok.eosIds(), (row, id) -> sb.append(stream.push(id)));
            return sb.append(stream.flush()).toString();
        }
    }
}
