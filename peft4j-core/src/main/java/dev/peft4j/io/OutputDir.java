/*
 * OutputDir: the one policy every peft4j writer of a directory follows (training runs, adapters,
 * merged and quantised models, reports), so that no failed run loses earlier work.
 *
 *   target absent or empty  -> written (NEW, OVERWRITE) or continued (RESUME)
 *   target not empty        -> refused, unless RESUME (continue that very run, in place) or
 *                              OVERWRITE (the new content is written beside, in a staging
 *                              directory, and swapped in only when it is complete)
 *   target is a file, is a model directory while an adapter is written, is not writable, or its
 *   file system has less free space than the writer says it needs -> refused before any work.
 *
 * Writing beside and swapping: the new content goes to ".NAME.peft4j-staging-PID" next to the
 * target; commit() renames the target to ".NAME.peft4j-old-PID", the staging directory to the
 * target, and deletes the old one. A process killed at any moment therefore leaves the target
 * either as it was or complete; what it leaves beside (staging, or the old content when killed
 * between the two renames) is recovered by the next prepare() of that target: the old content is
 * renamed back if the target is missing, leftovers of dead processes are deleted (and named), and
 * leftovers of a live process make prepare() refuse (two writers on one target).
 *
 * Directories are created with the process's default permissions (not createTempDirectory's 0700).
 * Messages name the options of the interface in use (CLI flags or Java API names; see Names).
 */
package dev.peft4j.io;

import dev.peft4j.Peft4jException;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileStore;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

public final class OutputDir {

    /** What the caller asked for when the target is not empty. */
    public enum Mode {
        /** Refuse a non-empty target. */
        NEW,
        /** Replace a non-empty target, but only once the new content is complete. */
        OVERWRITE,
        /** Continue the run whose output the target holds, in place. */
        RESUME
    }

    /** What is written; decides which existing directories are refused outright. */
    public enum Kind {
        /** A PEFT adapter: never into a model directory. */
        ADAPTER,
        /** A training run (adapter, checkpoints, metrics.jsonl): never into a model directory; NEW works in place so a killed run can be resumed. */
        TRAINING_RUN,
        /** A model directory (merged, quantised). */
        MODEL,
        /** A report (HTML, JSON). */
        REPORT
    }

    /** How the options are called where the user is: on the command line or in the Java API. */
    public record Names(String overwrite, String resume, String output) {
        public static final Names CLI = new Names("--overwrite", "--resume", "--output");
        public static final Names API = new Names("OutputDir.Mode.OVERWRITE", "OutputDir.Mode.RESUME", "output directory");
    }

    static final String STAGING = ".peft4j-staging-", OLD = ".peft4j-old-";

    private final Path target;
    private final Path workDir;
    private final boolean staged;
    private boolean done;

    private OutputDir(Path target, Path workDir, boolean staged) {
        this.target = target;
        this.workDir = workDir;
        this.staged = staged;
    }

    /** The directory the writer fills: the target itself, or its staging sibling under OVERWRITE. */
    public Path workDir() { return workDir; }

    /** Where the content ends up. */
    public Path target() { return target; }

    /** Whether the content is written beside the target and swapped in by commit(). */
    public boolean staged() { return staged; }

    /**
     * Checks the target and makes the work directory, before the caller loads anything.
     *
     * @param bytesNeeded what the writer expects to write (0 when unknown); checked against the
     *                    usable space of the target's file system
     * @param log         where recoveries of earlier killed writers are reported (may be null)
     */
    public static OutputDir prepare(Path target, Mode mode, Kind kind, Names names, long bytesNeeded, PrintStream log) {
        Path t = target.toAbsolutePath().normalize();
        if (t.getParent() == null) throw new Peft4jException(names.output() + " " + target + " is a file system root; choose a directory inside it");
        if (Files.exists(t) && !Files.isDirectory(t))
            throw new Peft4jException(names.output() + " " + target + " exists and is a file, not a directory; choose another "
                    + names.output() + " or move the file away");
        recoverLeftovers(t, log);

        boolean nonEmpty = isNonEmptyDirectory(t);
        if ((kind == Kind.ADAPTER || kind == Kind.TRAINING_RUN) && isModelDirectory(t))
            throw new Peft4jException(names.output() + " " + target + " is a model directory (it has config.json and model weights);"
                    + " writing an adapter there would mix it with the model. Choose a directory of its own, e.g. " + t.resolveSibling(t.getFileName() + "-adapter"));
        if (nonEmpty && mode == Mode.NEW)
            throw new Peft4jException(names.output() + " " + target + " is not empty (" + listing(t) + "); nothing was changed. Choose a new "
                    + names.output() + ", or pass " + names.overwrite() + " to replace it (the old content stays until the new one is complete)"
                    + (kind == Kind.TRAINING_RUN ? ", or " + names.resume() + " to continue the run it holds" : ""));
        if (mode == Mode.RESUME && kind != Kind.TRAINING_RUN)
            throw new Peft4jException(names.resume() + " continues a training run; it does not apply to this writer. Use "
                    + names.overwrite() + " to replace " + target);

        checkWritable(t, names);
        checkFreeSpace(t, bytesNeeded, names);
        try {
            createDirectories(t.getParent());
            boolean inPlace = mode == Mode.RESUME || (kind == Kind.TRAINING_RUN && !nonEmpty);
            if (inPlace) {
                createDirectories(t);
                return new OutputDir(t, t, false);
            }
            Path staging = t.resolveSibling("." + t.getFileName() + STAGING + ProcessHandle.current().pid());
            deleteRecursively(staging);
            Files.createDirectory(staging);
            return new OutputDir(t, staging, true);
        } catch (IOException e) {
            throw new Peft4jException(why(target, e, names), e);
        }
    }

