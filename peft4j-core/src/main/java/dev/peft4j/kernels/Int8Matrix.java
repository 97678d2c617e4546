/*
 * Int8Matrix: a frozen (rows, cols) weight as int8 with one f32 absmax scale per row — the
 * layout of bitsandbytes' LLM.int8() weights (Int8Params: CB int8 [out, in] row-major, SCB f32
 * [out]), so it reads and writes bnb's Linear8bitLt `weight` / `SCB` tensors unchanged.
 *
 * Why per row and not per block of 32: LLM.int8() quantises weights vector-wise, one scale per
 * output row (int8_vectorwise_quant), and matching it keeps checkpoints interchangeable; one scale
 * per row also keeps decoding trivial (one scale per decodeRow call, no block bookkeeping) and costs
 * 4/cols bytes per parameter (~0.003 for cols = 1536). The price is precision when one outlier
 * dominates a row — LLM.int8() handles those outliers in the activations, not in the weight, and
 * NF4 (blocks of 64) is the format for tighter weight error.
 *
 * An element decodes as bnb's int8_vectorwise_dequant: (q * scale[row]) * 7.874015718698502e-3f
 * (1/127 as f32), two f32 products in that order.
 */
package dev.peft4j.kernels;

public final class Int8Matrix implements WeightMatrix {
    /** 1/127 as bnb writes it (int8_vectorwise_dequant), rounded to f32 by torch. */
    public static final float INV_127 = (float) 7.874015718698502e-3;

    private final byte[] q;
    private final float[] scale;
    private final int rows, cols;

    private Int8Matrix(byte[] q, float[] scale, int rows, int cols) {
        if (rows < 0 || cols < 0) throw new IllegalArgumentException("negative shape " + rows + "x" + cols);
        if (q.length != (long) rows * cols)
            throw new IllegalArgumentException(rows + "x" + cols + " int8 needs " + (long) rows * cols + " bytes, got " + q.length);
        if (scale.length != rows) throw new IllegalArgumentException(rows + " rows need " + rows + " scales, got " + scale.length);
        this.q = q;
        this.scale = scale;
        this.rows = rows;
        this.cols = cols;
    }

    /** Row-major int8 codes and per-row absmax (bnb's CB and SCB). Arrays are used as given. */
    public static Int8Matrix of(byte[] q, float[] rowAbsmax, int rows, int cols) {
        return new Int8Matrix(q, rowAbsmax, rows, cols);
    }

    @Override public int rows() { return rows; }

    @Override public int cols() { return cols; }

    /** The int8 codes, row-major (not a copy). */
    public byte[] codes() { return q; }

    /** The absmax of each row (bnb's SCB; not a copy). */
    public float[] rowAbsmax() { return scale; }

    @Override
    public void decodeRow(int row, int col0, int len, float[] dst, int dstOff) {
        float s = scale[row];
        int src = row * cols + col0;
        for (int j = 0; j < len; j++) dst[dstOff + j] = (q[src + j] * s) * INV_127;
    }

    @Override public boolean quantized() { return true; }

    /** Quantised: a merged weight is not re-quantised (it would change the outputs); the caller keeps f32. */
    @Override public WeightMatrix withValues(float[] values) { return null; }

    @Override public long bytes() { return q.length + 4L * scale.length; }

    @Override
    public String toString() { return "Int8Matrix[" + rows + "x" + cols + "]"; }
}
