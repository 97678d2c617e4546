/*
 * Ops: the differentiable operations the models are made of. Each op computes its output with the
 * kernels and, when a tape is given and an input requires a gradient, records a backward closure
 * that accumulates (+=) into the inputs' gradients — never into a frozen tensor, which holds none.
 *
 * Layouts: activations are (rows, features) with rows = B*T; attention heads live side by side in
 * the feature dimension (rows, NH*HS), so no transposes are ever materialised.
 * Derivations of the backward formulas are in the comments; every one is checked against central
 * finite differences in double precision (GradCheckTest).
 */
package dev.peft4j.autograd;

import dev.peft4j.Profile;
import dev.peft4j.kernels.Gemm;
import dev.peft4j.kernels.Kernels;
import dev.peft4j.kernels.Parallel;
import dev.peft4j.kernels.VecMath;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

public final class Ops {
    public static final int IGNORE_INDEX = -100;
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    private Ops() {}

    /** out[r] = table[ids[r]]: (rows, C). */
    public static Tensor embedding(Tape tape, Tensor table, int[] ids) {
        try (var _ = Profile.span(Profile.Kind.EMBEDDING)) {
            int C = table.dim(1), V = table.dim(0);
            float[] out = Tape.alloc(tape, ids.length * C, table);
            for (int r = 0; r < ids.length; r++) {
                if (ids[r] < 0 || ids[r] >= V)
                    throw new IllegalArgumentException("token id " + ids[r] + " outside the vocabulary [0, " + V + ")");
                if (table.compact()) table.matrix().decodeRow(ids[r], 0, C, out, r * C);
                else System.arraycopy(table.data, ids[r] * C, out, r * C, C);
            }
            Tensor y = Tensor.activation(out, Tape.needed(tape, table), ids.length, C);
            Tensor.GradRef gy = y.gradRef();       // closures hold gradient slots and the values they read, never an op's output
            if (y.requiresGrad) tape.record(y, () -> {
                float[] dy = gy.gradOrNull();
                if (dy == null) return;
                float[] dt = table.grad();
                for (int r = 0; r < ids.length; r++) Kernels.axpy(dt, ids[r] * C, 1f, dy, r * C, C);
            });
            return y;
        }
    }

    /** a + b, same shape. */
    public static Tensor add(Tape tape, Tensor a, Tensor b) {
        try (var _ = Profile.span(Profile.Kind.COPY)) {
            float[] out = Tape.alloc(tape, a.size(), a, b);
            System.arraycopy(a.data, 0, out, 0, out.length);
            Kernels.add(out, b.data, out.length);
            Tensor y = Tensor.activation(out, Tape.needed(tape, a, b), a.shape);
            Tensor.GradRef ga = a.gradRef(), gb = b.gradRef(), gy = y.gradRef();   // the values are not needed
            if (y.requiresGrad) tape.record(y, () -> {
                float[] dy = gy.gradOrNull();
                if (dy == null) return;
                if (ga.requiresGrad()) Kernels.add(ga.grad(), dy, dy.length);
                if (gb.requiresGrad()) Kernels.add(gb.grad(), dy, dy.length);
            });
            return y;
        }
    }

