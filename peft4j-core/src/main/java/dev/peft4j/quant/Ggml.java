/*
 * Ggml: ggml's block formats (llama.cpp's GGUF tensors) decoded to f32 — each function mirrors ggml's
 * reference dequantize_row_* (ggml/src/ggml-quants.c), in the same float32 operation order, so the
 * values are bit-identical to llama.cpp's. Blocks (ggml-common.h, little-endian, fp16 = IEEE half):
 *   Q8_0  d, qs[32] (int8)                          x = d * q
 *   Q4_0  d, qs[16]                                 x = d * (nibble - 8); low nibbles are elements 0-15, high 16-31
 *   Q4_1  d, m, qs[16]                              x = d * nibble + m
 *   Q5_0  d, qh[4] (u32), qs[16]                    x = d * ((nibble | fifth bit << 4) - 16)
 *   Q5_1  d, m, qh[4], qs[16]                       x = d * (nibble | fifth bit << 4) + m
 *   Q4_K  d, dmin, scales[12], qs[128]   (256)      8 sub-blocks of 32 with 6-bit scale and min: x = d*sc * q - dmin*m
 *   Q5_K  d, dmin, scales[12], qh[32], qs[128]       the same with a fifth bit from qh
 *   Q6_K  ql[128], qh[64], scales[16] (int8), d     16 sub-blocks of 16: x = d * sc * (6-bit q - 32)
 */
package dev.peft4j.quant;

import dev.peft4j.io.GgmlType;

public final class Ggml {
    private Ggml() {}

    /** Decodes nBlocks blocks of type t from src[off...] into dst[dstOff...] (nBlocks * blockSize floats). */
    public static void dequantize(GgmlType t, byte[] src, int off, int nBlocks, float[] dst, int dstOff) {
        for (int b = 0; b < nBlocks; b++) {
            int s = off + b * t.typeSize, y = dstOff + b * t.blockSize;
            switch (t) {
                case F32 -> dst[y] = Float.intBitsToFloat(i32(src, s));
                case F16 -> dst[y] = half(src, s);
                case BF16 -> dst[y] = Float.intBitsToFloat(u16(src, s) << 16);
                case Q8_0 -> q8_0(src, s, dst, y);
                case Q4_0 -> q4_0(src, s, dst, y);
                case Q4_1 -> q4_1(src, s, dst, y);
                case Q5_0 -> q5_0(src, s, dst, y);
                case Q5_1 -> q5_1(src, s, dst, y);
                case Q4_K -> q4_k(src, s, dst, y);
                case Q5_K -> q5_k(src, s, dst, y);
                case Q6_K -> q6_k(src, s, dst, y);
                default -> throw new IllegalArgumentException("peft4j does not decode ggml type " + t);
            }
        }
    }

    /**
     * Encodes n values of x[off...] (n a multiple of the block size) in type t, as ggml's reference
     * quantize_row_*_ref does (bit-identical): F32, F16 (round to nearest even), BF16 (ggml_compute_fp32_to_bf16),
     * Q8_0 (d = absmax/127, q = roundf(x/d)), Q4_0 (d = the value of largest magnitude / -8, q = min(15, (int)(x/d + 8.5))).
     */
    public static byte[] quantize(GgmlType t, float[] x, int off, int n) {
        if (n % t.blockSize != 0) throw new IllegalArgumentException(n + " values are not whole " + t + " blocks of " + t.blockSize);
        byte[] out = new byte[(int) t.bytes(n)];
        for (int b = 0; b < n / t.blockSize; b++) {
            int s = off + b * t.blockSize, o = b * t.typeSize;
            switch (t) {
                case F32 -> putI32(out, o, Float.floatToRawIntBits(x[s]));
                case F16 -> putU16(out, o, f16(x[s]));
                case BF16 -> putU16(out, o, bf16(x[s]));
                case Q8_0 -> quantQ8_0(x, s, out, o);
                case Q4_0 -> quantQ4_0(x, s, out, o);
                default -> throw new IllegalArgumentException("peft4j does not write ggml type " + t + " yet; it writes F32, F16, BF16, Q8_0 and Q4_0");
            }
        }
        return out;
    }

