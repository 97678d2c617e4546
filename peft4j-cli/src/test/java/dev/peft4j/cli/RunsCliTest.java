package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * `peft4j runs DIR` (issue 13): three versions trained on the quickstart's generated model (named so
 * that name order is not date order) plus an adapter without provenance, listed oldest first with
 * their metrics; the HTML index rendered by headless Chromium; `compare --adapter DIR` takes them all.
 */
class RunsCliTest {
    @TempDir static Path tmp;
    static Path base, data, runs;
    /** name, steps, lr of each version, in training order. */
    static final String[][] VERSIONS = {{"zeta-first", "4", "1e-3"}, {"alpha-second", "12", "3e-3"}, {"mid/gamma-third", "20", "3e-3"}};

    @BeforeAll
    static void trainThreeVersions() throws Exception {
        Path qs = tmp.resolve("qs");
        String[] q = CliTest.run("quickstart", "--output", qs.toString(), "--steps", "3");
        assertThat(q[0]).as(q[2]).isEqualTo("0");
        base = qs.resolve("base-model");
        data = qs.resolve("data/train.jsonl");
        runs = tmp.resolve("runs");
        // an adapter from before provenance existed: the quickstart's own (which writes provenance.json too) without it
        assertThat(qs.resolve("adapter/provenance.json")).exists();
        Path legacy = Files.createDirectories(runs.resolve("legacy"));
        try (Stream<Path> s = Files.list(qs.resolve("adapter"))) {
            for (Path f : s.toList())
                if (!f.getFileName().toString().equals("provenance.json")) Files.copy(f, legacy.resolve(f.getFileName()));
        }
        assertThat(legacy.resolve("provenance.json")).doesNotExist();
        Files.setLastModifiedTime(legacy.resolve("adapter_model.safetensors"), java.nio.file.attribute.FileTime.fromMillis(0));
        for (String[] v : VERSIONS) {
            String[] t = CliTest.run("train", "--model", base.toString(), "--data", data.toString(), "--output", runs.resolve(v[0]).toString(),
                    "--steps", v[1], "--lr", v[2], "--val-fraction", "0.1", "--batch-size", "4");
            assertThat(t[0]).as(t[2]).isEqualTo("0");
        }
    }