    /** prepare() for Java API callers: API names in messages, no space estimate, no log. */
    public static OutputDir prepare(Path target, Mode mode, Kind kind) {
        return prepare(target, mode, kind, Names.API, 0, null);
    }

    /** Makes the staged content the target (see the header comment); a no-op for in-place work. */
    public Path commit() {
        if (done) throw new IllegalStateException("OutputDir for " + target + " was already committed or aborted");
        done = true;
        if (!staged) return target;
        Path old = target.resolveSibling("." + target.getFileName() + OLD + ProcessHandle.current().pid());
        try {
            deleteRecursively(old);
            if (Files.isDirectory(target) && !isNonEmptyDirectory(target)) Files.delete(target);
            if (Files.exists(target)) Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
            Files.move(workDir, target, StandardCopyOption.ATOMIC_MOVE);
            deleteRecursively(old);
            return target;
        } catch (IOException e) {
            // put the old content back if the swap stopped half-way
            try {
                if (!Files.exists(target) && Files.isDirectory(old)) Files.move(old, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException ignored) { /* the next prepare() recovers it */ }
            throw new Peft4jException("could not move the new content into " + target + ": " + e.getMessage()
                    + "; the previous content is kept" + (Files.exists(workDir) ? ", the new one is in " + workDir : ""), e);
        }
    }

    /** Discards staged content after a failure; in-place work is left as it is (it can be resumed). */
    public void abort() {
        if (done) return;
        done = true;
        if (!staged) return;
        try {
            deleteRecursively(workDir);
        } catch (IOException ignored) { /* the next prepare() removes it */ }
    }

    /** Runs filler on the work directory, then commits; aborts when filler throws. */
    public Path write(Filler filler) {
        try {
            filler.fill(workDir);
        } catch (IOException e) {
            abort();
            throw new Peft4jException("cannot write " + target + ": " + e.getMessage() + "; nothing was changed there", e);
        } catch (RuntimeException | Error e) {
            abort();
            throw e;
        }
        return commit();
    }

    @FunctionalInterface
    public interface Filler { void fill(Path dir) throws IOException; }

    /**
     * The same policy for a single output file (written atomically by its writer): an existing
     * file is refused unless overwrite; a directory in its place, an unwritable location or a
     * missing parent that cannot be created is refused before any work.
     */
    public static void checkFile(Path file, boolean overwrite, Names names) {
        Path f = file.toAbsolutePath().normalize();
        if (Files.isDirectory(f))
            throw new Peft4jException(names.output() + " " + file + " is a directory; give a file name, e.g. " + f.resolve("results.json"));
        if (Files.exists(f) && !overwrite)
            throw new Peft4jException(names.output() + " " + file + " already exists; nothing was changed. Choose another file name, or pass "
                    + names.overwrite() + " to replace it");
        checkWritable(f.getParent(), names);
    }

    // ---------------------------------------------------------------- checks

    /** A HuggingFace model directory: config.json with a model_type plus model weights. */
    public static boolean isModelDirectory(Path dir) {
        if (!Files.isRegularFile(dir.resolve("config.json"))) return false;
        return Files.exists(dir.resolve(Checkpoint.SINGLE_FILE)) || Files.exists(dir.resolve(Checkpoint.INDEX_FILE))
                || Files.exists(dir.resolve("pytorch_model.bin"));
    }

    static boolean isNonEmptyDirectory(Path dir) {
        if (!Files.isDirectory(dir)) return false;
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            return s.iterator().hasNext();
        } catch (IOException e) {
            throw new Peft4jException("cannot list " + dir + ": " + e.getMessage(), e);
        }
    }

    private static void checkWritable(Path t, Names names) {
        Path existing = t;
        while (existing != null && !Files.exists(existing)) existing = existing.getParent();
        if (existing == null) return;
        if (!Files.isDirectory(existing))
            throw new Peft4jException(names.output() + " " + t + " cannot be created: " + existing + " is a file, not a directory");
        try {
            FileStore store = Files.getFileStore(existing);
            if (store.isReadOnly())
                throw new Peft4jException(names.output() + " " + t + " is on a read-only file system (" + store + "); choose a writable location");
        } catch (IOException e) {
            // no file store information: the write itself will tell
        }
        if (!Files.isWritable(existing))
            throw new Peft4jException(names.output() + " " + t + " is not writable: permission denied on " + existing
                    + "; choose a location you can write to, or change its permissions");
    }

