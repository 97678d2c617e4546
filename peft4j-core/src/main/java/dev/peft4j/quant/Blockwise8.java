/*
 * Blockwise8: bitsandbytes' 8-bit blockwise quantisation with the signed dynamic map
 * (quantize_blockwise / dequantize_blockwise), the second stage of NF4 double quantisation.
 *
 * The map is create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8) in
 * bitsandbytes/functional.py, recomputed here with torch's f32 arithmetic: for i in 0..6,
 * boundaries = torch.linspace(0.1, 1, 2^i + 1) (f32; step = (end - start) / (steps - 1), the first
 * half start + step*k, the second half end - step*(steps-1-k), as ATen's CPU linspace kernel),
 * means = (b[k] + b[k+1]) / 2, values ±f32(10^(i-6)) * means; plus 0 and 1.0; sorted. 256 values,
 * map[0] = -0.99296875, map[127] = 0, map[255] = 1.
 *
 * The map is NOT the same on every machine: linspace's rounding depends on the torch version and
 * on whether its CPU kernel was built with fused multiply-adds, and up to ~45 of the 256 entries
 * move by an ulp between builds (torch 1.13 with AVX2, the same with ATEN_CPU_CAPABILITY=default,
 * and torch 2.x all differ). This is torch 2.x on x86-64 with AVX2/AVX-512 (fused); a published
 * dump of bnb's map from such a setup matches it entry for entry. bnb stores the map it used with
 * every double-quantised weight (nested_quant_map), so files stay exact whichever map wrote them:
 * decoding always uses the stored map, and quantize accepts any map.
 *
 * quantize (kQuantizeBlockwise<General8bit> in csrc/kernels.cu): absmax per block = max |x|; each
 * value is multiplied by the f32 reciprocal 1/absmax and mapped by dQuantize<0>: a 7-step binary
 * search from pivot 127 with `x > map[pivot]` tests, then the nearer neighbour by comparing with
 * the f32 midpoint (upper + val) * 0.5f (strict `>` going up, strict `<` going down, so an exact
 * midpoint keeps the pivot). dequantize: map[q] * absmax[block], one f32 product.
 */
package dev.peft4j.quant;

public final class Blockwise8 {
    private Blockwise8() {}

    private static final double[] POW10 = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0};
    private static final float[] DYNAMIC = createDynamicMap();

    /** The signed 8-bit dynamic map (a copy). */
    public static float[] dynamicMap() { return DYNAMIC.clone(); }

    /** 8-bit codes (one per value) and one f32 absmax per block. */
    public record Quantized(byte[] codes, float[] absmax, int blocksize) {}

    /** bnb quantize_blockwise(x, code=map, blocksize) — the CUDA kernel's rules. */
    public static Quantized quantize(float[] x, float[] map, int blocksize) {
        if (map.length != 256) throw new IllegalArgumentException("an 8-bit map has 256 values, got " + map.length);
        if (blocksize <= 0) throw new IllegalArgumentException("blocksize must be positive, got " + blocksize);
        int n = x.length;
        byte[] q = new byte[n];
        float[] absmax = new float[Nf4.blocks(n, blocksize)];
        for (int b = 0; b < absmax.length; b++) {
            int s = b * blocksize, e = Math.min(n, s + blocksize);
            float m = 0f;
            for (int i = s; i < e; i++) m = Math.max(m, Math.abs(x[i]));
            absmax[b] = m;
            float inv = 1.0f / m;
            for (int i = s; i < e; i++) q[i] = (byte) quantizeValue(map, x[i] * inv);
        }
        return new Quantized(q, absmax, blocksize);
    }

    /** dst[i] = map[q[i]] * absmax[i / blocksize]. */
    public static float[] dequantize(byte[] q, float[] absmax, float[] map, int blocksize) {
        float[] out = new float[q.length];
        for (int i = 0; i < q.length; i++) out[i] = map[q[i] & 0xFF] * absmax[i / blocksize];
        return out;
    }

    /** dQuantize<0> of csrc/kernels.cu: the index of the nearest map value (ties as described above). */
    public static int quantizeValue(float[] map, float x) {
        int pivot = 127, upperPivot = 255, lowerPivot = 0;
        float lower = -1.0f, upper = 1.0f;
        float val = map[pivot];
        for (int i = 64; i > 0; i >>= 1) {
            if (x > val) {
                lowerPivot = pivot;
                lower = val;
                pivot += i;
            } else {
                upperPivot = pivot;
                upper = val;
                pivot -= i;
            }
            val = map[pivot];
        }
        if (upperPivot == 255) upper = map[upperPivot];
        if (lowerPivot == 0) lower = map[lowerPivot];
        if (x > val) {
            float midpoint = (upper + val) * 0.5f;
            return x > midpoint ? upperPivot : pivot;
        } else {
            float midpoint = (lower + val) * 0.5f;
            return x < midpoint ? lowerPivot : pivot;
        }
    }

    private static float[] createDynamicMap() {
        final int maxExponentBits = 7, nonSignBits = 7;
        float[] data = new float[256];
        int k = 0;
        for (int i = 0; i < maxExponentBits; i++) {
            int items = (1 << (i + nonSignBits - maxExponentBits)) + 1;
            float[] b = linspace(0.1f, 1.0f, items);
            float scale = (float) POW10[i];        // 10 ** (-(7 - 1) + i), a python float, rounded to f32 by torch
            for (int j = 0; j + 1 < items; j++) {
                float mean = (b[j] + b[j + 1]) / 2.0f;
                data[k++] = scale * mean;
                data[k++] = -scale * mean;     // (-(10**e)) * means: the negated scalar times the same means
            }
        }
        // additional_items = 2^(7-7) - 1 = 0: nothing more
        data[k++] = 0f;
        data[k++] = 1.0f;
        if (k != 256) throw new AssertionError("dynamic map has " + k + " values");
        java.util.Arrays.sort(data);
        return data;
    }

    /**
     * torch.linspace(start, end, steps) in f32 as ATen's serial CPU kernel computes it in torch 2.x
     * on x86-64 with AVX2/AVX-512, where the compiler contracts start + step*k into one fused
     * multiply-add (one rounding).
     */
    static float[] linspace(float start, float end, int steps) {
        float[] out = new float[steps];
        if (steps == 1) { out[0] = start; return out; }
        float step = (end - start) / (float) (steps - 1);
        int halfway = steps / 2;
        for (int idx = 0; idx < steps; idx++)
            out[idx] = idx < halfway ? Math.fma(step, (float) idx, start) : Math.fma(-step, (float) (steps - idx - 1), end);
        return out;
    }
}
