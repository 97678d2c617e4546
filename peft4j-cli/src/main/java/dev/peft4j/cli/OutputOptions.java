/*
 * OutputOptions: the --overwrite option every command that writes a directory shares (a picocli
 * mixin), and the one place those commands apply peft4j's output policy (io/OutputDir): a
 * non-empty --output is refused unless --overwrite (replace it once the new content is complete)
 * or, for train, --resume (continue that run). Called before the model and data load, so a bad
 * --output fails in a second, not after an hour.
 */
package dev.peft4j.cli;

import dev.peft4j.Peft4jException;
import dev.peft4j.io.OutputDir;
import java.nio.file.Path;
import picocli.CommandLine.Option;

final class OutputOptions {
    @Option(names = "--overwrite", arity = "0..1", defaultValue = "false",
            description = "Replace a non-empty --output; the old content stays until the new one is complete.")
    boolean overwrite;

    /** Checks --output and makes the directory to fill; bytesNeeded = 0 when unknown. */
    OutputDir prepare(Path output, OutputDir.Kind kind, long bytesNeeded, boolean resume) {
        if (overwrite && resume)
            throw new Peft4jException("--overwrite and --resume contradict each other: --resume continues the run in "
                    + output + ", --overwrite replaces it. Give one of them");
        OutputDir.Mode mode = resume ? OutputDir.Mode.RESUME : overwrite ? OutputDir.Mode.OVERWRITE : OutputDir.Mode.NEW;
        return OutputDir.prepare(output, mode, kind, OutputDir.Names.CLI, bytesNeeded, System.err);
    }

    /**
     * The same policy for a command that writes one file (export gguf): an existing --output is refused unless
     * --overwrite (the writer replaces it atomically once the new file is complete); a directory is refused.
     */
    void checkFile(Path output) {
        if (java.nio.file.Files.isDirectory(output))
            throw new Peft4jException("--output " + output + " is a directory; give the path of the file to write, e.g. "
                    + output.resolve("model.gguf"));
        if (java.nio.file.Files.exists(output) && !overwrite)
            throw new Peft4jException("--output " + output + " exists; pass --overwrite to replace it (the old file stays until the "
                    + "new one is complete) or choose another path");
        Path parent = output.toAbsolutePath().getParent();
        if (parent != null && java.nio.file.Files.exists(parent) && !java.nio.file.Files.isWritable(parent))
            throw new Peft4jException("cannot write --output " + output + ": " + parent + " is not writable");
    }

    OutputDir prepare(Path output, OutputDir.Kind kind, long bytesNeeded) {
        return prepare(output, kind, bytesNeeded, false);
    }
}
