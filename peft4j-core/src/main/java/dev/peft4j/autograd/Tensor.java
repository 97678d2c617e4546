/*
 * Tensor: a row-major float[] with a shape, and — when it takes part in training — a gradient of
 * the same size, allocated on first use. Parameters are tensors with a name; a frozen parameter
 * has requiresGrad = false and never holds a gradient buffer.
 */
package dev.peft4j.autograd;

import dev.peft4j.kernels.WeightMatrix;
import java.util.Arrays;

public final class Tensor {
    /** The values, row-major f32 — null once a frozen weight has been compacted (see matrix()). */
    public float[] data;
    public final int[] shape;
    public final boolean requiresGrad;
    public final String name;       // parameters only; null for activations
    private final GradRef gradRef;
    private final int size;
    private WeightMatrix matrix;    // the storage kernels read a 2-D frozen weight from

    /**
     * The gradient slot of a tensor, without its values. Backward closures that need only to add
     * into an input's gradient capture this instead of the tensor, so the input's data can be
     * garbage-collected as soon as the forward no longer uses it.
     */
    public static final class GradRef {
        private final int size;
        private final boolean requiresGrad, activation;
        private float[] grad;
        private boolean pooled;     // grad came from the running backward's Workspace

        GradRef(int size, boolean requiresGrad, boolean activation) {
            this.size = size;
            this.requiresGrad = requiresGrad;
            this.activation = activation;
        }

        /**
         * The gradient, allocated (zeroed) on first call — an activation's from the workspace of the backward
         * running on this thread, if any. Not thread-safe: fetch it before a parallel section.
         */
        public float[] grad() {
            if (!requiresGrad) throw new IllegalStateException("this tensor does not require a gradient");
            if (grad == null) {
                Workspace ws = activation && size >= Workspace.MIN_FLOATS ? Workspace.current() : null;
                grad = ws == null ? new float[size] : ws.take(size);
                pooled = ws != null;
            }
            return grad;
        }

        /** Gives a gradient taken from a workspace back to it (its op's backward has run). */
        void releaseTo(Workspace ws) {
            if (!pooled) return;
            ws.give(grad);
            grad = null;
            pooled = false;
        }

        public boolean requiresGrad() { return requiresGrad; }

        public float[] gradOrNull() { return grad; }
    }

    public Tensor(String name, float[] data, boolean requiresGrad, int... shape) {
        long n = 1;
        for (int d : shape) n *= d;
        if (n != data.length)
            throw new IllegalArgumentException((name == null ? "tensor" : name) + ": shape " + Arrays.toString(shape)
                    + " holds " + n + " values but data has " + data.length);
        this.data = data;
        this.shape = shape.clone();
        this.requiresGrad = requiresGrad;
        this.name = name;
        this.gradRef = new GradRef(data.length, requiresGrad, name == null);
        this.size = data.length;
    }

    /**
     * This 2-D tensor as a WeightMatrix for the GEMM kernels: its compact storage if it was compacted,
     * else an f32 view of data.
     */
    public WeightMatrix matrix() {
        if (matrix != null) return matrix;
        if (shape.length != 2) throw new IllegalStateException((name == null ? "tensor" : name) + " is not a matrix");
        return new WeightMatrix.F32(data, shape[0], shape[1]);
    }

    /** True when the values live in a storage format other than plain f32 rows (bf16, prepacked, ...). */
    public boolean compact() { return matrix != null; }

    /**
     * Stores a frozen 2-D weight in a compact format from now on (data becomes null; kernels decode
     * it while packing). Trainable tensors and vectors are refused.
     */
    public void compactTo(WeightMatrix m) {
        if (requiresGrad) throw new IllegalStateException(name + " is trainable; only frozen weights are stored compactly");
        if (shape.length != 2 || m.rows() != shape[0] || m.cols() != shape[1])
            throw new IllegalArgumentException(name + ": compact storage shape " + m.rows() + "x" + m.cols() + " does not match " + Arrays.toString(shape));
        this.matrix = m;
        this.data = m instanceof WeightMatrix.F32Prepacked p ? p.data() : null;   // prepacked keeps its f32 rows
    }

    /** Back to plain f32 rows (e.g. to merge an adapter into a quantised base). */
    public void decompact() {
        if (matrix == null) return;
        data = floats();
        matrix = null;
    }

    /** The values as f32 whatever the storage (a copy when compact). */
    public float[] floats() { return data != null ? data : matrix.toFloats(); }

    /** Bytes the values take in memory. */
    public long bytes() { return matrix != null ? matrix.bytes() : 4L * size; }

    /** This tensor's gradient slot, for closures that do not need its values. */
    public GradRef gradRef() { return gradRef; }

    private Tensor(String name, WeightMatrix m) {
        this.data = null;
        this.shape = new int[] {m.rows(), m.cols()};
        this.requiresGrad = false;
        this.name = name;
        this.size = m.rows() * m.cols();
        this.gradRef = new GradRef(size, false, false);
        this.matrix = m;
    }

    /** A frozen matrix held only in a storage format (quantised, bf16, ...). */
    public static Tensor frozen(String name, WeightMatrix m) { return new Tensor(name, m); }

    /** A frozen parameter (no gradient). */
    public static Tensor frozen(String name, float[] data, int... shape) { return new Tensor(name, data, false, shape); }

    /** A trainable parameter. */
    public static Tensor param(String name, float[] data, int... shape) { return new Tensor(name, data, true, shape); }

    /** An activation: requires a gradient iff any input of the op that made it does. */
    public static Tensor activation(float[] data, boolean requiresGrad, int... shape) {
        return new Tensor(null, data, requiresGrad, shape);
    }

    public int size() { return size; }

    public int dim(int i) { return shape[i < 0 ? shape.length + i : i]; }

    /**
     * The gradient, allocated (zeroed) on first call; only for tensors that require one.
     * Not thread-safe: ops fetch it once before any parallel section.
     */
    public float[] grad() {
        if (!requiresGrad) throw new IllegalStateException((name == null ? "activation" : name) + " does not require a gradient");
        return gradRef.grad();
    }

    /** The gradient if one has been accumulated, else null (backward skips ops whose output got none). */
    public float[] gradOrNull() { return gradRef.grad; }

    public boolean hasGrad() { return gradRef.grad != null; }

    /** Zeroes the gradient buffer (before a new step). */
    public void zeroGrad() { if (gradRef.grad != null) Arrays.fill(gradRef.grad, 0f); }

    public void releaseGrad() { gradRef.grad = null; }

    @Override public String toString() {
        return (name == null ? "Tensor" : name) + Arrays.toString(shape) + (requiresGrad ? " (trainable)" : "");
    }
}
