/*
 * GgufFile: one .gguf file (llama.cpp / ggml), memory-mapped read-only with FFM and validated at open.
 *
 * Format (ggml's docs/gguf.md), little-endian throughout:
 *   magic "GGUF", u32 version (1, 2 or 3),
 *   tensor count and metadata count (u64; u32 in version 1),
 *   metadata: key (string), u32 value type, value        — string = u64 length + UTF-8 bytes (u32 length in v1);
 *             types 0-12: u8 i8 u16 i16 u32 i32 f32 bool string array u64 i64 f64; array = u32 element type,
 *             u64 count (u32 in v1), elements;
 *   tensor infos: name, u32 n_dims, n_dims u64 dims (u32 in v1; ne[0] first = the fastest-varying, i.e. a
 *             PyTorch (out, in) weight is [in, out]), u32 ggml type, u64 offset relative to the data area;
 *   padding to general.alignment (default 32), then the data area.
 *
 * Untrusted input: every count, length and offset is checked against the file before anything is
 * allocated; a malformed file gives a GgufFormatException naming the file, what was expected and what
 * was found — never an OutOfMemoryError, a hang or a JVM crash.
 */
package dev.peft4j.io;

import dev.peft4j.Peft4jException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public final class GgufFile implements AutoCloseable {
    public static final int MAGIC = 0x46554747;                  // "GGUF" read as a little-endian u32
    public static final int DEFAULT_ALIGNMENT = 32;
    static final long MAX_STRING = 1L << 30, MAX_ARRAY = 1L << 31, MAX_DIMS = 4;

    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** One tensor: dims in ggml order (ne[0] first), its type, and its byte span in the data area. */
    public record Tensor(String name, long[] dims, GgmlType type, long offset, long bytes) {
        public long elements() {
            long n = 1;
            for (long d : dims) n *= d;
            return n;
        }

        /** Rows and columns of the matrix PyTorch would hold: (ne[1], ne[0]) for 2-D, (1, ne[0]) for 1-D. */
        public int rows() { return dims.length < 2 ? 1 : (int) dims[1]; }

        public int cols() { return (int) dims[0]; }
    }

    private final Path path;
    private final Arena arena;
    private final MemorySegment data;
    private final int version, alignment;
    private final Map<String, Object> metadata;
    private final Map<String, Tensor> tensors;

    private GgufFile(Path path, Arena arena, MemorySegment data, int version, int alignment, Map<String, Object> metadata,
                     Map<String, Tensor> tensors) {
        this.path = path;
        this.arena = arena;
        this.data = data;
        this.version = version;
        this.alignment = alignment;
        this.metadata = metadata;
        this.tensors = tensors;
    }

    /** True when the file starts with GGUF's magic. */
    public static boolean isGguf(Path file) {
        if (!Files.isRegularFile(file)) return false;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
            return ch.read(b, 0) == 4 && b.getInt(0) == MAGIC;
        } catch (IOException e) {
            return false;
        }
    }

    /** Maps and validates file. GgufFormatException for malformed content, Peft4jException when it cannot be read. */
    public static GgufFile open(Path file) {
        if (Files.isDirectory(file)) throw new Peft4jException(file + " is a directory; pass the .gguf file itself");
        Arena arena = Arena.ofShared();
        try {
            MemorySegment whole;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                long size = ch.size();
                if (size < 24) throw error(file, "the file is " + size + " bytes long, shorter than a GGUF header (24 bytes); it is empty or truncated");
                whole = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            }
            GgufFile f = new Reader(file, whole).read(arena);
            arena = null;
            return f;
        } catch (IOException e) {
            throw new Peft4jException("cannot read GGUF file " + file + ": " + e + "; check that the path exists and is readable", e);
        } finally {
            if (arena != null) arena.close();
        }
    }

    public Path path() { return path; }
    public int version() { return version; }
    public int alignment() { return alignment; }
    public Map<String, Object> metadata() { return metadata; }
    /** Tensors in file order. */
    public Map<String, Tensor> tensors() { return tensors; }

    public Tensor tensor(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new GgufFormatException(path + " has no tensor \"" + name + "\"; it has " + tensors.size() + " tensors, e.g. "
                + String.join(", ", tensors.keySet().stream().limit(8).toList()));
        return t;
    }

    /** The raw bytes of a tensor (a slice of the mapping; valid until close()). */
    public MemorySegment bytes(Tensor t) { return data.asSlice(t.offset(), t.bytes()); }

    // ---- typed metadata access -----------------------------------------------------------------------

    public boolean has(String key) { return metadata.containsKey(key); }

    public String string(String key) {
        Object v = require(key);
        if (!(v instanceof String s)) throw wrongType(key, "a string", v);
        return s;
    }

    public String string(String key, String dflt) { return has(key) ? string(key) : dflt; }

    public long integer(String key) {
        Object v = require(key);
        if (v instanceof Long l) return l;
        throw wrongType(key, "an integer", v);
    }

    public long integer(String key, long dflt) { return has(key) ? integer(key) : dflt; }

    public double real(String key, double dflt) {
        if (!has(key)) return dflt;
        Object v = metadata.get(key);
        if (v instanceof Number n) return n.doubleValue();
        throw wrongType(key, "a number", v);
    }

    public boolean bool(String key, boolean dflt) {
        if (!has(key)) return dflt;
        if (metadata.get(key) instanceof Boolean b) return b;
        throw wrongType(key, "a boolean", metadata.get(key));
    }

    /** An array value as a Java list (strings, Longs, Doubles, Booleans). */
    public List<?> array(String key) {
        Object v = require(key);
        if (!(v instanceof List<?> l)) throw wrongType(key, "an array", v);
        return l;
    }

    private Object require(String key) {
        Object v = metadata.get(key);
        if (v == null) throw new GgufFormatException(path + " has no metadata key \"" + key + "\"; it is required here");
        return v;
    }

    private GgufFormatException wrongType(String key, String expected, Object v) {
        return new GgufFormatException(path + ": metadata \"" + key + "\" should be " + expected + ", found "
                + (v == null ? "nothing" : v.getClass().getSimpleName()));
    }

    @Override public void close() { arena.close(); }

    static GgufFormatException error(Path file, String what) {
        return new GgufFormatException("malformed GGUF file " + file + ": " + what);
    }

    /** A cursor over the header with bounds checks on every read. */
    private static final class Reader {
        final Path file;
        final MemorySegment m;
        final long size;
        long pos;
        int version;

        Reader(Path file, MemorySegment m) {
            this.file = file;
            this.m = m;
            this.size = m.byteSize();
        }

        GgufFile read(Arena arena) {
            int magic = u32i();
            if (magic != MAGIC)
                throw error(file, String.format("the first 4 bytes are %08x, not GGUF's magic \"GGUF\"; this is not a GGUF file", magic));
            long v = u32();
            if (v < 1 || v > 3) throw error(file, "version " + v + " is not supported; peft4j reads GGUF versions 1, 2 and 3");
            version = (int) v;
            long nTensors = count("tensor count"), nKv = count("metadata count");
            if (nTensors > size / 8) throw error(file, "it declares " + nTensors + " tensors, more than the file could describe");
            if (nKv > size / 8) throw error(file, "it declares " + nKv + " metadata entries, more than the file could hold");
            Map<String, Object> meta = new LinkedHashMap<>();
            for (long i = 0; i < nKv; i++) {
                String key = string("metadata key " + i);
                long type = u32();
                Object value = value(type, key, 0);
                if (meta.put(key, value) != null) throw error(file, "metadata key \"" + key + "\" appears twice");
            }
            int alignment = DEFAULT_ALIGNMENT;
            if (meta.containsKey("general.alignment")) {
                Object a = meta.get("general.alignment");
                if (!(a instanceof Long al) || al <= 0 || al > (1 << 20) || (al & (al - 1)) != 0)
                    throw error(file, "general.alignment must be a power of two up to 2^20, found " + a);
                alignment = (int) (long) al;
            }
            List<Object[]> infos = new ArrayList<>();
            for (long i = 0; i < nTensors; i++) {
                String name = string("tensor name " + i);
                long nd = u32();
                if (nd < 1 || nd > MAX_DIMS) throw error(file, "tensor \"" + name + "\" has " + nd + " dimensions; GGUF allows 1 to 4");
                long[] dims = new long[(int) nd];
                long elements = 1;
                for (int d = 0; d < nd; d++) {
                    dims[d] = version == 1 ? u32() : u64("dimension " + d + " of tensor \"" + name + "\"");
                    if (dims[d] < 0 || dims[d] > Integer.MAX_VALUE)
                        throw error(file, "tensor \"" + name + "\" has dimension " + Long.toUnsignedString(dims[d]) + " (must be 0 .. 2^31-1)");
                    elements = Math.multiplyHigh(elements, dims[d]) != 0 || elements * dims[d] > (1L << 40) ? -1 : elements * dims[d];
                    if (elements < 0) throw error(file, "tensor \"" + name + "\" has more than 2^40 elements");
                }
                long typeId = u32();
                GgmlType type = GgmlType.byId(typeId);
                if (type == null) throw error(file, "tensor \"" + name + "\" has unknown ggml type id " + typeId);
                long offset = u64("offset of tensor \"" + name + "\"");
                if (dims[0] % type.blockSize != 0)
                    throw error(file, "tensor \"" + name + "\" (" + type + ") has a first dimension of " + dims[0]
                            + ", not a multiple of its block size " + type.blockSize);
                if (offset < 0 || offset % alignment != 0)
                    throw error(file, "tensor \"" + name + "\" starts at data offset " + Long.toUnsignedString(offset)
                            + ", which is not a multiple of the alignment " + alignment);
                infos.add(new Object[] {name, dims, type, offset, type.bytes(elements)});
            }
            long dataStart = (pos + alignment - 1) / alignment * alignment;
            if (dataStart > size && nTensors > 0) throw error(file, "the data area would start at byte " + dataStart + ", past the end of the " + size + "-byte file");
            long dataBytes = Math.max(0, size - dataStart);
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            List<long[]> spans = new ArrayList<>();
            for (Object[] in : infos) {
                String name = (String) in[0];
                long offset = (long) in[3], bytes = (long) in[4];
                if (offset > dataBytes || bytes > dataBytes - offset)
                    throw error(file, "tensor \"" + name + "\" (" + bytes + " bytes at data offset " + offset + ") runs past the end of the file "
                            + "(data area " + dataBytes + " bytes); the file is truncated or corrupt");
                if (tensors.put(name, new Tensor(name, (long[]) in[1], (GgmlType) in[2], offset, bytes)) != null)
                    throw error(file, "tensor \"" + name + "\" appears twice");
                spans.add(new long[] {offset, offset + bytes});
            }
            spans.sort((a, b) -> Long.compare(a[0], b[0]));
            for (int i = 1; i < spans.size(); i++)
                if (spans.get(i)[0] < spans.get(i - 1)[1]) throw error(file, "two tensors overlap in the data area (at offset " + spans.get(i)[0] + ")");
            MemorySegment data = dataStart <= size ? m.asSlice(dataStart, dataBytes) : MemorySegment.NULL;
            return new GgufFile(file, arena, data, version, alignment, Collections.unmodifiableMap(meta), Collections.unmodifiableMap(tensors));
        }

        Object value(long type, String key, int depth) {
            return switch ((int) type) {
                case 0 -> (long) Byte.toUnsignedInt(u8());
                case 1 -> (long) u8();
                case 2 -> (long) Short.toUnsignedInt(u16());
                case 3 -> (long) u16();
                case 4 -> u32();
                case 5 -> (long) u32i();
                case 6 -> (double) f32();
                case 7 -> {
                    byte b = u8();
                    if (b != 0 && b != 1) throw error(file, "metadata \"" + key + "\" is a bool with value " + b + " (must be 0 or 1)");
                    yield b == 1;
                }
                case 8 -> string("metadata \"" + key + "\"");
                case 9 -> {
                    if (depth > 0) throw error(file, "metadata \"" + key + "\" nests arrays, which peft4j does not read");
                    long et = u32();
                    long n = version == 1 ? u32() : u64("array length of \"" + key + "\"");
                    if (n < 0 || n > MAX_ARRAY || n > size - pos) throw error(file, "metadata \"" + key + "\" declares an array of "
                            + Long.toUnsignedString(n) + " elements, more than the file holds");
                    if (et == 9) throw error(file, "metadata \"" + key + "\" is an array of arrays, which peft4j does not read");
                    List<Object> out = new ArrayList<>((int) Math.min(n, 1 << 16));
                    for (long i = 0; i < n; i++) out.add(value(et, key, depth + 1));
                    yield Collections.unmodifiableList(out);
                }
                case 10 -> u64("metadata \"" + key + "\"");
                case 11 -> u64signed();
                case 12 -> f64();
                default -> throw error(file, "metadata \"" + key + "\" has unknown value type " + type + " (GGUF types are 0-12)");
            };
        }

        long count(String what) { return version == 1 ? u32() : u64(what); }

        String string(String what) {
            long n = version == 1 ? u32() : u64("length of " + what);
            if (n < 0 || n > MAX_STRING || n > size - pos)
                throw error(file, what + " declares a string of " + Long.toUnsignedString(n) + " bytes at offset " + pos
                        + ", more than the " + (size - pos) + " bytes left; the file is truncated or corrupt");
            byte[] b = m.asSlice(pos, n).toArray(ValueLayout.JAVA_BYTE);
            pos += n;
            try {
                return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(b)).toString();
            } catch (CharacterCodingException e) {
                throw error(file, what + " is not valid UTF-8");
            }
        }

        void need(long n) {
            if (n > size - pos) throw error(file, "it ends at byte " + size + " in the middle of the header (needed " + n + " more bytes at " + pos
                    + "); the file is truncated");
        }

        byte u8() { need(1); return m.get(ValueLayout.JAVA_BYTE, pos++); }
        short u16() { need(2); short v = m.get(U16, pos); pos += 2; return v; }
        int u32i() { need(4); int v = m.get(U32, pos); pos += 4; return v; }
        long u32() { return Integer.toUnsignedLong(u32i()); }
        long u64signed() { need(8); long v = m.get(U64, pos); pos += 8; return v; }
        float f32() { need(4); float v = m.get(F32, pos); pos += 4; return v; }
        double f64() { need(8); double v = m.get(F64, pos); pos += 8; return v; }

        long u64(String what) {
            long v = u64signed();
            if (v < 0) throw error(file, what + " is " + Long.toUnsignedString(v) + ", beyond what a file can hold");
            return v;
        }
    }
}
