package dev.peft4j.kernels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Svd (one-sided Jacobi, and the QR-based low-rank product path) and Qr: reconstruction to 1e-10,
 * orthonormal U columns / Vt rows, descending S, the deterministic sign convention, rank-deficient
 * inputs, and a known U·diag(d)·Vᵀ construction.
 */
class SvdTest {
    static double[] random(SplittableRandom rnd, int len) {
        double[] a = new double[len];
        for (int i = 0; i < len; i++) a[i] = rnd.nextDouble() * 2 - 1;
        return a;
    }

    static double[] matmul(double[] x, int m, int k, double[] y, int n) {
        double[] out = new double[m * n];
        for (int i = 0; i < m; i++) for (int l = 0; l < k; l++) for (int j = 0; j < n; j++) out[i * n + j] += x[i * k + l] * y[l * n + j];
        return out;
    }

    static double maxAbs(double[] x) {
        double m = 0;
        for (double v : x) m = Math.max(m, Math.abs(v));
        return m;
    }

    static double maxDiff(double[] x, double[] y) {
        assertThat(x).hasSameSizeAs(y);
        double m = 0;
        for (int i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
        return m;
    }

    /** Columns of a (rows × cols, row-major) orthonormal to tol. */
    static void assertOrthonormalColumns(double[] a, int rows, int cols, double tol) {
        for (int p = 0; p < cols; p++) {
            for (int q = p; q < cols; q++) {
                double d = 0;
                for (int i = 0; i < rows; i++) d += a[i * cols + p] * a[i * cols + q];
                assertThat(d).as("column %d . column %d", p, q).isCloseTo(p == q ? 1.0 : 0.0, within(tol));
            }
        }
    }

    static double[] transpose(double[] a, int m, int n) {
        double[] t = new double[n * m];
        for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) t[j * m + i] = a[i * n + j];
        return t;
    }

    /** All the invariants of a thin SVD of a (m × n). */
    static void assertValidSvd(Svd.Result r, double[] a, int m, int n, double tol) {
        int k = Math.min(m, n);
        assertThat(r.k()).isEqualTo(k);
        assertThat(r.U()).hasSize(m * k);
        assertThat(r.S()).hasSize(k);
        assertThat(r.Vt()).hasSize(k * n);
        double scale = Math.max(1.0, maxAbs(a));
        assertThat(maxDiff(r.reconstruct(), a)).as("reconstruction").isLessThan(tol * scale);
        assertOrthonormalColumns(r.U(), m, k, tol);
        assertOrthonormalColumns(transpose(r.Vt(), k, n), n, k, tol);
        for (int c = 0; c < k; c++) {
            assertThat(r.S()[c]).isGreaterThanOrEqualTo(0.0);
            if (c > 0) assertThat(r.S()[c]).isLessThanOrEqualTo(r.S()[c - 1]);
            assertSignConvention(r.Vt(), c, n);
        }
    }

    /** The largest-magnitude entry of row c of Vt is positive (first index on ties). */
    static void assertSignConvention(double[] vt, int c, int n) {
        int arg = 0;
        for (int j = 1; j < n; j++) if (Math.abs(vt[c * n + j]) > Math.abs(vt[c * n + arg])) arg = j;
        assertThat(vt[c * n + arg]).as("sign of right singular vector %d", c).isPositive();
    }

    @Test
    void randomMatricesOfEveryShape() {
        SplittableRandom rnd = new SplittableRandom(1);
        int[][] shapes = {{7, 5}, {5, 7}, {6, 6}, {1, 4}, {4, 1}, {1, 1}, {40, 9}, {9, 40}, {17, 16}};
        for (int[] s : shapes) {
            double[] a = random(rnd, s[0] * s[1]);
            Svd.Result r = Svd.svd(a, s[0], s[1]);
            assertValidSvd(r, a, s[0], s[1], 1e-10);
        }
    }

