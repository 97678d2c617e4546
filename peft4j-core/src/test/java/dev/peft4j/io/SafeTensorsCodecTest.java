/*
 * FloatCodec: the fast decode (bulk copy for F32, Vector API for BF16) must match the scalar twin bit
 * for bit, at awkward lengths (0, 1, tails, primes) and unaligned source offsets.
 */
package dev.peft4j.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;

class SafeTensorsCodecTest {
    private static final int[] SIZES = {0, 1, 2, 7, 8, 15, 16, 17, 31, 33, 64, 97, 1000, 4099};

    @Test
    void fastDecodeMatchesScalarTwinBitForBit() {
        Random rnd = new Random(42);
        try (Arena arena = Arena.ofConfined()) {
            for (DType dtype : new DType[] {DType.F32, DType.F16, DType.BF16}) {
                for (int n : SIZES) {
                    for (long srcOffset : new long[] {0, 1, 3}) {
                        MemorySegment src = arena.allocate(srcOffset + (long) n * dtype.byteSize() + 8);
                        for (long i = 0; i < src.byteSize(); i++) src.set(ValueLayout.JAVA_BYTE, i, (byte) rnd.nextInt(256));
                        float[] fast = new float[n + 5], scalar = new float[n + 5];
                        FloatCodec.decode(dtype, src, srcOffset, fast, 3, n);
                        FloatCodec.decodeScalar(dtype, src, srcOffset, scalar, 3, n);
                        for (int i = 0; i < fast.length; i++) {
                            assertThat(Float.floatToRawIntBits(fast[i]))
                                    .as("%s n=%d offset=%d element %d", dtype, n, srcOffset, i)
                                    .isEqualTo(Float.floatToRawIntBits(scalar[i]));
                        }
                    }
                }
            }
        }
    }

    @Test
    void scalarTwinDecodesKnownBitPatterns() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(8);
            src.set(FloatCodec.U16_LE, 0, (short) 0x3F80); // bf16 1.0, f16 1.875
            src.set(FloatCodec.U16_LE, 2, (short) 0xC000); // bf16 -2.0, f16 -2.0
            src.set(FloatCodec.U16_LE, 4, (short) 0x0001); // bf16 tiny subnormal, f16 2^-24
            src.set(FloatCodec.U16_LE, 6, (short) 0x7C00); // bf16 2^121, f16 +inf
            float[] bf = new float[4], h = new float[4];
            FloatCodec.decodeScalar(DType.BF16, src, 0, bf, 0, 4);
            FloatCodec.decodeScalar(DType.F16, src, 0, h, 0, 4);
            assertThat(bf).containsExactly(1f, -2f, Float.intBitsToFloat(0x00010000), (float) Math.pow(2, 121));
            assertThat(h).containsExactly(1.875f, -2f, (float) Math.pow(2, -24), Float.POSITIVE_INFINITY);
        }
    }

    @Test
    void decodeChecksBounds() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(8);
            assertThatThrownBy(() -> FloatCodec.decode(DType.F32, src, 0, new float[3], 0, 3))
                    .isInstanceOf(IndexOutOfBoundsException.class);
            assertThatThrownBy(() -> FloatCodec.decode(DType.BF16, src, 0, new float[3], 1, 3))
                    .isInstanceOf(IndexOutOfBoundsException.class);
            assertThatThrownBy(() -> FloatCodec.decode(DType.I32, src, 0, new float[3], 0, 1))
                    .isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void vectorPathIsActiveInTheTestJvm() {
        // surefire adds --add-modules jdk.incubator.vector, so the fast BF16 path is the one under test.
        assertThat(FloatCodec.vectorized()).isTrue();
    }
}
