/*
 * WeightMatrix: a frozen (rows, cols) weight in the storage format that owns it — f32 or bf16 here
 * (NF4/int8 later) — and the one operation the kernels need from any format: decode part of a row
 * to f32. The packed GEMM decodes while it packs, once per (panel, k-block), so a compact format
 * costs little compute and halves (bf16) the memory and the bytes streamed per step.
 *
 * bf16 is the top half of an f32 (same exponent, 7 mantissa bits); encoding rounds to nearest even,
 * as torch's .to(torch.bfloat16) does. Compute stays f32.
 */
package dev.peft4j.kernels;

public sealed interface WeightMatrix permits WeightMatrix.F32, WeightMatrix.Bf16, WeightMatrix.F32Prepacked, Nf4Matrix, Int8Matrix, GgmlMatrix {
    int rows();

    int cols();

    /** dst[dstOff + j] = W[row, col0 + j] as f32, for j < len. */
    void decodeRow(int row, int col0, int len, float[] dst, int dstOff);

    /** Bytes held by the weight values. */
    long bytes();

    /** Whether dotRow fuses decoding into the dot product (the small-M path of decode steps then skips decodeRow). */
    default boolean fusedDot() { return false; }

    /** Σ_k x[xOff + k] · W[row, k] over the whole row, decoding on the fly; only where fusedDot() is true. */
    default float dotRow(int row, float[] x, int xOff) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " has no fused dot product");
    }

    /** Whether the values are quantised (NF4, int8): encoding f32 values again would change them beyond rounding. */
    default boolean quantized() { return false; }

    /**
     * The same format holding new f32 values (rows x cols), e.g. after an adapter is merged in: bf16
     * rounds them, prepacked packs them again. Quantised formats return null: a merged weight is kept
     * in f32 rather than re-quantised.
     */
    WeightMatrix withValues(float[] values);

    /** The whole matrix as f32 (a copy for compact formats). */
    default float[] toFloats() {
        float[] out = new float[rows() * cols()];
        for (int r = 0; r < rows(); r++) decodeRow(r, 0, cols(), out, r * cols());
        return out;
    }

    record F32(float[] data, int rows, int cols) implements WeightMatrix {
        @Override public void decodeRow(int row, int col0, int len, float[] dst, int dstOff) {
            System.arraycopy(data, row * cols + col0, dst, dstOff, len);
        }

        @Override public long bytes() { return 4L * data.length; }

        @Override public float[] toFloats() { return data.clone(); }

        @Override public WeightMatrix withValues(float[] values) { return new F32(values, rows, cols); }
    }

    /**
     * An f32 weight that also keeps a copy already laid out as the GEMM's packed B operand for
     * x·Wᵀ (Gemm.prepackNT), so the forward of a frozen linear never re-packs it — twice the memory,
     * for the fastest forward. Everything else (dy·W, lookups) reads the row-major data.
     */
    record F32Prepacked(float[] data, float[] packedNT, int rows, int cols) implements WeightMatrix {
        @Override public void decodeRow(int row, int col0, int len, float[] dst, int dstOff) {
            System.arraycopy(data, row * cols + col0, dst, dstOff, len);
        }

        @Override public long bytes() { return 4L * data.length + 4L * packedNT.length; }

        @Override public float[] toFloats() { return data.clone(); }

        @Override public WeightMatrix withValues(float[] values) { return Gemm.prepackNT(values, rows, cols); }
    }

    record Bf16(short[] data, int rows, int cols) implements WeightMatrix {
        public static Bf16 encode(float[] x, int rows, int cols) {
            short[] d = new short[x.length];
            for (int i = 0; i < x.length; i++) d[i] = toBf16(x[i]);
            return new Bf16(d, rows, cols);
        }

        @Override public void decodeRow(int row, int col0, int len, float[] dst, int dstOff) {
            int src = row * cols + col0, j = 0;
            if (Bf16Lanes.USABLE)                                   // widen 16-bit lanes to 32 and shift: 16 values at a time
                for (int up = len - Bf16Lanes.INTS.length(); j <= up; j += Bf16Lanes.INTS.length())
                    Bf16Lanes.load(data, src + j).intoArray(dst, dstOff + j);
            for (; j < len; j++) dst[dstOff + j] = Float.intBitsToFloat(data[src + j] << 16);
        }

        /** Decode steps read a bf16 row once: decoding inside the dot product saves writing and re-reading it as f32. */
        @Override public boolean fusedDot() { return Bf16Lanes.USABLE; }

        /** The order of Gemm.dot exactly (four accumulators, then one, then the tail): bit-identical to decodeRow + dot. */
        @Override public float dotRow(int row, float[] x, int xOff) {
            var S = Bf16Lanes.FLOATS;
            int src = row * cols, n = cols, L = S.length(), i = 0;
            jdk.incubator.vector.FloatVector s0 = jdk.incubator.vector.FloatVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
            for (int up = S.loopBound(n) - 3 * L; i < up; i += 4 * L) {
                s0 = jdk.incubator.vector.FloatVector.fromArray(S, x, xOff + i).fma(Bf16Lanes.load(data, src + i), s0);
                s1 = jdk.incubator.vector.FloatVector.fromArray(S, x, xOff + i + L).fma(Bf16Lanes.load(data, src + i + L), s1);
                s2 = jdk.incubator.vector.FloatVector.fromArray(S, x, xOff + i + 2 * L).fma(Bf16Lanes.load(data, src + i + 2 * L), s2);
                s3 = jdk.incubator.vector.FloatVector.fromArray(S, x, xOff + i + 3 * L).fma(Bf16Lanes.load(data, src + i + 3 * L), s3);
            }
            for (int up = S.loopBound(n); i < up; i += L)
                s0 = jdk.incubator.vector.FloatVector.fromArray(S, x, xOff + i).fma(Bf16Lanes.load(data, src + i), s0);
            float sum = VecMath.sum(s0.add(s1).add(s2.add(s3)));
            for (; i < n; i++) sum += x[xOff + i] * Float.intBitsToFloat(data[src + i] << 16);
            return sum;
        }

        @Override public long bytes() { return 2L * data.length; }

        @Override public WeightMatrix withValues(float[] values) { return encode(values, rows, cols); }

        /** Round to nearest even; NaN stays NaN. */
        public static short toBf16(float f) {
            int bits = Float.floatToRawIntBits(f);
            if ((bits & 0x7fffffff) > 0x7f800000) return (short) ((bits >>> 16) | 0x40);
            int rounding = 0x7fff + ((bits >>> 16) & 1);
            return (short) ((bits + rounding) >>> 16);
        }
    }

    /** bf16 lanes for the Vector API: as many shorts as the preferred float vector has lanes, widened and shifted. */
    final class Bf16Lanes {
        static final jdk.incubator.vector.VectorSpecies<Float> FLOATS = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED;
        static final jdk.incubator.vector.VectorSpecies<Integer> INTS = jdk.incubator.vector.IntVector.SPECIES_PREFERRED;
        static final jdk.incubator.vector.VectorSpecies<Short> SHORTS = jdk.incubator.vector.VectorSpecies.of(short.class,
                jdk.incubator.vector.VectorShape.forBitSize(Math.max(64, INTS.vectorBitSize() / 2)));
        static final boolean USABLE = INTS.vectorBitSize() >= 128 && SHORTS.length() == INTS.length() && FLOATS.length() == INTS.length();

        private Bf16Lanes() {}

        static jdk.incubator.vector.FloatVector load(short[] data, int off) {
            jdk.incubator.vector.ShortVector s = jdk.incubator.vector.ShortVector.fromArray(SHORTS, data, off);
            jdk.incubator.vector.IntVector wide = (jdk.incubator.vector.IntVector) s.convertShape(jdk.incubator.vector.VectorOperators.S2I, INTS, 0);
            return wide.lanewise(jdk.incubator.vector.VectorOperators.LSHL, 16).reinterpretAsFloats();
        }
    }
}
