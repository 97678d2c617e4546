package dev.peft4j.report;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Renders a synthetic report with headless Chromium (scripts/report/screenshot.sh) and checks the charts drew. */
@Tag("slow")
class ReportScreenshotTest {

    static Path script() {
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            Path s = d.resolve("scripts/report/screenshot.sh");
            if (Files.isRegularFile(s)) return s;
        }
        return null;
    }

    @Test
    void chromiumScreenshotShowsTheCharts(@TempDir Path dir) throws Exception {
        String chromium = System.getenv().getOrDefault("CHROMIUM", "/usr/bin/chromium");
        assumeTrue(Files.isExecutable(Path.of(chromium)), chromium + " is absent (apt-get install -y chromium)");
        Path script = script();
        assumeTrue(script != null, "scripts/report/screenshot.sh not found above " + Path.of("").toAbsolutePath());

        var written = ReportFixtures.sampleWithItems().write(dir.resolve("with space & <odd> name"), "compare");
        Path png = dir.resolve("shot.png");
        Process p = new ProcessBuilder("bash", script.toString(), written.html().toString(), png.toString())
                .redirectErrorStream(true).start();
        boolean done = p.waitFor(180, TimeUnit.SECONDS);
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!done) p.destroyForcibly();
        assertThat(done).as("screenshot finished; log:\n" + log).isTrue();
        assertThat(p.exitValue()).as("screenshot exit; log:\n" + log).isZero();
        assertThat(written.predictions()).exists();
        assertThat(Files.readString(written.html())).contains("id=\"confusion-section\"").contains("id=\"paired-table\"");

        assertThat(png).exists();
        assertThat(Files.size(png)).as("PNG size").isGreaterThan(30_000);
        BufferedImage img = ImageIO.read(png.toFile());
        assertThat(img).isNotNull();
        assertThat(img.getWidth()).isEqualTo(1280);
        assertThat(img.getHeight()).isEqualTo(2000);

        // Charts are coloured; text and the table are grey. Count saturated pixels and their colours.
        long saturated = 0;
        var colours = new HashSet<Integer>();
        var all = new HashSet<Integer>();
        for (int y = 0; y < img.getHeight(); y++)
            for (int x = 0; x < img.getWidth(); x++) {
                int rgb = img.getRGB(x, y) & 0xffffff;
                all.add(rgb);
                int r = rgb >> 16 & 0xff, g = rgb >> 8 & 0xff, b = rgb & 0xff;
                if (Math.max(r, Math.max(g, b)) - Math.min(r, Math.min(g, b)) > 60) {
                    saturated++;
                    colours.add(rgb);
                }
            }
        long area = (long) img.getWidth() * img.getHeight();
        assertThat(all.size()).as("distinct colours").isGreaterThan(200);
        assertThat(saturated).as("coloured (chart) pixels").isGreaterThan(area / 100);
        assertThat(colours.size()).as("distinct chart colours").isGreaterThan(20);
        Path keep = System.getenv("PEFT4J_REPORT_KEEP") == null ? null : Path.of(System.getenv("PEFT4J_REPORT_KEEP"));
        if (keep != null) {
            Files.copy(png, keep, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            Files.copy(written.html(), keep.resolveSibling(keep.getFileName() + ".html"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
