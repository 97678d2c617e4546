package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.generate.Generator;
import dev.peft4j.generate.SamplingConfig;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tokenizer.Tokenizer;
import dev.peft4j.tuner.PeftModel;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real llama.cpp (npm node-llama-cpp 3.21.1, its prebuilt CPU build; peft4j-core/src/test/js-llama) as the
 * judge of peft4j's GGUF exports: stories260K as F32 and F16 generates peft4j's greedy tokens (and the
 * reference story); a LoRA trained by peft4j, exported as a GGUF LoRA and applied at scale 1, and the merged
 * export, both give `peft4j generate --adapter`'s tokens; a block-friendly Llama exported as Q8_0 and Q4_0
 * runs in llama.cpp with the tokens peft4j produces reading the same GGUF.
 */
@Tag("slow")
class LlamaCppInteropTest {
    static final Path JS = Path.of("..", "peft4j-core", "src", "test", "js-llama").toAbsolutePath().normalize();
    static final ObjectMapper JSON = new ObjectMapper();
    @TempDir static Path tmp;
    static Path stories;

    @BeforeAll
    static void install() throws Exception {
        stories = CliTest.shared("models/stories260K");
        Assumptions.assumeTrue(ServeClientsTest.onPath("node"), "node is not installed; skipping");
        ServeClientsTest.npmCi(JS, "node-llama-cpp");
    }

    @Test
    void stories260kExportedAsF32AndF16GeneratesPeft4jsGreedyTokensInLlamaCpp() throws Exception {
        int[] want = greedy(CausalLM.load(stories), new int[] {1}, 64);
        String reference = Files.readString(stories.resolve("greedy_from_bos_256steps.txt"));
        for (String type : List.of("f32", "f16")) {
            Path out = tmp.resolve("stories-" + type + ".gguf");
            String[] r = CliTest.run("export", "gguf", "--model", stories.toString(), "--type", type, "--output", out.toString());
            assertThat(r[0]).as(r[2]).isEqualTo("0");
            JsonNode j = llama(out, null, new int[] {1}, 64);
            assertThat(ints(j.get("tokens"))).as(type).containsExactly(want);
            assertThat(reference.replace("\n", " ")).as(type).contains(j.get("text").asText().strip().substring(0, 60));
            assertThat(greedy(CausalLM.load(out), new int[] {1}, 64)).as("peft4j reading its own " + type + " export").containsExactly(want);
        }
    }

    @Test
    void aLoraTrainedByPeft4jRunsInLlamaCppAsGgufLoraAndMerged() throws Exception {
        Path data = tmp.resolve("train.jsonl");
        List<String> lines = new ArrayList<>();
        String[] names = {"Tom", "Sue", "Max", "Ann"};
        for (int i = 0; i < 64; i++) {
            String n = names[i % 4];
            lines.add("{\"prompt\": \"" + n + " has a red ball. " + n + " says\", \"completion\": \" bounce bounce!\"}");
        }
        Files.write(data, lines);
        Path run = tmp.resolve("run");
        String[] t = CliTest.run("train", "--model", stories.toString(), "--data", data.toString(), "--output", run.toString(), "--steps", "40",
                "--lr", "5e-3", "--lora.target-modules", "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj");
        assertThat(t[0]).as(t[2]).isEqualTo("0");
        Path base = tmp.resolve("base.gguf"), lora = tmp.resolve("lora.gguf"), merged = tmp.resolve("merged.gguf");
        for (String[] args : List.of(
                new String[] {"export", "gguf", "--model", stories.toString(), "--type", "f32", "--output", base.toString()},
                new String[] {"export", "gguf-lora", "--model", stories.toString(), "--adapter", run.toString(), "--output", lora.toString()},
                new String[] {"export", "gguf", "--model", stories.toString(), "--adapter", run.toString(), "--type", "f32", "--output", merged.toString()})) {
            String[] r = CliTest.run(args);
            assertThat(r[0]).as(String.join(" ", args) + ": " + r[2]).isEqualTo("0");
        }
        String prompt = "Ann has a red ball. Ann says";
        int[] ids;
        try (Tokenizer tok = Tokenizer.load(stories)) { ids = tok.encodeWithSpecial(prompt); }
        CausalLM adapted = CausalLM.load(stories);
        new PeftModel(adapted).loadAdapter(run, "default");
        int[] want = greedy(adapted, ids, 16);
        assertThat(greedy(CausalLM.load(stories), ids, 16)).as("the adapter changes the output").isNotEqualTo(want);
        JsonNode withLora = llama(base, lora, ids, 16);
        assertThat(ints(withLora.get("tokens"))).as("llama.cpp + GGUF LoRA").containsExactly(want);
        assertThat(ints(llama(merged, null, ids, 16).get("tokens"))).as("llama.cpp, merged export").containsExactly(want);
        // the CLI's text: `peft4j generate --adapter` prints the same continuation
        String[] g = CliTest.run("generate", "--model", stories.toString(), "--adapter", run.toString(), "--prompt", prompt, "--max-new-tokens", "16");
        assertThat(g[1].strip()).isEqualTo((prompt + " " + withLora.get("text").asText().strip()).strip());
    }

