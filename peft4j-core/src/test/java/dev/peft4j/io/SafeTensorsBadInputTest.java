/*
 * Malformed safetensors files: each must be refused at open with a SafeTensorsFormatException whose
 * message says what is wrong — never another exception, an OutOfMemoryError, or a hang. Ends with a
 * fuzz test: random byte mutations and truncations of a valid file.
 */
package dev.peft4j.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

import dev.peft4j.Peft4jException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsBadInputTest {
    @TempDir Path dir;
    private int counter;

    /** A file made of: u64 LE headerLen, the header text, then dataBytes zero bytes. */
    private Path file(long headerLen, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLen).put(h);
        return write(b.array());
    }

    /** A well-formed prefix around the given header. */
    private Path file(String header, int dataBytes) throws IOException {
        return file(header.getBytes(StandardCharsets.UTF_8).length, header, dataBytes);
    }

    private Path write(byte[] bytes) throws IOException {
        Path p = dir.resolve("t" + (counter++) + ".safetensors");
        Files.write(p, bytes);
        return p;
    }

    private static AbstractThrowableAssert<?, ? extends Throwable> assertRefused(Path p) {
        return assertThatThrownBy(() -> SafeTensorsFile.open(p).close())
                .isInstanceOf(SafeTensorsFormatException.class)
                .hasMessageContaining(p.toString());
    }

    private Path validFile() {
        Path p = dir.resolve("valid" + (counter++) + ".safetensors");
        float[] data = new float[64];
        for (int i = 0; i < data.length; i++) data[i] = (float) Math.sin(i);
        SafeTensorsWriter.write(p, Map.of("format", "pt"), List.of(
                new SafeTensorsWriter.Tensor("a.weight", DType.F32, new long[] {8, 8}, data),
                new SafeTensorsWriter.Tensor("b.bias", DType.BF16, new long[] {16}, Arrays.copyOf(data, 16)),
                new SafeTensorsWriter.Tensor("c.half", DType.F16, new long[] {2, 4}, Arrays.copyOf(data, 8)),
                SafeTensorsWriter.Tensor.raw("d.ids", DType.I64, new long[] {3}, new byte[24])));
        return p;
    }

    @Test
    void tinyFilesAreRefused() throws IOException {
        assertRefused(write(new byte[0])).hasMessageContaining("0 bytes").hasMessageContaining("truncated");
        assertRefused(write(new byte[5])).hasMessageContaining("5 bytes").hasMessageContaining("shorter than");
    }

    @Test
    void truncatedFileIsRefused() throws IOException {
        byte[] valid = Files.readAllBytes(validFile());
        assertRefused(write(Arrays.copyOf(valid, valid.length / 2))).hasMessageContaining("truncated");
        // Cut inside the data area only: the header parses, a tensor runs past the end.
        assertRefused(write(Arrays.copyOf(valid, valid.length - 3)))
                .hasMessageContaining("data area holds only").hasMessageContaining("re-download");
    }

    @Test
    void headerLengthPastTheEndIsRefused() throws IOException {
        assertRefused(file(1000, "{}", 0)).hasMessageContaining("says 1000 bytes but only 2 bytes follow");
    }

    @Test
    void hugeHeaderLengthsAreRefusedWithoutAllocating() throws IOException {
        assertRefused(file(0x7FFF_FFFF_FFFF_FFF0L, "{}", 0)).hasMessageContaining("9223372036854775792");
        assertRefused(file(-1L, "{}", 0)).hasMessageContaining("18446744073709551615"); // u64 max
    }

    @Test
    void headerOverTheLimitIsRefusedEvenWhenTheFileIsLargeEnough() throws IOException {
        Path p = file(150_000_000L, "{}", 0);
        try (RandomAccessFile raf = new RandomAccessFile(p.toFile(), "rw")) {
            raf.setLength(160_000_000L); // sparse: costs no disk
        }
        assertRefused(p).hasMessageContaining("100000000-byte limit");
    }

    @Test
    void brokenJsonIsRefused() throws IOException {
        assertRefused(file("{\"a\": {\"dtype\": ", 0)).hasMessageContaining("not valid JSON");
        assertRefused(file("", 0)).hasMessageContaining("must be a JSON object");
        assertRefused(file("{} trailing", 0)).hasMessageContaining("not valid JSON");
        assertRefused(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,8]}}", 8))
                .hasMessageContaining("Duplicate field 'a'");
        assertRefused(file("[".repeat(5000), 0)).hasMessageContaining("not valid JSON");
        byte[] badUtf8 = {'{', '"', (byte) 0xC3, (byte) 0x28, '"', ':', '1', '}'};
        ByteBuffer b = ByteBuffer.allocate(8 + badUtf8.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(badUtf8.length).put(badUtf8);
        assertRefused(write(b.array())).hasMessageContaining("not valid UTF-8");
    }

    @Test
    void headerMustBeAnObject() throws IOException {
        assertRefused(file("[1, 2, 3]", 0)).hasMessageContaining("must be a JSON object").hasMessageContaining("array");
        assertRefused(file("\"hello\"", 0)).hasMessageContaining("must be a JSON object");
        assertRefused(file("{\"w\": 5}", 0)).hasMessageContaining("tensor \"w\" must be a JSON object");
    }

    @Test
    void entriesNeedEveryFieldWithTheRightType() throws IOException {
        assertRefused(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4))
                .hasMessageContaining("must have \"dtype\", \"shape\" and \"data_offsets\"").hasMessageContaining("[dtype, shape]");
        assertRefused(file("{\"w\":{\"dtype\":3,\"shape\":[1],\"data_offsets\":[0,4]}}", 4))
                .hasMessageContaining("\"dtype\" must be a string");
        assertRefused(file("{\"w\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", 4))
                .hasMessageContaining("\"shape\" must be an array");
        assertRefused(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4))
                .hasMessageContaining("shape dim 0 must be an integer");
        assertRefused(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4))
                .hasMessageContaining("\"data_offsets\" must be an array [begin, end]");
        assertRefused(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4))
                .hasMessageContaining("data_offsets[0] must be a non-negative integer");
        assertRefused(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999999]}}", 4))
                .hasMessageContaining("data_offsets[1] must be a non-negative integer");
    }

    @Test
    void offsetsOutOfRangeAreRefused() throws IOException {
        assertRefused(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 8))
                .hasMessageContaining("ends at data byte 12 but the data area holds only 8 bytes");
        assertRefused(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8))
                .hasMessageContaining("begin > end");
    }

    @Test
    void overlappingSpansAreRefused() throws IOException {
        assertRefused(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12))
                .hasMessageContaining("tensor \"b\" (bytes 4..12) overlaps tensor \"a\" (bytes 0..8)");
    }

    @Test
    void holesBetweenSpansAreTolerated() throws IOException {
        Path p = file("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 16);
        try (SafeTensorsFile st = SafeTensorsFile.open(p)) {
            assertThat(st.tensors()).extracting(TensorInfo::name).containsExactly("a", "b"); // by offset
        }
    }

    @Test
    void unknownDtypeIsRefused() throws IOException {
        assertRefused(file("{\"w\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}", 16))
                .hasMessageContaining("unknown safetensors dtype \"F128\" for tensor \"w\"")
                .hasMessageContaining("BF16");
        assertThatThrownBy(() -> DType.parse("f32")).isInstanceOf(SafeTensorsFormatException.class)
                .hasMessageContaining("\"f32\"");
        assertThat(DType.parse("F8_E4M3").byteSize()).isEqualTo(1);
        assertThat(DType.parse("I64").byteSize()).isEqualTo(8);
    }

    @Test
    void shapeAndSizeMustAgree() throws IOException {
        assertRefused(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,16]}}", 24))
                .hasMessageContaining("F32[2, 3] so it needs 24 bytes, but data_offsets [0, 16] span 16 bytes");
        assertRefused(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0))
                .hasMessageContaining("does not fit in 64 bits");
    }

    @Test
    void negativeDimIsRefused() throws IOException {
        assertRefused(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2,-2],\"data_offsets\":[0,16]}}", 16))
                .hasMessageContaining("negative dim -2");
    }

    @Test
    void metadataMustMapStringsToStrings() throws IOException {
        assertRefused(file("{\"__metadata__\":{\"format\":1}}", 0))
                .hasMessageContaining("key \"format\" holds a JSON number 1");
        assertRefused(file("{\"__metadata__\":[\"pt\"]}", 0)).hasMessageContaining("\"__metadata__\" must be a JSON object");
    }

    @Test
    void aMissingFileIsNotAFormatError() {
        Path p = dir.resolve("nope.safetensors");
        assertThatThrownBy(() -> SafeTensorsFile.open(p))
                .isInstanceOf(Peft4jException.class)
                .isNotInstanceOf(SafeTensorsFormatException.class)
                .hasMessageContaining(p.toString());
        assertThatThrownBy(() -> SafeTensorsFile.open(dir))
                .isInstanceOf(Peft4jException.class)
                .isNotInstanceOf(SafeTensorsFormatException.class)
                .hasMessageContaining("is a directory");
    }

    @Test
    void fuzzedFilesOpenOrFailCleanly() throws IOException {
        byte[] valid = Files.readAllBytes(validFile());
        Random rnd = new Random(1234);
        Path p = dir.resolve("fuzz.safetensors");
        int opened = 0, refused = 0;
        long start = System.nanoTime();
        for (int iter = 0; iter < 300; iter++) {
            byte[] b = valid.clone();
            switch (iter % 4) {
                case 0 -> b = Arrays.copyOf(b, rnd.nextInt(b.length)); // truncate
                case 1 -> { // 1-4 random bytes anywhere
                    for (int k = 1 + rnd.nextInt(4); k > 0; k--) b[rnd.nextInt(b.length)] = (byte) rnd.nextInt(256);
                }
                case 2 -> { // hit the header (length prefix included), where the structure lives
                    int hdr = 8 + (int) ByteBuffer.wrap(valid).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
                    for (int k = 1 + rnd.nextInt(3); k > 0; k--) b[rnd.nextInt(hdr)] = (byte) rnd.nextInt(256);
                }
                default -> { // replace a digit in the header, so offsets and dims change but JSON stays valid
                    int hdr = 8 + (int) ByteBuffer.wrap(valid).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
                    int at = 8 + rnd.nextInt(hdr - 8);
                    while (at < hdr && !Character.isDigit(b[at])) at++;
                    if (at < hdr) b[at] = (byte) ('0' + rnd.nextInt(10));
                }
            }
            Files.write(p, b);
            try (SafeTensorsFile st = SafeTensorsFile.open(p)) {
                for (TensorInfo t : st.tensors()) {
                    st.segment(t.name());
                    if (t.dtype().isFloatReadable()) st.readFloats(t.name());
                }
                opened++;
            } catch (SafeTensorsFormatException expected) {
                assertThat(expected.getMessage()).contains(p.toString());
                refused++;
            } catch (Throwable other) {
                fail("mutation " + iter + " threw " + other + " instead of SafeTensorsFormatException", other);
            }
        }
        long ms = (System.nanoTime() - start) / 1_000_000;
        assertThat(opened + refused).isEqualTo(300);
        assertThat(refused).isGreaterThan(50);
        assertThat(ms).as("fuzz time in ms").isLessThan(5_000);
    }
}
