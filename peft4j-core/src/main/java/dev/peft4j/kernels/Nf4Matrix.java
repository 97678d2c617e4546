/*
 * Nf4Matrix: a frozen (rows, cols) weight in bitsandbytes' NF4 layout — the QLoRA base weight.
 *
 * Storage is exactly what bnb keeps for a Linear4bit weight [out, in] (rows = out features,
 * cols = in features): the matrix flattened row-major, cut into blocks of `blocksize` values
 * (blocks may straddle rows when cols is not a multiple of the block size), two 4-bit codes per
 * byte with the first element in the HIGH nibble, and one scale per block, either
 *   - plain: f32 absmax[block], or
 *   - double-quantised: a uint8 code per block into a 256-value nested map, one f32 nested absmax
 *     per `nestedBlocksize` (256) blocks, and an f32 offset; the block's scale is
 *     nestedMap[code] * nestedAbsmax[block / nestedBlocksize] + offset (f32, in that order).
 * An element decodes to code[nibble] * scale — the one f32 product bnb's dequantize_4bit makes —
 * so decodeRow reproduces bnb's dequantised weight bit for bit. The 16-value code book is kept
 * as given (bnb files carry it as quant_map).
 *
 * decodeRow walks the segment block by block: the scale is decoded once per block, then each byte
 * yields two table lookups — with AVX-512, 16 bytes at a time: the 16-value code book is one
 * vector and the nibbles, interleaved, are the lanes of a permutation (vpermps), ~4x the scalar
 * loop, same products. Nothing per element is allocated or cached, so bytes() — codes, scales,
 * maps — is all the weight holds: 0.5 + 1/blocksize (+ 4/(256·blocksize)) bytes per parameter with
 * double quantisation, about 0.516 at blocksize 64.
 */
package dev.peft4j.kernels;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

public final class Nf4Matrix implements WeightMatrix {
    private final byte[] packed;
    private final int rows, cols, blocksize;
    private final float[] code;
    private final float[] absmax;           // plain scales, or null with double quantisation
    private final byte[] absmaxCodes;       // double quantisation: one uint8 per block
    private final float[] nestedAbsmax;
    private final float[] nestedMap;
    private final int nestedBlocksize;
    private final float offset;
    private final int blockShift;

    private Nf4Matrix(byte[] packed, int rows, int cols, int blocksize, float[] code, float[] absmax,
                      byte[] absmaxCodes, float[] nestedAbsmax, float[] nestedMap, int nestedBlocksize, float offset) {
        if (rows < 0 || cols < 0) throw new IllegalArgumentException("negative shape " + rows + "x" + cols);
        if (blocksize < 2 || Integer.bitCount(blocksize) != 1)
            throw new IllegalArgumentException("NF4 blocksize must be a power of two >= 2, got " + blocksize);
        long n = (long) rows * cols;
        long blocks = (n + blocksize - 1) / blocksize;
        if (packed.length != (n + 1) / 2)
            throw new IllegalArgumentException(rows + "x" + cols + " NF4 needs " + (n + 1) / 2 + " packed bytes, got " + packed.length);
        if (code.length != 16) throw new IllegalArgumentException("the NF4 code book has 16 values, got " + code.length);
        if (absmax != null) {
            if (absmax.length != blocks)
                throw new IllegalArgumentException(rows + "x" + cols + " in blocks of " + blocksize + " needs " + blocks
                        + " absmax values, got " + absmax.length);
        } else {
            if (absmaxCodes.length != blocks)
                throw new IllegalArgumentException(rows + "x" + cols + " in blocks of " + blocksize + " needs " + blocks
                        + " absmax codes, got " + absmaxCodes.length);
            if (nestedBlocksize <= 0) throw new IllegalArgumentException("nested blocksize must be positive, got " + nestedBlocksize);
            if (nestedAbsmax.length != (blocks + nestedBlocksize - 1) / nestedBlocksize)
                throw new IllegalArgumentException(blocks + " absmax codes in nested blocks of " + nestedBlocksize + " need "
                        + (blocks + nestedBlocksize - 1) / nestedBlocksize + " nested absmax values, got " + nestedAbsmax.length);
            if (nestedMap.length != 256) throw new IllegalArgumentException("the nested map has 256 values, got " + nestedMap.length);
        }
        this.packed = packed;
        this.rows = rows;
        this.cols = cols;
        this.blocksize = blocksize;
        this.code = code;
        this.absmax = absmax;
        this.absmaxCodes = absmaxCodes;
        this.nestedAbsmax = nestedAbsmax;
        this.nestedMap = nestedMap;
        this.nestedBlocksize = nestedBlocksize;
        this.offset = offset;
        this.blockShift = Integer.numberOfTrailingZeros(blocksize);
    }

