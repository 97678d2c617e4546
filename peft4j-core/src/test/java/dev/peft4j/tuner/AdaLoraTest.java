package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;
import dev.peft4j.tuner.lora.LoraPlan;

import static dev.peft4j.tuner.Fixtures.IDS;
import static dev.peft4j.tuner.Fixtures.logits;
import static dev.peft4j.tuner.Fixtures.maxDiff;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Golden;
import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.data.DataLoader;
import dev.peft4j.io.SafeTensorsFile;
import dev.peft4j.io.TensorInfo;
import dev.peft4j.model.CausalLM;
import dev.peft4j.train.LrSchedule;
import dev.peft4j.train.TrainConfig;
import dev.peft4j.train.Trainer;
import dev.peft4j.train.TrainingHook;
import dev.peft4j.tuner.adalora.AdaLora;
import dev.peft4j.tuner.adalora.AdaLoraConfig;
import dev.peft4j.tuner.adalora.AdaLoraLayer;
import dev.peft4j.tuner.adalora.AdaLoraModel;
import dev.peft4j.tuner.adalora.RankAllocator;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** AdaLoRA (PEFT 0.14's AdaLoraConfig / SVDLinear / RankAllocator): invariants, regulariser, schedule, pruning, files, counts. */
class AdaLoraTest {
    @TempDir Path tmp;

    static void perturb(AdapterModel am) {
        int k = 0;
        for (Tensor t : am.trainableParameters()) {
            k++;
            for (int i = 0; i < t.size(); i++) t.data[i] += (float) (0.2 * Math.sin(0.7 * i + k));
        }
    }

    static AdaLoraConfig.Builder small() { return AdaLoraConfig.builder().initR(4).targetR(2).alpha(8); }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2"})
    void identityAtInitThenMergedEqualsUnmergedAndUnmergeRestores(String name) {
        CausalLM m = CausalLM.load(Golden.model(name));
        float[] base = logits(m);
        PeftModel pm = new PeftModel(m);
        AdaLoraModel a = (AdaLoraModel) pm.addAdapter(small().build(), "a", 1);
        for (AdaLoraLayer l : a.layers().values()) {
            assertThat(l.E.data).containsOnly(0f);                    // PEFT: lora_E zeros, A and B N(0, 0.02)
            double s = 0;
            for (float v : l.A.data) s += v * v;
            assertThat(Math.sqrt(s / l.A.size())).isCloseTo(0.02, within(0.006));
            assertThat(l.ranknum).isEqualTo(4f);
        }
        assertThat(maxDiff(logits(m), base)).as("E = 0: the identity").isZero();
        perturb(a);
        float[] adapted = logits(m);
        assertThat(maxDiff(adapted, base)).isGreaterThan(1e-3);
        pm.merge("a");
        assertThat(maxDiff(logits(m), adapted)).as("merged == unmerged").isLessThan(1e-4);
        pm.unmerge("a");
        pm.disableAdapters();
        assertThat(maxDiff(logits(m), base)).as("unmerge restores the base").isLessThan(1e-5);
    }

    @Test
    void countsOnGpt2AndSmolLM2FollowTheFormula() {
        // SmolLM2-135M, PEFT's AdaLoRA default targets q_proj (576x576), v_proj (576->192), init_r 12: r (in + out + 1) per module,
        // all params add one frozen ranknum scalar per module (PEFT counts every named parameter)
        AdaLora.Plan p = AdaLora.plan(ModelModules.of(Fixtures.smollm2_135m()), AdaLoraConfig.builder().build());
        assertThat(p.targets()).hasSize(60);
        long want = 30L * (12 * (576 + 576 + 1) + 12 * (576 + 192 + 1));
        assertThat(p.trainableParameterCount()).isEqualTo(want).isEqualTo(691_920);
        assertThat(p.trainableSummary()).isEqualTo(LoraPlan.formatTrainable(want, 134_515_008L + want + 60));
        // GPT-2-124M: c_attn (768 -> 2304), Conv1D: fan_in_fan_out corrected to True
        AdaLora.Plan g = AdaLora.plan(ModelModules.of(Fixtures.gpt2_124m()), AdaLoraConfig.builder().build());
        assertThat(g.trainableParameterCount()).isEqualTo(12L * 12 * (768 + 2304 + 1)).isEqualTo(442_512);
        assertThat(g.trainableSummary()).isEqualTo(LoraPlan.formatTrainable(442_512, 124_439_808L + 442_512 + 12));
        assertThat(g.config().fanInFanOut()).isTrue();
        assertThat(g.warnings()).anyMatch(w -> w.contains("Setting fan_in_fan_out to True"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2"})
    void savedInPeftsFormatAndLoadedBack(String name) throws Exception {
        CausalLM m = CausalLM.load(Golden.model(name));
        AdaLoraModel a = AdaLora.apply(m, small().totalStep(10).build(), "default", 1);
        perturb(a);
        float[] adapted = logits(m);
        Path dir = tmp.resolve(name);
        PeftAdapter.save(a, dir, "base", null);
        JsonNode cfg = new ObjectMapper().readTree(dir.resolve(PeftAdapter.CONFIG).toFile());
        List<String> keys = new ArrayList<>();
        cfg.fieldNames().forEachRemaining(keys::add);
        // PEFT 0.14's AdaLoraConfig.to_dict keys (../shared/realpeft/FORMATS.txt "## adalora"), sorted as json.dumps(sort_keys=True)
        assertThat(keys).containsExactly("alpha_pattern", "auto_mapping", "base_model_name_or_path", "beta1", "beta2", "bias", "deltaT",
                "eva_config", "exclude_modules", "fan_in_fan_out", "inference_mode", "init_lora_weights", "init_r", "layer_replication",
                "layers_pattern", "layers_to_transform", "loftq_config", "lora_alpha", "lora_bias", "lora_dropout", "megatron_config",
                "megatron_core", "modules_to_save", "orth_reg_weight", "peft_type", "r", "rank_pattern", "revision", "target_modules",
                "target_r", "task_type", "tfinal", "tinit", "total_step", "use_dora", "use_rslora");
        assertThat(cfg.get("peft_type").asText()).isEqualTo("ADALORA");
        assertThat(cfg.get("init_r").asInt()).isEqualTo(4);
        assertThat(cfg.get("total_step").asInt()).isEqualTo(10);
        assertThat(cfg.get("rank_pattern").isNull()).isTrue();
        try (SafeTensorsFile f = SafeTensorsFile.open(dir.resolve(PeftAdapter.WEIGHTS))) {
            assertThat(f.metadata()).containsEntry("format", "pt");
            assertThat(f.tensors()).hasSize(3 * a.layers().size());
            for (TensorInfo t : f.tensors()) {
                String module = t.name().substring(Lora.KEY_PREFIX.length(), t.name().lastIndexOf('.'));
                AdaLoraLayer l = a.layers().get(module);
                assertThat(l).as(t.name()).isNotNull();
                String suffix = t.name().substring(t.name().lastIndexOf('.') + 1);     // no ".weight": ParameterDicts in PEFT
                long in = l.A.dim(1), out = l.B.dim(0);
                switch (suffix) {
                    case "lora_A" -> assertThat(t.shape()).containsExactly(4, in);
                    case "lora_E" -> assertThat(t.shape()).containsExactly(4, 1);
                    case "lora_B" -> assertThat(t.shape()).containsExactly(out, 4);
                    default -> throw new AssertionError("unexpected tensor " + t.name());
                }
            }
        }
        CausalLM m2 = CausalLM.load(Golden.model(name));
        AdapterModel back = PeftAdapter.load(m2, dir, "x");
        assertThat(back).isInstanceOf(AdaLoraModel.class);
        assertThat(maxDiff(logits(m2), adapted)).isLessThan(1e-6);
    }

    @Test
    void orthogonalRegularizerIsPeftsMeanFrobeniusNormWithItsGradient() {
        CausalLM m = CausalLM.load(Golden.model("llama"));
        AdaLoraModel a = AdaLora.apply(m, small().orthRegWeight(0.3).build(), "default", 1);
        perturb(a);
        // by hand: Σ over modules of ||A Aᵀ - I||_F + ||Bᵀ B - I||_F, divided by their count, times the weight
        double sum = 0;
        int n = 0;
        for (AdaLoraLayer l : a.layers().values()) {
            sum += fro(l.A, true);
            sum += fro(l.B, false);
            n += 2;
        }
        Tape tape = new Tape(0);
        Tensor reg = a.orthogonalRegularizer(tape);
        assertThat((double) reg.data[0]).isCloseTo(0.3 * sum / n, within(1e-5 * sum));
        tape.backward(reg, 1f);
        // finite differences on a few entries of the first A and B
        AdaLoraLayer l0 = a.layers().values().iterator().next();
        for (Tensor p : List.of(l0.A, l0.B))
            for (int i : new int[] {0, 3, p.size() - 1}) {
                float keep = p.data[i];
                double h = 1e-3;
                p.data[i] = (float) (keep + h);
                double up = a.orthogonalRegularizer(null).data[0];
                p.data[i] = (float) (keep - h);
                double down = a.orthogonalRegularizer(null).data[0];
                p.data[i] = keep;
                assertThat((double) p.grad()[i]).as("%s[%d]", p.name, i).isCloseTo((up - down) / (2 * h), within(2e-3));
            }
        assertThatThrownBy(() -> AdaLora.apply(CausalLM.load(Golden.model("llama")), small().orthRegWeight(0).build(), "d", 1)
                .orthogonalRegularizer(null)).hasMessageContaining("orth_reg_weight should be greater than 0");
    }

    static double fro(Tensor p, boolean rows) {
        int n0 = p.dim(0), n1 = p.dim(1), r = rows ? n0 : n1;
        double s = 0;
        for (int i = 0; i < r; i++)
            for (int j = 0; j < r; j++) {
                double v = 0;
                for (int t = 0; t < (rows ? n1 : n0); t++)
                    v += rows ? (double) p.data[i * n1 + t] * p.data[j * n1 + t] : (double) p.data[t * n1 + i] * p.data[t * n1 + j];
                if (i == j) v -= 1;
                s += v * v;
            }
        return Math.sqrt(s);
    }

    @Test
    void budgetScheduleIsPeftsCubicDecay() {
        CausalLM m = CausalLM.load(Golden.model("llama"));
        AdaLoraModel a = AdaLora.apply(m, AdaLoraConfig.builder().initR(12).targetR(4).tinit(10).tfinal(20).deltaT(5).totalStep(100).build(), "d", 1);
        int mods = a.layers().size();
        RankAllocator alloc = new RankAllocator(a.config(), a.layers());
        int init = 12 * mods, target = 4 * mods;
        assertThat(alloc.initBudget()).isEqualTo(init);
        assertThat(alloc.targetBudget()).isEqualTo(target);
        for (int step : new int[] {0, 5, 10}) assertThat(alloc.schedule(step)).isEqualTo(new RankAllocator.Budget(init, false));
        for (int step : new int[] {81, 90, 100}) assertThat(alloc.schedule(step)).isEqualTo(new RankAllocator.Budget(target, true));
        for (int step : new int[] {11, 15, 33, 50, 79, 80}) {
            double mul = 1 - (step - 10) / 70.0;
            int want = (int) ((init - target) * Math.pow(mul, 3) + target);
            assertThat(alloc.schedule(step)).as("step %d", step).isEqualTo(new RankAllocator.Budget(want, step % 5 == 0));
        }
        assertThat(alloc.schedule(45).budget()).isEqualTo((int) ((init - target) * Math.pow(0.5, 3) + target));
    }

    @Test
    void allocatorRefusesWhatPeftCannotRun() {
        CausalLM m = CausalLM.load(Golden.model("llama"));
        AdaLoraModel a = AdaLora.apply(m, small().build(), "d", 1);
        assertThatThrownBy(a::trainingHook).isInstanceOf(Peft4jException.class).hasMessageContaining("total_step");
        AdaLoraModel b = AdaLora.apply(CausalLM.load(Golden.model("llama")), small().targetR(4).totalStep(10).build(), "d", 1);
        assertThatThrownBy(b::trainingHook).hasMessageContaining("target_r");
        AdaLoraModel c = AdaLora.apply(CausalLM.load(Golden.model("llama")), small().beta1(1.0).totalStep(10).build(), "d", 1);
        assertThatThrownBy(c::trainingHook).hasMessageContaining("beta1");
    }

    // ---- training with the hook ----

    record Run(CausalLM model, AdaLoraModel ada, Trainer trainer) {}

    Run setup(Path out, int steps, int saveEvery, AdaLoraConfig cfg) {
        CausalLM model = CausalLM.load(Golden.model("llama"));
        AdaLoraModel ada = AdaLora.apply(model, cfg, "default", 7);
        TrainConfig tc = new TrainConfig(steps, 0, 2e-2, LrSchedule.Kind.COSINE, 2, 0, 3, 2, 1.0, 0.01, 42, 1, 0, 0, saveEvery, 0);
        DataLoader loader = new DataLoader(dev.peft4j.train.TrainerTestAccess.examples(24, 128, 1), 3, true, 42, 0, false);
        Trainer t = new Trainer(model, ada.trainableParameters(), dir -> PeftAdapter.save(ada, dir, "golden/llama", null),
                loader, List.of(), 0, tc, out, new PrintStream(new ByteArrayOutputStream())).hook(ada.trainingHook());
        return new Run(model, ada, t);
    }

    static AdaLoraConfig trainCfg(int steps) {
        return AdaLoraConfig.builder().initR(6).targetR(2).alpha(12).tinit(2).tfinal(3).deltaT(2).totalStep(steps).dropout(0.1f).build();
    }

    @Test
    void trainingPrunesToTargetRAndSavesThePrunedAdapterAsPeftDoes() throws Exception {
        Path out = tmp.resolve("run");
        Run run = setup(out, 16, 0, trainCfg(16));
        run.trainer().run(false);
        AdaLoraModel ada = run.ada();
        int mods = ada.layers().size();
        // the final budget: target_r per adapted module, the E entries outside the pattern are zero
        int kept = 0;
        for (AdaLoraLayer l : ada.layers().values()) {
            boolean[] keep = l.keep();
            assertThat(keep).hasSize(6);
            for (int i = 0; i < 6; i++) {
                if (keep[i]) kept++;
                else assertThat(l.E.data[i]).isZero();
            }
        }
        assertThat(kept).isEqualTo(2 * mods);
        // metrics.jsonl: the schedule's budget per step, ending at target
        List<String> rows = Files.readAllLines(out.resolve(Trainer.METRICS));
        ObjectMapper om = new ObjectMapper();
        List<Integer> budgets = new ArrayList<>();
        for (String r : rows) if (om.readTree(r).has("rank_budget")) budgets.add(om.readTree(r).get("rank_budget").asInt());
        assertThat(budgets).hasSize(16);
        assertThat(budgets.get(0)).isEqualTo(6 * mods);
        assertThat(budgets.get(15)).isEqualTo(2 * mods);
        assertThat(om.readTree(rows.get(rows.size() - 1)).get("rank").asInt()).isEqualTo(2 * mods);
        // saved as PEFT saves after pruning: rank_pattern keyed "<module>.lora_E" with init_r booleans, tensors resized to the kept triplets
        JsonNode cfg = om.readTree(out.resolve(PeftAdapter.CONFIG).toFile());
        JsonNode rp = cfg.get("rank_pattern");
        assertThat(rp.size()).isEqualTo(mods);
        for (Map.Entry<String, AdaLoraLayer> e : ada.layers().entrySet()) {
            JsonNode list = rp.get(e.getKey() + ".lora_E");
            assertThat(list).as(e.getKey()).isNotNull();
            assertThat(list.size()).isEqualTo(6);
            for (int i = 0; i < 6; i++) assertThat(list.get(i).asBoolean()).isEqualTo(e.getValue().keep()[i]);
        }
        try (SafeTensorsFile f = SafeTensorsFile.open(out.resolve(PeftAdapter.WEIGHTS))) {
            for (Map.Entry<String, AdaLoraLayer> e : ada.layers().entrySet()) {
                int k = e.getValue().keptRank();
                String key = Lora.KEY_PREFIX + e.getKey();
                assertThat(f.info(key + ".lora_A").shape()).containsExactly(k, e.getValue().A.dim(1));
                assertThat(f.info(key + ".lora_E").shape()).containsExactly(k, 1);
                assertThat(f.info(key + ".lora_B").shape()).containsExactly(e.getValue().B.dim(0), k);
            }
        }
        // loading back sizes every module to its pattern (ranknum stays init_r) and reproduces the logits
        float[] trained = logits(run.model());
        CausalLM m2 = CausalLM.load(Golden.model("llama"));
        AdaLoraModel back = (AdaLoraModel) PeftAdapter.load(m2, out, "x");
        for (AdaLoraLayer l : back.layers().values()) {
            assertThat(l.r).isEqualTo(l.keptRank());
            assertThat(l.ranknum).isEqualTo(l.r == 0 ? 0f : 6f);      // PEFT copies the old ranknum only when rank > 0
        }
        assertThat(back.layers().values().stream().mapToInt(l -> l.r).sum()).isEqualTo(2 * mods);
        org.assertj.core.api.Assertions.assertThatThrownBy(back::trainingHook).hasMessageContaining("already pruned");
        assertThat(maxDiff(logits(m2), trained)).isLessThan(1e-5);
        // and saving the loaded adapter again writes the same files (rank_pattern round trip)
        Path again = tmp.resolve("again");
        PeftAdapter.save(back, again, "golden/llama", null);
        assertThat(om.readTree(again.resolve(PeftAdapter.CONFIG).toFile()).get("rank_pattern")).isEqualTo(rp);
        assertThat(Files.readAllBytes(again.resolve(PeftAdapter.WEIGHTS))).isEqualTo(Files.readAllBytes(out.resolve(PeftAdapter.WEIGHTS)));
    }

    @Test
    void interruptedAndResumedAdaLoraRunEndsWithTheSameAdapterBytes() throws Exception {
        Path straight = tmp.resolve("straight"), resumed = tmp.resolve("resumed");
        setup(straight, 14, 3, trainCfg(14)).trainer().run(false);
        Trainer.Result first = setup(resumed, 14, 3, trainCfg(14)).trainer().stopAfter(7).run(false);
        assertThat(first.stoppedEarly()).isTrue();
        setup(resumed, 14, 3, trainCfg(14)).trainer().run(true);
        List<String> a = Files.readAllLines(straight.resolve(Trainer.METRICS)), b = Files.readAllLines(resumed.resolve(Trainer.METRICS));
        assertThat(b).hasSameSizeAs(a);
        for (int i = 0; i < a.size(); i++)
            assertThat(b.get(i).replaceAll("\"tokens_per_s\":[0-9.E-]+", "")).isEqualTo(a.get(i).replaceAll("\"tokens_per_s\":[0-9.E-]+", ""));
        assertThat(Files.readString(resumed.resolve(PeftAdapter.CONFIG))).isEqualTo(Files.readString(straight.resolve(PeftAdapter.CONFIG)));
        assertThat(Files.readAllBytes(resumed.resolve(PeftAdapter.WEIGHTS))).isEqualTo(Files.readAllBytes(straight.resolve(PeftAdapter.WEIGHTS)));
    }

    @Test
    void rankPatternInAConfigFileIsReadAsPeftWritesIt() throws Exception {
        CausalLM m = CausalLM.load(Golden.model("llama"));
        AdaLoraModel a = AdaLora.apply(m, small().build(), "default", 1);
        perturb(a);
        Map<String, boolean[]> pattern = new LinkedHashMap<>();
        int j = 0;
        for (String module : a.layers().keySet()) pattern.put(module, new boolean[] {j++ % 2 == 0, true, false, j % 3 == 0});
        a.setRankPattern(pattern);
        float[] pruned = logits(m);
        Path dir = tmp.resolve("p");
        PeftAdapter.save(a, dir, "base", null);
        // PEFT may also leave the adapter name in a key; both forms are accepted
        String text = Files.readString(dir.resolve(PeftAdapter.CONFIG));
        String first = a.layers().keySet().iterator().next() + ".lora_E";
        Files.writeString(dir.resolve(PeftAdapter.CONFIG), text.replace("\"" + first + "\"", "\"" + first + ".default\""));
        CausalLM m2 = CausalLM.load(Golden.model("llama"));
        AdaLoraModel back = (AdaLoraModel) PeftAdapter.load(m2, dir, "default");
        assertThat(maxDiff(logits(m2), pruned)).isLessThan(1e-6);
        assertThat(back.config().rankPattern()).containsOnlyKeys(a.config().rankPattern().keySet());
        Files.writeString(dir.resolve(PeftAdapter.CONFIG), text.replace("\"" + first + "\"", "\"" + first.replace(".lora_E", ".lora_X") + "\""));
        assertThatThrownBy(() -> PeftAdapter.load(CausalLM.load(Golden.model("llama")), dir, "d")).hasMessageContaining("lora_E");
    }

    @Test
    void trainerStaysMethodAgnosticAndAHookSeesEveryStep() {
        // a hook of one's own: the Trainer adds its loss term, calls it after every optimizer step, writes its metrics
        CausalLM model = CausalLM.load(Golden.model("llama"));
        LoraModel lm = Lora.apply(model, LoraConfig.builder().r(2).build(), 3);
        List<Integer> seen = new ArrayList<>();
        TrainingHook h = new TrainingHook() {
            @Override public void afterOptimizerStep(int step, int total) {
                for (Tensor p : lm.trainableParameters()) assertThat(p.hasGrad()).isTrue();
                seen.add(step);
            }
            @Override public Map<String, Object> metrics() { return Map.of("custom", seen.size()); }
        };
        TrainConfig tc = new TrainConfig(3, 0, 1e-3, LrSchedule.Kind.CONSTANT, 0, 0, 3, 1, 1.0, 0.0, 1, 1, 0, 0, 0, 0);
        new Trainer(model, lm.trainableParameters(), dir -> { }, new DataLoader(dev.peft4j.train.TrainerTestAccess.examples(9, 128, 1), 3, true, 1, 0, false),
                List.of(), 0, tc, tmp.resolve("h"), new PrintStream(new ByteArrayOutputStream())).hook(h).run(false);
        assertThat(seen).containsExactly(1, 2, 3);
    }
}
