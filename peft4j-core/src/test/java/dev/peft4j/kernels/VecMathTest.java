package dev.peft4j.kernels;

import static org.assertj.core.api.Assertions.assertThat;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

class VecMathTest {
    static final int L = FloatVector.SPECIES_PREFERRED.length();

    @Test
    void expIsWithinAFewUlpOfMathExpAndItsScalarTwinAgrees() {
        float[] x = new float[L];
        double worstUlp = 0;
        for (float v = -87f; v < 88f; v += 0.0137f) {
            for (int i = 0; i < L; i++) x[i] = v + i * 1e-4f;
            float[] got = VecMath.exp(FloatVector.fromArray(FloatVector.SPECIES_PREFERRED, x, 0)).toArray();
            for (int i = 0; i < L; i++) {
                double ref = Math.exp(x[i]);
                worstUlp = Math.max(worstUlp, Math.abs(got[i] - ref) / Math.ulp((float) ref));
                assertThat(VecMath.expScalar(x[i])).isEqualTo(got[i]);
            }
        }
        assertThat(worstUlp).isLessThan(4);
        float[] edge = new float[L];
        edge[0] = -100f; edge[1 % L] = 0f;
        float[] e = VecMath.exp(FloatVector.fromArray(FloatVector.SPECIES_PREFERRED, edge, 0)).toArray();
        assertThat(e[0]).isEqualTo(0f);
        assertThat(VecMath.expScalar(-100f)).isEqualTo(0f);
        assertThat(VecMath.expScalar(0f)).isEqualTo(1f);
        assertThat(VecMath.expScalar(100f)).isEqualTo(Float.POSITIVE_INFINITY);
    }

    @Test
    void tanhIsCloseToMathTanhAndSaturates() {
        float[] x = new float[L];
        for (float v = -12f; v < 12f; v += 0.0071f) {
            for (int i = 0; i < L; i++) x[i] = v + i * 1e-4f;
            float[] got = VecMath.tanh(FloatVector.fromArray(FloatVector.SPECIES_PREFERRED, x, 0)).toArray();
            for (int i = 0; i < L; i++) {
                assertThat((double) got[i]).isCloseTo(Math.tanh(x[i]), org.assertj.core.api.Assertions.within(2e-7));
                assertThat(VecMath.tanhScalar(x[i])).isEqualTo(got[i]);
            }
        }
    }

    @Test
    void sumIsLeftToRight() {
        float[] x = new float[L];
        for (int i = 0; i < L; i++) x[i] = (i % 2 == 0 ? 1e8f : 1f) * (i + 1);
        float expected = 0f;
        for (float v : x) expected += v;
        assertThat(VecMath.sum(FloatVector.fromArray(FloatVector.SPECIES_PREFERRED, x, 0))).isEqualTo(expected);
    }
}