    /**
     * RMSNorm: y = x · inv · w with inv = 1/sqrt(mean(x²) + eps) per row.
     * Backward: dx_i = inv · (w_i dy_i − x_i · inv² · Σ_j w_j dy_j x_j / C);  dw_i += Σ_rows dy_i x_i inv.
     */
    public static Tensor rmsnorm(Tape tape, Tensor x, Tensor w, float eps) {
        try (var _ = Profile.span(Profile.Kind.NORM)) {
            int C = w.size(), rows = x.size() / C;
            float[] out = Tape.alloc(tape, x.size(), x, w);
            Kernels.rmsnorm(out, x.data, w.data, rows, C, eps);
            Tensor y = Tensor.activation(out, Tape.needed(tape, x, w), x.shape);
            Tensor.GradRef gx = x.gradRef(), gw = w.gradRef(), gy = y.gradRef();
            float[] xd = x.data, wd = w.data;
            if (y.requiresGrad) tape.record(y, () -> {
                float[] dy = gy.gradOrNull();
                if (dy == null) return;
                float[] dx = gx.requiresGrad() ? gx.grad() : null, dw = gw.requiresGrad() ? gw.grad() : null;
                for (int r = 0; r < rows; r++) {
                    int o = r * C;
                    double ss = 0, dot = 0;
                    for (int i = 0; i < C; i++) { ss += (double) xd[o + i] * xd[o + i]; dot += (double) wd[i] * dy[o + i] * xd[o + i]; }
                    double inv = 1.0 / Math.sqrt(ss / C + eps);
                    if (dx != null) {
                        double k = inv * inv * inv * dot / C;
                        for (int i = 0; i < C; i++) dx[o + i] += (float) (inv * wd[i] * dy[o + i] - k * xd[o + i]);
                    }
                    if (dw != null) for (int i = 0; i < C; i++) dw[i] += (float) (dy[o + i] * xd[o + i] * inv);
                }
            });
            return y;
        }
    }

    /**
     * LayerNorm: y = x̂ · w + b with x̂ = (x − mean) · rstd.
     * Backward: dx̂ = dy·w; dx = rstd · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂)); dw += Σ dy x̂; db += Σ dy.
     */
    public static Tensor layernorm(Tape tape, Tensor x, Tensor w, Tensor b, float eps) {
        try (var _ = Profile.span(Profile.Kind.NORM)) {
            int C = w.size(), rows = x.size() / C;
            float[] out = Tape.alloc(tape, x.size(), x, w, b);
            Kernels.layernorm(out, x.data, w.data, b.data, rows, C, eps);
            Tensor y = Tensor.activation(out, Tape.needed(tape, x, w, b), x.shape);
            Tensor.GradRef gx = x.gradRef(), gw = w.gradRef(), gb = b.gradRef(), gy = y.gradRef();
            float[] xd = x.data, wd = w.data;
            if (y.requiresGrad) tape.record(y, () -> {
                float[] dy = gy.gradOrNull();
                if (dy == null) return;
                float[] dx = gx.requiresGrad() ? gx.grad() : null, dw = gw.requiresGrad() ? gw.grad() : null, db = gb.requiresGrad() ? gb.grad() : null;
                double[] xhat = new double[C];
                for (int r = 0; r < rows; r++) {
                    int o = r * C;
                    double mean = 0, var = 0;
                    for (int i = 0; i < C; i++) mean += xd[o + i];
                    mean /= C;
                    for (int i = 0; i < C; i++) var += (xd[o + i] - mean) * (xd[o + i] - mean);
                    double rstd = 1.0 / Math.sqrt(var / C + eps), mDxhat = 0, mDxhatXhat = 0;
                    for (int i = 0; i < C; i++) {
                        xhat[i] = (xd[o + i] - mean) * rstd;
                        double dxh = dy[o + i] * (double) wd[i];
                        mDxhat += dxh;
                        mDxhatXhat += dxh * xhat[i];
                    }
                    mDxhat /= C;
                    mDxhatXhat /= C;
                    if (dx != null)
                        for (int i = 0; i < C; i++) dx[o + i] += (float) (rstd * (dy[o + i] * (double) wd[i] - mDxhat - xhat[i] * mDxhatXhat));
                    if (dw != null) for (int i = 0; i < C; i++) dw[i] += (float) (dy[o + i] * xhat[i]);
                    if (db != null) for (int i = 0; i < C; i++) db[i] += dy[o + i];
                }
            });
            return y;
        }
    }

    /**
     * Rotary embedding (rotate_half layout) of x: (rows, NH*HS) at positions pos[r]. The rotation is
     * orthogonal, so the backward is the rotation by the opposite angle (sin negated).
     */
    public static Tensor rope(Tape tape, Tensor x, int[] pos, float[] cos, float[] sin, int NH, int HS) {
        return rope(tape, x, pos, cos, sin, NH, HS, HS);
    }

