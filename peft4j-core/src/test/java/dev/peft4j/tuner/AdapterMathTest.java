package dev.peft4j.tuner;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.peft4j.Peft4jException;
import dev.peft4j.kernels.Svd;
import dev.peft4j.tuner.AdapterMath.Combined;
import dev.peft4j.tuner.AdapterMath.Part;
import dev.peft4j.tuner.AdapterMath.Type;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * AdapterMath against PEFT's add_weighted_adapter rules (lora/model.py): cat and svd reproduce Σ w_i·ΔW_i
 * (ΔW = scaling·B·A), linear combines A and B separately with √(w·s) (sign on A), truncated svd is the
 * best rank-k approximation, new r per type, and clear errors.
 */
class AdapterMathTest {
    static Part part(SplittableRandom rnd, int r, int in, int out, double scaling) {
        float[] a = new float[r * in], b = new float[out * r];
        for (int i = 0; i < a.length; i++) a[i] = (float) (rnd.nextDouble() * 2 - 1);
        for (int i = 0; i < b.length; i++) b[i] = (float) (rnd.nextDouble() * 2 - 1);
        return new Part(a, b, r, in, out, scaling);
    }

    /** Σ w_i·s_i·B_i·A_i in double. */
    static double[] exactDelta(List<Part> parts, double[] w) {
        Part f = parts.get(0);
        double[] d = new double[f.out() * f.in()];
        for (int p = 0; p < parts.size(); p++) {
            Part pt = parts.get(p);
            for (int o = 0; o < pt.out(); o++)
                for (int j = 0; j < pt.r(); j++)
                    for (int i = 0; i < pt.in(); i++) d[o * pt.in() + i] += w[p] * pt.scaling() * pt.B()[o * pt.r() + j] * pt.A()[j * pt.in() + i];
        }
        return d;
    }

    /** scaling·B·A of a combined adapter, in double. */
    static double[] delta(Combined c) {
        double[] d = new double[c.out() * c.in()];
        for (int o = 0; o < c.out(); o++)
            for (int j = 0; j < c.r(); j++)
                for (int i = 0; i < c.in(); i++) d[o * c.in() + i] += c.scaling() * c.B()[o * c.r() + j] * c.A()[j * c.in() + i];
        return d;
    }

    static double maxAbs(double[] x) {
        double m = 0;
        for (double v : x) m = Math.max(m, Math.abs(v));
        return m;
    }

