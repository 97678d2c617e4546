/*
 * SafeTensorsFile: one .safetensors file, memory-mapped read-only with FFM and validated at open.
 *
 * Format (huggingface/safetensors, docs "format"): 8 bytes little-endian u64 N, then N bytes of
 * UTF-8 JSON (an object: tensor name -> {"dtype", "shape", "data_offsets": [begin, end]}, plus an
 * optional "__metadata__": string -> string), then the data area; offsets are relative to the
 * data area's first byte, and each tensor is stored row-major, little-endian.
 *
 * Constraints:
 * - The file is never copied onto the heap: one FileChannel.map into a shared Arena (so any thread
 *   may read), released by close(). segment() hands out slices of that mapping, which become
 *   invalid after close().
 * - Untrusted input: every malformed file gives a SafeTensorsFormatException naming the file, what
 *   was expected and what was found — never an OutOfMemoryError, a hang, or a JVM crash. The header
 *   length is checked against the file size (and a 100 MB cap, as safetensors itself does) before
 *   anything is allocated.
 * - Spans must lie inside the data area and must not overlap. Holes between spans are tolerated
 *   (safetensors itself would refuse them) because they are harmless to a reader.
 */
package dev.peft4j.io;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.peft4j.Peft4jException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public final class SafeTensorsFile implements AutoCloseable {
    /** Largest header accepted, in bytes (the same limit as huggingface/safetensors' MAX_HEADER_SIZE). */
    public static final long MAX_HEADER_BYTES = 100_000_000L;
    /** The reserved header key holding string metadata. */
    public static final String METADATA_KEY = "__metadata__";

    /** Strict JSON: duplicate keys and trailing garbage are errors, not silently accepted. */
    static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private static final ValueLayout.OfLong U64_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path path;
    private final Arena arena;
    private final MemorySegment data; // the data area: the mapping after 8 + N bytes
    private final Map<String, String> metadata;
    private final List<TensorInfo> tensors; // sorted by begin
    private final Map<String, TensorInfo> byName;

    private SafeTensorsFile(Path path, Arena arena, MemorySegment data, Map<String, String> metadata,
                            List<TensorInfo> tensors) {
        this.path = path;
        this.arena = arena;
        this.data = data;
        this.metadata = metadata;
        this.tensors = tensors;
        Map<String, TensorInfo> m = new HashMap<>();
        for (TensorInfo t : tensors) m.put(t.name(), t);
        this.byName = m;
    }

    /**
     * Maps and validates {@code file}. Throws SafeTensorsFormatException when the content is
     * malformed, and Peft4jException when the file cannot be read at all (missing, no permission).
     */
    public static SafeTensorsFile open(Path file) {
        if (java.nio.file.Files.isDirectory(file)) {
            throw new Peft4jException("cannot open " + file + " as a safetensors file: it is a directory; pass the"
                    + " .safetensors file inside it, or use Checkpoint.open for a model directory");
        }
        Arena arena = Arena.ofShared();
        try {
            MemorySegment whole;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                long size = ch.size();
                if (size < 8) {
                    throw formatError(file, "the file is " + size + " bytes long, shorter than the 8-byte header-length"
                            + " prefix every safetensors file starts with; it is empty or truncated: re-download or"
                            + " re-export it");
                }
                whole = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            }
            SafeTensorsFile f = parse(file, arena, whole);
            arena = null; // now owned by f
            return f;
        } catch (IOException e) {
            throw new Peft4jException("cannot read safetensors file " + file + ": " + e
                    + "; check that the path exists and is a readable file", e);
        } finally {
            if (arena != null) arena.close();
        }
    }

    private static SafeTensorsFile parse(Path file, Arena arena, MemorySegment whole) {
        long size = whole.byteSize();
        long headerLen = whole.get(U64_LE, 0);
        // Compare as unsigned: a u64 above 2^63 reads as a negative long.
        if (headerLen < 0 || headerLen > size - 8) {
            throw formatError(file, "the header length prefix says " + Long.toUnsignedString(headerLen)
                    + " bytes but only " + (size - 8) + " bytes follow it; the file looks truncated or is not a"
                    + " safetensors file: re-download or re-export it");
        }
        if (headerLen > MAX_HEADER_BYTES) {
            throw formatError(file, "the header length prefix says " + headerLen + " bytes, more than the "
                    + MAX_HEADER_BYTES + "-byte limit safetensors allows; the file is corrupt or not a"
                    + " safetensors file");
        }
        byte[] headerBytes = whole.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
        String headerText;
        try {
            headerText = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(headerBytes))
                    .toString();
        } catch (CharacterCodingException e) {
            throw formatError(file, "the " + headerLen + "-byte header is not valid UTF-8 (" + e.getMessage()
                    + "); the file is corrupt or not a safetensors file: re-download or re-export it", e);
        }
        JsonNode root;
        try {
            root = JSON.readTree(headerText);
        } catch (JacksonException e) {
            throw formatError(file, "the header is not valid JSON (" + e.getOriginalMessage()
                    + "); the file is corrupt or not a safetensors file: re-download or re-export it", e);
        }
        if (root == null || !root.isObject()) {
            throw formatError(file, "the header must be a JSON object {name: {dtype, shape, data_offsets}, ...} but is "
                    + describe(root) + "; the file is corrupt or not a safetensors file");
        }

        long dataSize = size - 8 - headerLen;
        Map<String, String> metadata = Map.of();
        List<TensorInfo> tensors = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            if (e.getKey().equals(METADATA_KEY)) {
                metadata = parseMetadata(file, e.getValue());
            } else {
                tensors.add(parseEntry(file, e.getKey(), e.getValue(), dataSize));
            }
        }
        tensors.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end)
                .thenComparing(TensorInfo::name));
        for (int i = 1; i < tensors.size(); i++) {
            TensorInfo prev = tensors.get(i - 1), cur = tensors.get(i);
            if (cur.begin() < prev.end()) {
                throw formatError(file, "tensor \"" + cur.name() + "\" (bytes " + cur.begin() + ".." + cur.end()
                        + ") overlaps tensor \"" + prev.name() + "\" (bytes " + prev.begin() + ".." + prev.end()
                        + "); each tensor must have its own byte span: the file is corrupt, re-export it");
            }
        }
        MemorySegment data = whole.asSlice(8 + headerLen, dataSize);
        return new SafeTensorsFile(file, arena, data, metadata, Collections.unmodifiableList(tensors));
    }

    private static Map<String, String> parseMetadata(Path file, JsonNode node) {
        if (node.isNull()) return Map.of();
        if (!node.isObject()) {
            throw formatError(file, "\"" + METADATA_KEY + "\" must be a JSON object of string -> string but is "
                    + describe(node) + "; fix or remove it");
        }
        Map<String, String> m = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            if (!e.getValue().isTextual()) {
                throw formatError(file, "\"" + METADATA_KEY + "\" must map strings to strings, but key \"" + e.getKey()
                        + "\" holds " + describe(e.getValue()) + "; store it as a string");
            }
            m.put(e.getKey(), e.getValue().textValue());
        }
        return Collections.unmodifiableMap(m);
    }

    private static TensorInfo parseEntry(Path file, String name, JsonNode node, long dataSize) {
        String what = "tensor \"" + name + "\"";
        if (!node.isObject()) {
            throw formatError(file, what + " must be a JSON object {\"dtype\", \"shape\", \"data_offsets\"} but is "
                    + describe(node) + "; the file is corrupt");
        }
        JsonNode dtypeNode = node.get("dtype"), shapeNode = node.get("shape"), offsetsNode = node.get("data_offsets");
        if (dtypeNode == null || shapeNode == null || offsetsNode == null) {
            throw formatError(file, what + " must have \"dtype\", \"shape\" and \"data_offsets\" but has "
                    + fieldNames(node) + "; the file is corrupt or written by a broken exporter");
        }
        if (!dtypeNode.isTextual()) {
            throw formatError(file, what + ": \"dtype\" must be a string like \"F32\" but is " + describe(dtypeNode));
        }
        DType dtype;
        try {
            dtype = DType.parse(dtypeNode.textValue(), name);
        } catch (SafeTensorsFormatException e) {
            throw formatError(file, e.getMessage(), e);
        }
        if (!shapeNode.isArray()) {
            throw formatError(file, what + ": \"shape\" must be an array of non-negative integers but is "
                    + describe(shapeNode));
        }
        long[] shape = new long[shapeNode.size()];
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = shapeNode.get(i);
            if (!d.isIntegralNumber() || !d.canConvertToLong()) {
                throw formatError(file, what + ": shape dim " + i + " must be an integer but is " + describe(d));
            }
            shape[i] = d.longValue();
            if (shape[i] < 0) {
                throw formatError(file, what + " has negative dim " + shape[i] + " in shape " + shapeNode
                        + "; dims must be >= 0: the file is corrupt");
            }
        }
        if (!offsetsNode.isArray() || offsetsNode.size() != 2) {
            throw formatError(file, what + ": \"data_offsets\" must be an array [begin, end] but is "
                    + describe(offsetsNode));
        }
        long[] span = new long[2];
        for (int i = 0; i < 2; i++) {
            JsonNode o = offsetsNode.get(i);
            if (!o.isIntegralNumber() || !o.canConvertToLong() || o.longValue() < 0) {
                throw formatError(file, what + ": data_offsets[" + i + "] must be a non-negative integer but is "
                        + describe(o));
            }
            span[i] = o.longValue();
        }
        long begin = span[0], end = span[1];
        long bytes;
        try {
            long numel = 1;
            for (long d : shape) numel = Math.multiplyExact(numel, d);
            bytes = Math.multiplyExact(numel, dtype.byteSize());
        } catch (ArithmeticException e) {
            throw formatError(file, what + " has shape " + Arrays.toString(shape) + " whose size in bytes does not fit"
                    + " in 64 bits; the file is corrupt");
        }
        if (begin > end) {
            throw formatError(file, what + " has data_offsets [" + begin + ", " + end + "] with begin > end;"
                    + " the file is corrupt");
        }
        if (end - begin != bytes) {
            throw formatError(file, what + " is " + dtype + Arrays.toString(shape) + " so it needs " + bytes
                    + " bytes, but data_offsets [" + begin + ", " + end + "] span " + (end - begin)
                    + " bytes; the file is corrupt or written by a broken exporter");
        }
        if (end > dataSize) {
            throw formatError(file, what + " ends at data byte " + end + " but the data area holds only " + dataSize
                    + " bytes; the file looks truncated: re-download it");
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    // ---------------------------------------------------------------- accessors

    /** The file this was opened from. */
    public Path path() {
        return path;
    }

    /** The header's "__metadata__" (empty when absent), in file order; unmodifiable. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Every tensor, in file order (by data offset); unmodifiable. */
    public List<TensorInfo> tensors() {
        return tensors;
    }

    public boolean contains(String name) {
        return byName.containsKey(name);
    }

    /** The header entry for {@code name}; a Peft4jException naming similar tensors when absent. */
    public TensorInfo info(String name) {
        TensorInfo t = byName.get(name);
        if (t == null) throw missing(name, "file " + path, byName.keySet());
        return t;
    }

    /** The tensor's raw little-endian bytes: a read-only slice of the mapping, valid until close(). */
    public MemorySegment segment(String name) {
        TensorInfo t = info(name);
        return data.asSlice(t.begin(), t.byteSize());
    }

    /** Reads an F32, F16 or BF16 tensor into a new float[] (row-major). */
    public float[] readFloats(String name) {
        TensorInfo t = info(name);
        checkFloatReadable(t);
        long n = t.numel();
        if (n > Integer.MAX_VALUE - 8) {
            throw new Peft4jException("tensor \"" + name + "\" in " + path + " has " + n + " elements, too many for"
                    + " one float[]; read it in parts through segment()");
        }
        float[] out = new float[(int) n];
        FloatCodec.decode(t.dtype(), data, t.begin(), out, 0, (int) n);
        return out;
    }

    /** Reads an F32, F16 or BF16 tensor into {@code dst[dstOffset .. dstOffset+numel)}. */
    public void readFloats(String name, float[] dst, int dstOffset) {
        TensorInfo t = info(name);
        checkFloatReadable(t);
        long n = t.numel();
        if (dstOffset < 0 || dstOffset > dst.length || n > dst.length - dstOffset) {
            throw new IllegalArgumentException("tensor \"" + name + "\" has " + n + " elements but dst has room for "
                    + Math.max(0, dst.length - dstOffset) + " from offset " + dstOffset + " (length " + dst.length + ")");
        }
        FloatCodec.decode(t.dtype(), data, t.begin(), dst, dstOffset, (int) n);
    }

    /** Unmaps the file; segments handed out earlier must not be used afterwards. */
    @Override
    public void close() {
        if (arena.scope().isAlive()) arena.close();
    }

    @Override
    public String toString() {
        return "SafeTensorsFile[" + path + ", " + tensors.size() + " tensors]";
    }

    // ---------------------------------------------------------------- helpers

    private void checkFloatReadable(TensorInfo t) {
        if (!t.dtype().isFloatReadable()) {
            throw new SafeTensorsFormatException("tensor \"" + t.name() + "\" in " + path + " has dtype " + t.dtype()
                    + "; peft4j reads F32, F16 and BF16 as floats (use segment() for raw bytes)");
        }
    }

    private static SafeTensorsFormatException formatError(Path file, String msg) {
        return new SafeTensorsFormatException(file + ": " + msg);
    }

    private static SafeTensorsFormatException formatError(Path file, String msg, Throwable cause) {
        return new SafeTensorsFormatException(file + ": " + msg, cause);
    }

    private static String describe(JsonNode n) {
        if (n == null || n.isMissingNode()) return "empty";
        String text = n.toString();
        if (text.length() > 60) text = text.substring(0, 57) + "...";
        return "a JSON " + n.getNodeType().toString().toLowerCase() + " " + text;
    }

    private static String fieldNames(JsonNode n) {
        List<String> names = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : n.properties()) names.add(e.getKey());
        return names.toString();
    }

    /** The error for a tensor that is not there, listing up to 5 present names closest to it. */
    static Peft4jException missing(String name, String where, Collection<String> present) {
        List<String> similar = similarNames(name, present, 5);
        String hint = similar.isEmpty() ? " (it holds no tensors)" : "; similar names present: " + similar;
        return new Peft4jException("no tensor \"" + name + "\" in " + where + hint);
    }

    /** Up to {@code limit} names from {@code present} ordered by edit distance to {@code name}. */
    static List<String> similarNames(String name, Collection<String> present, int limit) {
        record Scored(String name, int distance) {}
        List<Scored> scored = new ArrayList<>(present.size());
        for (String p : present) scored.add(new Scored(p, editDistance(name, p)));
        scored.sort(Comparator.comparingInt(Scored::distance).thenComparing(Scored::name));
        List<String> out = new ArrayList<>();
        for (int i = 0; i < Math.min(limit, scored.size()); i++) out.add(scored.get(i).name());
        return out;
    }

    /** Levenshtein distance with two rolling rows; names are short, so O(|a|·|b|) is fine. */
    private static int editDistance(String a, String b) {
        int[] prev = new int[b.length() + 1], cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) prev[j] = j;
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int subst = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                cur[j] = Math.min(subst, Math.min(prev[j], cur[j - 1]) + 1);
            }
            int[] t = prev; prev = cur; cur = t;
        }
        return prev[b.length()];
    }
}
