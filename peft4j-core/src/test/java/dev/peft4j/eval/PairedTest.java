package dev.peft4j.eval;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.data.Offset.offset;

import dev.peft4j.Peft4jException;
import org.junit.jupiter.api.Test;

/**
 * McNemar and the paired bootstrap against hand-computed values. The p-values come from
 * scripts/golden/mcnemar.py (stdlib math.comb / math.erfc), output in scripts/golden/mcnemar.out.
 */
class PairedTest {
    /** n items; the first `both` right for both versions, then onlyA items only A gets right, then onlyB only B. */
    static boolean[][] planted(int n, int both, int onlyA, int onlyB) {
        boolean[] a = new boolean[n], b = new boolean[n];
        for (int i = 0; i < both; i++) a[i] = b[i] = true;
        for (int i = both; i < both + onlyA; i++) a[i] = true;
        for (int i = both + onlyA; i < both + onlyA + onlyB; i++) b[i] = true;
        return new boolean[][] {a, b};
    }

    @Test
    void mcNemarExactOnAPlantedSignificantPair() {
        // 200 items, 100 right for both, 3 only A, 20 only B: 23 discordant < 25 -> exact binomial.
        // By hand: p = 2 * (C(23,0)+C(23,1)+C(23,2)+C(23,3)) / 2^23 = 2 * (1+23+253+1771) / 8388608 = 2*2048/8388608 = 0.00048828125
        boolean[][] x = planted(200, 100, 3, 20);
        Paired.Test t = Paired.mcNemar(x[0], x[1]);
        assertThat(t.method()).isEqualTo("mcnemar-exact");
        assertThat(t.onlyA()).isEqualTo(3);
        assertThat(t.onlyB()).isEqualTo(20);
        assertThat(t.n()).isEqualTo(200);
        assertThat(t.p()).isCloseTo(0.00048828125, offset(1e-15));
        assertThat(t.diff()).isCloseTo((20 - 3) / 200.0, offset(1e-12));   // accB - accA = 120/200 - 103/200
        assertThat(t.lo()).isGreaterThan(0);
        assertThat(t.significant()).isTrue();
    }

    @Test
    void mcNemarExactOnAPairThatDoesNotDiffer() {
        // 8 vs 12 discordant: p = 2 * sum_{i<=8} C(20,i) / 2^20 = 2 * 263950 / 1048576 = 0.503444671631 (mcnemar.out)
        boolean[][] x = planted(200, 100, 8, 12);
        Paired.Test t = Paired.mcNemar(x[0], x[1]);
        assertThat(t.method()).isEqualTo("mcnemar-exact");
        assertThat(t.p()).isCloseTo(0.503444671631, offset(1e-12));
        assertThat(t.significant()).isFalse();
        assertThat(t.lo()).isLessThan(0);
        assertThat(t.hi()).isGreaterThan(0);
    }

    @Test
    void mcNemarChiSquareWithContinuityCorrection() {
        // 10 vs 30 discordant (40 >= 25): chi2 = (|10-30|-1)^2/40 = 361/40 = 9.025; p = erfc(sqrt(9.025/2)) = 0.00266311925914
        Paired.Test sig = Paired.mcNemar(planted(300, 100, 10, 30)[0], planted(300, 100, 10, 30)[1]);
        assertThat(sig.method()).isEqualTo("mcnemar-chi2-cc");
        assertThat(sig.p()).isCloseTo(0.00266311925914, offset(1e-13));
        assertThat(sig.significant()).isTrue();
        // 20 vs 26: chi2 = 25/46 = 0.54347826087; p = 0.460994786426
        boolean[][] x = planted(300, 100, 20, 26);
        Paired.Test not = Paired.mcNemar(x[0], x[1]);
        assertThat(not.method()).isEqualTo("mcnemar-chi2-cc");
        assertThat(not.p()).isCloseTo(0.460994786426, offset(1e-12));
        assertThat(not.significant()).isFalse();
    }

    @Test
    void identicalVersionsHaveP1() {
        boolean[][] x = planted(50, 30, 0, 0);
        Paired.Test t = Paired.mcNemar(x[0], x[1]);
        assertThat(t.p()).isEqualTo(1.0);
        assertThat(t.diff()).isZero();
        assertThat(t.significant()).isFalse();
    }

