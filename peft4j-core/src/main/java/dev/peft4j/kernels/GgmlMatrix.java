/*
 * GgmlMatrix: a frozen (rows, cols) weight held in a ggml block format as a GGUF file stores it
 * (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K): each row is cols / blockSize consecutive blocks.
 * The GEMM decodes while it packs (quant.Ggml mirrors ggml's dequantize_row_*), so a LoRA on a Q4_K
 * base trains QLoRA-style with the base at ~4.5 bits per weight in memory.
 */
package dev.peft4j.kernels;

import dev.peft4j.io.GgmlType;
import dev.peft4j.quant.Ggml;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

public final class GgmlMatrix implements WeightMatrix {
    private final GgmlType type;
    private final byte[] blocks;
    private final int rows, cols, rowBytes;

    private GgmlMatrix(GgmlType type, byte[] blocks, int rows, int cols) {
        if (!type.quantized()) throw new IllegalArgumentException(type + " is not a block format; hold it as f32 or bf16");
        if (cols % type.blockSize != 0)
            throw new IllegalArgumentException(rows + "x" + cols + " " + type + ": " + cols + " columns are not a multiple of the block size " + type.blockSize);
        this.type = type;
        this.rows = rows;
        this.cols = cols;
        this.rowBytes = (int) type.bytes(cols);
        if (blocks.length != (long) rowBytes * rows)
            throw new IllegalArgumentException(rows + "x" + cols + " " + type + " needs " + (long) rowBytes * rows + " bytes, got " + blocks.length);
        this.blocks = blocks;
    }

    /** Rows of ggml blocks, as a GGUF tensor with ne = [cols, rows] stores them (array used as given). */
    public static GgmlMatrix of(GgmlType type, byte[] blocks, int rows, int cols) { return new GgmlMatrix(type, blocks, rows, cols); }

    public GgmlType type() { return type; }

    /** The blocks, row-major (not a copy). */
    public byte[] blocks() { return blocks; }

    @Override public int rows() { return rows; }

    @Override public int cols() { return cols; }

    @Override
    public void decodeRow(int row, int col0, int len, float[] dst, int dstOff) {
        int bs = type.blockSize, first = col0 / bs, last = (col0 + len - 1) / bs;
        int base = row * rowBytes;
        if (col0 % bs == 0 && len % bs == 0) {                       // whole blocks: straight into dst
            dequantize(type, blocks, base + first * type.typeSize, last - first + 1, dst, dstOff);
            return;
        }
        float[] tmp = SCRATCH.get();
        int n = (last - first + 1) * bs;
        if (tmp.length < n) { tmp = new float[n]; SCRATCH.set(tmp); }
        dequantize(type, blocks, base + first * type.typeSize, last - first + 1, tmp, 0);
        System.arraycopy(tmp, col0 - first * bs, dst, dstOff, len);
    }

    /**
     * Ggml.dequantize (the scalar reference) with AVX-512 twins for Q8_0, Q4_0, Q4_K and Q6_K: sixteen bytes at a
     * time widened to floats, each value the scalar loop's exact product (same operations, same order).
     */
    static void dequantize(GgmlType t, byte[] src, int off, int nBlocks, float[] dst, int dstOff) {
        if (!VECTOR) { Ggml.dequantize(t, src, off, nBlocks, dst, dstOff); return; }
        switch (t) {
            case Q8_0 -> { for (int b = 0; b < nBlocks; b++) q8_0(src, off + b * 34, dst, dstOff + b * 32); }
            case Q4_0 -> { for (int b = 0; b < nBlocks; b++) q4_0(src, off + b * 18, dst, dstOff + b * 32); }
            case Q4_K -> { for (int b = 0; b < nBlocks; b++) q4_k(src, off + b * 144, dst, dstOff + b * 256); }
            case Q6_K -> { for (int b = 0; b < nBlocks; b++) q6_k(src, off + b * 210, dst, dstOff + b * 256); }
            default -> Ggml.dequantize(t, src, off, nBlocks, dst, dstOff);
        }
    }

    private static final VectorSpecies<Float> F512 = FloatVector.SPECIES_512;
    private static final VectorSpecies<Byte> B128 = ByteVector.SPECIES_128;
    /** Only where 512-bit vectors are native (elsewhere the species would be emulated, far slower). */
    static final boolean VECTOR = FloatVector.SPECIES_PREFERRED.vectorBitSize() >= 512 && !Boolean.getBoolean("peft4j.ggml.scalarDecode");

    private static FloatVector widen(ByteVector v) { return (FloatVector) v.convertShape(VectorOperators.B2F, F512, 0); }

    private static float half(byte[] b, int s) { return Float.float16ToFloat((short) ((b[s] & 0xFF) | (b[s + 1] & 0xFF) << 8)); }

