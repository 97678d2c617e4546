/*
 * SafeTensorsWriter: writes one .safetensors file (format: see SafeTensorsFile's header comment).
 *
 * Layout written: u64 LE header length N; N bytes of JSON with "__metadata__" first (when there is
 * any metadata; its keys sorted), then the tensors sorted by name, padded with spaces so N is a
 * multiple of 8 (the data area then starts 8-byte aligned); then each tensor's bytes in the same
 * order, contiguous, little-endian, no holes.
 *
 * Float data is given as f32 and stored as the tensor's dtype: F32 as is, BF16 rounded to nearest
 * even (FloatCodec.floatToBf16, NaN kept), F16 by Float.floatToFloat16. Any dtype can be written
 * from raw little-endian bytes (Tensor.raw).
 *
 * Constraints: the write is atomic — a temp file in the target's directory is written, forced to
 * disk, then moved over the target with ATOMIC_MOVE; on any failure the temp is deleted and the
 * previous file (if any) is untouched. Inputs are validated before anything touches the disk.
 * Data arrays are not copied: they must not change while write() runs.
 */
package dev.peft4j.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.peft4j.Peft4jException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;

public final class SafeTensorsWriter {
    private static final int CHUNK_BYTES = 1 << 20;

    private SafeTensorsWriter() {}

    /**
     * One tensor to write: either f32 {@code data} stored as {@code dtype} (F32, F16 or BF16), or
     * {@code bytes} already in the dtype's little-endian encoding (any dtype). Exactly one of the two
     * is non-null. Use {@code new Tensor(name, dtype, shape, floats)} or {@link #raw}.
     */
    public record Tensor(String name, DType dtype, long[] shape, float[] data, byte[] bytes) {
        public Tensor {
            Objects.requireNonNull(name, "tensor name");
            Objects.requireNonNull(dtype, "dtype of tensor " + name);
            shape = Objects.requireNonNull(shape, "shape of tensor " + name).clone();
            if (name.equals(SafeTensorsFile.METADATA_KEY)) {
                throw new Peft4jException("a tensor cannot be named \"" + SafeTensorsFile.METADATA_KEY
                        + "\": that header key is reserved for metadata; rename the tensor");
            }
            if ((data == null) == (bytes == null)) {
                throw new Peft4jException("tensor \"" + name + "\": give exactly one of float data or raw bytes, got "
                        + (data == null ? "neither" : "both"));
            }
            long numel = 1;
            for (long d : shape) {
                if (d < 0) {
                    throw new Peft4jException("tensor \"" + name + "\" has negative dim in shape " + Arrays.toString(shape));
                }
                try {
                    numel = Math.multiplyExact(numel, d);
                } catch (ArithmeticException e) {
                    throw new Peft4jException("tensor \"" + name + "\" shape " + Arrays.toString(shape) + " overflows");
                }
            }
            if (data != null) {
                if (!dtype.isFloatReadable()) {
                    throw new Peft4jException("tensor \"" + name + "\" has dtype " + dtype + " but float data; float data"
                            + " can be stored as F32, F16 or BF16 — use SafeTensorsWriter.Tensor.raw for " + dtype);
                }
                if (data.length != numel) {
                    throw new Peft4jException("tensor \"" + name + "\" has shape " + Arrays.toString(shape) + " ("
                            + numel + " elements) but " + data.length + " floats of data");
                }
            } else if (numel > Long.MAX_VALUE / dtype.byteSize() || bytes.length != numel * dtype.byteSize()) {
                throw new Peft4jException("tensor \"" + name + "\" is " + dtype + Arrays.toString(shape) + " so it needs "
                        + numel + " x " + dtype.byteSize() + (numel > Long.MAX_VALUE / dtype.byteSize() ? "" : " = "
                        + numel * dtype.byteSize()) + " bytes, but " + bytes.length + " bytes were given");
            }
        }

        /** f32 data stored as {@code dtype} (F32, F16 or BF16). */
        public Tensor(String name, DType dtype, long[] shape, float[] data) {
            this(name, dtype, shape, data, null);
        }

        /** Bytes already encoded as {@code dtype}, little-endian, row-major; any dtype. */
        public static Tensor raw(String name, DType dtype, long[] shape, byte[] littleEndianBytes) {
            return new Tensor(name, dtype, shape, null, Objects.requireNonNull(littleEndianBytes, "bytes"));
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        /** Number of elements. */
        public long numel() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }

        /** Bytes this tensor occupies in the file. */
        public long byteSize() {
            return numel() * dtype.byteSize();
        }

        @Override
        public String toString() {
            return name + " " + dtype + Arrays.toString(shape) + (data != null ? " (f32 data)" : " (raw bytes)");
        }
    }