    /** NF4 codes with plain f32 absmax per block. Arrays are used as given (not copied). */
    public static Nf4Matrix of(byte[] packed, int rows, int cols, int blocksize, float[] code, float[] absmax) {
        return new Nf4Matrix(packed, rows, cols, blocksize, code, java.util.Objects.requireNonNull(absmax, "absmax"),
                null, null, null, 0, 0f);
    }

    /** NF4 codes with double-quantised absmax. Arrays are used as given (not copied). */
    public static Nf4Matrix doubleQuantized(byte[] packed, int rows, int cols, int blocksize, float[] code,
                                            byte[] absmaxCodes, float[] nestedAbsmax, float[] nestedMap,
                                            int nestedBlocksize, float offset) {
        return new Nf4Matrix(packed, rows, cols, blocksize, code, null, java.util.Objects.requireNonNull(absmaxCodes, "absmaxCodes"),
                java.util.Objects.requireNonNull(nestedAbsmax, "nestedAbsmax"), java.util.Objects.requireNonNull(nestedMap, "nestedMap"),
                nestedBlocksize, offset);
    }

    @Override public int rows() { return rows; }

    @Override public int cols() { return cols; }

    public int blocksize() { return blocksize; }

    public boolean doubleQuantized() { return absmax == null; }

    /** The packed codes (not a copy): (rows·cols + 1) / 2 bytes, first element in the high nibble. */
    public byte[] packed() { return packed; }

    /** The 16-value code book (not a copy). */
    public float[] code() { return code; }

    /** Plain f32 absmax per block, or null when double-quantised (not a copy). */
    public float[] absmax() { return absmax; }

    /** Double quantisation: uint8 absmax code per block, else null (not a copy). */
    public byte[] absmaxCodes() { return absmaxCodes; }

    /** Double quantisation: f32 absmax per nested block, else null (not a copy). */
    public float[] nestedAbsmax() { return nestedAbsmax; }

    /** Double quantisation: the 256-value map of the absmax codes, else null (not a copy). */
    public float[] nestedMap() { return nestedMap; }

    public int nestedBlocksize() { return nestedBlocksize; }

    public float offset() { return offset; }

    public int blocks() { return absmax != null ? absmax.length : absmaxCodes.length; }

    /** The scale of block b as bnb dequantises it. */
    public float scale(int b) {
        return absmax != null ? absmax[b] : nestedMap[absmaxCodes[b] & 0xFF] * nestedAbsmax[b / nestedBlocksize] + offset;
    }

    /** Every block's scale (f32 absmax after undoing double quantisation). */
    public float[] scales() {
        float[] s = new float[blocks()];
        for (int b = 0; b < s.length; b++) s[b] = scale(b);
        return s;
    }