    /** max |x − y| / max |y|. */
    static double relErr(double[] x, double[] y) {
        assertThat(x).hasSameSizeAs(y);
        double m = 0;
        for (int i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
        return m / maxAbs(y);
    }

    static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    static double frobenius(double[] x, double[] y) {
        double s = 0;
        for (int i = 0; i < x.length; i++) s += (x[i] - y[i]) * (x[i] - y[i]);
        return Math.sqrt(s);
    }

    final SplittableRandom rnd = new SplittableRandom(42);
    final int in = 20, out = 24;
    final Part p1 = part(rnd, 3, in, out, 16.0 / 3);
    final Part p2 = part(rnd, 5, in, out, 8.0 / Math.sqrt(5)); // rslora-style scaling
    final List<Part> two = List.of(p1, p2);
    final double[] w = {0.7, -1.3};

    @Test
    void catIsTheExactWeightedSum() {
        Combined c = AdapterMath.combine(Type.CAT, two, w, 0);
        assertThat(c.r()).isEqualTo(8);
        assertThat(c.scaling()).isEqualTo(1.0);
        assertThat(relErr(delta(c), exactDelta(two, w))).isLessThan(1e-5);
        // PEFT's layout: A rows = w_i·s_i·A_i stacked, B columns = B_i unscaled side by side
        assertThat(c.A()[0]).isCloseTo((float) (0.7 * 16.0 / 3 * p1.A()[0]), within(1e-5f));
        assertThat(c.A()[3 * in]).isCloseTo((float) (-1.3 * 8.0 / Math.sqrt(5) * p2.A()[0]), within(1e-5f));
        for (int o = 0; o < out; o++) {
            for (int j = 0; j < 3; j++) assertThat(c.B()[o * 8 + j]).isEqualTo(p1.B()[o * 3 + j]);
            for (int j = 0; j < 5; j++) assertThat(c.B()[o * 8 + 3 + j]).isEqualTo(p2.B()[o * 5 + j]);
        }
        assertThat(relErr(toDouble(AdapterMath.weightedDelta(two, w)), exactDelta(two, w))).isLessThan(1e-6);
        assertThat(relErr(toDouble(c.delta()), exactDelta(two, w))).isLessThan(1e-5);
    }

    @Test
    void svdAtFullRankReproducesTheWeightedSumAndCat() {
        Combined s = AdapterMath.combine(Type.SVD, two, w, 8);
        assertThat(s.r()).isEqualTo(8);
        assertThat(s.scaling()).isEqualTo(1.0);
        assertThat(s.A()).hasSize(8 * in);
        assertThat(s.B()).hasSize(out * 8);
        double[] exact = exactDelta(two, w);
        assertThat(relErr(delta(s), exact)).isLessThan(1e-5);
        assertThat(relErr(delta(s), delta(AdapterMath.combine(Type.CAT, two, w, 0)))).isLessThan(1e-5);
        // A = Vh[:k] has orthonormal rows
        for (int p = 0; p < 8; p++)
            for (int q = p; q < 8; q++) {
                double d = 0;
                for (int i = 0; i < in; i++) d += (double) s.A()[p * in + i] * s.A()[q * in + i];
                assertThat(d).isCloseTo(p == q ? 1 : 0, within(1e-6));
            }
        // k = min(in, out) > R: extra components have zero singular value (zero B columns), same delta
        Combined full = AdapterMath.combine(Type.SVD, two, w, in);
        assertThat(full.r()).isEqualTo(in);
        assertThat(relErr(delta(full), exact)).isLessThan(1e-5);
        for (int o = 0; o < out; o++) for (int c = 8; c < in; c++) assertThat(Math.abs(full.B()[o * in + c])).isLessThan(1e-5f);
    }

    @Test
    void svdDefaultRankIsTheLargestAdapterRank() {
        Combined s = AdapterMath.combine(Type.SVD, two, w, 0);
        assertThat(s.r()).isEqualTo(5);
        assertThat(AdapterMath.combine(Type.SVD, two, w, -1).r()).isEqualTo(5);
    }

    @Test
    void truncatedSvdIsTheBestRankKApproximation() {
        double[] exact = exactDelta(two, w);
        double[] sv = Svd.svd(exact, out, in).S();
        for (int k : new int[] {1, 3, 5, 7}) {
            Combined s = AdapterMath.combine(Type.SVD, two, w, k);
            double dropped = 0;
            for (int c = k; c < sv.length; c++) dropped += sv[c] * sv[c];
            double err = frobenius(delta(s), exact);
            assertThat(err).as("rank %d", k).isCloseTo(Math.sqrt(dropped), within(1e-5 * sv[0]));
            // B = U·diag(S): column norms are the singular values
            for (int c = 0; c < k; c++) {
                double n2 = 0;
                for (int o = 0; o < out; o++) n2 += (double) s.B()[o * k + c] * s.B()[o * k + c];
                assertThat(Math.sqrt(n2)).isCloseTo(sv[c], within(1e-5 * sv[0]));
            }
        }
    }

    @Test
    void singleAdapterSvdEqualsSingleAdapterLinear() {
        for (double wt : new double[] {0.6, -2.5}) {
            List<Part> one = List.of(p2);
            double[] ws = {wt};
            Combined lin = AdapterMath.combine(Type.LINEAR, one, ws, 0);
            Combined svd = AdapterMath.combine(Type.SVD, one, ws, 0);
            assertThat(lin.r()).isEqualTo(5);
            assertThat(svd.r()).isEqualTo(5);
            double[] exact = exactDelta(one, ws);
            assertThat(relErr(delta(lin), exact)).isLessThan(1e-5);
            assertThat(relErr(delta(svd), exact)).isLessThan(1e-5);
            assertThat(relErr(delta(svd), delta(lin))).isLessThan(1e-5);
            // linear: A = sign·√|w·s|·A, B = √|w·s|·B
            double m = Math.sqrt(Math.abs(wt * p2.scaling()));
            assertThat(lin.A()[7]).isCloseTo((float) (Math.signum(wt) * m * p2.A()[7]), within(1e-5f));
            assertThat(lin.B()[7]).isCloseTo((float) (m * p2.B()[7]), within(1e-5f));
        }
    }

    @Test
    void linearWithSharedAByHand() {
        // r = 1, in = 2, out = 2; A = [1 2] shared; B1 = [1; 0], B2 = [0; 3].
        // w1·s1 = 0.5·2 = 1 → √ = 1;  w2·s2 = 2·2 = 4 → √ = 2.
        // A' = 1·A + 2·A = [3 6];  B' = 1·B1 + 2·B2 = [1; 6];  B'·A' = [[3, 6], [18, 36]].
        Part a = new Part(new float[] {1, 2}, new float[] {1, 0}, 1, 2, 2, 2.0);
        Part b = new Part(new float[] {1, 2}, new float[] {0, 3}, 1, 2, 2, 2.0);
        Combined c = AdapterMath.combine(Type.LINEAR, List.of(a, b), new double[] {0.5, 2.0}, 0);
        assertThat(c.r()).isEqualTo(1);
        assertThat(c.scaling()).isEqualTo(1.0);
        assertThat(c.A()).containsExactly(3f, 6f);
        assertThat(c.B()).containsExactly(1f, 6f);
        assertThat(c.delta()).containsExactly(3f, 6f, 18f, 36f);
        // …which is not Σ w·ΔW = [[1, 2], [12, 24]]: linear has cross terms
        assertThat(AdapterMath.weightedDelta(List.of(a, b), new double[] {0.5, 2.0})).containsExactly(1f, 2f, 12f, 24f);
    }

    @Test
    void linearWithSharedARandom() {
        Part q1 = part(rnd, 4, in, out, 2.0);
        Part q2 = new Part(q1.A(), part(rnd, 4, in, out, 0.5).B(), 4, in, out, 0.5);
        double[] ws = {0.3, 1.7};
        Combined c = AdapterMath.combine(Type.LINEAR, List.of(q1, q2), ws, 0);
        double c1 = Math.sqrt(ws[0] * 2.0), c2 = Math.sqrt(ws[1] * 0.5);
        // expected = (c1·B1 + c2·B2)·((c1 + c2)·A)
        double[] expected = new double[out * in];
        for (int o = 0; o < out; o++)
            for (int j = 0; j < 4; j++) {
                double bj = c1 * q1.B()[o * 4 + j] + c2 * q2.B()[o * 4 + j];
                for (int i = 0; i < in; i++) expected[o * in + i] += bj * (c1 + c2) * q1.A()[j * in + i];
            }
        assertThat(relErr(delta(c), expected)).isLessThan(1e-5);
    }

    @Test
    void linearOfDistinctAdaptersHasCrossTerms() {
        Part q1 = part(rnd, 4, in, out, 2.0), q2 = part(rnd, 4, in, out, 2.0);
        double[] ws = {0.5, 0.5};
        Combined c = AdapterMath.combine(Type.LINEAR, List.of(q1, q2), ws, 0);
        double[] cross = exactDelta(List.of(q1, q2), ws);
        assertThat(relErr(delta(c), cross)).isGreaterThan(0.1);
        // …and equals (Σ√(w s) B_i)(Σ√(w s) A_i)
        double[] expected = new double[out * in];
        for (int o = 0; o < out; o++)
            for (int j = 0; j < 4; j++) {
                double bj = q1.B()[o * 4 + j] + q2.B()[o * 4 + j];
                for (int i = 0; i < in; i++) expected[o * in + i] += bj * (q1.A()[j * in + i] + q2.A()[j * in + i]);
            }
        assertThat(relErr(delta(c), expected)).isLessThan(1e-5);
    }

    @Test
    void svdOfTwoIdenticalAdaptersIsRankDeficientButExact() {
        List<Part> same = List.of(p1, p1);
        double[] ws = {0.5, 0.25};
        Combined s = AdapterMath.combine(Type.SVD, same, ws, 6);
        assertThat(s.r()).isEqualTo(6);
        assertThat(relErr(delta(s), exactDelta(same, ws))).isLessThan(1e-5);
        for (float v : s.A()) assertThat(Float.isFinite(v)).isTrue();
    }

    @Test
    void clampUsesTorchQuantile() {
        assertThat(AdapterMath.quantile(new double[] {4, 1, 3, 2}, 0.5)).isEqualTo(2.5);
        assertThat(AdapterMath.quantile(new double[] {4, 1, 3, 2}, 0.0)).isEqualTo(1.0);
        assertThat(AdapterMath.quantile(new double[] {4, 1, 3, 2}, 1.0)).isEqualTo(4.0);
        assertThat(AdapterMath.quantile(new double[] {0, 10}, 0.3)).isCloseTo(3.0, within(1e-12));
        Combined plain = AdapterMath.combine(Type.SVD, two, w, 4);
        Combined clamped = AdapterMath.combine(Type.SVD, two, w, 4, 0.9);
        double[] dist = new double[plain.A().length + plain.B().length];
        int n = 0;
        for (float v : plain.B()) dist[n++] = v;
        for (float v : plain.A()) dist[n++] = v;
        double hi = AdapterMath.quantile(dist, 0.9);
        for (int i = 0; i < plain.A().length; i++) assertThat((double) clamped.A()[i]).isCloseTo(Math.min(Math.max(plain.A()[i], -hi), hi), within(1e-5));
        for (int i = 0; i < plain.B().length; i++) assertThat((double) clamped.B()[i]).isCloseTo(Math.min(Math.max(plain.B()[i], -hi), hi), within(1e-5));
        assertThat(clamped.B()).isNotEqualTo(plain.B()); // the top 10 % of the pooled values were cut
    }

    @Test
    void newRankAndEffectiveTypeFollowPeft() {
        assertThat(AdapterMath.effectiveType(Type.SVD, 1)).isEqualTo(Type.LINEAR);
        assertThat(AdapterMath.effectiveType(Type.CAT, 1)).isEqualTo(Type.LINEAR);
        assertThat(AdapterMath.effectiveType(Type.CAT, 2)).isEqualTo(Type.CAT);
        assertThat(AdapterMath.newRank(Type.LINEAR, new int[] {8, 8}, 0)).isEqualTo(8);
        assertThat(AdapterMath.newRank(Type.CAT, new int[] {8, 4}, 0)).isEqualTo(12);
        assertThat(AdapterMath.newRank(Type.SVD, new int[] {8, 4}, 0)).isEqualTo(8);
        assertThat(AdapterMath.newRank(Type.SVD, new int[] {8, 4}, 16)).isEqualTo(16);
        assertThatThrownBy(() -> AdapterMath.newRank(Type.LINEAR, new int[] {8, 4}, 0)).isInstanceOf(Peft4jException.class).hasMessageContaining("cat");
    }

    @Test
    void padRankAppendsZeroRowsAndColumns() {
        Combined c = AdapterMath.combine(Type.CAT, two, w, 0);
        Combined p = c.padRank(11);
        assertThat(p.r()).isEqualTo(11);
        assertThat(p.A()).hasSize(11 * in);
        assertThat(p.B()).hasSize(out * 11);
        assertThat(p.delta()).containsExactly(c.delta());
        for (int o = 0; o < out; o++) for (int j = 8; j < 11; j++) assertThat(p.B()[o * 11 + j]).isZero();
        assertThatThrownBy(() -> c.padRank(7)).isInstanceOf(Peft4jException.class);
    }

    @Test
    void errors() {
        Part other = part(rnd, 3, in + 1, out, 1.0);
        assertThatThrownBy(() -> AdapterMath.combine(Type.CAT, List.of(p1, other), new double[] {1, 1}, 0))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("same in/out");
        assertThatThrownBy(() -> AdapterMath.combine(Type.LINEAR, two, w, 0))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("same r").hasMessageContaining("cat").hasMessageContaining("svd");
        assertThatThrownBy(() -> AdapterMath.combine(Type.SVD, two, new double[] {1}, 0))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("1 weights for 2 adapters");
        assertThatThrownBy(() -> AdapterMath.weightedDelta(two, new double[] {1, 2, 3}))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("3 weights");
        assertThatThrownBy(() -> AdapterMath.combine(Type.SVD, two, w, in + 1))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("min(in, out) = " + in);
        Part tiny = part(rnd, 4, 3, 5, 1.0); // max r = 4 > min(in, out) = 3 when svd rank is defaulted
        assertThatThrownBy(() -> AdapterMath.combine(Type.SVD, List.of(tiny, tiny), new double[] {1, 1}, 0))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("max adapter rank");
        assertThatThrownBy(() -> AdapterMath.combine(Type.SVD, two, w, 4, 1.5))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("[0, 1]");
        assertThatThrownBy(() -> AdapterMath.combine(Type.CAT, List.of(), new double[0], 0))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("at least one");
        Part broken = new Part(new float[5], new float[out * 3], 3, in, out, 1.0);
        assertThatThrownBy(() -> AdapterMath.combine(Type.CAT, List.of(broken), new double[] {1}, 0))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("A has 5 values");
        assertThatThrownBy(() -> AdapterMath.combine(Type.CAT, two, new double[] {1, Double.NaN}, 0))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("weight is NaN");
    }
}
