/*
 * Quantize: turns a frozen f32 weight (rows = out features, cols = in features, row-major) into a
 * compact WeightMatrix the GEMM decodes while packing — NF4 (QLoRA, bitsandbytes bit for bit) or
 * int8 with per-row scales (LLM.int8()'s vector-wise weight quantisation).
 *
 * int8 follows bnb's int8_vectorwise_quant: absmax per row, q = round_half_even(w * (127f / absmax))
 * in f32; an all-zero row gets scale 0 and codes 0. bnb's Int8Params casts the weight to fp16
 * before quantising; pass fp16-rounded values for bit parity with it.
 */
package dev.peft4j.quant;

import dev.peft4j.kernels.Int8Matrix;
import dev.peft4j.kernels.Nf4Matrix;

public final class Quantize {
    private Quantize() {}

    /** NF4 with QLoRA's defaults: blocks of 64, double-quantised absmax. */
    public static Nf4Matrix nf4(float[] w, int rows, int cols) {
        return nf4(w, rows, cols, Nf4.DEFAULT_BLOCKSIZE, true);
    }

    /** bnb quantize_4bit(w, blocksize, compress_statistics=doubleQuant, quant_type="nf4") as a weight matrix. */
    public static Nf4Matrix nf4(float[] w, int rows, int cols, int blocksize, boolean doubleQuant) {
        checkShape(w, rows, cols);
        return nf4(Nf4.quantize(w, blocksize), rows, cols, doubleQuant);
    }

    /** Wraps already-quantised NF4 data (n = rows·cols), double-quantising its absmax if asked. */
    public static Nf4Matrix nf4(Nf4.Quantized q, int rows, int cols, boolean doubleQuant) {
        if (q.n() != (long) rows * cols) throw new IllegalArgumentException(q.n() + " values are not " + rows + "x" + cols);
        if (!doubleQuant) return Nf4Matrix.of(q.packed(), rows, cols, q.blocksize(), Nf4.code(), q.absmax());
        return nf4(q, rows, cols, DoubleQuant.of(q.absmax()));
    }

    /** Wraps NF4 data with the given double quantisation of its absmax. */
    public static Nf4Matrix nf4(Nf4.Quantized q, int rows, int cols, DoubleQuant dq) {
        if (dq.size() != q.absmax().length)
            throw new IllegalArgumentException("double quantisation of " + dq.size() + " absmax values for " + q.absmax().length + " blocks");
        return Nf4Matrix.doubleQuantized(q.packed(), rows, cols, q.blocksize(), Nf4.code(), dq.codes(), dq.nestedAbsmax(),
                dq.map(), dq.blocksize(), dq.offset());
    }

    /** int8 with one absmax per row (bnb's CB / SCB). */
    /**
     * ggml blocks (llama.cpp's formats) row by row, as ggml's reference quantisers write them; a row that does not
     * fill the type's blocks falls back to Q8_0 (then to nothing: an error), as llama-quantize does.
     */
    public static dev.peft4j.kernels.GgmlMatrix ggml(dev.peft4j.io.GgmlType type, float[] w, int rows, int cols) {
        if (cols % type.blockSize != 0) {
            if (type != dev.peft4j.io.GgmlType.Q8_0 && cols % 32 == 0) return ggml(dev.peft4j.io.GgmlType.Q8_0, w, rows, cols);
            throw new dev.peft4j.Peft4jException(rows + "x" + cols + " rows do not fill " + type + " blocks of " + type.blockSize
                    + " (nor Q8_0's 32); use nf4 or int8 for this model");
        }
        byte[] b = new byte[(int) type.bytes((long) rows * cols)];
        int rowBytes = (int) type.bytes(cols);
        for (int r = 0; r < rows; r++)
            System.arraycopy(Ggml.quantize(type, w, r * cols, cols), 0, b, r * rowBytes, rowBytes);
        return dev.peft4j.kernels.GgmlMatrix.of(type, b, rows, cols);
    }

    public static Int8Matrix int8(float[] w, int rows, int cols) {
        checkShape(w, rows, cols);
        byte[] q = new byte[w.length];
        float[] absmax = new float[rows];
        for (int r = 0; r < rows; r++) {
            int s = r * cols;
            float m = 0f;
            for (int j = 0; j < cols; j++) m = Math.max(m, Math.abs(w[s + j]));
            absmax[r] = m;
            if (m == 0f) continue;                      // torch would round NaN (0·inf); the codes stay 0
            float k = 127.0f / m;
            for (int j = 0; j < cols; j++) q[s + j] = (byte) Math.rint(w[s + j] * k);
        }
        return Int8Matrix.of(q, absmax, rows, cols);
    }

    private static void checkShape(float[] w, int rows, int cols) {
        if (rows < 0 || cols < 0 || w.length != (long) rows * cols)
            throw new IllegalArgumentException(w.length + " values are not a " + rows + "x" + cols + " matrix");
    }
}
