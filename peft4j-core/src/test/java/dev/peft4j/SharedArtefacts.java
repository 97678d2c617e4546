/*
 * SharedArtefacts: test helper locating the shared reference artefacts (real models, tokenizers,
 * datasets) that live in a "shared" folder next to the repository root (../shared from the root;
 * some sandboxes copy it inside the root instead). A fresh clone has no such folder, so tests
 * call require(...) which skips them (JUnit Assumptions) with a message naming the missing path.
 *
 * Lookup: the system property peft4j.shared or the environment variable PEFT4J_SHARED when set;
 * otherwise the first folder named "shared" found beside the working directory or any of its
 * ancestors (surefire runs in peft4j-core/, so ../shared and ../../shared are both tried).
 */
package dev.peft4j;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

public final class SharedArtefacts {
    private static final Path SHARED = locate();

    private SharedArtefacts() {}

    /** The shared folder (it may not exist; use require() to skip when it does not). */
    public static Path shared() {
        return SHARED;
    }

    /** shared()/relative, skipping the calling test when it does not exist. */
    public static Path require(String relative) {
        Path p = SHARED.resolve(relative);
        Assumptions.assumeTrue(Files.exists(p),
                p + " (…/shared/" + relative + ") not found; skipping (it is present in CI and dev sandboxes)");
        return p;
    }

    private static Path locate() {
        String override = System.getProperty("peft4j.shared", System.getenv("PEFT4J_SHARED"));
        if (override != null && !override.isBlank()) return Path.of(override).toAbsolutePath().normalize();
        Path cwd = Path.of("").toAbsolutePath().normalize();
        for (Path dir = cwd; dir != null; dir = dir.getParent()) {
            Path candidate = dir.resolve("shared");
            if (Files.isDirectory(candidate.resolve("models")) || Files.isRegularFile(candidate.resolve("README.md"))) {
                return candidate;
            }
        }
        // Not found: the conventional place, so skip messages name a meaningful path.
        Path root = Files.exists(cwd.resolve("pom.xml")) && cwd.getParent() != null
                && Files.exists(cwd.getParent().resolve("pom.xml")) ? cwd.getParent() : cwd;
        return root.resolveSibling("shared");
    }
}