    private static void checkFreeSpace(Path t, long bytesNeeded, Names names) {
        if (bytesNeeded <= 0) return;
        Path existing = t;
        while (existing != null && !Files.exists(existing)) existing = existing.getParent();
        if (existing == null) return;
        try {
            long free = Files.getFileStore(existing).getUsableSpace();
            if (free > 0 && free < bytesNeeded)
                throw new Peft4jException("not enough disk space for " + t + ": about " + human(bytesNeeded) + " will be written, "
                        + human(free) + " is free on " + Files.getFileStore(existing) + "; free some space or choose another "
                        + names.output());
        } catch (IOException e) {
            // unknown free space: the write itself will tell
        }
    }

    private static String why(Path target, IOException e, Names names) {
        String reason = e instanceof AccessDeniedException ? "permission denied"
                : e instanceof FileSystemException fse && fse.getReason() != null ? fse.getReason() : e.toString();
        return "cannot write " + names.output() + " " + target + ": " + reason + " (" + e.getMessage() + "); choose a writable location";
    }

    // ---------------------------------------------------------------- recovery of killed writers

    /** Leftovers of earlier writers of t (see the header comment); returns what was done, for tests. */
    static List<String> recoverLeftovers(Path t, PrintStream log) {
        List<String> actions = new ArrayList<>();
        Path parent = t.getParent();
        if (!Files.isDirectory(parent)) return actions;
        String stagingPrefix = "." + t.getFileName() + STAGING, oldPrefix = "." + t.getFileName() + OLD;
        List<Path> staging = new ArrayList<>(), old = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(parent, "." + t.getFileName() + ".peft4j-*")) {
            for (Path p : s) {
                String n = p.getFileName().toString();
                if (n.startsWith(stagingPrefix) && pidOf(n, stagingPrefix).isPresent()) staging.add(p);
                else if (n.startsWith(oldPrefix) && pidOf(n, oldPrefix).isPresent()) old.add(p);
            }
        } catch (IOException e) {
            throw new Peft4jException("cannot list " + parent + ": " + e.getMessage(), e);
        }
        long self = ProcessHandle.current().pid();
        for (Path p : concat(staging, old)) {
            String n = p.getFileName().toString();
            long pid = pidOf(n, n.startsWith(stagingPrefix) ? stagingPrefix : oldPrefix).orElseThrow();
            if (pid != self && ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false))
                throw new Peft4jException("another process (pid " + pid + ") is writing " + t + " (" + p.getFileName()
                        + " is its work in progress); wait for it to finish, or stop it first");
        }
        old.sort(Comparator.comparing(Path::toString));
        try {
            for (Path o : old) {
                if (!Files.exists(t)) {
                    Files.move(o, t, StandardCopyOption.ATOMIC_MOVE);
                    actions.add("restored " + t + " from " + o.getFileName() + " (an earlier writer was stopped while replacing it)");
                } else {
                    deleteRecursively(o);
                    actions.add("removed " + o + " (the previous content of " + t + ", already replaced)");
                }
            }
            for (Path p : staging) {
                deleteRecursively(p);
                actions.add("removed " + p + " (unfinished output of an earlier run that was stopped)");
            }
        } catch (IOException e) {
            throw new Peft4jException("cannot clean up after an earlier stopped writer of " + t + ": " + e.getMessage()
                    + "; remove " + parent.resolve("." + t.getFileName() + ".peft4j-*") + " by hand", e);
        }
        if (log != null) for (String a : actions) log.println("note: " + a);
        return actions;
    }

    private static Optional<Long> pidOf(String name, String prefix) {
        String rest = name.substring(prefix.length());
        if (rest.isEmpty() || rest.length() > 18 || !rest.chars().allMatch(Character::isDigit)) return Optional.empty();
        return Optional.of(Long.parseLong(rest));
    }

    private static List<Path> concat(List<Path> a, List<Path> b) {
        List<Path> out = new ArrayList<>(a);
        out.addAll(b);
        return out;
    }

    // ---------------------------------------------------------------- helpers

    private static void createDirectories(Path p) throws IOException {
        if (!Files.isDirectory(p)) Files.createDirectories(p);
    }

    /** Deletes a file or a directory tree; absent is fine. */
    public static void deleteRecursively(Path p) throws IOException {
        if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
        if (Files.isDirectory(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            try (var s = Files.walk(p)) {
                for (Path q : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(q);
            }
        } else {
            Files.deleteIfExists(p);
        }
    }

    private static String listing(Path dir) {
        try (var s = Files.list(dir)) {
            List<String> names = s.map(p -> p.getFileName().toString()).sorted().toList();
            return names.size() <= 4 ? "it holds " + String.join(", ", names)
                    : "it holds " + String.join(", ", names.subList(0, 4)) + " and " + (names.size() - 4) + " more";
        } catch (IOException e) {
            return "unreadable";
        }
    }

    static String human(long bytes) {
        if (bytes < 1024) return bytes + " B";
        if (bytes < 1L << 20) return String.format("%.1f KB", bytes / 1024.0);
        if (bytes < 1L << 30) return String.format("%.1f MB", bytes / (double) (1L << 20));
        return String.format("%.2f GB", bytes / (double) (1L << 30));
    }
}
