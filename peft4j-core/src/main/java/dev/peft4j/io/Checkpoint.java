/*
 * Checkpoint: a model's weights as HuggingFace stores them — one .safetensors file, or several
 * shards listed by "model.safetensors.index.json" ({"metadata": {...}, "weight_map": {tensor name:
 * shard file name}}, as written by transformers' save_pretrained). Gives one name -> tensor view
 * over all shards.
 *
 * How open(path) chooses (the same order as transformers' from_pretrained):
 *   a file                                  -> that file (a *.index.json file is read as an index);
 *   a directory with model.safetensors      -> that file;
 *   a directory with model.safetensors.index.json -> the index and its shards;
 *   otherwise a directory with exactly one *.safetensors file -> that file; several -> an error.
 *
 * Constraints: every shard is memory-mapped (SafeTensorsFile), nothing is copied; close() unmaps all
 * shards. For an index, names() are exactly the index's weight_map keys, each verified at open to be
 * present in the shard the index names.
 */
package dev.peft4j.io;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.peft4j.Peft4jException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;

public final class Checkpoint implements AutoCloseable {
    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private final Path source;                            // what open() was given
    private final List<SafeTensorsFile> files;            // each shard once, in first-use order
    private final SortedMap<String, SafeTensorsFile> byName;

    private Checkpoint(Path source, List<SafeTensorsFile> files, SortedMap<String, SafeTensorsFile> byName) {
        this.source = source;
        this.files = List.copyOf(files);
        this.byName = Collections.unmodifiableSortedMap(byName);
    }