    @Test
    void aBlockFriendlyLlamaExportedAsQ8_0AndQ4_0RunsInLlamaCppLikePeft4jReadingTheSameFile() throws Exception {
        Path dir = paddedStories(tmp.resolve("stories-256"));
        CausalLM model = CausalLM.load(dir);
        assertThat(greedy(model, new int[] {1}, 32)).as("the padded model is stories260K").containsExactly(greedy(CausalLM.load(stories), new int[] {1}, 32));
        for (String type : List.of("q8_0", "q4_0", "q4_k")) {
            Path out = tmp.resolve("block-" + type + ".gguf");
            String[] r = CliTest.run("export", "gguf", "--model", dir.toString(), "--type", type, "--output", out.toString());
            assertThat(r[0]).as(r[2]).isEqualTo("0");
            // attention rows (64 wide) do not fill a 256-block: Q4_K falls back to Q8_0 for q/k/v/o, as llama-quantize does
            if (!type.equals("q4_k")) assertThat(r[2]).as("every row fills whole blocks").doesNotContain("note:");
            int[] mine = greedy(CausalLM.load(out), new int[] {1}, 32);
            int[] theirs = ints(llama(out, null, new int[] {1}, 32).get("tokens"));
            System.out.println(type + ": peft4j " + Arrays.toString(mine) + "\n" + type + ": llama.cpp " + Arrays.toString(theirs));
            int k = 0;
            while (k < Math.min(mine.length, theirs.length) && mine[k] == theirs[k]) k++;
            if (type.equals("q8_0") || k == mine.length) {
                assertThat(theirs).as(type).containsExactly(mine);
                continue;
            }
            // Q4_0 / Q4_K: llama.cpp rounds the activations to Q8_0 inside its Q4_0 dot products, peft4j keeps them f32; a
            // difference may only appear late, where peft4j itself sees a near-tie between the two tokens
            int[] prefix = new int[k + 1];
            prefix[0] = 1;
            System.arraycopy(mine, 0, prefix, 1, k);
            CausalLM q = CausalLM.load(out);
            float[] logits = q.forward(prefix, 1, prefix.length, null, null, true);
            double gap = logits[mine[k]] - logits[theirs[k]];
            System.out.printf("%s: first difference at token %d of %d; peft4j's logit gap between the two choices there: %.4f%n", type, k, mine.length, gap);
            assertThat(k).as(type + ": tokens equal before the first difference").isGreaterThanOrEqualTo(24);
            assertThat(gap).as(type + ": a near-tie where they part").isLessThan(0.15);
        }
    }