    /** ggml's fp32 -> fp16: round to nearest even; every NaN becomes the quiet NaN sign|0x7E00. */
    static short f16(float f) {
        if (Float.isNaN(f)) return (short) (((Float.floatToRawIntBits(f) >>> 16) & 0x8000) | 0x7E00);
        return Float.floatToFloat16(f);
    }

    /** ggml_compute_fp32_to_bf16: NaN stays a quiet NaN, otherwise round to nearest even. */
    static short bf16(float f) {
        int u = Float.floatToRawIntBits(f);
        if ((u & 0x7fffffff) > 0x7f800000) return (short) ((u >>> 16) | 64);
        return (short) ((u + (0x7fff + ((u >>> 16) & 1))) >>> 16);
    }

    static void quantQ8_0(float[] x, int s, byte[] out, int o) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[s + j]));
        float d = amax / ((1 << 7) - 1);
        float id = d != 0 ? 1.0f / d : 0.0f;
        putU16(out, o, Float.floatToFloat16(d));
        for (int j = 0; j < 32; j++) out[o + 2 + j] = (byte) roundf(x[s + j] * id);
    }

    static void quantQ4_0(float[] x, int s, byte[] out, int o) {
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++) {
            float v = x[s + j];
            if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
        }
        float d = max / -8;
        float id = d != 0 ? 1.0f / d : 0.0f;
        putU16(out, o, Float.floatToFloat16(d));
        for (int j = 0; j < 16; j++) {
            float x0 = x[s + j] * id, x1 = x[s + 16 + j] * id;
            int xi0 = Math.min(15, (byte) (int) (x0 + 8.5f)), xi1 = Math.min(15, (byte) (int) (x1 + 8.5f));
            out[o + 2 + j] = (byte) (xi0 | (xi1 << 4));
        }
    }

    /** C's roundf: halves away from zero. */
    static float roundf(float v) {
        double r = Math.floor(Math.abs((double) v) + 0.5);
        return (float) (v < 0 ? -r : r);
    }

    static void putU16(byte[] b, int o, short v) { b[o] = (byte) v; b[o + 1] = (byte) (v >> 8); }

    static void putI32(byte[] b, int o, int v) { b[o] = (byte) v; b[o + 1] = (byte) (v >> 8); b[o + 2] = (byte) (v >> 16); b[o + 3] = (byte) (v >> 24); }

    static void q8_0(byte[] b, int s, float[] y, int o) {
        float d = half(b, s);
        for (int j = 0; j < 32; j++) y[o + j] = b[s + 2 + j] * d;
    }

    static void q4_0(byte[] b, int s, float[] y, int o) {
        float d = half(b, s);
        for (int j = 0; j < 16; j++) {
            int q = b[s + 2 + j] & 0xFF;
            y[o + j] = ((q & 0x0F) - 8) * d;
            y[o + j + 16] = ((q >> 4) - 8) * d;
        }
    }

    static void q4_1(byte[] b, int s, float[] y, int o) {
        float d = half(b, s), m = half(b, s + 2);
        for (int j = 0; j < 16; j++) {
            int q = b[s + 4 + j] & 0xFF;
            y[o + j] = (q & 0x0F) * d + m;
            y[o + j + 16] = (q >> 4) * d + m;
        }
    }

    static void q5_0(byte[] b, int s, float[] y, int o) {
        float d = half(b, s);
        int qh = i32(b, s + 2);
        for (int j = 0; j < 16; j++) {
            int xh0 = ((qh >>> j) << 4) & 0x10, xh1 = (qh >>> (j + 12)) & 0x10;
            int q = b[s + 6 + j] & 0xFF;
            y[o + j] = (((q & 0x0F) | xh0) - 16) * d;
            y[o + j + 16] = (((q >> 4) | xh1) - 16) * d;
        }
    }

    static void q5_1(byte[] b, int s, float[] y, int o) {
        float d = half(b, s), m = half(b, s + 2);
        int qh = i32(b, s + 4);
        for (int j = 0; j < 16; j++) {
            int xh0 = ((qh >>> j) << 4) & 0x10, xh1 = (qh >>> (j + 12)) & 0x10;
            int q = b[s + 8 + j] & 0xFF;
            y[o + j] = ((q & 0x0F) | xh0) * d + m;
            y[o + j + 16] = ((q >> 4) | xh1) * d + m;
        }
    }

    /** get_scale_min_k4: the 6-bit scale (out[0]) and min (out[1]) of sub-block j from the 12 packed bytes at sc. */
    static void scaleMin(int j, byte[] b, int sc, int[] out) {
        if (j < 4) {
            out[0] = b[sc + j] & 63;
            out[1] = b[sc + j + 4] & 63;
        } else {
            out[0] = (b[sc + j + 4] & 0xF) | (((b[sc + j - 4] & 0xFF) >> 6) << 4);
            out[1] = ((b[sc + j + 4] & 0xFF) >> 4) | (((b[sc + j] & 0xFF) >> 6) << 4);
        }
    }

    static void q4_k(byte[] b, int s, float[] y, int o) {
        float d = half(b, s), min = half(b, s + 2);
        int sc = s + 4, q = s + 16;
        int[] sm = new int[2];
        for (int j = 0, is = 0; j < 256; j += 64, is += 2) {
            scaleMin(is, b, sc, sm);
            float d1 = d * sm[0], m1 = min * sm[1];
            scaleMin(is + 1, b, sc, sm);
            float d2 = d * sm[0], m2 = min * sm[1];
            for (int l = 0; l < 32; l++) y[o++] = d1 * (b[q + l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) y[o++] = d2 * ((b[q + l] & 0xFF) >> 4) - m2;
            q += 32;
        }
    }

    static void q5_k(byte[] b, int s, float[] y, int o) {
        float d = half(b, s), min = half(b, s + 2);
        int sc = s + 4, qh = s + 16, ql = s + 48;
        int[] sm = new int[2];
        int u1 = 1, u2 = 2;
        for (int j = 0, is = 0; j < 256; j += 64, is += 2) {
            scaleMin(is, b, sc, sm);
            float d1 = d * sm[0], m1 = min * sm[1];
            scaleMin(is + 1, b, sc, sm);
            float d2 = d * sm[0], m2 = min * sm[1];
            for (int l = 0; l < 32; l++) y[o++] = d1 * ((b[ql + l] & 0xF) + ((b[qh + l] & u1) != 0 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) y[o++] = d2 * (((b[ql + l] & 0xFF) >> 4) + ((b[qh + l] & u2) != 0 ? 16 : 0)) - m2;
            ql += 32;
            u1 <<= 2;
            u2 <<= 2;
        }
    }

    static void q6_k(byte[] b, int s, float[] y, int o) {
        int ql = s, qh = s + 128, sc = s + 192;
        float d = half(b, s + 208);
        for (int n = 0; n < 256; n += 128) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16, h = b[qh + l] & 0xFF;
                int q1 = ((b[ql + l] & 0xF) | ((h & 3) << 4)) - 32;
                int q2 = ((b[ql + l + 32] & 0xF) | (((h >> 2) & 3) << 4)) - 32;
                int q3 = (((b[ql + l] & 0xFF) >> 4) | (((h >> 4) & 3) << 4)) - 32;
                int q4 = (((b[ql + l + 32] & 0xFF) >> 4) | (((h >> 6) & 3) << 4)) - 32;
                y[o + l] = d * b[sc + is] * q1;
                y[o + l + 32] = d * b[sc + is + 2] * q2;
                y[o + l + 64] = d * b[sc + is + 4] * q3;
                y[o + l + 96] = d * b[sc + is + 6] * q4;
            }
            o += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }

    static float half(byte[] b, int s) { return Float.float16ToFloat((short) u16(b, s)); }

    static int u16(byte[] b, int s) { return (b[s] & 0xFF) | (b[s + 1] & 0xFF) << 8; }

    static int i32(byte[] b, int s) { return (b[s] & 0xFF) | (b[s + 1] & 0xFF) << 8 | (b[s + 2] & 0xFF) << 16 | (b[s + 3] & 0xFF) << 24; }
}