    /** rope() on the first R values of each head only (partial_rotary_factor); cos/sin: (positions, R/2). */
    public static Tensor rope(Tape tape, Tensor x, int[] pos, float[] cos, float[] sin, int NH, int HS, int R) {
        try (var _ = Profile.span(Profile.Kind.ROPE)) {
            int rows = x.size() / (NH * HS);
            float[] out = Tape.alloc(tape, x.size(), x);
            System.arraycopy(x.data, 0, out, 0, out.length);
            Kernels.rope(out, pos, cos, sin, rows, NH, HS, R);
            Tensor y = Tensor.activation(out, Tape.needed(tape, x), x.shape);
            Tensor.GradRef gx = x.gradRef(), gy = y.gradRef();
            if (y.requiresGrad) tape.record(y, () -> {
                float[] dy = gy.gradOrNull();
                if (dy == null) return;
                Kernels.ropeBackwardAdd(gx.grad(), dy, pos, cos, sin, rows, NH, HS, R);
            });
            return y;
        }
    }

    /**
     * SwiGLU: y = silu(g) · u.  dsilu/dg = σ(g) · (1 + g · (1 − σ(g))).
     */
    public static Tensor swiglu(Tape tape, Tensor g, Tensor u) {
        try (var _ = Profile.span(Profile.Kind.ACTIVATION)) {
            float[] out = Tape.alloc(tape, g.size(), g, u);
            Kernels.swiglu(out, g.data, u.data, out.length);
            Tensor y = Tensor.activation(out, Tape.needed(tape, g, u), g.shape);
            Tensor.GradRef gg = g.gradRef(), gu = u.gradRef(), gy = y.gradRef();
            float[] gd = g.data, ud = u.data;
            int n = out.length;
            if (y.requiresGrad) tape.record(y, () -> {
                float[] dy = gy.gradOrNull();
                if (dy == null) return;
                float[] dg = gg.requiresGrad() ? gg.grad() : null, du = gu.requiresGrad() ? gu.grad() : null;
                Parallel.parallelRange(n, (s, e) -> Kernels.swigluBackward(dg, du, dy, gd, ud, s, e));
            });
            return y;
        }
    }

    /**
     * GELU, tanh form: y = ½x(1 + t), t = tanh(k(x + 0.044715x³)), k = √(2/π).
     * dy/dx = ½(1 + t) + ½x(1 − t²) · k(1 + 3·0.044715x²).
     */
    public static Tensor geluTanh(Tape tape, Tensor x) {
        try (var _ = Profile.span(Profile.Kind.ACTIVATION)) {
            float[] out = Tape.alloc(tape, x.size(), x);
            Kernels.geluTanh(out, x.data, out.length);
            Tensor y = Tensor.activation(out, Tape.needed(tape, x), x.shape);
            Tensor.GradRef gx = x.gradRef(), gy = y.gradRef();
            float[] xd = x.data;
            int n = out.length;
            if (y.requiresGrad) tape.record(y, () -> {
                float[] dy = gy.gradOrNull();
                if (dy == null) return;
                float[] dx = gx.grad();
                Parallel.parallelRange(n, (s, e) -> Kernels.geluTanhBackward(dx, dy, xd, s, e));
            });
            return y;
        }
    }

    /** GeGLU (Gemma's MLP): y = gelu_tanh(g) · u.  dg = dy · u · gelu_tanh'(g), du = dy · gelu_tanh(g). */
    public static Tensor geglu(Tape tape, Tensor g, Tensor u) {
        try (var _ = Profile.span(Profile.Kind.ACTIVATION)) {
            int n = g.size();
            float[] act = Tape.alloc(tape, n, g, u), out = Tape.alloc(tape, n, g, u);
            Kernels.geluTanh(act, g.data, n);
            for (int i = 0; i < n; i++) out[i] = act[i] * u.data[i];
            Tensor y = Tensor.activation(out, Tape.needed(tape, g, u), g.shape);
            Tensor.GradRef gg = g.gradRef(), gu = u.gradRef(), gy = y.gradRef();
            float[] gd = g.data, ud = u.data;
            if (y.requiresGrad) tape.record(y, () -> {
                float[] dy = gy.gradOrNull();
                if (dy == null) return;
                if (gu.requiresGrad()) { float[] du = gu.grad(); for (int i = 0; i < n; i++) du[i] += dy[i] * act[i]; }
                if (gg.requiresGrad()) {
                    float[] dyu = new float[n], dg = gg.grad();
                    for (int i = 0; i < n; i++) dyu[i] = dy[i] * ud[i];
                    Parallel.parallelRange(n, (s, e) -> Kernels.geluTanhBackward(dg, dyu, gd, s, e));
                }
            }, act);
            return y;
        }
    }