    @Test
    void erfcMatchesPython() {
        // math.erfc values from scripts/golden/mcnemar.out (series below 3, continued fraction from 3)
        assertThat(Paired.erfc(0.1)).isCloseTo(0.88753708398171516, offset(1e-14));
        assertThat(Paired.erfc(1.0)).isCloseTo(0.15729920705028513, offset(1e-14));
        assertThat(Paired.erfc(2.5) / 0.00040695201744495892).isCloseTo(1, offset(1e-9));
        assertThat(Paired.erfc(3.0) / 2.2090496998585438e-05).isCloseTo(1, offset(1e-9));
        assertThat(Paired.erfc(4.2) / 2.8554941795921843e-09).isCloseTo(1, offset(1e-9));
        assertThat(Paired.erfc(6.0) / 2.1519736712498916e-17).isCloseTo(1, offset(1e-9));
        assertThat(Paired.erfc(-1.0)).isCloseTo(2 - 0.15729920705028513, offset(1e-14));
    }

    @Test
    void pairedBootstrapOfAConstantShiftIsExact() {
        // every document's loss drops by exactly 0.25 nats: the difference is -0.25 in every resample,
        // so the interval is [-0.25, -0.25] and no resample reaches 0 (p = 0), whatever the noise across documents
        double[] a = new double[100], b = new double[100], w = new double[100];
        for (int i = 0; i < 100; i++) {
            a[i] = 2 + Math.sin(i);
            b[i] = a[i] - 0.25;
            w[i] = 1 + i % 7;
        }
        Paired.Test t = Paired.bootstrap(a, b, w);
        assertThat(t.method()).isEqualTo("paired-bootstrap");
        assertThat(t.diff()).isCloseTo(-0.25, offset(1e-12));
        assertThat(t.lo()).isCloseTo(-0.25, offset(1e-12));
        assertThat(t.hi()).isCloseTo(-0.25, offset(1e-12));
        assertThat(t.p()).isZero();
        assertThat(t.significant()).isTrue();
    }

    @Test
    void pairedBootstrapAgreesWithTheHandComputedNormalInterval() {
        // d_i = b_i - a_i alternates +0.5 / -0.3 over 400 documents (weights 1):
        // mean = (0.5 - 0.3)/2 = 0.1; sd = 0.4 (each d is 0.4 from the mean); se = 0.4/sqrt(400) = 0.02;
        // normal 95% interval 0.1 ± 1.96·0.02 = [0.0608, 0.1392]: significant. The percentile bootstrap must be close.
        double[] a = new double[400], b = new double[400];
        for (int i = 0; i < 400; i++) {
            a[i] = 3 + 0.01 * i;
            b[i] = a[i] + (i % 2 == 0 ? 0.5 : -0.3);
        }
        Paired.Test t = Paired.bootstrap(a, b, null);
        assertThat(t.diff()).isCloseTo(0.1, offset(1e-12));
        assertThat(t.lo()).isCloseTo(0.0608, offset(0.006));
        assertThat(t.hi()).isCloseTo(0.1392, offset(0.006));
        assertThat(t.significant()).isTrue();
        assertThat(t.p()).isLessThan(0.01);
        // a planted pair that does not differ: d alternates +0.5 / -0.5, mean 0, se 0.5/20 = 0.025 -> [-0.049, 0.049]
        for (int i = 0; i < 400; i++) b[i] = a[i] + (i % 2 == 0 ? 0.5 : -0.5);
        Paired.Test n = Paired.bootstrap(a, b, null);
        assertThat(n.diff()).isCloseTo(0, offset(1e-12));
        assertThat(n.lo()).isCloseTo(-0.049, offset(0.006));
        assertThat(n.hi()).isCloseTo(0.049, offset(0.006));
        assertThat(n.significant()).isFalse();
        assertThat(n.p()).isGreaterThan(0.5);
        // deterministic: same seed, same interval
        assertThat(Paired.bootstrap(a, b, null)).isEqualTo(n);
    }

    @Test
    void unpairedInputIsRejected() {
        assertThatThrownBy(() -> Paired.mcNemar(new boolean[3], new boolean[4])).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("same items").hasMessageContaining("3 and 4");
        assertThatThrownBy(() -> Paired.bootstrap(new double[2], new double[2], new double[3])).isInstanceOf(Peft4jException.class);
    }
}
