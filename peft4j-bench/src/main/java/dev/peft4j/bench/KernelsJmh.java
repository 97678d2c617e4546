/*
 * JMH microbenchmarks of the compute kernels: the three GEMM products at the transformer shapes
 * the issues name, and the main non-GEMM kernels at GPT-2-124M sizes, each next to its scalar twin
 * where that is fast enough to be worth timing.
 * Run: bin/bench jmh [JMH options, e.g. -f 1 -wi 3 -i 5 KernelsJmh.gemm]
 */
package dev.peft4j.bench;

import dev.peft4j.kernels.Gemm;
import dev.peft4j.kernels.Kernels;
import dev.peft4j.kernels.KernelsScalar;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class KernelsJmh {
    /** M x N x K of the GEMM benchmarks. */
    @Param({"1024x1024x1024", "512x768x3072", "1024x2304x768"})
    public String shape;

    int M, N, K;
    float[] a, b, c;
    // GPT-2-124M activation sizes: B*T = 1024 rows of C = 768, 12 heads of 64
    static final int ROWS = 1024, C = 768, NH = 12, HS = 64, T = 256, B = 4;
    float[] x, w, bias, out, q, kc, vc, att, big;

    @Setup
    public void setup() {
        String[] p = shape.split("x");
        M = Integer.parseInt(p[0]); N = Integer.parseInt(p[1]); K = Integer.parseInt(p[2]);
        Random r = new Random(0);
        a = fill(r, M * K); b = fill(r, N * K); c = new float[M * N];
        x = fill(r, ROWS * C); w = fill(r, C); bias = fill(r, C); out = new float[ROWS * C];
        q = fill(r, B * T * NH * HS); kc = fill(r, B * NH * T * HS); vc = fill(r, B * NH * T * HS); att = new float[q.length];
        big = fill(r, ROWS * 4 * C);
    }

    static float[] fill(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = r.nextFloat() - 0.5f;
        return v;
    }

    @Benchmark public float[] gemmNT() { Gemm.matmulNT(c, a, b, M, N, K, false); return c; }
    @Benchmark public float[] gemmNN() { Gemm.matmulNN(c, a, b, M, N, K, false); return c; }
    @Benchmark public float[] gemmTN() { Gemm.matmulTN(c, a, b, M, N, K, false); return c; }

    @Benchmark public float[] rmsnorm() { Kernels.rmsnorm(out, x, w, ROWS, C, 1e-5f); return out; }
    @Benchmark public float[] rmsnormScalar() { KernelsScalar.rmsnorm(out, x, w, ROWS, C, 1e-5f); return out; }
    @Benchmark public float[] layernorm() { Kernels.layernorm(out, x, w, bias, ROWS, C, 1e-5f); return out; }
    @Benchmark public float[] geluTanh() { Kernels.geluTanh(big, big, big.length); return big; }
    @Benchmark public float[] geluTanhScalar() { KernelsScalar.geluTanh(big, big, big.length); return big; }
    @Benchmark public float[] attentionCausal() {
        Kernels.attention(att, q, kc, vc, null, B, T, NH, NH, HS, T, 0, 0);
        return att;
    }
}
