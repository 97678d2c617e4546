/*
 * TensorInfo: one entry of a safetensors header — name, dtype, shape and the byte span
 * [begin, end) of its data, relative to the start of the data area (the byte after the header).
 * Constraints: immutable (the shape array is copied in and out); equals/hashCode/toString
 * look at the shape's contents, not the array identity.
 */
package dev.peft4j.io;

import dev.peft4j.Peft4jException;
import java.util.Arrays;
import java.util.Objects;

public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {

    public TensorInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(dtype, "dtype");
        shape = Objects.requireNonNull(shape, "shape").clone();
    }

    /** A copy of the shape (dims in row-major order; empty for a scalar). */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of dimensions. */
    public int rank() {
        return shape.length;
    }

    /** Number of elements: the product of the dims (1 for a scalar). Validated not to overflow at open. */
    public long numel() {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    /** Size of the data in bytes: end - begin. */
    public long byteSize() {
        return end - begin;
    }

    /** The shape as ints, for in-memory tensors; throws if a dim does not fit in an int. */
    public int[] shapeInts() {
        int[] out = new int[shape.length];
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] > Integer.MAX_VALUE) {
                throw new Peft4jException("tensor \"" + name + "\" has shape " + Arrays.toString(shape)
                        + "; dim " + i + " does not fit in an int (max " + Integer.MAX_VALUE
                        + "). Read it through segment() instead.");
            }
            out[i] = (int) shape[i];
        }
        return out;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype
                && Arrays.equals(shape, t.shape) && begin == t.begin && end == t.end;
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, dtype, Arrays.hashCode(shape), begin, end);
    }

    /** E.g. {@code model.embed_tokens.weight F32[512, 64] bytes 0..131072}. */
    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape) + " bytes " + begin + ".." + end;
    }
}