    /** d (f16), 32 int8: y = q * d. */
    private static void q8_0(byte[] b, int s, float[] y, int o) {
        float d = half(b, s);
        widen(ByteVector.fromArray(B128, b, s + 2)).mul(d).intoArray(y, o);
        widen(ByteVector.fromArray(B128, b, s + 18)).mul(d).intoArray(y, o + 16);
    }

    /** d (f16), 16 bytes of nibbles: y[j] = (lo - 8) * d, y[j + 16] = (hi - 8) * d. */
    private static void q4_0(byte[] b, int s, float[] y, int o) {
        float d = half(b, s);
        ByteVector q = ByteVector.fromArray(B128, b, s + 2);
        widen(q.and((byte) 0x0F).sub((byte) 8)).mul(d).intoArray(y, o);
        widen(q.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0F).sub((byte) 8)).mul(d).intoArray(y, o + 16);
    }

    /** Four 64-value groups: 32 bytes of nibbles, low nibbles d1 * q - m1, high nibbles d2 * q - m2. */
    private static void q4_k(byte[] b, int s, float[] y, int o) {
        float d = half(b, s), min = half(b, s + 2);
        int sc = s + 4, q = s + 16;
        int[] sm = new int[2];
        for (int j = 0, is = 0; j < 256; j += 64, is += 2) {
            Ggml.scaleMin(is, b, sc, sm);
            float d1 = d * sm[0], m1 = min * sm[1];
            Ggml.scaleMin(is + 1, b, sc, sm);
            float d2 = d * sm[0], m2 = min * sm[1];
            for (int l = 0; l < 32; l += 16) {
                ByteVector v = ByteVector.fromArray(B128, b, q + l);
                widen(v.and((byte) 0x0F)).mul(d1).sub(m1).intoArray(y, o + l);
                widen(v.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0F)).mul(d2).sub(m2).intoArray(y, o + 32 + l);
            }
            o += 64;
            q += 32;
        }
    }

    /** Q6_K's signed 6-bit values: the nibble of ql at loShift (0 or 4), the bit pair of qh at hShift above it, minus 32. */
    private static ByteVector q6(ByteVector ql, int loShift, ByteVector qh, int hShift) {
        return ql.lanewise(VectorOperators.LSHR, loShift).and((byte) 0x0F)
                .or(qh.lanewise(VectorOperators.LSHR, hShift).and((byte) 3).lanewise(VectorOperators.LSHL, 4)).sub((byte) 32);
    }

    /** Two 128-value halves: 6-bit values from ql nibbles and qh bit pairs, minus 32, times d * scale. */
    private static void q6_k(byte[] b, int s, float[] y, int o) {
        int ql = s, qh = s + 128, sc = s + 192;
        float d = half(b, s + 208);
        for (int n = 0; n < 256; n += 128) {
            for (int l = 0, is = 0; l < 32; l += 16, is++) {
                ByteVector a = ByteVector.fromArray(B128, b, ql + l), c = ByteVector.fromArray(B128, b, ql + l + 32);
                ByteVector h = ByteVector.fromArray(B128, b, qh + l);
                widen(q6(a, 0, h, 0)).mul(d * b[sc + is]).intoArray(y, o + l);
                widen(q6(c, 0, h, 2)).mul(d * b[sc + is + 2]).intoArray(y, o + l + 32);
                widen(q6(a, 4, h, 4)).mul(d * b[sc + is + 4]).intoArray(y, o + l + 64);
                widen(q6(c, 4, h, 6)).mul(d * b[sc + is + 6]).intoArray(y, o + l + 96);
            }
            o += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }

    // ---- fused dot products (decode steps): the row's blocks widened and multiplied with x, never written as f32 ----

    @Override public boolean fusedDot() { return VECTOR && (type == GgmlType.Q8_0 || type == GgmlType.Q4_0 || type == GgmlType.Q4_K || type == GgmlType.Q6_K); }

    @Override
    public float dotRow(int row, float[] x, int xOff) {
        int base = row * rowBytes, n = cols / type.blockSize;
        return switch (type) {
            case Q8_0 -> dotQ8_0(blocks, base, n, x, xOff);
            case Q4_0 -> dotQ4_0(blocks, base, n, x, xOff);
            case Q4_K -> dotQ4_K(blocks, base, n, x, xOff);
            case Q6_K -> dotQ6_K(blocks, base, n, x, xOff);
            default -> WeightMatrix.super.dotRow(row, x, xOff);
        };
    }

    private static FloatVector x16(float[] x, int i) { return FloatVector.fromArray(F512, x, i); }

    private static FloatVector bc(float v) { return FloatVector.broadcast(F512, v); }

    private static float dotQ8_0(byte[] b, int s, int n, float[] x, int xo) {
        FloatVector acc0 = FloatVector.zero(F512), acc1 = FloatVector.zero(F512);
        for (int k = 0; k < n; k++, s += 34, xo += 32) {
            float d = half(b, s);
            FloatVector p = widen(ByteVector.fromArray(B128, b, s + 2)).mul(x16(x, xo));
            p = widen(ByteVector.fromArray(B128, b, s + 18)).fma(x16(x, xo + 16), p);
            if ((k & 1) == 0) acc0 = p.fma(bc(d), acc0); else acc1 = p.fma(bc(d), acc1);
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    private static float dotQ4_0(byte[] b, int s, int n, float[] x, int xo) {
        FloatVector acc0 = FloatVector.zero(F512), acc1 = FloatVector.zero(F512);
        for (int k = 0; k < n; k++, s += 18, xo += 32) {
            float d = half(b, s);
            ByteVector q = ByteVector.fromArray(B128, b, s + 2);
            FloatVector p = widen(q.and((byte) 0x0F).sub((byte) 8)).mul(x16(x, xo));
            p = widen(q.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0F).sub((byte) 8)).fma(x16(x, xo + 16), p);
            if ((k & 1) == 0) acc0 = p.fma(bc(d), acc0); else acc1 = p.fma(bc(d), acc1);
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    /** Σ (d1·q − m1)·x = d1·Σq·x − m1·Σx per 32-value group: the mins multiply sums of x. */
    private static float dotQ4_K(byte[] b, int s, int n, float[] x, int xo) {
        FloatVector acc = FloatVector.zero(F512), mins = FloatVector.zero(F512);
        int[] sm = new int[2];
        for (int k = 0; k < n; k++, s += 144) {
            float d = half(b, s), min = half(b, s + 2);
            int sc = s + 4, q = s + 16;
            for (int is = 0; is < 8; is += 2, q += 32, xo += 64) {
                Ggml.scaleMin(is, b, sc, sm);
                float d1 = d * sm[0], m1 = min * sm[1];
                Ggml.scaleMin(is + 1, b, sc, sm);
                float d2 = d * sm[0], m2 = min * sm[1];
                ByteVector v0 = ByteVector.fromArray(B128, b, q), v1 = ByteVector.fromArray(B128, b, q + 16);
                FloatVector xa = x16(x, xo), xb = x16(x, xo + 16), xc = x16(x, xo + 32), xd = x16(x, xo + 48);
                FloatVector lo = widen(v0.and((byte) 0x0F)).mul(xa);
                lo = widen(v1.and((byte) 0x0F)).fma(xb, lo);
                FloatVector hi = widen(v0.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0F)).mul(xc);
                hi = widen(v1.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0F)).fma(xd, hi);
                acc = hi.fma(bc(d2), lo.fma(bc(d1), acc));
                mins = xc.add(xd).fma(bc(m2), xa.add(xb).fma(bc(m1), mins));
            }
        }
        return acc.reduceLanes(VectorOperators.ADD) - mins.reduceLanes(VectorOperators.ADD);
    }

    private static float dotQ6_K(byte[] b, int s, int n, float[] x, int xo) {
        FloatVector acc0 = FloatVector.zero(F512), acc1 = FloatVector.zero(F512);
        for (int k = 0; k < n; k++, s += 210) {
            int ql = s, qh = s + 128, sc = s + 192;
            float d = half(b, s + 208);
            for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, xo += 128) {
                for (int l = 0, is = 0; l < 32; l += 16, is++) {
                    ByteVector a = ByteVector.fromArray(B128, b, ql + l), c = ByteVector.fromArray(B128, b, ql + l + 32);
                    ByteVector h = ByteVector.fromArray(B128, b, qh + l);
                    acc0 = widen(q6(a, 0, h, 0)).mul(x16(x, xo + l)).fma(bc(d * b[sc + is]), acc0);
                    acc1 = widen(q6(c, 0, h, 2)).mul(x16(x, xo + l + 32)).fma(bc(d * b[sc + is + 2]), acc1);
                    acc0 = widen(q6(a, 4, h, 4)).mul(x16(x, xo + l + 64)).fma(bc(d * b[sc + is + 4]), acc0);
                    acc1 = widen(q6(c, 4, h, 6)).mul(x16(x, xo + l + 96)).fma(bc(d * b[sc + is + 6]), acc1);
                }
            }
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[256]);

    @Override public boolean quantized() { return true; }

    /** Quantised: a merged weight is kept in f32 rather than re-quantised (it would change the outputs). */
    @Override public WeightMatrix withValues(float[] values) { return null; }

    @Override public long bytes() { return blocks.length; }

    @Override public String toString() { return "GgmlMatrix[" + type + " " + rows + "x" + cols + "]"; }
}
