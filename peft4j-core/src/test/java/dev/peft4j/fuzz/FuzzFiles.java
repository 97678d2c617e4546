/*
 * FuzzFiles: scratch files for fuzz targets. One temporary directory per JVM (a fuzzing run
 * executes a target millions of times in one JVM), removed at exit; each target overwrites its own
 * file names in it for every input.
 */
package dev.peft4j.fuzz;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

final class FuzzFiles {
    private FuzzFiles() {}

    private static Path root;

    /** A fresh-per-JVM subdirectory named name (created once, kept for the JVM's lifetime). */
    static synchronized Path dir(String name) {
        try {
            if (root == null) {
                root = Files.createTempDirectory("peft4j-fuzz");
                Path r = root;
                Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(r)));
            }
            return Files.createDirectories(root.resolve(name));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes bytes to dir/name, replacing what was there. */
    static Path write(Path dir, String name, byte[] bytes) {
        try {
            return Files.write(dir.resolve(name), bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Copies the test resource /dev/peft4j/fuzz/resource to dir/name. */
    static Path copyResource(String resource, Path dir, String name) {
        try (var in = FuzzFiles.class.getResourceAsStream(resource)) {
            if (in == null) throw new IllegalStateException("missing test resource dev/peft4j/fuzz/" + resource);
            return write(dir, name, in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void deleteTree(Path p) {
        try (Stream<Path> s = Files.walk(p)) {
            s.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException ignored) {
            // best effort at JVM exit
        }
    }
}