    @Test
    void singularValuesAreThoseOfAKnownConstruction() {
        // a = Q1 · diag(d) · Q2ᵀ with Q1 (9 × 5), Q2 (6 × 5) orthonormal columns, d unsorted.
        SplittableRandom rnd = new SplittableRandom(2);
        Qr.Result q1 = Qr.thin(random(rnd, 9 * 5), 9, 5);
        Qr.Result q2 = Qr.thin(random(rnd, 6 * 5), 6, 5);
        double[] d = {0.5, 3.0, 1e-3, 7.25, 2.0};
        double[] left = q1.Q().clone();
        for (int i = 0; i < 9; i++) for (int c = 0; c < 5; c++) left[i * 5 + c] *= d[c];
        double[] a = matmul(left, 9, 5, transpose(q2.Q(), 6, 5), 6);
        Svd.Result r = Svd.svd(a, 9, 6);
        assertValidSvd(r, a, 9, 6, 1e-10);
        double[] sorted = d.clone();
        Arrays.sort(sorted);
        for (int c = 0; c < 5; c++) assertThat(r.S()[c]).isCloseTo(sorted[4 - c], within(1e-12));
        assertThat(r.S()[5]).isCloseTo(0.0, within(1e-12));
        // Each singular pair is ± the constructing column pair.
        int[] source = {3, 1, 4, 0, 2}; // index of d in descending order
        for (int c = 0; c < 5; c++) {
            double du = 0, dv = 0;
            for (int i = 0; i < 9; i++) du += r.U()[i * 6 + c] * q1.Q()[i * 5 + source[c]];
            for (int j = 0; j < 6; j++) dv += r.Vt()[c * 6 + j] * q2.Q()[j * 5 + source[c]];
            assertThat(Math.abs(du)).isCloseTo(1.0, within(1e-10));
            assertThat(du * dv).as("same sign on u and v").isCloseTo(1.0, within(1e-10));
        }
    }

    @Test
    void diagonalMatrixGivesSortedValuesAndUnitVectors() {
        double[] a = {2, 0, 0, 0, 0, -5, 0, 0, 0, 0, 1, 0}; // 3 × 4
        Svd.Result r = Svd.svd(a, 3, 4);
        assertValidSvd(r, a, 3, 4, 1e-12);
        assertThat(r.S()).containsExactly(new double[] {5, 2, 1}, within(1e-14));
        assertThat(Arrays.copyOfRange(r.Vt(), 0, 4)).containsExactly(new double[] {0, 1, 0, 0}, within(1e-14));
        assertThat(r.U()[1 * 3]).isCloseTo(-1.0, within(1e-14)); // u₀ = −e₁ since v₀ = +e₁ and a₁₁ = −5
    }

    @Test
    void rankDeficientMatrices() {
        SplittableRandom rnd = new SplittableRandom(3);
        // rank 2, 8 × 6
        double[] a = matmul(random(rnd, 8 * 2), 8, 2, random(rnd, 2 * 6), 6);
        Svd.Result r = Svd.svd(a, 8, 6);
        assertValidSvd(r, a, 8, 6, 1e-10);
        assertThat(r.S()[1]).isGreaterThan(1e-3);
        for (int c = 2; c < 6; c++) assertThat(r.S()[c]).isLessThan(1e-13);
        // wide, rank 1
        double[] w = matmul(random(rnd, 4), 4, 1, random(rnd, 9), 9);
        assertValidSvd(Svd.svd(w, 4, 9), w, 4, 9, 1e-10);
        // duplicated columns
        double[] dup = new double[5 * 4];
        double[] base = random(rnd, 5 * 2);
        for (int i = 0; i < 5; i++) {
            dup[i * 4] = dup[i * 4 + 2] = base[i * 2];
            dup[i * 4 + 1] = dup[i * 4 + 3] = base[i * 2 + 1];
        }
        Svd.Result rd = Svd.svd(dup, 5, 4);
        assertValidSvd(rd, dup, 5, 4, 1e-10);
        assertThat(rd.S()[2]).isLessThan(1e-13);
        // all zero
        double[] z = new double[6 * 3];
        Svd.Result rz = Svd.svd(z, 6, 3);
        assertValidSvd(rz, z, 6, 3, 1e-12);
        assertThat(rz.S()).containsOnly(0.0);
    }