    @Override
    public void decodeRow(int row, int col0, int len, float[] dst, int dstOff) {
        long i = (long) row * cols + col0, end = i + len;
        int o = dstOff;
        final byte[] p = packed;
        final float[] c = code;
        while (i < end) {
            int b = (int) (i >>> blockShift);
            long bEnd = Math.min(end, (long) (b + 1) << blockShift);
            float s = scale(b);
            if ((i & 1) != 0) {                                     // segment starts on a low nibble
                dst[o++] = c[p[(int) (i >>> 1)] & 0xF] * s;
                i++;
            }
            int j = (int) (i >>> 1), jEnd = (int) (bEnd >>> 1);    // whole bytes in [i, bEnd)
            if (VECTOR) {
                FloatVector tbl = FloatVector.fromArray(F512, c, 0);
                for (; j + 16 <= jEnd; j += 16, o += 32) decode16(p, j, tbl, s, dst, o);
            }
            for (; j < jEnd; j++, o += 2) {
                int v = p[j];
                dst[o] = c[(v >> 4) & 0xF] * s;
                dst[o + 1] = c[v & 0xF] * s;
            }
            i = (long) jEnd << 1;
            if (i < bEnd) {                                         // segment ends on a high nibble
                dst[o++] = c[(p[(int) (i >>> 1)] >> 4) & 0xF] * s;
                i++;
            }
        }
    }

    // ---- 16 bytes -> 32 floats with AVX-512: the 16-value code book is one vector, each nibble a lane index ----

    private static final VectorSpecies<Float> F512 = FloatVector.SPECIES_512;
    private static final VectorSpecies<Byte> B128 = ByteVector.SPECIES_128;
    private static final VectorSpecies<Integer> I512 = IntVector.SPECIES_512;
    /** Only where 512-bit vectors are native (elsewhere the species would be emulated, far slower). */
    private static final boolean VECTOR = FloatVector.SPECIES_PREFERRED.vectorBitSize() >= 512
            && !Boolean.getBoolean("peft4j.nf4.scalarDecode");
    private static final VectorShuffle<Byte> FIRST8 = VectorShuffle.fromOp(B128, i -> i / 2);
    private static final VectorShuffle<Byte> LAST8 = VectorShuffle.fromOp(B128, i -> 8 + i / 2);
    private static final VectorMask<Byte> ODD_LANES = VectorMask.fromLong(B128, 0xAAAAL);

    /** dst[o .. o+32) = code[nibbles of p[j .. j+16)] * s, high nibble first: the scalar loop's exact products. */
    private static void decode16(byte[] p, int j, FloatVector tbl, float s, float[] dst, int o) {
        ByteVector b = ByteVector.fromArray(B128, p, j);
        ByteVector hi = b.lanewise(VectorOperators.LSHR, 4), lo = b.and((byte) 0xF);
        ByteVector i0 = hi.rearrange(FIRST8).blend(lo.rearrange(FIRST8), ODD_LANES);    // h0 l0 h1 l1 ... h7 l7
        ByteVector i1 = hi.rearrange(LAST8).blend(lo.rearrange(LAST8), ODD_LANES);      // h8 l8 ... h15 l15
        VectorShuffle<Float> s0 = ((IntVector) i0.convertShape(VectorOperators.B2I, I512, 0)).toShuffle().cast(F512);
        VectorShuffle<Float> s1 = ((IntVector) i1.convertShape(VectorOperators.B2I, I512, 0)).toShuffle().cast(F512);
        tbl.rearrange(s0).mul(s).intoArray(dst, o);
        tbl.rearrange(s1).mul(s).intoArray(dst, o + 16);
    }

    @Override public boolean quantized() { return true; }

    /** Quantised: a merged weight is not re-quantised (it would change the outputs); the caller keeps f32. */
    @Override public WeightMatrix withValues(float[] values) { return null; }

    @Override
    public long bytes() {
        long b = packed.length + 4L * code.length;
        if (absmax != null) return b + 4L * absmax.length;
        return b + absmaxCodes.length + 4L * nestedAbsmax.length + 4L * nestedMap.length + 4;
    }

    @Override
    public String toString() {
        return "Nf4Matrix[" + rows + "x" + cols + ", blocksize " + blocksize + (absmax == null ? ", double-quantised" : "") + "]";
    }
}
