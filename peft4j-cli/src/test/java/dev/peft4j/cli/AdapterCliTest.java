package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The adapter commands end to end on the quickstart's generated model and adapter (no ../shared needed). */
class AdapterCliTest {
    @TempDir static Path tmp;
    static Path qs;

    @BeforeAll
    static void quickstart() {
        qs = tmp.resolve("qs");
        String[] r = CliTest.run("quickstart", "--output", qs.toString(), "--steps", "150");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).contains("-> adapted 100/100 (100%)").contains("gen:exact_match");
        assertThat(qs.resolve("report/compare.html")).exists();
        try {
            String html = java.nio.file.Files.readString(qs.resolve("report/compare.html"));
            assertThat(html).contains("Chart.js").contains("peft4j-data");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static final String PROMPT = "Tom went to the park and saw a cow. The cow said";

    @Test
    void generateWithAdapterMergeAndCombine() throws Exception {
        Path base = qs.resolve("base-model"), adapter = qs.resolve("adapter");
        String[] g = CliTest.run("generate", "--model", base.toString(), "--adapter", adapter.toString(), "--prompt", PROMPT, "--max-new-tokens", "2");
        assertThat(g[0]).as(g[2]).isEqualTo("0");
        assertThat(g[1]).contains("moo!");
        assertThat(CliTest.run("generate", "--model", base.toString(), "--prompt", PROMPT, "--max-new-tokens", "2")[1]).doesNotContain("moo");

        Path merged = tmp.resolve("merged");
        String[] m = CliTest.run("merge", "--model", base.toString(), "--adapter", adapter.toString(), "--output", merged.toString());
        assertThat(m[0]).as(m[2]).isEqualTo("0");
        assertThat(merged.resolve("config.json")).exists();
        assertThat(merged.resolve("tokenizer.json")).exists();
        assertThat(CliTest.run("generate", "--model", merged.toString(), "--prompt", PROMPT, "--max-new-tokens", "2")[1]).contains("moo!");

        Path comb = tmp.resolve("combined");
        String[] c = CliTest.run("adapters", "combine", "--model", base.toString(), "--adapter", adapter.toString(), "--adapter",
                adapter.toString(), "--weights", "0.5,0.5", "--type", "svd", "--rank", "16", "--output", comb.toString());
        assertThat(c[0]).as(c[2]).isEqualTo("0");
        assertThat(Files.readString(comb.resolve("adapter_config.json"))).contains("\"r\" : 16").contains("\"lora_alpha\" : 16");
        assertThat(CliTest.run("generate", "--model", base.toString(), "--adapter", comb.toString(), "--prompt", PROMPT,
                "--max-new-tokens", "2")[1]).contains("moo!");

        String[] i = CliTest.run("inspect", adapter.toString());
        assertThat(i[1]).contains("PEFT LoRA").contains("r 16").contains("28 (32,768 parameters");
    }

    @Test
    void trainingContinuesFromASavedAdapter() {
        Path out = tmp.resolve("continued");
        String[] r = CliTest.run("train", "--model", qs.resolve("base-model").toString(), "--data", qs.resolve("data/train.jsonl").toString(),
                "--adapter", qs.resolve("adapter").toString(), "--output", out.toString(), "--steps", "2", "--lr", "1e-4");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).contains("continuing from adapter");
        assertThat(out.resolve("adapter_model.safetensors")).exists();
    }
}