    /** Opens a .safetensors file, an index file, or a model directory (see the header comment). */
    public static Checkpoint open(Path dirOrFile) {
        if (Files.isRegularFile(dirOrFile)) {
            return dirOrFile.getFileName().toString().endsWith(".index.json")
                    ? openIndex(dirOrFile) : openSingle(dirOrFile);
        }
        if (!Files.isDirectory(dirOrFile)) {
            throw new Peft4jException("no checkpoint at " + dirOrFile + ": expected a model directory or a"
                    + " .safetensors file, found nothing; check the path");
        }
        Path single = dirOrFile.resolve(SINGLE_FILE);
        if (Files.isRegularFile(single)) return openSingle(single);
        Path index = dirOrFile.resolve(INDEX_FILE);
        if (Files.isRegularFile(index)) return openIndex(index);

        List<Path> candidates = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dirOrFile, "*.safetensors")) {
            for (Path p : ds) if (Files.isRegularFile(p)) candidates.add(p);
        } catch (IOException e) {
            throw new Peft4jException("cannot list checkpoint directory " + dirOrFile + ": " + e, e);
        }
        Collections.sort(candidates);
        if (candidates.size() == 1) return openSingle(candidates.getFirst());
        if (candidates.isEmpty()) {
            boolean pickle = Files.exists(dirOrFile.resolve("pytorch_model.bin"));
            throw new Peft4jException("no weights in " + dirOrFile + ": expected " + SINGLE_FILE + ", " + INDEX_FILE
                    + " or one *.safetensors file, found none"
                    + (pickle ? "; it has pytorch_model.bin, which peft4j does not read: convert it to safetensors"
                    + " (e.g. save_pretrained(..., safe_serialization=True))" : ""));
        }
        throw new Peft4jException("ambiguous weights in " + dirOrFile + ": found " + candidates.size()
                + " .safetensors files " + candidates.stream().map(p -> p.getFileName().toString()).toList()
                + " but no " + INDEX_FILE + " saying which tensor lives where; add the index, or pass one file");
    }

    private static Checkpoint openSingle(Path file) {
        SafeTensorsFile f = SafeTensorsFile.open(file);
        SortedMap<String, SafeTensorsFile> byName = new TreeMap<>();
        for (TensorInfo t : f.tensors()) byName.put(t.name(), f);
        return new Checkpoint(file, List.of(f), byName);
    }

    private static Checkpoint openIndex(Path index) {
        Map<String, String> weightMap = readWeightMap(index);
        Path dir = index.toAbsolutePath().getParent();
        Map<String, SafeTensorsFile> shards = new LinkedHashMap<>();
        try {
            SortedMap<String, SafeTensorsFile> byName = new TreeMap<>();
            for (Map.Entry<String, String> e : weightMap.entrySet()) {
                String tensor = e.getKey(), shardName = e.getValue();
                SafeTensorsFile shard = shards.get(shardName);
                if (shard == null) {
                    Path shardPath = resolveShard(dir, shardName);
                    if (shardPath == null) {
                        throw new SafeTensorsFormatException(index + ": weight_map puts \"" + tensor + "\" in \""
                                + shardName + "\", which is not a file name inside " + dir
                                + "; shard names must be plain file names next to the index");
                    }
                    if (!Files.isRegularFile(shardPath)) {
                        throw new SafeTensorsFormatException(index + ": weight_map puts \"" + tensor + "\" in shard "
                                + shardName + ", but " + shardPath + " does not exist; the download is incomplete:"
                                + " fetch every shard the index lists");
                    }
                    shard = SafeTensorsFile.open(shardPath);
                    shards.put(shardName, shard);
                }
                if (!shard.contains(tensor)) {
                    throw new SafeTensorsFormatException(index + ": weight_map puts \"" + tensor + "\" in shard "
                            + shardName + ", but that shard has no such tensor (it holds " + shard.tensors().size()
                            + " tensors); the index and shards come from different exports: re-download them together");
                }
                byName.put(tensor, shard);
            }
            return new Checkpoint(index, new ArrayList<>(shards.values()), byName);
        } catch (RuntimeException e) {
            for (SafeTensorsFile f : shards.values()) f.close();
            throw e;
        }
    }

    /** dir/shardName when shardName is a plain relative name that stays inside dir; else null. */
    private static Path resolveShard(Path dir, String shardName) {
        try {
            if (shardName.isEmpty() || Path.of(shardName).isAbsolute()) return null;
            Path p = dir.resolve(shardName).normalize();
            return p.startsWith(dir) && !p.equals(dir) ? p : null;
        } catch (java.nio.file.InvalidPathException e) {
            return null;
        }
    }

    private static Map<String, String> readWeightMap(Path index) {
        JsonNode root;
        try {
            long size = Files.size(index);
            if (size > SafeTensorsFile.MAX_HEADER_BYTES) {
                throw new SafeTensorsFormatException(index + ": the index is " + size + " bytes, more than the "
                        + SafeTensorsFile.MAX_HEADER_BYTES + " bytes an index can plausibly need; it is not an index file");
            }
            root = SafeTensorsFile.JSON.readTree(Files.readAllBytes(index));
        } catch (JacksonException e) {
            throw new SafeTensorsFormatException(index + ": the index is not valid JSON (" + e.getOriginalMessage()
                    + "); re-download it", e);
        } catch (IOException e) {
            throw new Peft4jException("cannot read checkpoint index " + index + ": " + e, e);
        }
        JsonNode wm = root == null ? null : root.get("weight_map");
        if (wm == null || !wm.isObject()) {
            throw new SafeTensorsFormatException(index + ": expected a JSON object with a \"weight_map\" object"
                    + " (tensor name -> shard file), found " + (wm == null ? "no weight_map" : "weight_map = " + wm.getNodeType())
                    + "; re-download the index");
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : wm.properties()) {
            if (!e.getValue().isTextual()) {
                throw new SafeTensorsFormatException(index + ": weight_map[\"" + e.getKey()
                        + "\"] must be a shard file name (a string) but is " + e.getValue().getNodeType());
            }
            out.put(e.getKey(), e.getValue().textValue());
        }
        if (out.isEmpty()) {
            throw new SafeTensorsFormatException(index + ": weight_map is empty; expected tensor name -> shard file entries");
        }
        return out;
    }

    // ---------------------------------------------------------------- accessors

    /** Every tensor name, sorted; unmodifiable. */
    public Set<String> names() {
        return byName.keySet();
    }

    public boolean contains(String name) {
        return byName.containsKey(name);
    }

    /** The header entry for {@code name}; a Peft4jException naming similar tensors when absent. */
    public TensorInfo info(String name) {
        return fileOf(name).info(name);
    }

    /** Reads an F32, F16 or BF16 tensor as f32 (see SafeTensorsFile.readFloats). */
    public float[] readFloats(String name) {
        return fileOf(name).readFloats(name);
    }

    /** The tensor's raw little-endian bytes, a slice of its shard's mapping, valid until close(). */
    public MemorySegment segment(String name) {
        return fileOf(name).segment(name);
    }

    /** The shard holding {@code name}. */
    public SafeTensorsFile fileOf(String name) {
        SafeTensorsFile f = byName.get(name);
        if (f == null) throw SafeTensorsFile.missing(name, "checkpoint " + source, byName.keySet());
        return f;
    }

    /** Sum of the data bytes of every tensor in names() (what an index's metadata.total_size reports). */
    public long totalBytes() {
        long sum = 0;
        for (Map.Entry<String, SafeTensorsFile> e : byName.entrySet()) sum += e.getValue().info(e.getKey()).byteSize();
        return sum;
    }

    /** The .safetensors files backing this checkpoint, each once. */
    public List<Path> files() {
        return files.stream().map(SafeTensorsFile::path).toList();
    }

    /** The path open() was given resolved to what was read: the single file or the index file. */
    public Path source() {
        return source;
    }

    /** Unmaps every shard. */
    @Override
    public void close() {
        for (SafeTensorsFile f : files) f.close();
    }

    @Override
    public String toString() {
        return "Checkpoint[" + source + ", " + byName.size() + " tensors in " + files.size() + " file(s)]";
    }
}
