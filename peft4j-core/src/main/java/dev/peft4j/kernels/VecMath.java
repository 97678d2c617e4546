/*
 * VecMath: exp, tanh and horizontal sums on FloatVectors built only from IEEE-exact lane operations
 * (add, mul, fma, compare, integer shifts), so a result never depends on whether the JIT has
 * compiled the code yet. The Vector API's own EXP/TANH and reduceLanes(ADD) may be computed by an
 * intrinsic (SVML, tree order) in compiled code and by a per-lane Java fallback before that; the
 * two differ in the last bits, which would break bit-for-bit reproducible training across
 * processes (a resumed run would drift from an uninterrupted one).
 *
 * exp: Cody–Waite range reduction x = n·ln2 + r, |r| <= ln2/2, the Taylor series of e^r to r^7
 * (truncation error r^8/8! < 6e-9, under one float ulp), and 2^n assembled in the exponent bits.
 * Max error a few ulp over [-87, 88] (checked against Math.exp in VecMathTest); inputs below
 * -87.3 give 0, above 88 give +inf (softmax and friends only ever pass x <= 0).
 * The scalar twins (expScalar, tanhScalar) use the same formulas, for tails of arrays.
 */
package dev.peft4j.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

public final class VecMath {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    private static final float ROUND = 12582912f;            // 1.5 * 2^23: x + ROUND - ROUND rounds to nearest even
    private static final float MIN_X = -87.33654f, MAX_X = 88.0f;       // keeps n in [-126, 127]
    // e^r ≈ 1 + r + r²·(1/2 + r·(1/6 + r·(1/24 + r·(1/120 + r·(1/720 + r/5040)))))
    private static final float C2 = 1f / 2, C3 = 1f / 6, C4 = 1f / 24, C5 = 1f / 120, C6 = 1f / 720, C7 = 1f / 5040;

    private VecMath() {}

    public static FloatVector exp(FloatVector x) {
        VectorMask<Float> under = x.compare(VectorOperators.LT, MIN_X), over = x.compare(VectorOperators.GT, MAX_X);
        x = x.max(MIN_X).min(MAX_X);
        FloatVector n = x.mul(LOG2E).add(ROUND).sub(ROUND);                          // round(x / ln2)
        FloatVector r = n.fma(FloatVector.broadcast(S, -LN2_HI), x);                                            // x - n·ln2 (two steps)
        r = n.fma(FloatVector.broadcast(S, -LN2_LO), r);
        FloatVector p = r.fma(FloatVector.broadcast(S, C7), FloatVector.broadcast(S, C6));
        p = p.fma(r, FloatVector.broadcast(S, C5));
        p = p.fma(r, FloatVector.broadcast(S, C4));
        p = p.fma(r, FloatVector.broadcast(S, C3));
        p = p.fma(r, FloatVector.broadcast(S, C2));
        p = p.fma(r.mul(r), r).add(1f);                                               // 1 + r + r²·(...)
        IntVector e = ((IntVector) n.convert(VectorOperators.F2I, 0)).add(127).lanewise(VectorOperators.LSHL, 23);
        FloatVector scale = e.reinterpretAsFloats();                                  // 2^n
        FloatVector result = p.mul(scale);
        result = result.blend(0f, under);
        return result.blend(Float.POSITIVE_INFINITY, over);
    }

    /** tanh(x) = 1 − 2 / (e^{2x} + 1), with the sign handled so large |x| saturate to ±1 exactly. */
    public static FloatVector tanh(FloatVector x) {
        FloatVector ax = x.abs().min(9.0f);                                            // tanh(9) rounds to 1 in float
        FloatVector t = FloatVector.broadcast(S, 1f).sub(FloatVector.broadcast(S, 2f).div(exp(ax.mul(2f)).add(1f)));
        return t.blend(t.neg(), x.compare(VectorOperators.LT, 0f));
    }

    /** Σ lanes in a fixed left-to-right order (same bits in every JIT tier). */
    public static float sum(FloatVector v) {
        float[] lanes = v.toArray();
        float s = 0f;
        for (float x : lanes) s += x;
        return s;
    }

    /** Scalar twin of exp for array tails (the same polynomial and range reduction). */
    public static float expScalar(float x) {
        if (x < MIN_X) return 0f;
        if (x > MAX_X) return Float.POSITIVE_INFINITY;
        float n = x * LOG2E + ROUND - ROUND;
        float r = Math.fma(n, -LN2_HI, x);
        r = Math.fma(n, -LN2_LO, r);
        float p = Math.fma(r, C7, C6);
        p = Math.fma(p, r, C5);
        p = Math.fma(p, r, C4);
        p = Math.fma(p, r, C3);
        p = Math.fma(p, r, C2);
        p = Math.fma(p, r * r, r) + 1f;
        return p * Float.intBitsToFloat(((int) n + 127) << 23);
    }

    public static float tanhScalar(float x) {
        float ax = Math.min(Math.abs(x), 9.0f);
        float t = 1f - 2f / (expScalar(2f * ax) + 1f);
        return x < 0 ? -t : t;
    }
}
