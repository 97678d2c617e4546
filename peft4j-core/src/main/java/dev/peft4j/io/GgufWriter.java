/*
 * GgufWriter: writes a GGUF version 3 file (ggml's docs/gguf.md) — metadata, tensor infos, then the
 * data area with every tensor aligned to general.alignment (32) — atomically (a temporary file in the
 * same directory, renamed over the target only when complete).
 *
 * Metadata values are typed as llama.cpp reads them: Java String → string, Integer → u32 (or i32 when
 * negative), Long → u64, Float/Double → f32, Boolean → bool, List of those → array. Tensors are given in
 * ggml order (dims[0] the fastest) with their bytes already in the tensor's ggml type.
 */
package dev.peft4j.io;

import dev.peft4j.Peft4jException;
import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public final class GgufWriter {
    /** One tensor to write: ggml dims (ne[0] first), type, bytes in that type. */
    public record Entry(String name, long[] dims, GgmlType type, byte[] data) {
        public Entry {
            long n = 1;
            for (long d : dims) n *= d;
            if (dims.length < 1 || dims.length > 4) throw new IllegalArgumentException(name + ": GGUF tensors have 1 to 4 dims");
            if (dims[0] % type.blockSize != 0) throw new IllegalArgumentException(name + ": " + dims[0] + " is not a multiple of " + type + "'s block " + type.blockSize);
            if (type.bytes(n) != data.length) throw new IllegalArgumentException(name + ": " + type + " " + java.util.Arrays.toString(dims)
                    + " needs " + type.bytes(n) + " bytes, got " + data.length);
        }
    }

    /** GGUF value types (docs/gguf.md). */
    public static final int U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9, U64 = 10;

    /** An array with an explicit element type (e.g. i32 token types, f32 scores). */
    public record Array(int elementType, List<?> values) {}

    private final Map<String, Object> metadata = new LinkedHashMap<>();
    private final List<Entry> tensors = new ArrayList<>();
    private final int alignment = GgufFile.DEFAULT_ALIGNMENT;

    public GgufWriter put(String key, Object value) {
        if (metadata.put(key, value) != null) throw new IllegalArgumentException("metadata key " + key + " set twice");
        return this;
    }

    public GgufWriter add(Entry e) {
        for (Entry t : tensors) if (t.name().equals(e.name())) throw new IllegalArgumentException("tensor " + e.name() + " added twice");
        tensors.add(e);
        return this;
    }

    public List<Entry> tensors() { return tensors; }

    /** Writes the file atomically; returns its size in bytes. */
    public long write(Path file) {
        Path dir = file.toAbsolutePath().getParent();
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            tmp = Files.createTempFile(dir, "." + file.getFileName() + ".", ".tmp");
            try (OutputStream os = Files.newOutputStream(tmp); DataOutputStream out = new DataOutputStream(new BufferedOutputStream(os, 1 << 20))) {
                long[] pos = {0};
                Counter c = new Counter(out, pos);
                c.u32(GgufFile.MAGIC);
                c.u32(3);
                c.u64(tensors.size());
                c.u64(metadata.size());
                for (Map.Entry<String, Object> e : metadata.entrySet()) {
                    c.string(e.getKey());
                    value(c, e.getKey(), e.getValue(), true);
                }
                long offset = 0;
                for (Entry t : tensors) {
                    c.string(t.name());
                    c.u32(t.dims().length);
                    for (long d : t.dims()) c.u64(d);
                    c.u32(t.type().id);
                    c.u64(offset);
                    offset = align(offset + t.data().length);
                }
                c.pad(align(pos[0]) - pos[0]);
                for (Entry t : tensors) {
                    c.bytes(t.data());
                    c.pad(align(t.data().length) - t.data().length);
                }
            }
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            tmp = null;
            return Files.size(file);
        } catch (IOException e) {
            throw new Peft4jException("cannot write GGUF file " + file + ": " + e.getMessage(), e);
        } finally {
            if (tmp != null) try { Files.deleteIfExists(tmp); } catch (IOException ignored) { }
        }
    }

    private long align(long n) { return (n + alignment - 1) / alignment * alignment; }

    private static int typeOf(String key, Object v) {
        return switch (v) {
            case Array a -> ARRAY;
            case List<?> l -> ARRAY;
            case String s -> 8;
            case Integer i -> i < 0 ? 5 : 4;
            case Long l -> 10;
            case Float f -> 6;
            case Double d -> 6;
            case Boolean b -> 7;
            default -> throw new IllegalArgumentException("metadata " + key + ": cannot write a " + v.getClass().getSimpleName());
        };
    }

    private static void value(Counter c, String key, Object v, boolean withType) throws IOException {
        int type = typeOf(key, v);
        if (withType) c.u32(type);
        scalar(c, key, type, v);
    }

    private static void scalar(Counter c, String key, int type, Object x) throws IOException {
        switch (type) {
            case U32, I32 -> c.u32(((Number) x).intValue());
            case F32 -> c.f32(((Number) x).floatValue());
            case BOOL -> c.u8((Boolean) x ? 1 : 0);
            case STRING -> c.string((String) x);
            case U64 -> c.u64(((Number) x).longValue());
            case ARRAY -> {
                Array a = x instanceof Array arr ? arr : new Array(((List<?>) x).isEmpty() ? STRING : typeOf(key, ((List<?>) x).get(0)), (List<?>) x);
                c.u32(a.elementType());
                c.u64(a.values().size());
                for (Object o : a.values()) scalar(c, key, a.elementType(), o);
            }
            default -> throw new IllegalArgumentException("metadata " + key + ": type " + type + " is not written");
        }
    }

    /** Little-endian writes that count bytes. */
    private record Counter(DataOutputStream out, long[] pos) {
        void u8(int v) throws IOException { out.writeByte(v); pos[0] += 1; }
        void u32(int v) throws IOException { out.writeInt(Integer.reverseBytes(v)); pos[0] += 4; }
        void u64(long v) throws IOException { out.writeLong(Long.reverseBytes(v)); pos[0] += 8; }
        void f32(float v) throws IOException { u32(Float.floatToRawIntBits(v)); }
        void string(String s) throws IOException {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            u64(b.length);
            bytes(b);
        }
        void bytes(byte[] b) throws IOException { out.write(b); pos[0] += b.length; }
        void pad(long n) throws IOException { for (long i = 0; i < n; i++) u8(0); }
    }
}