    @Test
    void deterministic() {
        double[] a = random(new SplittableRandom(4), 12 * 7);
        Svd.Result x = Svd.svd(a, 12, 7), y = Svd.svd(a.clone(), 12, 7);
        assertThat(x.U()).containsExactly(y.U());
        assertThat(x.S()).containsExactly(y.S());
        assertThat(x.Vt()).containsExactly(y.Vt());
    }

    @Test
    void productMatchesDenseSvd() {
        SplittableRandom rnd = new SplittableRandom(5);
        int m = 30, r = 4, n = 25;
        double[] b = random(rnd, m * r), a = random(rnd, r * n);
        double[] dense = matmul(b, m, r, a, n);
        Svd.Result full = Svd.svd(dense, m, n);
        Svd.Result p = Svd.ofProduct(b, m, r, a, n, r);
        assertThat(p.k()).isEqualTo(r);
        assertThat(maxDiff(p.reconstruct(), dense)).isLessThan(1e-10 * maxAbs(dense));
        for (int c = 0; c < r; c++) assertThat(p.S()[c]).isCloseTo(full.S()[c], within(1e-10 * full.S()[0]));
        assertOrthonormalColumns(p.U(), m, r, 1e-10);
        assertOrthonormalColumns(transpose(p.Vt(), r, n), n, r, 1e-10);
        // the same sign convention as the dense path, so the factors agree too
        for (int c = 0; c < r; c++) {
            assertSignConvention(p.Vt(), c, n);
            for (int j = 0; j < n; j++) assertThat(p.Vt()[c * n + j]).isCloseTo(full.Vt()[c * n + j], within(1e-9));
        }
    }

    @Test
    void productBeyondItsRankIsCompletedOrthonormally() {
        SplittableRandom rnd = new SplittableRandom(6);
        int m = 12, r = 3, n = 10, k = 7;
        double[] b = random(rnd, m * r), a = random(rnd, r * n);
        Svd.Result p = Svd.ofProduct(b, m, r, a, n, k);
        double[] dense = matmul(b, m, r, a, n);
        assertThat(maxDiff(p.reconstruct(), dense)).isLessThan(1e-10 * maxAbs(dense));
        for (int c = r; c < k; c++) assertThat(p.S()[c]).isLessThan(1e-13);
        assertOrthonormalColumns(p.U(), m, k, 1e-10);
        assertOrthonormalColumns(transpose(p.Vt(), k, n), n, k, 1e-10);
    }

    @Test
    void productWithRankDimensionLargerThanTheMatrix() {
        SplittableRandom rnd = new SplittableRandom(7);
        int m = 5, r = 8, n = 6;
        double[] b = random(rnd, m * r), a = random(rnd, r * n);
        // R = 8 > min(m, n) = 5: the QR factors are square and the core is 5 × 6
        Svd.Result p = Svd.ofProduct(b, m, r, a, n, 5);
        double[] dense = matmul(b, m, r, a, n);
        assertValidSvd(p, dense, m, n, 1e-10);
        Svd.Result full = Svd.svd(dense, m, n);
        for (int c = 0; c < 5; c++) assertThat(p.S()[c]).isCloseTo(full.S()[c], within(1e-10 * full.S()[0]));
    }