    /** y = s · x for a constant s (Gemma's √hidden embedding scale). dx += s · dy. */
    public static Tensor scale(Tape tape, Tensor x, float s) {
        try (var _ = Profile.span(Profile.Kind.COPY)) {
            float[] out = Tape.alloc(tape, x.size(), x);
            for (int i = 0; i < out.length; i++) out[i] = x.data[i] * s;
            Tensor y = Tensor.activation(out, Tape.needed(tape, x), x.shape);
            Tensor.GradRef gx = x.gradRef(), gy = y.gradRef();
            if (y.requiresGrad) tape.record(y, () -> {
                float[] dy = gy.gradOrNull();
                if (dy == null) return;
                Kernels.axpy(gx.grad(), 0, s, dy, 0, dy.length);
            });
            return y;
        }
    }

    /** y = x + c for a constant c (Gemma's RMSNorm gain 1 + w). dx += dy. */
    public static Tensor shift(Tape tape, Tensor x, float c) {
        try (var _ = Profile.span(Profile.Kind.COPY)) {
            float[] out = Tape.alloc(tape, x.size(), x);
            for (int i = 0; i < out.length; i++) out[i] = x.data[i] + c;
            Tensor y = Tensor.activation(out, Tape.needed(tape, x), x.shape);
            Tensor.GradRef gx = x.gradRef(), gy = y.gradRef();
            if (y.requiresGrad) tape.record(y, () -> {
                float[] dy = gy.gradOrNull();
                if (dy == null) return;
                Kernels.axpy(gx.grad(), 0, 1f, dy, 0, dy.length);
            });
            return y;
        }
    }

    /**
     * Soft-capping (Gemma 2's final logits): y = cap · tanh(x / cap), squashing x into (−cap, cap).
     * dy/dx = 1 − tanh²(x / cap) = 1 − (y / cap)².
     */
    public static Tensor softcap(Tape tape, Tensor x, float cap) {
        try (var _ = Profile.span(Profile.Kind.ACTIVATION)) {
            float[] out = Tape.alloc(tape, x.size(), x);
            float inv = 1f / cap;
            Parallel.parallelRange(out.length, (s, e) -> {
                for (int i = s; i < e; i++) out[i] = cap * (float) Math.tanh(x.data[i] * inv);
            });
            Tensor y = Tensor.activation(out, Tape.needed(tape, x), x.shape);
            Tensor.GradRef gx = x.gradRef(), gy = y.gradRef();
            if (y.requiresGrad) tape.record(y, () -> {
                float[] dy = gy.gradOrNull();
                if (dy == null) return;
                float[] dx = gx.grad();
                Parallel.parallelRange(out.length, (s, e) -> {
                    for (int i = s; i < e; i++) { float t = out[i] * inv; dx[i] += dy[i] * (1f - t * t); }
                });
            });
            return y;
        }
    }

    /** Inverted dropout: keeps each element with probability 1−p and scales it by 1/(1−p). */
    public static Tensor dropout(Tape tape, Tensor x, float p) {
        try (var _ = Profile.span(Profile.Kind.COPY)) {
            if (tape == null || p <= 0f) return x;
            float[] mask = dropoutMask(tape, x.size(), p);
            float[] out = Tape.alloc(tape, x.size(), x);
            for (int i = 0; i < out.length; i++) out[i] = x.data[i] * mask[i];
            Tensor y = Tensor.activation(out, Tape.needed(tape, x), x.shape);
            Tensor.GradRef gx = x.gradRef(), gy = y.gradRef();
            if (y.requiresGrad) tape.record(y, () -> {
                float[] dy = gy.gradOrNull();
                if (dy == null) return;
                float[] dx = gx.grad();
                for (int i = 0; i < mask.length; i++) dx[i] += dy[i] * mask[i];
            });
            return y;
        }
    }

