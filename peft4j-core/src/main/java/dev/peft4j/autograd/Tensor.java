/*
 * Tensor: a row-major float[] with a shape, and — when it takes part in training — a gradient of
 * the same size, allocated on first use. Parameters are tensors with a name; a frozen parameter
 * has requiresGrad = false and never holds a gradient buffer.
 */
package dev.peft4j.autograd;

import java.util.Arrays;

public final class Tensor {
    public final float[] data;
    public final int[] shape;
    public final boolean requiresGrad;
    public final String name;       // parameters only; null for activations
    private float[] grad;

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
    }

    /** A frozen parameter (no gradient). */
    public static Tensor frozen(String name, float[] data, int... shape) { return new Tensor(name, data, false, shape); }

    /** A trainable parameter. */
    public static Tensor param(String name, float[] data, int... shape) { return new Tensor(name, data, true, shape); }

    /** An activation: requires a gradient iff any input of the op that made it does. */
    public static Tensor activation(float[] data, boolean requiresGrad, int... shape) {
        return new Tensor(null, data, requiresGrad, shape);
    }

    public int size() { return data.length; }

    public int dim(int i) { return shape[i < 0 ? shape.length + i : i]; }

    /**
     * The gradient, allocated (zeroed) on first call; only for tensors that require one.
     * Not thread-safe: ops fetch it once before any parallel section.
     */
    public float[] grad() {
        if (!requiresGrad) throw new IllegalStateException((name == null ? "activation" : name) + " does not require a gradient");
        if (grad == null) grad = new float[data.length];
        return grad;
    }

    /** The gradient if one has been accumulated, else null (backward skips ops whose output got none). */
    public float[] gradOrNull() { return grad; }

    public boolean hasGrad() { return grad != null; }

    /** Drops the gradient buffer (after an optimiser step). */
    public void zeroGrad() { if (grad != null) Arrays.fill(grad, 0f); }

    public void releaseGrad() { grad = null; }

    @Override public String toString() {
        return (name == null ? "Tensor" : name) + Arrays.toString(shape) + (requiresGrad ? " (trainable)" : "");
    }
}
