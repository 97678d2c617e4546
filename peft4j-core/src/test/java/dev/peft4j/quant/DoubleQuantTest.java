/*
 * Double quantisation of the NF4 absmax (bnb compress_statistics=True): the 8-bit dynamic map,
 * the blockwise 8-bit quantiser's nearest-code search, and the absmax round trip.
 */
package dev.peft4j.quant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;

class DoubleQuantTest {
    @Test
    void dynamicMapIsBnbsSignedMap() {
        float[] m = Blockwise8.dynamicMap();
        assertThat(m).hasSize(256);
        for (int i = 1; i < 256; i++) assertThat(m[i]).isGreaterThan(m[i - 1]);
        assertThat(m[0]).isEqualTo(-0.992968738079071f);
        assertThat(m[127]).isEqualTo(0f);
        assertThat(m[255]).isEqualTo(1f);
        assertThat(m[128]).isEqualTo(5.500000384017767e-07f);         // 1e-6 * mean(0.1, 1)
        for (int i = 0; i < 127; i++) assertThat(m[i]).isEqualTo(-m[254 - i]);   // symmetric but for +1.0
        // entries where torch builds disagree; these are torch 2.x on x86-64 (fused linspace),
        // as in a published dump of bnb's map
        assertThat(Float.floatToIntBits(m[20])).isEqualTo(0xbf363334);        // -0.7117187976837158
        assertThat(Float.floatToIntBits(m[25])).isEqualTo(0xbf243334);        // -0.6414062976837158
        assertThat(Float.floatToIntBits(m[34])).isEqualTo(0xbf03cccc);        // -0.5148437023162842
        assertThat(Float.floatToIntBits(m[36])).isEqualTo(0xbef93332);        // -0.48671871423721313
        assertThat(Float.floatToIntBits(m[65])).isEqualTo(0xbdc428f7);        // -0.09578125923871994
    }

    @Test
    void linspaceIsTorchs() {
        assertThat(Blockwise8.linspace(0.1f, 1f, 2)).containsExactly(0.1f, 1f);
        float[] l = Blockwise8.linspace(0.1f, 1f, 65);
        assertThat(l[0]).isEqualTo(0.1f);
        assertThat(l[64]).isEqualTo(1f);
        assertThat(l[32]).isEqualTo(Math.fma(-0.0140625f, 32f, 1f));        // second half counts down from the end
    }

    @Test
    void eightBitSearchIsNearestMapValue() {
        float[] m = Blockwise8.dynamicMap();
        for (int k = 0; k < 256; k++) assertThat(Blockwise8.quantizeValue(m, m[k])).isEqualTo(k);
        Random r = new Random(5);
        for (int it = 0; it < 100_000; it++) {
            float x = (float) (r.nextDouble() * 2 - 1) * (r.nextBoolean() ? 1f : (float) Math.pow(10, -r.nextInt(6)));
            int best = 0;
            for (int k = 1; k < 256; k++) if (Math.abs(x - (double) m[k]) < Math.abs(x - (double) m[best])) best = k;
            int q = Blockwise8.quantizeValue(m, x);
            if (q != best) assertThat(Math.abs(Math.abs(x - (double) m[q]) - Math.abs(x - (double) m[best]))).isLessThan(1e-7);
        }
        assertThat(Blockwise8.quantizeValue(m, -1f)).isZero();               // below the map: its first value
        assertThat(Blockwise8.quantizeValue(m, 1f)).isEqualTo(255);
    }

    @Test
    void absmaxRoundTripsClosely() {
        Random r = new Random(6);
        float[] absmax = new float[1000];                   // 3 full nested blocks of 256 and a short one
        for (int i = 0; i < absmax.length; i++) absmax[i] = 0.02f + 0.01f * (float) Math.abs(r.nextGaussian());
        DoubleQuant dq = DoubleQuant.of(absmax);
        assertThat(dq.codes()).hasSize(1000);
        assertThat(dq.nestedAbsmax()).hasSize(4);
        assertThat(dq.blocksize()).isEqualTo(256);
        double mean = 0;
        for (float a : absmax) mean += a;
        assertThat((double) dq.offset()).isCloseTo(mean / absmax.length, within(1e-9));
        float[] back = dq.dequantize();
        for (int i = 0; i < absmax.length; i++) {
            float nested = dq.nestedAbsmax()[i / 256];
            // the dynamic map's steps are at most 1/64 of the range near ±1: error <= nested / 128
            assertThat((double) back[i]).as("block %d", i).isCloseTo(absmax[i], within(nested / 128.0 + 1e-9));
            assertThat(back[i]).isEqualTo(dq.absmax(i));
        }
        // the centred absmax values of a nested block span [-nested, nested]
        for (int b = 0; b < 4; b++) {
            float mx = 0;
            for (int i = b * 256; i < Math.min(1000, b * 256 + 256); i++) mx = Math.max(mx, Math.abs(absmax[i] - dq.offset()));
            assertThat(dq.nestedAbsmax()[b]).isEqualTo(mx);
        }
    }

    @Test
    void dequantizeIsMapTimesNestedPlusOffsetInF32() {
        float[] m = Blockwise8.dynamicMap();
        DoubleQuant dq = new DoubleQuant(new byte[] {(byte) 200, 3}, new float[] {0.37f}, 0.011f, m, 256);
        assertThat(dq.dequantize()).containsExactly(m[200] * 0.37f + 0.011f, m[3] * 0.37f + 0.011f);
    }
}