    /** A mask of 0 and 1/(1−p) drawn from the tape's generator. */
    public static float[] dropoutMask(Tape tape, int n, float p) {
        float[] mask = new float[n];
        float keep = 1f / (1f - p);
        java.util.SplittableRandom rng = tape.rng();
        for (int i = 0; i < n; i++) mask[i] = rng.nextDouble() < p ? 0f : keep;
        return mask;
    }

    /** Splits x: (rows, 3C) into q, k, v: (rows, C) each (GPT-2's fused c_attn output). */
    public static Tensor[] split3(Tape tape, Tensor x, int C) {
        try (var _ = Profile.span(Profile.Kind.COPY)) {
            int rows = x.size() / (3 * C);
            Tensor[] parts = new Tensor[3];
            for (int p = 0; p < 3; p++) {
                float[] out = Tape.alloc(tape, rows * C, x);
                for (int r = 0; r < rows; r++) System.arraycopy(x.data, r * 3 * C + p * C, out, r * C, C);
                Tensor part = Tensor.activation(out, Tape.needed(tape, x), rows, C);
                parts[p] = part;
                final int which = p;
                Tensor.GradRef gx = x.gradRef(), gp = part.gradRef();
                if (part.requiresGrad) tape.record(part, () -> {
                    float[] dy = gp.gradOrNull();
                    if (dy == null) return;
                    float[] dx = gx.grad();
                    for (int r = 0; r < rows; r++) Kernels.axpy(dx, r * 3 * C + which * C, 1f, dy, r * C, C);
                });
            }
            return parts;
        }
    }

    /** Splits x: (rows, sum of widths) into column blocks (rows, widths[i]) (Phi-3's fused qkv_proj / gate_up_proj). */
    public static Tensor[] splitColumns(Tape tape, Tensor x, int... widths) {
        try (var _ = Profile.span(Profile.Kind.COPY)) {
            int W = 0;
            for (int w : widths) W += w;
            int rows = x.size() / W, total = W;
            Tensor[] parts = new Tensor[widths.length];
            for (int p = 0, from = 0; p < widths.length; from += widths[p], p++) {
                final int off = from, n = widths[p];
                float[] out = Tape.alloc(tape, rows * n, x);
                for (int r = 0; r < rows; r++) System.arraycopy(x.data, r * total + off, out, r * n, n);
                Tensor part = Tensor.activation(out, Tape.needed(tape, x), rows, n);
                parts[p] = part;
                Tensor.GradRef gx = x.gradRef(), gp = part.gradRef();
                if (part.requiresGrad) tape.record(part, () -> {
                    float[] dy = gp.gradOrNull();
                    if (dy == null) return;
                    float[] dx = gx.grad();
                    for (int r = 0; r < rows; r++) Kernels.axpy(dx, r * total + off, 1f, dy, r * n, n);
                });
            }
            return parts;
        }
    }

    /** The last row of each of B groups of T rows: (B*T, C) -> (B, C). */
    public static Tensor lastRows(Tape tape, Tensor x, int B, int T) {
        try (var _ = Profile.span(Profile.Kind.COPY)) {
            int C = x.size() / (B * T);
            float[] out = Tape.alloc(tape, B * C, x);
            for (int b = 0; b < B; b++) System.arraycopy(x.data, (b * T + T - 1) * C, out, b * C, C);
            Tensor y = Tensor.activation(out, Tape.needed(tape, x), B, C);
            Tensor.GradRef gx = x.gradRef(), gy = y.gradRef();
            if (y.requiresGrad) tape.record(y, () -> {
                float[] dy = gy.gradOrNull();
                if (dy == null) return;
                for (int b = 0; b < B; b++) Kernels.axpy(gx.grad(), (b * T + T - 1) * C, 1f, dy, b * C, C);
            });
            return y;
        }
    }

