/*
 * GgmlMatrix: a frozen (rows, cols) weight held in a ggml block format as a GGUF file stores it
 * (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K): each row is cols / blockSize consecutive blocks.
 * The GEMM decodes while it packs (quant.Ggml mirrors ggml's dequantize_row_*), so a LoRA on a Q4_K
 * base trains QLoRA-style with the base at ~4.5 bits per weight in memory.
 */
package dev.peft4j.kernels;

import dev.peft4j.io.GgmlType;
import dev.peft4j.quant.Ggml;

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
            Ggml.dequantize(type, blocks, base + first * type.typeSize, last - first + 1, dst, dstOff);
            return;
        }
        float[] tmp = SCRATCH.get();
        int n = (last - first + 1) * bs;
        if (tmp.length < n) { tmp = new float[n]; SCRATCH.set(tmp); }
        Ggml.dequantize(type, blocks, base + first * type.typeSize, last - first + 1, tmp, 0);
        System.arraycopy(tmp, col0 - first * bs, dst, dstOff, len);
    }

    private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[256]);

    @Override public boolean quantized() { return true; }

    /** Quantised: a merged weight is kept in f32 rather than re-quantised (it would change the outputs). */
    @Override public WeightMatrix withValues(float[] values) { return null; }

    @Override public long bytes() { return blocks.length; }

    @Override public String toString() { return "GgmlMatrix[" + type + " " + rows + "x" + cols + "]"; }
}
