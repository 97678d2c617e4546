package dev.peft4j.tuner;

import static dev.peft4j.tuner.Fixtures.IDS;
import static dev.peft4j.tuner.Fixtures.logits;
import static dev.peft4j.tuner.Fixtures.maxDiff;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.io.DType;
import dev.peft4j.io.SafeTensorsFile;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.ModelWriter;
import dev.peft4j.nn.Linear;
import dev.peft4j.train.AdamW;
import dev.peft4j.train.LmLoss;
import dev.peft4j.train.TrainingHook;
import dev.peft4j.tuner.adalora.AdaLoraConfig;
import dev.peft4j.tuner.adalora.AdaLoraModel;
import dev.peft4j.tuner.ia3.Ia3Config;
import dev.peft4j.tuner.loha.LoHaConfig;
import dev.peft4j.tuner.lokr.LoKrConfig;
import dev.peft4j.tuner.vera.VeraConfig;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * modules_to_save for every method (tuner.ModulesToSave, PEFT's ModulesToSaveWrapper): on a Llama with
 * a tied head, lm_head gets a trainable copy (untied from the embedding), training moves the copy and
 * not the embedding, the copy is saved under PEFT's key base_model.model.lm_head.weight and loads back
 * with the same logits, disable gives the base back, and merge_and_unload keeps the trained copy as the
 * (untied) head of the exported model.
 */
class ModulesToSaveTest {
    @TempDir Path tmp;

    static final List<String> TARGETS = List.of("q_proj", "v_proj", "down_proj");

    static AdapterConfig config(String method, List<String> toSave) {
        String[] t = TARGETS.toArray(String[]::new);
        return switch (method) {
            case "ia3" -> Ia3Config.builder().targetModules(t).feedforwardModules("down_proj").modulesToSave(toSave).build();
            case "vera" -> VeraConfig.builder().r(8).targetModules(t).modulesToSave(toSave).build();
            case "loha" -> LoHaConfig.builder().r(4).alpha(8).targetModules(t).modulesToSave(toSave).build();
            case "lokr" -> LoKrConfig.builder().r(4).alpha(8).targetModules(t).modulesToSave(toSave).build();
            // total_step: the rank allocator's schedule (8 steps below: warm-up 2, pruning 4 -> 2, final 2)
            case "adalora" -> AdaLoraConfig.builder().initR(4).targetR(2).alpha(8).tinit(2).tfinal(2).totalStep(8).targetModules(t)
                    .modulesToSave(toSave).build();
            default -> throw new IllegalArgumentException(method);
        };
    }

    static float loss(CausalLM m) { return LmLoss.loss(null, m, IDS, IDS, 2, 8).data[0]; }

    @ParameterizedTest
    @ValueSource(strings = {"ia3", "vera", "loha", "lokr", "adalora"})
    void trainsSavesLoadsAndMergesTheHeadCopy(String method) throws Exception {
        CausalLM m = Fixtures.load("llama-tied");
        Tensor embed = m.parameters().get(0);
        assertThat(m.headTied()).isTrue();
        float[] base = logits(m), embedBefore = embed.data.clone();

        PeftModel pm = new PeftModel(m);
        AdapterModel am = pm.addAdapter(config(method, List.of("lm_head")), "default", 3);
        Linear head = m.lmHead();
        Tensor copy = head.weight();
        assertThat(am.modulesToSave()).containsExactly("lm_head");
        assertThat(copy).isNotSameAs(embed);
        assertThat(copy.requiresGrad).isTrue();
        assertThat(copy.name).isEqualTo("base_model.model.lm_head.weight");
        List<Tensor> params = am.trainableParameters();
        assertThat(params.get(params.size() - 1)).isSameAs(copy);
        long trainable = params.stream().mapToLong(Tensor::size).sum();
        assertThat(am.trainableSummary()).startsWith(String.format("trainable params: %,d ||", trainable));
        assertThat(am.config().toPeftJson().get("modules_to_save")).isEqualTo(List.of("lm_head"));
        assertThat(maxDiff(logits(m), base)).as("identity at init").isEqualTo(0.0);

        AdamW opt = new AdamW(params, AdamW.Hyper.defaults());
        TrainingHook hook = am.trainingHook();              // as Trainer runs it (AdaLoRA: regulariser, rank allocator)
        float before = loss(m);
        for (int step = 0; step < 8; step++) {
            for (Tensor p : params) p.zeroGrad();
            Tape tape = new Tape(step);
            Tensor l = LmLoss.loss(tape, m, IDS, IDS, 2, 8);
            Tensor extra = hook == null ? null : hook.extraLoss(tape);
            tape.backward(extra == null ? l : dev.peft4j.autograd.Ops.add(tape, l, extra));
            opt.step(1e-2);
            if (hook != null) hook.afterOptimizerStep(step + 1, 8);
        }
        float after = loss(m);
        System.out.printf("[modules_to_save] %s + lm_head copy: loss %.4f -> %.4f in 8 AdamW steps%n", method, before, after);
        assertThat(after).isLessThan(before - 0.05f);
        assertThat(embed.data).as("the input embedding stays frozen").isEqualTo(embedBefore);
        assertThat(maxDiff(copy.data, embedBefore)).as("the head copy was trained").isGreaterThan(1e-3);
        float[] trained = logits(m);
        if (am instanceof AdaLoraModel ada)                 // pruned to target_r with the head copy beside it
            assertThat(ada.keptRank()).isEqualTo(2 * ada.layers().size());

        Path dir = tmp.resolve(method);
        PeftAdapter.save(am, dir, "golden/llama-tied", null);
        JsonNode cfg = new ObjectMapper().readTree(dir.resolve(PeftAdapter.CONFIG).toFile());
        assertThat(cfg.get("modules_to_save").toString()).isEqualTo("[\"lm_head\"]");
        try (SafeTensorsFile f = SafeTensorsFile.open(dir.resolve(PeftAdapter.WEIGHTS))) {
            assertThat(f.info("base_model.model.lm_head.weight").shape()).containsExactly(head.out, head.in);
            assertThat(f.readFloats("base_model.model.lm_head.weight")).isEqualTo(copy.data);
        }

        CausalLM m2 = Fixtures.load("llama-tied");
        AdapterModel loaded = PeftAdapter.load(m2, dir, "default");
        assertThat(loaded.modulesToSave()).containsExactly("lm_head");
        assertThat(maxDiff(logits(m2), trained)).as("%s reloaded", method).isEqualTo(0.0);
        loaded.disable();
        assertThat(maxDiff(logits(m2), base)).as("disabled: the base model").isEqualTo(0.0);
        assertThat(m2.headTied()).isTrue();
        loaded.enable();
        assertThat(maxDiff(logits(m2), trained)).isEqualTo(0.0);

        float[] headTrained = copy.data.clone();
        pm.mergeAndUnload();
        assertThat(head.weight().requiresGrad).isFalse();
        assertThat(head.weight().data).isEqualTo(headTrained);
        assertThat(m.headTied()).isFalse();
        assertThat(maxDiff(logits(m), trained)).as("%s merged", method).isLessThan(1e-4);
        Path merged = tmp.resolve(method + "-merged");
        ModelWriter.export(m, Fixtures.dir("llama-tied"), merged, DType.F32, Long.MAX_VALUE);
        assertThat(new ObjectMapper().readTree(merged.resolve("config.json").toFile()).get("tie_word_embeddings").asBoolean()).isFalse();
        CausalLM reread = CausalLM.load(merged);
        assertThat(reread.lmHead().weight().data).isEqualTo(headTrained);
        assertThat(maxDiff(logits(reread), trained)).as("%s merged and exported", method).isLessThan(1e-4);
    }

    @Test
    void unloadRestoresTheTiedHeadAndErrorsLeaveTheModelUntouched() {
        CausalLM m = Fixtures.load("llama-tied");
        Tensor embed = m.parameters().get(0);
        float[] base = logits(m);
        AdapterModel am = PeftMethods.of("LOHA", "test").apply(m, config("loha", List.of("lm_head")), "a", 1);
        for (Tensor t : am.trainableParameters()) for (int i = 0; i < t.size(); i++) t.data[i] += (float) (0.05 * Math.sin(i));
        assertThat(maxDiff(logits(m), base)).isGreaterThan(1e-4);
        assertThatThrownBy(() -> PeftMethods.of("IA3", "test").apply(m, config("ia3", List.of("lm_head")), "b", 1))
                .isInstanceOf(Peft4jException.class).hasMessageContaining("already trained in full");
        am.unload();
        assertThat(m.lmHead().weight()).isSameAs(embed);
        assertThat(maxDiff(logits(m), base)).isEqualTo(0.0);

        for (String method : List.of("ia3", "vera", "loha", "lokr", "adalora")) {
            AdapterConfig typo = config(method, List.of("lm_hed"));
            assertThatThrownBy(() -> PeftMethods.of(typo.peftType(), "test").apply(m, typo, "x", 1))
                    .isInstanceOf(Peft4jException.class).hasMessageContaining(method + ".modules_to_save entry 'lm_hed' matches no module");
            // "_proj" selects q/v/down_proj by endswith, while the target exclusion's dotted regex does not: both, refused
            AdapterConfig both = config(method, List.of("_proj"));
            assertThatThrownBy(() -> PeftMethods.of(both.peftType(), "test").apply(m, both, "x", 1))
                    .isInstanceOf(Peft4jException.class).hasMessageContaining("is both a " + both.methodName() + " target and in " + method + ".modules_to_save");
            AdapterConfig embedding = config(method, List.of("embed_tokens"));
            assertThatThrownBy(() -> PeftMethods.of(embedding.peftType(), "test").apply(m, embedding, "x", 1))
                    .isInstanceOf(Peft4jException.class).hasMessageContaining("not supported yet");
            for (Linear l : m.linears()) assertThat(l.adapters()).as("%s left no adapter behind", method).isEmpty();
            assertThat(m.lmHead().weight()).isSameAs(embed);
        }
        assertThatThrownBy(() -> config("ia3", List.of(" "))).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("ia3.modules_to_save entries must be non-empty");
        assertThatThrownBy(() -> config("adalora", List.of(""))).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("adalora.modules_to_save entries must be non-empty");
        assertThat(Arrays.equals(logits(m), base)).isTrue();
    }
}