    /** Llama 3.1-style rope_scaling (llama3) goes to llama.cpp as rope_freqs: its greedy text equals peft4j's on the scaled model. */
    @Test
    void llama3RopeScalingExportedAsRopeFreqsGeneratesPeft4jsTokensInLlamaCpp() throws Exception {
        Path hf = Files.createDirectories(tmp.resolve("stories-rope-llama3"));
        for (String f : List.of("model.safetensors", "tokenizer.json", "tokenizer_config.json")) Files.copy(stories.resolve(f), hf.resolve(f));
        com.fasterxml.jackson.databind.node.ObjectNode cfg = (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(stories.resolve("config.json").toFile());
        cfg.putObject("rope_scaling").put("rope_type", "llama3").put("factor", 8.0).put("low_freq_factor", 1.0).put("high_freq_factor", 4.0)
                .put("original_max_position_embeddings", 256);
        Files.writeString(hf.resolve("config.json"), JSON.writeValueAsString(cfg));
        int[] want = greedy(CausalLM.load(hf), new int[] {1}, 200), plain = greedy(CausalLM.load(stories), new int[] {1}, 200);
        Path out = tmp.resolve("stories-rope-llama3.gguf");
        String[] r = CliTest.run("export", "gguf", "--model", hf.toString(), "--type", "f32", "--output", out.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(ints(llama(out, null, new int[] {1}, 200).get("tokens"))).containsExactly(want);
        assertThat(want).as("the scaling changes the greedy text").isNotEqualTo(plain);
    }

    /**
     * Byte-level BPE tokenizers (GPT-2, Llama 3, Qwen2.5 from vocab.json + merges.txt) written into a GGUF: llama.cpp's
     * own tokenizer, reading our tokenizer.ggml.* metadata, gives HuggingFace's ids on the 46 llama.cpp test strings,
     * and so does peft4j reading the file back.
     */
    @Test
    void byteLevelBpeTokenizersExportedToGgufTokenizeInLlamaCppAsHuggingFaceDoes() throws Exception {
        for (String[] pair : new String[][] {{"gpt-2", "tokenizers/gpt2"}, {"llama-bpe", "tokenizers/llama3"}, {"qwen2", "tokenizers/qwen2.5"}}) {
            Path dir = CliTest.shared(pair[1]);
            int vocab;
            try (Tokenizer t = Tokenizer.load(dir)) { vocab = t.vocabSize(); }
            dev.peft4j.model.ModelConfig cfg = new dev.peft4j.model.ModelConfig(dev.peft4j.model.ModelConfig.Family.LLAMA, vocab, 32, 64, 1, 2, 1, 16,
                    128, 1e-5f, 10000.0, null, true, false, false, false, 0, 0, List.of(0), "float32");
            Path out = tmp.resolve(pair[0] + ".gguf");
            dev.peft4j.model.GgufExport.model(dev.peft4j.model.ModelFactory.random(cfg, 1, 0.02f), dir, "f16", out);
            try (dev.peft4j.io.GgufFile g = dev.peft4j.io.GgufFile.open(out)) {
                assertThat(g.string("tokenizer.ggml.model")).isEqualTo("gpt2");
                assertThat(g.string("tokenizer.ggml.pre")).isEqualTo(pair[0]);
            }
            List<Object[]> cases = TokenizeCliTest.vectors(pair[0]);
            Path strings = tmp.resolve(pair[0] + ".json");
            JSON.writeValue(strings.toFile(), cases.stream().map(c -> (String) c[0]).toList());
            JsonNode got = run(List.of("node", "generate.mjs", "--model", out.toString(), "--tokenize", strings.toString())).get("tokenized");
            try (Tokenizer back = Tokenizer.load(out)) {
                for (int i = 0; i < cases.size(); i++) {
                    int[] want = (int[]) cases.get(i)[1];
                    assertThat(ints(got.get(i))).as(pair[0] + " llama.cpp: " + cases.get(i)[0]).containsExactly(want);
                    assertThat(back.encode((String) cases.get(i)[0])).as(pair[0] + " peft4j reading the GGUF: " + cases.get(i)[0]).containsExactly(want);
                }
            }
        }
    }

    /**
     * Our own block-friendly Llama: stories260K (trained, so its greedy choices are clear) with hidden 64 -> 256 and
     * MLP 172 -> 256, zero-padded, the norm weights halved and rms_norm_eps / 4 so that every logit is unchanged
     * (the padded dimensions stay exactly zero). Rows of every matrix are then multiples of 32 (64 for attention).
     */
    static Path paddedStories(Path out) throws Exception {
        Files.createDirectories(out);
        int C = 64, C2 = 256, I = 172, I2 = 256;
        List<dev.peft4j.io.SafeTensorsWriter.Tensor> tensors = new ArrayList<>();
        try (dev.peft4j.io.Checkpoint ck = dev.peft4j.io.Checkpoint.open(stories)) {
            for (String name : ck.names()) {
                long[] shape = ck.info(name).shape();
                float[] v = ck.readFloats(name);
                int rows = shape.length == 2 ? (int) shape[0] : 1, cols = (int) shape[shape.length - 1];
                int rows2 = rows, cols2 = cols;
                if (name.endsWith("norm.weight")) { cols2 = C2; for (int i = 0; i < v.length; i++) v[i] *= 0.5f; }
                else if (name.contains("embed_tokens")) cols2 = C2;
                else if (name.contains("q_proj") || name.contains("k_proj") || name.contains("v_proj")) cols2 = C2;
                else if (name.contains("o_proj")) rows2 = C2;
                else if (name.contains("gate_proj") || name.contains("up_proj")) { rows2 = I2; cols2 = C2; }
                else if (name.contains("down_proj")) { rows2 = C2; cols2 = I2; }
                float[] p = new float[rows2 * cols2];
                for (int r = 0; r < rows; r++) System.arraycopy(v, r * cols, p, r * cols2, cols);
                long[] s2 = shape.length == 2 ? new long[] {rows2, cols2} : new long[] {cols2};
                tensors.add(new dev.peft4j.io.SafeTensorsWriter.Tensor(name, dev.peft4j.io.DType.F32, s2, p));
            }
        }
        dev.peft4j.io.SafeTensorsWriter.write(out.resolve("model.safetensors"), java.util.Map.of("format", "pt"), tensors);
        com.fasterxml.jackson.databind.node.ObjectNode cfg = (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(stories.resolve("config.json").toFile());
        cfg.put("hidden_size", C2).put("intermediate_size", I2).put("head_dim", C / cfg.get("num_attention_heads").asInt())
                .put("rms_norm_eps", cfg.get("rms_norm_eps").asDouble() / 4);
        Files.writeString(out.resolve("config.json"), JSON.writeValueAsString(cfg));
        for (String f : List.of("tokenizer.json", "tokenizer_config.json")) Files.copy(stories.resolve(f), out.resolve(f));
        return out;
    }

    /** Greedy ids up to n, stopping before EOS (id 2) as llama.cpp's generation does. */
    static int[] greedy(CausalLM m, int[] prompt, int n) {
        return new Generator(m).generate(prompt, new SamplingConfig(n, 0f, 0, 1f, 0, true), Set.of(2), null);
    }

    static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).asInt();
        return out;
    }

    /** node generate.mjs: llama.cpp's greedy tokens from the given ids (EOS ignored: exactly n tokens unless EOS). */
    static JsonNode llama(Path model, Path lora, int[] tokens, int n) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("node", "generate.mjs", "--model", model.toString(), "--n", String.valueOf(n), "--threads", "1",
                "--tokens", String.join(",", Arrays.stream(tokens).mapToObj(String::valueOf).toList())));
        if (lora != null) cmd.addAll(List.of("--lora", lora.toString(), "--lora-scale", "1"));
        return run(cmd);
    }

    /** Runs the harness; its last stdout line as JSON. */
    static JsonNode run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).directory(JS.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(180, TimeUnit.SECONDS)) { p.destroyForcibly(); throw new AssertionError("llama.cpp timed out"); }
        assertThat(p.exitValue()).as(out).isZero();
        String last = out.strip().lines().reduce((a, b) -> b).orElse("");
        return JSON.readTree(last);
    }
}
