/*
 * Nf4: bitsandbytes' 4-bit NormalFloat quantisation (QLoRA), bit for bit.
 *
 * The code book is get_4bit_type("nf4") in bitsandbytes/functional.py: 16 values in [-1, 1], each
 * the python double literal rounded to f32 (torch.tensor(list) then data / data.abs().max(), which
 * is a division by 1.0). Index 7 is exactly 0.
 *
 * quantize (kQuantizeBlockwise<NF4> in csrc/kernels.cu; the same rules as the pure-torch fallback):
 *   - the flat input is cut into blocks of `blocksize` values; the last block may be short (no
 *     padding of the data: it has its own absmax over the values it really has);
 *   - absmax[b] = max |x| over the block (f32, exact);
 *   - each value is scaled by multiplying with the f32 reciprocal 1.0f / absmax (not divided), and
 *     mapped by dQuantizeNF4's comparison tree: 15 f32 thresholds at the midpoints of neighbouring
 *     code values, each test `x > t`, so a value exactly on a midpoint goes to the LOWER code and
 *     NaN (0 * inf from an all-zero block) fails every test and becomes code 0 (-1.0 · 0 = -0.0);
 *   - two codes per byte, the first element in the HIGH nibble; an odd count fills the last low
 *     nibble with the code of 0 · (1/absmax) (code 7 = 0.0, or 0 for an all-zero block).
 * dequantize: code[nibble] * absmax[block] as one f32 product (dDequantizeNF4(q) * absmax).
 *
 * Double quantisation (compress_statistics=True in quantize_4bit): see DoubleQuant.
 */
package dev.peft4j.quant;

public final class Nf4 {
    private Nf4() {}

    /** bnb's default NF4 block size. */
    public static final int DEFAULT_BLOCKSIZE = 64;

    private static final float[] CODE = {
        -1.0f,
        (float) -0.6961928009986877,
        (float) -0.5250730514526367,
        (float) -0.39491748809814453,
        (float) -0.28444138169288635,
        (float) -0.18477343022823334,
        (float) -0.09105003625154495,
        0.0f,
        (float) 0.07958029955625534,
        (float) 0.16093020141124725,
        (float) 0.24611230194568634,
        (float) 0.33791524171829224,
        (float) 0.44070982933044434,
        (float) 0.5626170039176941,
        (float) 0.7229568362236023,
        1.0f,
    };

    /** The 16 NF4 values (a copy), index = 4-bit code. */
    public static float[] code() { return CODE.clone(); }

    /** NF4 value of a 4-bit code. */
    public static float value(int code) { return CODE[code & 0xF]; }

    private static final float[] THRESHOLDS = {
        -0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f,
        -0.23460740596055984f, -0.13791173323988914f, -0.045525018125772476f, 0.03979014977812767f,
        0.1202552504837513f, 0.2035212516784668f, 0.2920137718319893f, 0.3893125355243683f,
        0.5016634166240692f, 0.6427869200706482f, 0.8614784181118011f,
    };

    /**
     * The 15 decision thresholds of dQuantizeNF4 (a copy): code k+1 starts above thresholds()[k].
     * They are bnb's float literals (`0.8614784181118011f`...) rounded to f32 once, correctly from
     * the decimal, as javac and gcc do (checked) and as C compilers are expected to. Four of them
     * (0, 8, 12, 14) sit one ulp away from (float) of the same literal read as a double first:
     * each literal is the double midpoint of two f32 code values, which lies almost exactly halfway
     * between two floats, so rounding twice lands on the other side.
     */
    public static float[] thresholds() { return THRESHOLDS.clone(); }

    /**
     * bnb's dQuantizeNF4: the 4-bit code of a value already scaled into [-1, 1], by its comparison
     * tree (thresholds are the f32 literals of csrc/kernels.cu, strict `>` tests).
     */
    public static int quantizeValue(float x) {
        if (x > 0.03979014977812767f) {
            if (x > 0.3893125355243683f) {
                if (x > 0.6427869200706482f) return x > 0.8614784181118011f ? 0b1111 : 0b1110;
                return x > 0.5016634166240692f ? 0b1101 : 0b1100;
            }
            if (x > 0.2035212516784668f) return x > 0.2920137718319893f ? 0b1011 : 0b1010;
            return x > 0.1202552504837513f ? 0b1001 : 0b1000;
        }
        if (x > -0.33967943489551544f) {
            if (x > -0.13791173323988914f) return x > -0.045525018125772476f ? 0b0111 : 0b0110;
            return x > -0.23460740596055984f ? 0b0101 : 0b0100;
        }
        if (x > -0.6106329262256622f) return x > -0.4599952697753906f ? 0b0011 : 0b0010;
        return x > -0.8480964004993439f ? 0b0001 : 0b0000;
    }