    /**
     * Writes {@code tensors} and {@code metadata} (may be empty or null) to {@code file} atomically,
     * replacing any existing file. Throws Peft4jException on invalid input or an I/O failure.
     */
    public static void write(Path file, Map<String, String> metadata, List<Tensor> tensors) {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(tensors, "tensors");
        List<Tensor> sorted = new ArrayList<>(tensors);
        Set<String> seen = new HashSet<>();
        for (Tensor t : sorted) {
            Objects.requireNonNull(t, "null tensor in the list for " + file);
            if (!seen.add(t.name())) {
                throw new Peft4jException("cannot write " + file + ": two tensors are named \"" + t.name()
                        + "\"; tensor names must be unique");
            }
        }
        sorted.sort(Comparator.comparing(Tensor::name));
        byte[] header = buildHeader(file, metadata == null ? Map.of() : metadata, sorted);

        Path target = file.toAbsolutePath();
        Path dir = target.getParent();
        Path tmp = null;
        try {
            tmp = createTemp(dir, target.getFileName().toString());
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ByteBuffer buf = ByteBuffer.allocate(CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN);
                buf.putLong(header.length);
                drain(ch, buf);
                writeFully(ch, ByteBuffer.wrap(header));
                for (Tensor t : sorted) writeData(ch, buf, t);
                ch.force(true);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            tmp = null;
            syncDirectory(dir);
        } catch (IOException e) {
            throw new Peft4jException("could not write " + target + ": " + e
                    + "; the previous file, if any, is unchanged. Check the directory exists, is writable and"
                    + " has free space, and that the target is not a directory", e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // Best effort: the original error is the one worth reporting.
                }
            }
        }
    }

    private static byte[] buildHeader(Path file, Map<String, String> metadata, List<Tensor> sorted) {
        ObjectNode root = SafeTensorsFile.JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = root.putObject(SafeTensorsFile.METADATA_KEY);
            for (Map.Entry<String, String> e : new TreeMap<>(metadata).entrySet()) {
                if (e.getValue() == null) {
                    throw new Peft4jException("cannot write " + file + ": metadata key \"" + e.getKey()
                            + "\" has a null value; safetensors metadata maps strings to strings");
                }
                meta.put(e.getKey(), e.getValue());
            }
        }
        long offset = 0;
        for (Tensor t : sorted) {
            ObjectNode entry = root.putObject(t.name());
            entry.put("dtype", t.dtype().name());
            ArrayNode shape = entry.putArray("shape");
            for (long d : t.shape) shape.add(d);
            long end = offset + t.byteSize();
            entry.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json;
        try {
            json = SafeTensorsFile.JSON.writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new Peft4jException("cannot write " + file + ": header serialisation failed: " + e.getOriginalMessage(), e);
        }
        int padded = (json.length + 7) / 8 * 8;
        if (padded > SafeTensorsFile.MAX_HEADER_BYTES) {
            throw new Peft4jException("cannot write " + file + ": the header would be " + padded + " bytes, over the "
                    + SafeTensorsFile.MAX_HEADER_BYTES + "-byte safetensors limit; use fewer tensors or shorter metadata");
        }
        byte[] out = Arrays.copyOf(json, padded);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    /** Streams one tensor's bytes through {@code buf} (empty on entry and exit). */
    private static void writeData(FileChannel ch, ByteBuffer buf, Tensor t) throws IOException {
        if (t.bytes != null) {
            writeFully(ch, ByteBuffer.wrap(t.bytes));
            return;
        }
        float[] data = t.data;
        int i = 0;
        while (i < data.length) {
            int n = Math.min(data.length - i, buf.remaining() / t.dtype().byteSize());
            switch (t.dtype()) {
                case F32 -> {
                    buf.asFloatBuffer().put(data, i, n); // a view: advance buf by hand
                    buf.position(buf.position() + 4 * n);
                }
                case BF16 -> {
                    for (int k = 0; k < n; k++) buf.putShort(FloatCodec.floatToBf16(data[i + k]));
                }
                case F16 -> {
                    for (int k = 0; k < n; k++) buf.putShort(Float.floatToFloat16(data[i + k]));
                }
                default -> throw new IllegalStateException("validated in Tensor: " + t.dtype());
            }
            i += n;
            drain(ch, buf);
        }
    }

    private static void drain(FileChannel ch, ByteBuffer buf) throws IOException {
        buf.flip();
        writeFully(ch, buf);
        buf.clear();
    }

    private static void writeFully(FileChannel ch, ByteBuffer src) throws IOException {
        while (src.hasRemaining()) ch.write(src);
    }

    /** A new empty file ".NAME.RANDOM.tmp" in dir, created with default permissions (unlike createTempFile's 0600). */
    private static Path createTemp(Path dir, String name) throws IOException {
        for (int attempt = 0; ; attempt++) {
            Path tmp = dir.resolve("." + name + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
            try {
                FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE).close();
                return tmp;
            } catch (FileAlreadyExistsException e) {
                if (attempt == 10) throw e;
            }
        }
    }

    /** Makes the rename durable where the OS allows opening a directory (Linux); best effort elsewhere. */
    private static void syncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // Not supported on this platform or file system: the data itself was already forced.
        }
    }
}
