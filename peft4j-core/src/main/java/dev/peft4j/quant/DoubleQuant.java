/*
 * DoubleQuant: bitsandbytes' double quantisation of the NF4 absmax values (QLoRA §3,
 * quantize_4bit(..., compress_statistics=True) in bitsandbytes/functional.py):
 *
 *   offset = absmax.mean()                                  (f32)
 *   codes, nested_absmax = quantize_blockwise(absmax - offset, blocksize=256)   (Blockwise8, dynamic map)
 *   absmax' = dequantize_blockwise(codes, nested_absmax) + offset              (f32 product, then f32 sum)
 *
 * So each 64-value block costs one byte of scale instead of four. The dequantised absmax is what
 * bnb's dequantize_4bit multiplies the NF4 codes by.
 *
 * The offset is torch's f32 mean, whose summation order depends on the device and the vector
 * width; here it is the f32 rounding of the exact (double-accumulated) mean, which can differ
 * from torch's in the last bit. Pass the offset (and the map, see Blockwise8) explicitly to
 * reproduce a given bnb state exactly; everything after the mean is bit-exact.
 */
package dev.peft4j.quant;

public record DoubleQuant(byte[] codes, float[] nestedAbsmax, float offset, float[] map, int blocksize) {
    /** bnb's nested block size for the absmax values. */
    public static final int NESTED_BLOCKSIZE = 256;

    public DoubleQuant {
        if (map.length != 256) throw new IllegalArgumentException("the nested map has 256 values, got " + map.length);
        if (blocksize <= 0) throw new IllegalArgumentException("nested blocksize must be positive, got " + blocksize);
        if (nestedAbsmax.length != Nf4.blocks(codes.length, blocksize))
            throw new IllegalArgumentException(codes.length + " nested codes in blocks of " + blocksize + " need "
                    + Nf4.blocks(codes.length, blocksize) + " nested absmax values, got " + nestedAbsmax.length);
    }

    /** Double-quantises absmax with offset = its mean (see the class comment). */
    public static DoubleQuant of(float[] absmax) { return of(absmax, mean(absmax)); }

    /** Double-quantises absmax around the given offset, with bnb's dynamic map, blocks of 256. */
    public static DoubleQuant of(float[] absmax, float offset) {
        return of(absmax, offset, Blockwise8.dynamicMap());
    }

    /** Double-quantises absmax around the given offset with the given 256-value map (kept, not copied). */
    public static DoubleQuant of(float[] absmax, float offset, float[] map) {
        float[] centred = new float[absmax.length];
        for (int i = 0; i < absmax.length; i++) centred[i] = absmax[i] - offset;
        Blockwise8.Quantized q = Blockwise8.quantize(centred, map, NESTED_BLOCKSIZE);
        return new DoubleQuant(q.codes(), q.absmax(), offset, map, NESTED_BLOCKSIZE);
    }

    /** f32 mean, rounded once from a double sum. */
    public static float mean(float[] x) {
        if (x.length == 0) return 0f;
        double s = 0;
        for (float v : x) s += v;
        return (float) (s / x.length);
    }

    /** Number of absmax values this encodes. */
    public int size() { return codes.length; }

    /** The dequantised absmax of block b: map[code] * nested + offset. */
    public float absmax(int b) { return map[codes[b] & 0xFF] * nestedAbsmax[b / blocksize] + offset; }

    /** All the dequantised absmax values. */
    public float[] dequantize() {
        float[] out = new float[codes.length];
        for (int b = 0; b < out.length; b++) out[b] = absmax(b);
        return out;
    }

    /** Bytes held: the codes, the nested absmax values, the offset and the 256-value map. */
    public long bytes() { return codes.length + 4L * nestedAbsmax.length + 4 + 4L * map.length; }
}
