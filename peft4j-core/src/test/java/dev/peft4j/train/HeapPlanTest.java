package dev.peft4j.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.autograd.Workspace;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.ModelConfig;
import dev.peft4j.model.ModelFactory;
import dev.peft4j.tuner.AdapterModel;
import dev.peft4j.tuner.PeftMethods;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraPlan;
import java.lang.ref.Reference;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The plan's activation estimate against what a training step really keeps: the live heap after the forward
 * (garbage collected) minus the live heap before it, on GPT-2 and Llama shapes large enough for the activations
 * to dominate. A plan below what is kept would start the JVM too small; one far above it wastes the memory the
 * plan is there to save.
 */
class HeapPlanTest {
    static final int B = 4, T = 128;

    static ModelConfig shape(String family) {
        return family.equals("gpt2")
                ? new ModelConfig(ModelConfig.Family.GPT2, 2000, 256, 1024, 4, 8, 8, 32, 256, 1e-5f, 0, null,
                        true, true, true, true, 0, 1999, List.of(1999), "float32")
                : new ModelConfig(ModelConfig.Family.LLAMA, 2000, 256, 688, 4, 8, 2, 32, 256, 1e-5f, 10000.0, null,
                        false, false, false, false, 0, 1, List.of(2), "float32");
    }

    static long live() {
        for (int i = 0; i < 3; i++) System.gc();
        Runtime rt = Runtime.getRuntime();
        return rt.totalMemory() - rt.freeMemory();
    }

    @ParameterizedTest
    @CsvSource({"gpt2, c_attn", "gpt2, c_attn;c_proj;c_fc", "llama, q_proj;v_proj", "llama, q_proj;k_proj;v_proj;o_proj;gate_proj;up_proj;down_proj",
                "llama, down_proj"})
    void activationEstimateMatchesWhatTheForwardKeeps(String family, String targets) {
        ModelConfig cfg = shape(family);
        LoraConfig lc = LoraConfig.builder().r(8).alpha(16).dropout(0f).targetModules(targets.split(";")).build();
        LoraPlan lp = LoraPlan.of(cfg, lc);
        HeapPlan plan = HeapPlan.builder(cfg).adapted(lp.targetModuleNames()).trainable(lp.trainableParameterCount()).batch(B, T).build();

        CausalLM model = ModelFactory.random(cfg, 0, 0.02f);
        AdapterModel lora = PeftMethods.of(lc.peftType(), "test").apply(model, lc, "default", 0);
        int[] ids = new int[B * T];
        for (int i = 0; i < ids.length; i++) ids[i] = (i * 7919) % cfg.vocabSize();
        Workspace ws = new Workspace();
        for (int step = 0; step < 2; step++) {                   // the second step: recycled arrays, as in training
            Tape tape = new Tape(step, ws);
            long before = live() - ws.freeBytes();
            Tensor loss = LmLoss.loss(tape, model, ids, ids, B, T);
            // what is live at the forward's end: the activations the backward needs, the LM head chunk, and the arrays
            // the workspace keeps for the backward's gradients in flight (the plan's working share, less its fixed part)
            long kept = live() - before;
            if (step == 1) {
                double predicted = plan.activations() + plan.head() + plan.working() - HeapPlan.REST;
                assertThat((double) kept).as("%s %s: kept %d vs planned %d", family, targets, kept, (long) predicted)
                        .isLessThanOrEqualTo(1.1 * predicted)          // the plan's margin covers what it does not model
                        .isGreaterThanOrEqualTo(0.6 * predicted);      // and it does not count what is garbage
            }
            tape.backward(loss);
        }
        Reference.reachabilityFence(lora);
        assertThat(plan.weights()).isEqualTo(4 * model.parameterCount());   // f32: every value, 4 bytes
        assertThat(plan.heapBytes()).isGreaterThan(plan.weights() + plan.activations());
    }

    @ParameterizedTest
    @CsvSource({"smollm2-135m, BF16, 1700, 2600", "gpt2-124m, F32, 1100, 1800"})
    void theReferenceShapesGetAHeapBetweenWhatTheyKeepAndTheMachine(String shape, HeapPlan.Storage storage, long minMb, long maxMb) {
        ModelConfig cfg = ModelFactory.shape(shape);
        LoraConfig lc = cfg.isGpt2() ? LoraConfig.builder().r(8).alpha(16).targetModules("c_attn").build()
                : LoraConfig.builder().r(16).alpha(32).targetModules("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj").build();
        LoraPlan lp = LoraPlan.of(cfg, lc);
        HeapPlan.Builder b = HeapPlan.builder(cfg).storage(storage).adapted(lp.targetModuleNames()).trainable(lp.trainableParameterCount()).batch(4, 256);
        HeapPlan plan = b.build();
        assertThat(plan.heapBytes() >> 20).isBetween(minMb, maxMb);
        assertThat(plan.xmx()).matches("-Xmx[0-9]+m");
        HeapPlan ckpt = b.checkpointing(true).build();
        assertThat(ckpt.activations()).isLessThan(plan.activations() / 3);
    }

    @org.junit.jupiter.api.Test
    void g1RegionRoundingIsCountedAndTheRegionSizeChosenToLoseLeast() {
        long mb = 1L << 20;
        assertThat(HeapPlan.waste(mb, 4 * mb)).isZero();                    // under half a region: packed with other objects
        assertThat(HeapPlan.waste(6 * mb, 4 * mb)).isEqualTo(2 * mb);       // two regions for 6 MB
        assertThat(HeapPlan.waste(16 * mb, 32 * mb)).isEqualTo(16 * mb);    // 16 MB + header: a 32 MB region of its own
        assertThat(HeapPlan.waste(2 * mb, 1 * mb)).isEqualTo(1 * mb);       // the header spills into a third region
        // Llama-3.2-3B QLoRA at T = 512 (the plan that ran out of memory before regions were counted: 5.7 GB)
        ModelConfig cfg = ModelFactory.shape("llama-3.2-3b");
        HeapPlan plan = HeapPlan.builder(cfg).storage(HeapPlan.Storage.NF4).loadsInF32(false).batch(1, 512).build();
        long at4mb = 28 * (6 * HeapPlan.waste(4L * 512 * 3072, 4 * mb) + 2 * HeapPlan.waste(4L * 512 * 1024, 4 * mb)
                + 3 * HeapPlan.waste(4L * 512 * 8192, 4 * mb));                  // G1's own region for that heap: activations alone
        assertThat(at4mb >> 20).isGreaterThan(700);
        assertThat(plan.regionWaste()).isLessThan(at4mb);
        assertThat(plan.jvmOptions()).matches("-Xmx[0-9]+m -XX:G1HeapRegionSize=(1|2|4|8|16|32)m");
    }

    @ParameterizedTest
    @CsvSource({"none, auto, true, BF16", "none, auto, false, F32", "none, bf16, false, BF16", "nf4, auto, true, NF4", "q4_k, f32, false, Q4_K"})
    void storageFollowsTheCliOptions(String quantize, String frozenDtype, boolean bf16Values, HeapPlan.Storage expected) {
        assertThat(HeapPlan.Storage.of(quantize, frozenDtype, bf16Values)).isEqualTo(expected);
    }

    @ParameterizedTest
    @CsvSource({"0", "-1"})
    void refusesAnEmptyBatch(int batch) {
        assertThatThrownBy(() -> HeapPlan.builder(shape("llama")).batch(batch, 128).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("batch");
    }
}