    /**
     * Joins two sequences per batch row: a (B*Ta, C) then b (B*Tb, C) -> (B*(Ta+Tb), C), row b of the
     * result being a's Ta rows of b followed by b's Tb rows of b (virtual tokens or key/value prefixes
     * placed before the input). Backward: each input takes its own slice of dy.
     */
    public static Tensor concatSeq(Tape tape, Tensor a, int Ta, Tensor b, int Tb, int B) {
        try (var _ = Profile.span(Profile.Kind.COPY)) {
            int C = a.size() / (B * Ta);
            if (b.size() != B * Tb * C)
                throw new IllegalArgumentException("concatSeq: b has " + b.size() + " values, expected " + B + " x " + Tb + " x " + C);
            int T = Ta + Tb;
            float[] out = Tape.alloc(tape, B * T * C, a, b);
            for (int r = 0; r < B; r++) {
                System.arraycopy(a.data, r * Ta * C, out, r * T * C, Ta * C);
                System.arraycopy(b.data, r * Tb * C, out, (r * T + Ta) * C, Tb * C);
            }
            Tensor y = Tensor.activation(out, Tape.needed(tape, a, b), B * T, C);
            Tensor.GradRef ga = a.gradRef(), gb = b.gradRef(), gy = y.gradRef();
            if (y.requiresGrad) tape.record(y, () -> {
                float[] dy = gy.gradOrNull();
                if (dy == null) return;
                for (int r = 0; r < B; r++) {
                    if (ga.requiresGrad()) Kernels.axpy(ga.grad(), r * Ta * C, 1f, dy, r * T * C, Ta * C);
                    if (gb.requiresGrad()) Kernels.axpy(gb.grad(), r * Tb * C, 1f, dy, (r * T + Ta) * C, Tb * C);
                }
            });
            return y;
        }
    }

    /** Rows [from, from+len) of each batch row of x (B*T, C) -> (B*len, C). Backward: dy back into those rows. */
    public static Tensor sliceSeq(Tape tape, Tensor x, int B, int T, int from, int len) {
        try (var _ = Profile.span(Profile.Kind.COPY)) {
            int C = x.size() / (B * T);
            if (from < 0 || len < 0 || from + len > T)
                throw new IllegalArgumentException("sliceSeq: rows [" + from + ", " + (from + len) + ") outside [0, " + T + ")");
            float[] out = Tape.alloc(tape, B * len * C, x);
            for (int r = 0; r < B; r++) System.arraycopy(x.data, (r * T + from) * C, out, r * len * C, len * C);
            Tensor y = Tensor.activation(out, Tape.needed(tape, x), B * len, C);
            Tensor.GradRef gx = x.gradRef(), gy = y.gradRef();
            if (y.requiresGrad) tape.record(y, () -> {
                float[] dy = gy.gradOrNull();
                if (dy == null) return;
                for (int r = 0; r < B; r++) Kernels.axpy(gx.grad(), (r * T + from) * C, 1f, dy, r * len * C, len * C);
            });
            return y;
        }
    }

    /**
     * y = x · Wᵀ + b with W: (out, in). Backward: dx += dy · W (the only half a frozen W needs);
     * dW += dyᵀ · x and db += Σ_rows dy when W, b are trainable.
     */
    public static Tensor linear(Tape tape, Tensor x, Tensor w, Tensor b) {
        try (var _ = Profile.span(Profile.Kind.LINEAR)) {
            int out = w.dim(0), in = w.dim(1), rows = x.size() / in;
            float[] y = Tape.alloc(tape, rows * out, x, w, b);
            Gemm.matmulNT(y, x.data, w.matrix(), rows, false);
            if (b != null) Kernels.addBias(y, b.data, rows, out);
            Tensor t = Tensor.activation(y, Tape.needed(tape, x, w, b), rows, out);
            Tensor.GradRef gx = x.gradRef(), gt = t.gradRef();
            float[] xData = w.requiresGrad ? x.data : null;          // a frozen W needs only dx = dy·W: x itself is not kept
            if (t.requiresGrad) tape.record(t, () -> {
                float[] dy = gt.gradOrNull();
                if (dy == null) return;
                if (gx.requiresGrad()) Gemm.matmulNN(gx.grad(), dy, w.matrix(), rows, true);
                if (w.requiresGrad) Gemm.matmulTN(w.grad(), dy, xData, out, in, rows, true);
                if (b != null && b.requiresGrad) biasGrad(b.grad(), dy, rows, out);
            });
            return t;
        }
    }

