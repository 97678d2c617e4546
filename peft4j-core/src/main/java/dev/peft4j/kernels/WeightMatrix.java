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
            int src = row * cols + col0;
            for (int j = 0; j < len; j++) dst[dstOff + j] = Float.intBitsToFloat(data[src + j] << 16);
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
}
