package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;
import dev.peft4j.tuner.lora.InitLoraWeights;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.peft4j.model.CausalLM;
import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.lora.LoraAdapter;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Initialisation as PEFT's reset_lora_parameters (lora/layer.py): True = kaiming_uniform_(a=√5) A, zero B;
 * "gaussian" = N(0, 1/r) A, zero B; False = torch.nn.Linear's default init for A and B. Checked by bounds and
 * sample statistics, plus reproducibility from the seed and the documented draw order.
 */
class LoraInitTest {
    static LoraModel apply(String model, LoraConfig.Builder b, long seed) { return Lora.apply(Fixtures.load(model), b.build(), seed); }

    /** Every A (or B) value divided by its bound, pooled over the adapted modules. */
    static double[] pooled(LoraModel lm, boolean a, boolean byBound, double scale) {
        List<Double> out = new ArrayList<>();
        for (LoraAdapter ad : lm.adapters().values()) {
            float[] v = a ? ad.A.data : ad.B.data;
            double bound = byBound ? 1.0 / Math.sqrt(a ? ad.A.dim(1) : ad.r) : 1.0;
            for (float x : v) out.add(x / bound * scale);
        }
        double[] d = new double[out.size()];
        for (int i = 0; i < d.length; i++) d[i] = out.get(i);
        return d;
    }

    static double mean(double[] x) { double s = 0; for (double v : x) s += v; return s / x.length; }

    static double var(double[] x) { double m = mean(x), s = 0; for (double v : x) s += (v - m) * (v - m); return s / x.length; }

    @Test
    void defaultIsKaimingUniformAWithZeroB() {
        LoraModel lm = apply("llama", LoraConfig.builder().r(8).allLinear(), 7);
        for (LoraAdapter ad : lm.adapters().values()) {
            float bound = (float) (1.0 / Math.sqrt(ad.A.dim(1)));          // 1/√in: gain √(2/(1+5)) · √(3/in)
            for (float x : ad.A.data) assertThat(Math.abs(x)).isLessThanOrEqualTo(bound);
            for (float x : ad.B.data) assertThat(x).isZero();
        }
        double[] u = pooled(lm, true, true, 1);                                // U(-1, 1) after dividing by the bound
        assertThat(u.length).isEqualTo(8 * (64 * 12 + 96 * 2));
        assertThat(mean(u)).isCloseTo(0, within(0.03));
        assertThat(var(u)).isCloseTo(1.0 / 3, within(0.02));
        double max = 0;
        for (double v : u) max = Math.max(max, Math.abs(v));
        assertThat(max).isBetween(0.99, 1.0);
    }

    @Test
    void gaussianIsNormalWithStdOneOverR() {
        LoraModel lm = apply("llama", LoraConfig.builder().r(8).allLinear().init(InitLoraWeights.GAUSSIAN), 11);
        double[] z = pooled(lm, true, false, 8);                                // A·r ~ N(0, 1)
        assertThat(mean(z)).isCloseTo(0, within(0.04));
        assertThat(Math.sqrt(var(z))).isCloseTo(1.0, within(0.03));
        int inside = 0;
        for (double v : z) if (Math.abs(v) < 1) inside++;
        assertThat(inside / (double) z.length).isCloseTo(0.6827, within(0.02));
        for (LoraAdapter ad : lm.adapters().values()) for (float x : ad.B.data) assertThat(x).isZero();
    }

    @Test
    void falseKeepsTorchLinearInitForBothAAndB() {
        LoraModel lm = apply("llama", LoraConfig.builder().r(8).allLinear().init(InitLoraWeights.RANDOM), 5);
        for (LoraAdapter ad : lm.adapters().values()) {
            float ba = (float) (1.0 / Math.sqrt(ad.A.dim(1))), bb = (float) (1.0 / Math.sqrt(ad.r));
            for (float x : ad.A.data) assertThat(Math.abs(x)).isLessThanOrEqualTo(ba);
            for (float x : ad.B.data) assertThat(Math.abs(x)).isLessThanOrEqualTo(bb);
        }
        double[] ub = pooled(lm, false, true, 1);
        assertThat(mean(ub)).isCloseTo(0, within(0.03));
        assertThat(var(ub)).isCloseTo(1.0 / 3, within(0.02));
    }

