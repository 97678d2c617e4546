package dev.peft4j.eval;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

class CiTest {
    @Test
    void wilsonMatchesKnownValues() {
        Ci.Estimate e = Ci.wilson(8, 10, 1.96);
        assertEquals(0.8, e.value(), 1e-12);
        assertEquals(0.4902, e.lo(), 1e-4);
        assertEquals(0.9433, e.hi(), 1e-4);
        assertEquals(10, e.n());
        // 0/10: lower bound 0, upper z²/(n+z²) = 3.8416/13.8416
        Ci.Estimate zero = Ci.wilson(0, 10, 1.96);
        assertEquals(0, zero.lo(), 1e-12);
        assertEquals(3.8416 / 13.8416, zero.hi(), 1e-9);
        Ci.Estimate all = Ci.wilson(10, 10, 1.96);
        assertEquals(1, all.hi(), 1e-12);
        assertEquals(10 / 13.8416, all.lo(), 1e-9);
        // 50/100 at z95: 0.5 ± ... = [0.4038, 0.5962]
        Ci.Estimate half = Ci.wilson(50, 100);
        assertEquals(0.4038, half.lo(), 1e-4);
        assertEquals(0.5962, half.hi(), 1e-4);
        assertEquals(new Ci.Estimate(0, 0, 1, 0), Ci.wilson(0, 0));
        assertThrows(IllegalArgumentException.class, () -> Ci.wilson(3, 2));
    }

    @Test
    void bootstrapIsDeterministicAndBracketsTheMean() {
        double[] v = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        Ci.Estimate a = Ci.bootstrap(v, null, 2000, 7);
        Ci.Estimate b = Ci.bootstrap(v, null, 2000, 7);
        assertEquals(a, b);
        assertEquals(5.5, a.value(), 1e-12);
        assertTrue(a.lo() < 5.5 && 5.5 < a.hi(), a.toString());
        assertTrue(a.lo() > 3 && a.hi() < 8, a.toString());
        assertNotEquals(a, Ci.bootstrap(v, null, 2000, 8));
        // weighted mean: (1*1 + 3*3) / 4
        Ci.Estimate w = Ci.bootstrap(new double[] {1, 3}, new double[] {1, 3}, 500, 1);
        assertEquals(2.5, w.value(), 1e-12);
        assertTrue(w.lo() >= 1 && w.hi() <= 3);
        // constant values: degenerate interval
        Ci.Estimate c = Ci.bootstrap(new double[] {2, 2, 2}, null, 100, 3);
        assertEquals(2, c.lo(), 0);
        assertEquals(2, c.hi(), 0);
    }

    @Test
    void percentileInterpolatesLikeNumpy() {
        double[] s = {1, 2, 3, 4};
        assertEquals(1.075, Ci.percentile(s, 2.5), 1e-12);
        assertEquals(3.925, Ci.percentile(s, 97.5), 1e-12);
    }
}
