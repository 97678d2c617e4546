/*
 * Rope: cos/sin tables of rotary position embeddings, (positions, HS/2), computed in double from
 * the config's inverse frequencies (rope_theta and rope_scaling applied there) and grown on
 * demand, so a model advertising 128k positions does not allocate 128k rows up front.
 */
package dev.peft4j.model;

final class Rope {
    private final double[] invFreq;
    private final double scale;
    private final int maxPositions;
    private float[] cos = new float[0], sin = new float[0];
    private int length;

    Rope(ModelConfig config) { this(config.ropeInverseFrequencies(), 1.0, config.maxPositions()); }

    /** Tables of (positions, invFreq.length) for these frequencies, cos and sin multiplied by scale (LongRoPE's). */
    Rope(double[] invFreq, double scale, int maxPositions) {
        this.invFreq = invFreq;
        this.scale = scale;
        this.maxPositions = maxPositions;
    }

    /** Tables for given inverse frequencies (HS/2 of them), e.g. Gemma 3's local base for its sliding layers. */
    Rope(double[] invFreq, int maxPositions) { this(invFreq, 1.0, maxPositions); }

    /** Makes the tables cover positions [0, n). */
    synchronized void ensure(int n) {
        if (n <= length) return;
        int cap = Math.max(n, Math.min(Math.max(2 * length, 256), Math.max(n, maxPositions)));
        int half = invFreq.length;
        float[] c = new float[cap * half], s = new float[cap * half];
        for (int p = 0; p < cap; p++)
            for (int i = 0; i < half; i++) {
                double angle = p * invFreq[i];
                c[p * half + i] = (float) (Math.cos(angle) * scale);
                s[p * half + i] = (float) (Math.sin(angle) * scale);
            }
        cos = c;
        sin = s;
        length = cap;
    }

    int length() { return length; }
    double[] inverseFrequencies() { return invFreq; }
    float[] cos() { return cos; }
    float[] sin() { return sin; }
}