    @Test
    void sameSeedSameAdaptersOtherSeedOthers() {
        LoraConfig.Builder b = LoraConfig.builder().r(4).allLinear().init(InitLoraWeights.RANDOM);
        LoraModel x = apply("gpt2", b, 42), y = apply("gpt2", b, 42), z = apply("gpt2", b, 43);
        List<LoraAdapter> xa = new ArrayList<>(x.adapters().values()), ya = new ArrayList<>(y.adapters().values()),
                za = new ArrayList<>(z.adapters().values());
        for (int i = 0; i < xa.size(); i++) {
            assertThat(xa.get(i).A.data).isEqualTo(ya.get(i).A.data);
            assertThat(xa.get(i).B.data).isEqualTo(ya.get(i).B.data);
            assertThat(xa.get(i).A.data).isNotEqualTo(za.get(i).A.data);
        }
    }

    @Test
    void drawOrderIsModulesInOrderAThenB() {
        long seed = 2024;
        LoraModel lm = apply("llama", LoraConfig.builder().r(2).targetModules("q_proj", "v_proj").init(InitLoraWeights.RANDOM), seed);
        SplittableRandom rnd = new SplittableRandom(seed);
        for (Linear lin : lm.model().linears()) {
            LoraAdapter ad = (LoraAdapter) lin.adapters().get("default");
            if (ad == null) continue;
            double ba = 1.0 / Math.sqrt(lin.in), bb = 1.0 / Math.sqrt(2);
            for (float v : ad.A.data) assertThat(v).isEqualTo((float) ((2 * rnd.nextDouble() - 1) * ba));
            for (float v : ad.B.data) assertThat(v).isEqualTo((float) ((2 * rnd.nextDouble() - 1) * bb));
        }
        // gaussian: Box–Muller pairs (u1 = 1 − u, u2), cos then sin, scaled by 1/r
        LoraModel g = apply("llama", LoraConfig.builder().r(2).targetModules("q_proj").init(InitLoraWeights.GAUSSIAN), seed);
        float[] a = g.adapters().get("model.layers.0.self_attn.q_proj").A.data;
        SplittableRandom r2 = new SplittableRandom(seed);
        double u1 = 1 - r2.nextDouble(), u2 = r2.nextDouble(), rad = StrictMath.sqrt(-2 * StrictMath.log(u1));
        assertThat(a[0]).isEqualTo((float) (0.5 * rad * StrictMath.cos(2 * StrictMath.PI * u2)));
        assertThat(a[1]).isEqualTo((float) (0.5 * rad * StrictMath.sin(2 * StrictMath.PI * u2)));
    }

    @Test
    void adaptersCarryPeftNamesShapesScalingAndDropout() {
        LoraModel lm = apply("gpt2", LoraConfig.builder().r(8).alpha(16).dropout(0.1f), 3);
        LoraAdapter ad = lm.adapters().get("transformer.h.0.attn.c_attn");
        assertThat(ad.A.name).isEqualTo("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight");
        assertThat(ad.B.name).isEqualTo("base_model.model.transformer.h.0.attn.c_attn.lora_B.weight");
        assertThat(ad.A.shape).containsExactly(8, 64);
        assertThat(ad.B.shape).containsExactly(192, 8);
        assertThat(ad.scaling).isEqualTo(2.0);
        assertThat(ad.dropout).isEqualTo(0.1f);
        LoraModel ll = apply("llama", LoraConfig.builder().r(4).alpha(8).useRslora(true), 3);
        LoraAdapter q = ll.adapters().get("model.layers.1.self_attn.q_proj");
        assertThat(q.A.name).isEqualTo("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight");
        assertThat(q.scaling).isEqualTo(4.0);
        assertThat(ll.trainableParameters()).extracting(t -> t.name).containsExactly(
                "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight",
                "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight", "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight",
                "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight", "base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight",
                "base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight", "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight");
        CausalLM m = ll.model();
        for (Linear lin : m.linears())
            if (lin.adapters().containsKey("default")) assertThat(lin.active()).containsExactly("default");
    }
}
