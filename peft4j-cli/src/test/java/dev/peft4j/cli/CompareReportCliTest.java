package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The evaluation issue end to end: base stories260K vs two adapters trained by `peft4j train`, compared
 * by `peft4j compare` (HTML + JSON + text), and the HTML rendered by headless Chromium through
 * scripts/report/screenshot.sh (skipped without ../shared or without /usr/bin/chromium).
 */
@Tag("slow")
class CompareReportCliTest {
    @TempDir Path tmp;

    @Test
    void baseVersusTwoTrainedAdaptersGivesAReportChromiumCanRender() throws Exception {
        Path model = CliTest.shared("models/stories260K");
        String[] animals = {"dog", "cat", "cow", "duck"}, sounds = {"woof", "meow", "moo", "quack"}, names = {"Tom", "Sue", "Ben", "Mia", "Max", "Zoe"};
        StringBuilder train = new StringBuilder(), test = new StringBuilder();
        for (int n = 0; n < names.length; n++)
            for (int a = 0; a < animals.length; a++) {
                String p = names[n] + " saw a " + animals[a] + ". The " + animals[a] + " said";
                if (n < 5) train.append(String.format("{\"prompt\": \"%s\", \"completion\": \" %s!\"}%n", p, sounds[a]));
                else test.append(String.format("{\"prompt\": \"%s\", \"answer\": \"%s!\"}%n", p, sounds[a]));
            }
        Files.writeString(tmp.resolve("train.jsonl"), train);
        Files.writeString(tmp.resolve("test.jsonl"), test);
        Files.writeString(tmp.resolve("stories.txt"), Files.readAllLines(model.resolve("greedy_from_bos_256steps.txt")).get(0));
        for (int r : new int[] {2, 8}) {
            String[] res = CliTest.run("train", "--model", model.toString(), "--data", tmp.resolve("train.jsonl").toString(),
                    "--output", tmp.resolve("adapter-r" + r).toString(), "--lora.r", String.valueOf(r), "--lora.target-modules", "all-linear",
                    "--steps", "30", "--lr", "3e-3", "--batch-size", "8", "--add-eos", "false", "--val-fraction", "0.2");
            assertThat(res[0]).as(res[2]).isEqualTo("0");
        }
        Path out = tmp.resolve("report");
        String[] c = CliTest.run("compare", "--model", model.toString(), "--adapter", tmp.resolve("adapter-r2").toString(),
                "--adapter", tmp.resolve("adapter-r8").toString(), "--task", "gen", "--data", tmp.resolve("test.jsonl").toString(),
                "--task", "perplexity", "--data", tmp.resolve("stories.txt").toString(), "--reference", tmp.resolve("stories.txt").toString(),
                "--max-new-tokens", "3", "--output", out.toString());
        assertThat(c[0]).as(c[2]).isEqualTo("0");
        assertThat(c[1]).contains("gen:exact_match (higher is better)").contains("adapter-r2").contains("adapter-r8")
                .contains("KL from base, nats/position").contains("n=4").contains("paired tests (B - A on the same items)")
                .contains("gen:exact_match  adapter-r2 - base").contains("McNemar");
        JsonNode json = new ObjectMapper().readTree(out.resolve("compare.json").toFile());
        assertThat(json.toString()).contains("adapter-r8").contains("perplexity:nll");
        assertThat(json.get("variants").get(1).get("items")).as("4 gen items + 1 perplexity document").hasSize(5);
        assertThat(json.get("variants").get(1).get("drift").get("kl_lo").isNumber()).isTrue();
        assertThat(json.get("variants").get(1).get("drift").get("base_nll").isNumber()).isTrue();
        assertThat(json.get("loss_curve_warnings")).as("both adapters trained with the same data and label settings").isEmpty();
        assertThat(json.get("comparisons").size()).isEqualTo(9);   // 3 metrics x 3 pairs
        assertThat(Files.readString(out.resolve("compare-predictions.csv")).split("\r\n")).hasSize(1 + 3 * 5);
        String html = Files.readString(out.resolve("compare.html"));
        assertThat(html).contains("Chart.js").contains("peft4j-data").contains("id=\"paired-table\"").contains("id=\"loss-log\"")
                .contains("href=\"compare-predictions.csv\" download");

        Path script = Path.of("").toAbsolutePath().getParent().resolve("scripts/report/screenshot.sh");
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/chromium")), "/usr/bin/chromium not installed (apt-get install -y chromium); skipping the screenshot");
        Path png = out.resolve("compare.png");
        Process p = new ProcessBuilder("bash", script.toString(), out.resolve("compare.html").toString(), png.toString())
                .redirectErrorStream(true).redirectOutput(tmp.resolve("shot.log").toFile()).start();
        assertThat(p.waitFor(180, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(Files.readString(tmp.resolve("shot.log"))).isZero();
        var img = javax.imageio.ImageIO.read(png.toFile());
        assertThat(img.getWidth()).isGreaterThan(1000);
        java.util.Set<Integer> colours = new java.util.HashSet<>();
        for (int y = 0; y < img.getHeight(); y += 3) for (int x = 0; x < img.getWidth(); x += 3) colours.add(img.getRGB(x, y));
        assertThat(colours.size()).as("distinct colours in the rendered report (charts drawn)").isGreaterThan(200);
    }
}
