/*
 * FloatCodec: conversion between f32 and the float storage types of safetensors files
 * (F32, F16, BF16), reading little-endian bytes straight out of a MemorySegment (usually a
 * memory-mapped file) into a float[].
 *
 * - F32  -> one bulk MemorySegment.copy (a memcpy on little-endian hosts).
 * - BF16 -> the 16 bits become the top half of an f32 (bf16 is a truncated f32); done with the
 *           Vector API when the jdk.incubator.vector module is present, else a scalar loop.
 * - F16  -> Float.float16ToFloat per element (an intrinsic on x86 with F16C).
 * Encoding: f32 -> bf16 rounds to nearest even and keeps NaNs NaN (same rule as PyTorch's
 * c10/util/BFloat16.h round_to_nearest_even); f32 -> f16 is Float.floatToFloat16.
 *
 * Constraints: decodeScalar is the reference twin of decode and must give bit-identical results;
 * the Vector API classes live in a nested holder that is only loaded when the module is present,
 * so this class also works in a JVM started without --add-modules jdk.incubator.vector.
 */
package dev.peft4j.io;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Objects;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

public final class FloatCodec {
    static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort U16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** True when the BF16 path uses the Vector API. */
    private static final boolean VECTOR = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()
            && Bf16Vector.usable();

    private FloatCodec() {}

    /** Whether decode() uses the Vector API for BF16 in this JVM. */
    public static boolean vectorized() {
        return VECTOR;
    }

    /**
     * Decodes {@code count} elements of {@code dtype} (F32, F16 or BF16, little-endian) starting at
     * byte {@code srcOffset} of {@code src} into {@code dst[dstOffset .. dstOffset+count)}.
     */
    public static void decode(DType dtype, MemorySegment src, long srcOffset, float[] dst, int dstOffset, int count) {
        checkArgs(dtype, src, srcOffset, dst, dstOffset, count);
        switch (dtype) {
            case F32 -> MemorySegment.copy(src, F32_LE, srcOffset, dst, dstOffset, count);
            case BF16 -> {
                if (VECTOR) Bf16Vector.decode(src, srcOffset, dst, dstOffset, count);
                else decodeBf16Scalar(src, srcOffset, dst, dstOffset, count);
            }
            case F16 -> decodeF16(src, srcOffset, dst, dstOffset, count);
            default -> throw new IllegalArgumentException("FloatCodec decodes F32, F16 and BF16, not " + dtype);
        }
    }

    /** The scalar reference twin of {@link #decode}: one element at a time, no bulk copy, no SIMD. */
    public static void decodeScalar(DType dtype, MemorySegment src, long srcOffset, float[] dst, int dstOffset, int count) {
        checkArgs(dtype, src, srcOffset, dst, dstOffset, count);
        switch (dtype) {
            case F32 -> {
                for (int i = 0; i < count; i++) dst[dstOffset + i] = src.get(F32_LE, srcOffset + 4L * i);
            }
            case BF16 -> decodeBf16Scalar(src, srcOffset, dst, dstOffset, count);
            case F16 -> decodeF16(src, srcOffset, dst, dstOffset, count);
            default -> throw new IllegalArgumentException("FloatCodec decodes F32, F16 and BF16, not " + dtype);
        }
    }

    /** bf16 bits -> f32: the 16 bits become the high half of the f32 bit pattern (exact). */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /** f32 -> bf16 bits, rounding to nearest even; NaN stays NaN (sign kept, quiet bit set). */
    public static short floatToBf16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if (Float.isNaN(value)) {
            // Truncating could clear every mantissa bit left (turning NaN into inf): set the quiet bit.
            return (short) ((bits >>> 16) | 0x0040);
        }
        // Add 0x7FFF plus the lowest kept bit, then truncate: ties go to the even neighbour.
        // Overflow past the largest finite bf16 correctly lands on infinity.
        int roundingBias = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + roundingBias) >>> 16);
    }

    private static void decodeBf16Scalar(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int count) {
        for (int i = 0; i < count; i++) {
            dst[dstOffset + i] = bf16ToFloat(src.get(U16_LE, srcOffset + 2L * i));
        }
    }

    private static void decodeF16(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int count) {
        for (int i = 0; i < count; i++) {
            dst[dstOffset + i] = Float.float16ToFloat(src.get(U16_LE, srcOffset + 2L * i));
        }
    }

    private static void checkArgs(DType dtype, MemorySegment src, long srcOffset, float[] dst, int dstOffset, int count) {
        Objects.requireNonNull(dtype, "dtype");
        Objects.requireNonNull(src, "src");
        Objects.checkFromIndexSize(dstOffset, count, dst.length);
        Objects.checkFromIndexSize(srcOffset, (long) count * dtype.byteSize(), src.byteSize());
    }

    /**
     * BF16 -> F32 with the Vector API: load as many shorts as the preferred int vector has lanes,
     * widen them to ints, shift left by 16, reinterpret as floats. Loaded only when the module exists.
     */
    private static final class Bf16Vector {
        private static final VectorSpecies<Integer> INTS = IntVector.SPECIES_PREFERRED;
        private static final VectorSpecies<Short> SHORTS =
                VectorSpecies.of(short.class, VectorShape.forBitSize(Math.max(64, INTS.vectorBitSize() / 2)));

        static boolean usable() {
            // Needs one short lane per int lane (e.g. 256-bit shorts for 512-bit ints).
            return INTS.vectorBitSize() >= 128 && SHORTS.length() == INTS.length();
        }

        static void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int count) {
            int lanes = INTS.length();
            int i = 0;
            for (; i <= count - lanes; i += lanes) {
                ShortVector s = ShortVector.fromMemorySegment(SHORTS, src, srcOffset + 2L * i, ByteOrder.LITTLE_ENDIAN);
                IntVector widened = (IntVector) s.convertShape(VectorOperators.S2I, INTS, 0);
                widened.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, dstOffset + i);
            }
            decodeBf16Scalar(src, srcOffset + 2L * i, dst, dstOffset + i, count - i);
        }
    }
}