    /**
     * A flat tensor of n values in NF4: packed codes ((n + 1) / 2 bytes, first element high nibble)
     * and one f32 absmax per block of {@code blocksize} values (ceil(n / blocksize) of them).
     */
    public record Quantized(byte[] packed, float[] absmax, int n, int blocksize) {
        public Quantized {
            checkBlocksize(blocksize);
            if (n < 0 || packed.length != (n + 1) / 2 || absmax.length != blocks(n, blocksize))
                throw new IllegalArgumentException("NF4 of " + n + " values in blocks of " + blocksize + " needs "
                        + (n + 1) / 2 + " packed bytes and " + blocks(n, blocksize) + " absmax values, got "
                        + packed.length + " and " + absmax.length);
        }
    }

    /** Number of blocks for n values. */
    public static int blocks(long n, int blocksize) { return Math.toIntExact((n + blocksize - 1) / blocksize); }

    /** Block sizes bnb accepts for 4-bit: powers of two from 32 to 4096. */
    public static void checkBlocksize(int blocksize) {
        if (blocksize < 32 || blocksize > 4096 || Integer.bitCount(blocksize) != 1)
            throw new IllegalArgumentException("blocksize must be a power of two in [32, 4096], got " + blocksize);
    }

    /** Quantises all of x (flattened) with {@link #DEFAULT_BLOCKSIZE}. */
    public static Quantized quantize(float[] x) { return quantize(x, DEFAULT_BLOCKSIZE); }

    /** Quantises all of x (flattened, row-major for a matrix) as bnb's quantize_4bit(quant_type="nf4"). */
    public static Quantized quantize(float[] x, int blocksize) {
        checkBlocksize(blocksize);
        int n = x.length;
        byte[] packed = new byte[(n + 1) / 2];
        float[] absmax = new float[blocks(n, blocksize)];
        for (int b = 0; b < absmax.length; b++) {
            int s = b * blocksize, e = Math.min(n, s + blocksize);
            float m = 0f;       // bnb starts at -FLT_MAX and fmaxf's |x|: the same for any non-empty block
            for (int i = s; i < e; i++) m = Math.max(m, Math.abs(x[i]));
            absmax[b] = m;
            float inv = 1.0f / m;
            int i = s;          // s is even (blocksize is), so a block starts on a byte boundary
            for (; i + 1 < e; i += 2)
                packed[i >> 1] = (byte) (quantizeValue(x[i] * inv) << 4 | quantizeValue(x[i + 1] * inv));
            if (i < e)          // odd n: the missing partner is a 0 loaded by the kernel
                packed[i >> 1] = (byte) (quantizeValue(x[i] * inv) << 4 | quantizeValue(0f * inv));
        }
        return new Quantized(packed, absmax, n, blocksize);
    }

    /** The f32 values of q (bnb's dequantize_4bit with dtype float32). */
    public static float[] dequantize(Quantized q) { return dequantize(q.packed(), q.absmax(), q.n(), q.blocksize()); }

    /** dst[i] = code[nibble i] * absmax[i / blocksize] for i < n. */
    public static float[] dequantize(byte[] packed, float[] absmax, int n, int blocksize) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            int b = packed[i >> 1];
            out[i] = CODE[(i & 1) == 0 ? (b >> 4) & 0xF : b & 0xF] * absmax[i / blocksize];
        }
        return out;
    }

    /** The 4-bit code of element i of a packed array. */
    public static int nibble(byte[] packed, long i) {
        int b = packed[(int) (i >> 1)];
        return (i & 1) == 0 ? (b >> 4) & 0xF : b & 0xF;
    }
}
