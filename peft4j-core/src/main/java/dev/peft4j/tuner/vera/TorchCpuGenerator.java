/*
 * TorchCpuGenerator: the random numbers of PyTorch's default CPU generator, so VeRA's projections
 * equal PEFT's. PEFT 0.14 makes vera_A / vera_B with torch.Generator(device="cpu").manual_seed(
 * projection_prng_key) and Tensor.uniform_(-bound, bound, generator=...); and on loading it does NOT
 * read the saved base_model.vera_A / vera_B back (the saved keys lack the adapter name its buffers
 * carry, and load_state_dict(strict=False) skips them): it always regenerates them. An adapter peft4j
 * writes therefore only works in PEFT if peft4j's projections are torch's.
 *
 * torch's CPU generator is a 32-bit Mersenne Twister (MT19937, Matsumoto & Nishimura 1998) seeded
 * with the low 32 bits of the seed by the reference initialisation; uniform_ on a float32 tensor
 * draws one 32-bit output per element, in memory order, and maps it as
 *   x = (u & (2²⁴ - 1)) · 2⁻²⁴;  value = x · (to - from) + from      (float arithmetic, to/from as floats)
 * (ATen's uniform_real_distribution<float>), the last step a fused multiply-add as torch's x86 build
 * (AVX2 kernels, compiled with FMA) computes it; a torch build without FMA differs by at most one
 * ulp. Checked bit for bit against torch by scripts/golden/make_vera_projection_goldens.py.
 */
package dev.peft4j.tuner.vera;

public final class TorchCpuGenerator {
    private static final int N = 624, M = 397;
    private static final int MATRIX_A = 0x9908b0df, UPPER = 0x80000000, LOWER = 0x7fffffff;
    private final int[] mt = new int[N];
    private int index;

    /** torch.Generator(device="cpu").manual_seed(seed). */
    public TorchCpuGenerator(long seed) {
        mt[0] = (int) seed;                                  // the low 32 bits
        for (int i = 1; i < N; i++) mt[i] = 1812433253 * (mt[i - 1] ^ (mt[i - 1] >>> 30)) + i;
        index = N;
    }

    /** The next 32-bit output (torch's generator->random()), as an unsigned value in a long. */
    public long nextUInt32() {
        if (index >= N) twist();
        int y = mt[index++];
        y ^= y >>> 11;
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= y >>> 18;
        return y & 0xffffffffL;
    }

    private void twist() {
        for (int i = 0; i < N; i++) {
            int y = (mt[i] & UPPER) | (mt[(i + 1) % N] & LOWER);
            int v = mt[(i + M) % N] ^ (y >>> 1);
            if ((y & 1) != 0) v ^= MATRIX_A;
            mt[i] = v;
        }
        index = 0;
    }

    /** Fills x in order as torch's float32 Tensor.uniform_(from, to, generator) does. */
    public void uniform(float[] x, double from, double to) {
        float f = (float) from, t = (float) to, range = t - f;
        for (int i = 0; i < x.length; i++) {
            float u = (float) (nextUInt32() & 0xffffffL) * 0x1p-24f;
            x[i] = Math.fma(u, range, f);
        }
    }
}
