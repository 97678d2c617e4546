/*
 * Machine: where a run happened - CPU model (Linux /proc/cpuinfo "model name"; elsewhere the
 * architecture), the cores the JVM may use, the operating system and the Java runtime.
 */
package dev.peft4j.provenance;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

public record Machine(String cpuModel, int cores, String os, String arch, String jvm) {

    public static Machine current() {
        return new Machine(cpuModel(Path.of("/proc/cpuinfo")), Runtime.getRuntime().availableProcessors(),
                System.getProperty("os.name") + " " + System.getProperty("os.version"), System.getProperty("os.arch"),
                System.getProperty("java.vm.vendor") + " " + System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"));
    }

    /** The first "model name" (x86) or "Model"/"CPU part" style line of a cpuinfo file; "unknown (ARCH)" without one. */
    static String cpuModel(Path cpuinfo) {
        try {
            if (Files.isReadable(cpuinfo)) {
                List<String> lines = Files.readAllLines(cpuinfo);
                for (String key : new String[] {"model name", "Model", "Processor", "cpu model", "cpu"})
                    for (String line : lines) {
                        int colon = line.indexOf(':');
                        if (colon > 0 && line.substring(0, colon).trim().equals(key) && !line.substring(colon + 1).isBlank())
                            return line.substring(colon + 1).trim();
                    }
            }
        } catch (IOException | RuntimeException e) {
            // fall through: the model is unknown, the architecture still says something
        }
        return "unknown (" + System.getProperty("os.arch") + ")";
    }
}