    @Test
    void runsListsEveryVersionOldestFirstWithItsMetrics() throws Exception {
        String[] r = CliTest.run("runs", runs.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        List<String> rows = r[1].lines().filter(l -> l.matches("^\\d+ +\\| .*")).toList();
        assertThat(rows).hasSize(4);
        for (int i = 0; i < VERSIONS.length; i++) {
            String[] cells = cells(rows.get(i + 1));
            JsonNode p = new ObjectMapper().readTree(runs.resolve(VERSIONS[i][0]).resolve("provenance.json").toFile());
            assertThat(cells[0]).isEqualTo(String.valueOf(i + 2));
            assertThat(cells[1]).isEqualTo(VERSIONS[i][0]);
            assertThat(cells[3]).isEqualTo("LORA");
            assertThat(cells[4]).isEqualTo("8");
            assertThat(cells[5]).isEqualTo(String.format("%,d", p.at("/adapter/trainable_params").asLong()));
            assertThat(cells[6]).isEqualTo("train.jsonl");
            assertThat(cells[7]).isEqualTo(VERSIONS[i][1]);
            assertThat(cells[8]).isEqualTo(String.format(java.util.Locale.ROOT, "%.4f", p.at("/run/final_train_loss").asDouble()));
            assertThat(cells[9]).isEqualTo(String.format(java.util.Locale.ROOT, "%.4f", p.at("/run/final_validation_loss").asDouble()));
            assertThat(cells[11]).contains("Wh").contains("g CO2e");
        }
        String[] legacy = cells(rows.get(0));
        assertThat(legacy[1]).isEqualTo("legacy");
        assertThat(legacy[6]).as("no data file known without provenance").isEqualTo("-");
        assertThat(legacy[7]).as("steps from its metrics.jsonl").isNotEqualTo("-");
        assertThat(legacy[11]).as("no energy without provenance").isEqualTo("-");
        assertThat(r[1]).contains("1 run(s) without provenance.json");
        assertThat(runs.resolve("runs.html")).exists();
        String html = Files.readString(runs.resolve("runs.html"));
        assertThat(html).contains("Chart.js").contains("peft4j-runs-data").contains("gamma-third");
        int z = html.indexOf("\"name\" : \"zeta-first\""), a = html.indexOf("\"name\" : \"alpha-second\""), g = html.indexOf("\"name\" : \"mid/gamma-third\"");
        assertThat(z).isPositive().isLessThan(a);
        assertThat(a).isLessThan(g);
        // a second run replaces its own page; a foreign file is refused without --overwrite
        assertThat(CliTest.run("runs", runs.toString(), "--metric", "steps")[0]).isEqualTo("0");
        Path foreign = tmp.resolve("mine.html");
        Files.writeString(foreign, "<p>mine</p>");
        String[] refused = CliTest.run("runs", runs.toString(), "--html", foreign.toString());
        assertThat(refused[0]).isEqualTo("2");
        assertThat(refused[2]).contains("--overwrite");
        String[] bad = CliTest.run("runs", runs.toString(), "--metric", "nonsense");
        assertThat(bad[0]).isEqualTo("2");
        assertThat(bad[2]).contains("available: val_loss, train_loss");
        String[] empty = CliTest.run("runs", Files.createDirectories(tmp.resolve("nothing")).toString());
        assertThat(empty[0]).isEqualTo("2");
        assertThat(empty[2]).contains("no adapters under");
    }

    private static String[] cells(String row) {
        return java.util.Arrays.stream(row.split(" \\| ")).map(String::strip).toArray(String[]::new);
    }

    @Test
    void compareAcceptsTheDirectoryAndComparesEveryVersionInDateOrder() throws Exception {
        Path ref = base.getParent().resolve("data/reference.txt");
        String[] c = CliTest.run("compare", "--model", base.toString(), "--adapter", runs.toString(), "--task", "perplexity", "--data",
                ref.toString(), "--limit", "5", "--output", tmp.resolve("cmp").toString());
        assertThat(c[0]).as(c[2]).isEqualTo("0");
        String header = c[1].lines().filter(l -> l.startsWith("metric")).findFirst().orElseThrow();
        int legacy = header.indexOf("legacy"), z = header.indexOf("zeta-first"), a = header.indexOf("alpha-second"), g = header.indexOf("gamma-third");
        assertThat(legacy).isPositive().isLessThan(z);
        assertThat(z).isLessThan(a);
        assertThat(a).isLessThan(g);
    }

    @Test
    @Tag("slow")
    void runsHtmlRendersInHeadlessChromium() throws Exception {
        Path html = tmp.resolve("shot/runs.html");
        Files.createDirectories(html.getParent());
        String[] r = CliTest.run("runs", runs.toString(), "--html", html.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        Path script = Path.of("").toAbsolutePath().getParent().resolve("scripts/report/screenshot.sh");
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/chromium")), "/usr/bin/chromium not installed (apt-get install -y chromium); skipping the screenshot");
        Path png = tmp.resolve("shot/runs.png");
        Process p = new ProcessBuilder("bash", script.toString(), html.toString(), png.toString())
                .redirectErrorStream(true).redirectOutput(tmp.resolve("shot.log").toFile()).start();
        assertThat(p.waitFor(180, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(Files.readString(tmp.resolve("shot.log"))).isZero();
        var img = javax.imageio.ImageIO.read(png.toFile());
        assertThat(img.getWidth()).isGreaterThan(1000);
        java.util.Set<Integer> colours = new java.util.HashSet<>();
        for (int y = 0; y < img.getHeight(); y += 3) for (int x = 0; x < img.getWidth(); x += 3) colours.add(img.getRGB(x, y));
        assertThat(colours.size()).as("distinct colours in the rendered runs index (chart and table drawn)").isGreaterThan(100);
        // the line's colour (#4e79a7, Chart.js draws it antialiased: count pixels near it) in the chart's area
        int line = 0;
        for (int y = 100; y < 600; y++)
            for (int x = 0; x < img.getWidth(); x++) {
                int rgb = img.getRGB(x, y), rr = (rgb >> 16) & 0xff, gg = (rgb >> 8) & 0xff, bb = rgb & 0xff;
                if (Math.abs(rr - 0x4e) < 24 && Math.abs(gg - 0x79) < 24 && Math.abs(bb - 0xa7) < 24) line++;
            }
        assertThat(line).as("pixels of the metric's line and points in the chart").isGreaterThan(300);
    }
}