    /** db[j] += Σ_r dy[r, j]. */
    public static void biasGrad(float[] db, float[] dy, int rows, int n) {
        for (int r = 0; r < rows; r++) Kernels.axpy(db, 0, 1f, dy, r * n, n);
    }

    /**
     * Mean cross-entropy of logits (rows, V) against targets (rows), skipping IGNORE_INDEX, as
     * torch.nn.functional.cross_entropy(reduction="mean", ignore_index=-100).
     * Backward: dlogits = (softmax − onehot) / count · dloss. Softmax is recomputed in the backward
     * instead of being stored, so only the logits are held.
     */
    public static Tensor crossEntropy(Tape tape, Tensor logits, int[] targets) {
        try (var _ = Profile.span(Profile.Kind.LOSS)) {
            int rows = targets.length, V = logits.size() / rows;
            double[] lse = new double[rows];
            int count = 0;
            for (int r = 0; r < rows; r++) {
                if (targets[r] == IGNORE_INDEX) continue;
                if (targets[r] < 0 || targets[r] >= V)
                    throw new IllegalArgumentException("target " + targets[r] + " at row " + r + " outside [0, " + V + ")");
                count++;
            }
            Parallel.parallelRange(rows, (s0, e0) -> {
                for (int r = s0; r < e0; r++) if (targets[r] != IGNORE_INDEX) lse[r] = logSumExp(logits.data, r * V, V);
            });
            double total = 0;
            for (int r = 0; r < rows; r++) if (targets[r] != IGNORE_INDEX) total += lse[r] - logits.data[r * V + targets[r]];
            float loss = count == 0 ? 0f : (float) (total / count);
            Tensor y = Tensor.activation(new float[] {loss}, Tape.needed(tape, logits) && count > 0);
            final int n = count;
            if (y.requiresGrad) tape.record(y, () -> {
                float[] dy = y.gradOrNull();
                if (dy == null) return;
                float[] dl = logits.grad();
                float scale = dy[0] / n;
                Parallel.parallelRange(rows, (s, e) -> {
                    for (int r = s; r < e; r++) {
                        if (targets[r] == IGNORE_INDEX) continue;
                        int o = r * V;
                        float m = (float) lse[r];
                        int i = 0;
                        FloatVector vm = FloatVector.broadcast(S, m);
                        for (int up = S.loopBound(V); i < up; i += S.length()) {
                            FloatVector p = VecMath.exp(FloatVector.fromArray(S, logits.data, o + i).sub(vm));
                            p.fma(FloatVector.broadcast(S, scale), FloatVector.fromArray(S, dl, o + i)).intoArray(dl, o + i);
                        }
                        for (; i < V; i++) dl[o + i] += VecMath.expScalar(logits.data[o + i] - m) * scale;
                        dl[o + targets[r]] -= scale;
                    }
                });
            });
            return y;
        }
    }

    /** log Σ exp(x[off..off+n)), vectorised; the sum is taken in float lanes, then in double. */
    static double logSumExp(float[] x, int off, int n) {
        FloatVector vmax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (int up = S.loopBound(n); i < up; i += S.length()) vmax = vmax.max(FloatVector.fromArray(S, x, off + i));
        float max = vmax.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) max = Math.max(max, x[off + i]);
        FloatVector vm = FloatVector.broadcast(S, max), acc = FloatVector.zero(S);
        i = 0;
        for (int up = S.loopBound(n); i < up; i += S.length())
            acc = acc.add(VecMath.exp(FloatVector.fromArray(S, x, off + i).sub(vm)));
        double sum = VecMath.sum(acc);
        for (; i < n; i++) sum += VecMath.expScalar(x[off + i] - max);
        return max + Math.log(sum);
    }
}
