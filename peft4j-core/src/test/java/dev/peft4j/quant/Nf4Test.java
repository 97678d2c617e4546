/*
 * NF4 quantisation (bnb quantize_4bit / dequantize_4bit rules): the code book, the comparison
 * tree, packing, block layout and the round-trip error bound. Bit-exact agreement with bnb is in
 * Nf4GoldenTest (fixtures).
 */
package dev.peft4j.quant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Random;
import org.junit.jupiter.api.Test;

class Nf4Test {
    static float[] gaussian(Random r, int n, float scale) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian() * scale;
        return x;
    }

    @Test
    void codeBookIsBnbsNf4() {
        float[] c = Nf4.code();
        assertThat(c).containsExactly(
                -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
                -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
                0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
                0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f);
        assertThat(Float.floatToRawIntBits(c[7])).isZero();                  // +0.0, not -0.0
        for (int i = 1; i < 16; i++) assertThat(c[i]).isGreaterThan(c[i - 1]);
        c[0] = 42f;
        assertThat(Nf4.value(0)).isEqualTo(-1.0f);                            // code() is a copy
    }

    @Test
    void treeMapsEveryCodeToItselfAndSplitsAtTheMidpoints() {
        float[] c = Nf4.code();
        for (int k = 0; k < 16; k++) assertThat(Nf4.quantizeValue(c[k])).isEqualTo(k);
        // bnb's thresholds are the midpoints of neighbouring codes; x == threshold goes down
        float[] t = Nf4.thresholds();
        for (int k = 0; k < 15; k++) {
            assertThat((double) t[k]).isCloseTo((c[k] + (double) c[k + 1]) / 2, org.assertj.core.api.Assertions.within(1e-7));
            assertThat(Nf4.quantizeValue(t[k])).as("at threshold %d", k).isEqualTo(k);
            assertThat(Nf4.quantizeValue(Math.nextUp(t[k]))).as("above threshold %d", k).isEqualTo(k + 1);
        }
        assertThat(Nf4.quantizeValue(Float.NaN)).isZero();                    // 0 * inf of an all-zero block
        assertThat(Nf4.quantizeValue(1.5f)).isEqualTo(15);
        assertThat(Nf4.quantizeValue(-1.5f)).isEqualTo(0);
    }

    @Test
    void thresholdsAreTheLiteralsCorrectlyRounded() {
        String[] literals = {"-0.8480964004993439", "-0.6106329262256622", "-0.4599952697753906", "-0.33967943489551544",
                "-0.23460740596055984", "-0.13791173323988914", "-0.045525018125772476", "0.03979014977812767",
                "0.1202552504837513", "0.2035212516784668", "0.2920137718319893", "0.3893125355243683",
                "0.5016634166240692", "0.6427869200706482", "0.8614784181118011"};
        float[] t = Nf4.thresholds();
        int viaDoubleDiffers = 0;
        for (int k = 0; k < 15; k++) {
            java.math.BigDecimal lit = new java.math.BigDecimal(literals[k]);
            java.math.BigDecimal err = new java.math.BigDecimal(t[k]).subtract(lit).abs();
            // no float is nearer the decimal than the threshold (what a C or CUDA compiler makes of `...f`)
            assertThat(new java.math.BigDecimal(Math.nextUp(t[k])).subtract(lit).abs()).isGreaterThan(err);
            assertThat(new java.math.BigDecimal(Math.nextDown(t[k])).subtract(lit).abs()).isGreaterThan(err);
            if ((float) Double.parseDouble(literals[k]) != t[k]) viaDoubleDiffers++;
        }
        assertThat(viaDoubleDiffers).isEqualTo(4);     // (float)(double) rounds twice: thresholds 0, 8, 12, 14
    }

    @Test
    void treeIsNearestCodeAwayFromTies() {
        Random r = new Random(1);
        float[] c = Nf4.code();
        for (int it = 0; it < 200_000; it++) {
            float x = r.nextFloat() * 2.2f - 1.1f;
            int best = 0;
            for (int k = 1; k < 16; k++) if (Math.abs(x - (double) c[k]) < Math.abs(x - (double) c[best])) best = k;
            int q = Nf4.quantizeValue(x);
            if (q != best) {     // only within an ulp or two of a midpoint (f32 thresholds)
                assertThat(Math.abs(Math.abs(x - (double) c[q]) - Math.abs(x - (double) c[best]))).isLessThan(1e-7);
            }
        }
    }

    @Test
    void packsFirstElementInTheHighNibbleWithOneAbsmaxPerBlock() {
        // one block of 64: values chosen to hit known codes after scaling by absmax 2
        float[] x = new float[64];
        x[0] = -2f;                 // -1.0 -> 0
        x[1] = 2f;                  // +1.0 -> 15
        x[2] = 0f;                  // 0 -> 7
        x[3] = 2 * 0.44070982933044434f;    // -> 12
        Nf4.Quantized q = Nf4.quantize(x, 64);
        assertThat(q.absmax()).containsExactly(2f);
        assertThat(q.packed()).hasSize(32);
        assertThat(q.packed()[0]).isEqualTo((byte) 0x0F);
        assertThat(q.packed()[1]).isEqualTo((byte) 0x7C);
        for (int i = 2; i < 32; i++) assertThat(q.packed()[i]).isEqualTo((byte) 0x77);
        assertThat(Nf4.nibble(q.packed(), 1)).isEqualTo(15);
        float[] d = Nf4.dequantize(q);
        assertThat(d[0]).isEqualTo(-2f);
        assertThat(d[1]).isEqualTo(2f);
        assertThat(d[3]).isEqualTo(0.44070982933044434f * 2f);
    }

    @Test
    void shortLastBlockAndOddLength() {
        Random r = new Random(2);
        float[] x = gaussian(r, 64 * 3 + 37, 0.02f);          // odd n, short last block
        Nf4.Quantized q = Nf4.quantize(x, 64);
        assertThat(q.absmax()).hasSize(4);
        assertThat(q.packed()).hasSize((x.length + 1) / 2);
        float m = 0;
        for (int i = 192; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
        assertThat(q.absmax()[3]).isEqualTo(m);                 // its own absmax, over the values it has
        assertThat(q.packed()[q.packed().length - 1] & 0xF).isEqualTo(7);   // the padding 0 -> code 7
        assertThat(Nf4.dequantize(q)).hasSize(x.length);
    }

    @Test
    void allZeroBlockIsCodeZeroAndDecodesToZero() {
        float[] x = new float[128];
        x[64] = 1f;
        Nf4.Quantized q = Nf4.quantize(x, 64);
        assertThat(q.absmax()).containsExactly(0f, 1f);
        for (int i = 0; i < 32; i++) assertThat(q.packed()[i]).isZero();     // NaN -> code 0 (bnb's tree)
        float[] d = Nf4.dequantize(q);
        for (int i = 0; i < 64; i++) assertThat(d[i]).isEqualTo(-0.0f);      // -1.0 * 0
    }

    @Test
    void roundTripErrorIsWithinHalfTheLocalCodeGap() {
        Random r = new Random(3);
        float[] c = Nf4.code();
        for (int bs : new int[] {32, 64, 128, 256, 4096}) {
            float[] x = gaussian(r, 5000, 0.05f);
            Nf4.Quantized q = Nf4.quantize(x, bs);
            float[] d = Nf4.dequantize(q);
            double se = 0, sx = 0;
            for (int i = 0; i < x.length; i++) {
                float a = q.absmax()[i / bs];
                int k = Nf4.nibble(q.packed(), i);
                // x/a lies within the cell of code k: half the gap to the farther neighbour bounds the error
                double gap = Math.max(k > 0 ? c[k] - c[k - 1] : 0, k < 15 ? c[k + 1] - c[k] : 0) / 2;
                assertThat(Math.abs(d[i] - x[i])).as("bs %d i %d", bs, i).isLessThanOrEqualTo((float) (gap * a * 1.0001 + 1e-12));
                se += (d[i] - x[i]) * (double) (d[i] - x[i]);
                sx += x[i] * (double) x[i];
            }
            // NF4 on Gaussian blocks: relative RMS error ~ 0.1 (grows with the block size)
            assertThat(Math.sqrt(se / sx)).as("bs %d", bs).isLessThan(bs <= 64 ? 0.11 : 0.14);
        }
    }

    @Test
    void blocksizeMustBeAPowerOfTwoIn32To4096() {
        float[] x = new float[100];
        for (int bs : new int[] {32, 64, 128, 256, 512, 1024, 2048, 4096}) assertThat(Nf4.quantize(x, bs).blocksize()).isEqualTo(bs);
        for (int bs : new int[] {0, 16, 48, 96, 8192})
            assertThatThrownBy(() -> Nf4.quantize(x, bs)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("power of two");
    }
}