    @Test
    void productOfIdenticalFactorsHasZeroSingularValues() {
        SplittableRandom rnd = new SplittableRandom(8);
        int m = 20, r0 = 3, n = 16;
        double[] b0 = random(rnd, m * r0), a0 = random(rnd, r0 * n);
        // [b0 | b0] · [a0; a0] = 2·b0·a0: rank 3 from an R = 6 factorisation
        double[] b = new double[m * 2 * r0], a = new double[2 * r0 * n];
        for (int i = 0; i < m; i++) for (int j = 0; j < r0; j++) b[i * 2 * r0 + j] = b[i * 2 * r0 + r0 + j] = b0[i * r0 + j];
        System.arraycopy(a0, 0, a, 0, r0 * n);
        System.arraycopy(a0, 0, a, r0 * n, r0 * n);
        Svd.Result p = Svd.ofProduct(b, m, 2 * r0, a, n, 6);
        double[] dense = matmul(b, m, 2 * r0, a, n);
        assertThat(maxDiff(p.reconstruct(), dense)).isLessThan(1e-10 * maxAbs(dense));
        for (int c = r0; c < 6; c++) assertThat(p.S()[c]).isLessThan(1e-12 * p.S()[0]);
        assertOrthonormalColumns(p.U(), m, 6, 1e-10);
        assertOrthonormalColumns(transpose(p.Vt(), 6, n), n, 6, 1e-10);
    }

    @Test
    void productAtModelScaleIsQuick() {
        SplittableRandom rnd = new SplittableRandom(9);
        int m = 2048, r = 16, n = 1024, k = 8;
        double[] b = random(rnd, m * r), a = random(rnd, r * n);
        long t0 = System.nanoTime();
        Svd.Result p = Svd.ofProduct(b, m, r, a, n, k);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertThat(ms).as("ms for a 2048x1024 rank-16 product").isLessThan(5000);
        assertOrthonormalColumns(p.U(), m, k, 1e-10);
        // spot-check one entry of the rank-16 reconstruction at full rank
        Svd.Result pf = Svd.ofProduct(b, m, r, a, n, r);
        double exact = 0;
        for (int l = 0; l < r; l++) exact += b[100 * r + l] * a[l * n + 200];
        double got = 0;
        for (int c = 0; c < r; c++) got += pf.U()[100 * r + c] * pf.S()[c] * pf.Vt()[c * n + 200];
        assertThat(got).isCloseTo(exact, within(1e-10));
    }

    @Test
    void qrFactorsRandomAndRankDeficientMatrices() {
        SplittableRandom rnd = new SplittableRandom(10);
        int[][] shapes = {{9, 4}, {4, 9}, {5, 5}};
        for (int[] s : shapes) {
            int m = s[0], n = s[1], p = Math.min(m, n);
            double[] a = random(rnd, m * n);
            if (s[0] == 9) for (int i = 0; i < m; i++) a[i * n + 2] = a[i * n + 1] * 3; // a dependent column
            Qr.Result q = Qr.thin(a, m, n);
            assertThat(q.p()).isEqualTo(p);
            assertOrthonormalColumns(q.Q(), m, p, 1e-12);
            for (int i = 0; i < p; i++) for (int j = 0; j < Math.min(i, n); j++) assertThat(q.R()[i * n + j]).isZero();
            assertThat(maxDiff(matmul(q.Q(), m, p, q.R(), n), a)).isLessThan(1e-12);
        }
        double[] z = new double[6 * 2];
        Qr.Result qz = Qr.thin(z, 6, 2);
        assertOrthonormalColumns(qz.Q(), 6, 2, 1e-15);
        assertThat(qz.R()).containsOnly(0.0);
    }

    @Test
    void badInput() {
        assertThatThrownBy(() -> Svd.svd(new double[5], 2, 3)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("2x3");
        assertThatThrownBy(() -> Svd.svd(new double[] {1, Double.NaN}, 1, 2)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("non-finite");
        assertThatThrownBy(() -> Svd.ofProduct(new double[6], 3, 2, new double[8], 4, 4)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("k=4");
    }
}
