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
                case Q4_K -> quantQ4_K(x, s, out, o);
                case Q6_K -> quantQ6_K(x, s, out, o);
                default -> throw new IllegalArgumentException("peft4j does not write ggml type " + t + "; it writes F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K");
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

    // ---- K-quants: quantize_row_q4_K_ref / quantize_row_q6_K_ref with make_qkx2_quants / make_qx_quants ----------

    /** ggml's nearest_int: the float magic-number trick (round half to even for |f| <= 4194303, as C does beyond). */
    static int nearestInt(float f) {
        int i = Float.floatToRawIntBits(f + 12582912f);
        return (i & 0x007fffff) - 0x00400000;
    }

    /** make_qkx2_quants(32, nmax, x[xo..], w, L[lo..], rmin, rdelta, nstep, use_mad = false); returns {scale, -min}. */
    static float[] makeQkx2(float[] x, int xo, float[] w, int nmax, float rmin, float rdelta, int nstep, int[] L, int lo) {
        int n = 32;
        float min = x[xo], max = x[xo];
        float sumW = w[0], sumX = w[0] * x[xo];
        for (int i = 1; i < n; i++) {
            if (x[xo + i] < min) min = x[xo + i];
            if (x[xo + i] > max) max = x[xo + i];
            float ww = w[i];
            sumW += ww;
            sumX += ww * x[xo + i];
        }
        if (min > 0) min = 0;
        if (max == min) {
            for (int i = 0; i < n; i++) L[lo + i] = 0;
            return new float[] {0f, -min};
        }
        float iscale = nmax / (max - min), scale = 1 / iscale, bestError = 0;
        for (int i = 0; i < n; i++) {
            int l = Math.max(0, Math.min(nmax, nearestInt(iscale * (x[xo + i] - min))));
            L[lo + i] = l;
            float diff = scale * l + min - x[xo + i];
            diff = diff * diff;
            bestError += w[i] * diff;
        }
        if (nstep < 1) return new float[] {scale, -min};
        int[] aux = new int[n];
        for (int is = 0; is <= nstep; is++) {
            iscale = (rmin + rdelta * is + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++) {
                int l = Math.max(0, Math.min(nmax, nearestInt(iscale * (x[xo + i] - min))));
                aux[i] = l;
                float wl = w[i] * l;
                sumL += wl;
                sumL2 += wl * l;
                sumXL += wl * x[xo + i];
            }
            float D = sumW * sumL2 - sumL * sumL;
            if (D > 0) {
                float thisScale = (sumW * sumXL - sumX * sumL) / D, thisMin = (sumL2 * sumX - sumL * sumXL) / D;
                if (thisMin > 0) {
                    thisMin = 0;
                    thisScale = sumXL / sumL2;
                }
                float cur = 0;
                for (int i = 0; i < n; i++) {
                    float diff = thisScale * aux[i] + thisMin - x[xo + i];
                    diff = diff * diff;
                    cur += w[i] * diff;
                }
                if (cur < bestError) {
                    System.arraycopy(aux, 0, L, lo, n);
                    bestError = cur;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        return new float[] {scale, -min};
    }

    static void quantQ4_K(float[] x, int s, byte[] out, int o) {
        int[] L = new int[256];
        float[] scales = new float[8], mins = new float[8], w = new float[32];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++) {
            float sumX2 = 0;
            for (int l = 0; l < 32; l++) sumX2 += x[s + 32 * j + l] * x[s + 32 * j + l];
            float avX = (float) Math.sqrt(sumX2 / 32f);
            for (int l = 0; l < 32; l++) w[l] = avX + Math.abs(x[s + 32 * j + l]);
            float[] sm = makeQkx2(x, s + 32 * j, w, 15, -1f, 0.1f, 20, L, 32 * j);
            scales[j] = sm[0];
            mins[j] = sm[1];
            if (sm[0] > maxScale) maxScale = sm[0];
            if (sm[1] > maxMin) maxMin = sm[1];
        }
        float invScale = maxScale > 0 ? 63f / maxScale : 0f, invMin = maxMin > 0 ? 63f / maxMin : 0f;
        int sc = o + 4;
        for (int j = 0; j < 8; j++) {
            int ls = Math.min(63, nearestInt(invScale * scales[j]) & 0xFF), lm = Math.min(63, nearestInt(invMin * mins[j]) & 0xFF);
            if (j < 4) {
                out[sc + j] = (byte) ls;
                out[sc + j + 4] = (byte) lm;
            } else {
                out[sc + j + 4] = (byte) ((ls & 0xF) | ((lm & 0xF) << 4));
                out[sc + j - 4] |= (byte) ((ls >> 4) << 6);
                out[sc + j] |= (byte) ((lm >> 4) << 6);
            }
        }
        short hd = f16(maxScale / 63f), hdm = f16(maxMin / 63f);
        putU16(out, o, hd);
        putU16(out, o + 2, hdm);
        float d0 = Float.float16ToFloat(hd), dmin0 = Float.float16ToFloat(hdm);
        int[] smv = new int[2];
        for (int j = 0; j < 8; j++) {
            scaleMin(j, out, sc, smv);
            float d = d0 * smv[0];
            if (d == 0) continue;                                   // this sub-block keeps make_qkx2_quants' L
            float dm = dmin0 * smv[1];
            for (int l = 0; l < 32; l++) L[32 * j + l] = Math.max(0, Math.min(15, nearestInt((x[s + 32 * j + l] + dm) / d)));
        }
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) out[o + 16 + 32 * c + l] = (byte) (L[64 * c + l] | (L[64 * c + 32 + l] << 4));
    }

    /** make_qx_quants(16, 32, x[xo..], L[lo..], rmse_type 1, no weights); returns the scale. */
    static float makeQx(float[] x, int xo, int[] L, int lo) {
        int n = 16, nmax = 32;
        float amax = 0, max = 0;
        for (int i = 0; i < n; i++) {
            float ax = Math.abs(x[xo + i]);
            if (ax > amax) { amax = ax; max = x[xo + i]; }
        }
        if (amax < 1e-15f) {
            for (int i = 0; i < n; i++) L[lo + i] = 0;
            return 0;
        }
        float iscale = -nmax / max, sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * x[xo + i])));
            L[lo + i] = l + nmax;
            float w = x[xo + i] * x[xo + i];
            sumlx += w * x[xo + i] * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0f, best = scale * sumlx;
        for (int is = -9; is <= 9; is++) {
            if (is == 0) continue;
            iscale = -(nmax + 0.1f * is) / max;
            sumlx = 0;
            suml2 = 0;
            for (int i = 0; i < n; i++) {
                int l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * x[xo + i])));
                float w = x[xo + i] * x[xo + i];
                sumlx += w * x[xo + i] * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2) {
                for (int i = 0; i < n; i++) L[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * x[xo + i])));
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    static void quantQ6_K(float[] x, int s, byte[] out, int o) {
        int[] L = new int[256];
        float[] scales = new float[16];
        float maxScale = 0, maxAbsScale = 0;
        for (int ib = 0; ib < 16; ib++) {
            float sc = makeQx(x, s + 16 * ib, L, 16 * ib);
            scales[ib] = sc;
            float a = Math.abs(sc);
            if (a > maxAbsScale) { maxAbsScale = a; maxScale = sc; }
        }
        if (maxAbsScale < 1e-15f) return;                              // all 210 bytes zero
        float iscale = -128f / maxScale;
        short hd = f16(1 / iscale);
        float d0 = Float.float16ToFloat(hd);
        byte[] sc8 = new byte[16];
        for (int ib = 0; ib < 16; ib++) sc8[ib] = (byte) Math.min(127, nearestInt(iscale * scales[ib]));
        for (int j = 0; j < 16; j++) {
            float d = d0 * sc8[j];
            if (d == 0) continue;
            for (int i = 0; i < 16; i++) L[16 * j + i] = Math.max(-32, Math.min(31, nearestInt(x[s + 16 * j + i] / d))) + 32;
        }
        for (int h = 0; h < 2; h++) {
            int b = 128 * h;
            for (int l = 0; l < 32; l++) {
                int l0 = L[b + l], l1 = L[b + 32 + l], l2 = L[b + 64 + l], l3 = L[b + 96 + l];
                out[o + 64 * h + l] = (byte) ((l0 & 0xF) | ((l2 & 0xF) << 4));
                out[o + 64 * h + 32 + l] = (byte) ((l1 & 0xF) | ((l3 & 0xF) << 4));
                out[o + 128 + 32 * h + l] = (byte) ((l0 >> 4) | ((l1 >> 4) << 2) | ((l2 >> 4) << 4) | ((l3 >> 4) << 6));
            }
        }
        System.arraycopy(sc8, 0, out, o + 192, 16);
        putU16(out, o + 208, hd);
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
    public static void scaleMin(int j, byte[] b, int sc, int[] out) {
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
