/*
 * peft4j inspect: describe a model directory without loading its weights — architecture from
 * config.json, parameter counts by dtype and memory footprint from the safetensors headers.
 */
package dev.peft4j.cli;

import dev.peft4j.io.Checkpoint;
import dev.peft4j.io.DType;
import dev.peft4j.io.TensorInfo;
import dev.peft4j.model.ModelConfig;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = {"Describe a model directory: architecture, parameters by dtype, tensors, memory footprint.",
                "Reads only config.json and the safetensors headers (fast even for large models).",
                "For an adapter directory: its configuration, tensors, provenance (provenance.json) and recorded evaluations.",
                "Example: peft4j inspect ../shared/models/stories260K --tensors"})
final class InspectCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "DIR", description = "Model directory, adapter directory, or a single .safetensors file.")
    Path dir;

    @Option(names = "--tensors", description = "List every tensor with dtype and shape.")
    boolean listTensors;

    @Override
    public Integer call() {
        if (java.nio.file.Files.isRegularFile(dir.resolve(dev.peft4j.tuner.PeftAdapter.CONFIG))) return inspectAdapter();
        ModelConfig c = ModelConfig.load(dir);
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            Map<DType, long[]> byDtype = new TreeMap<>();      // dtype -> {tensors, elements, bytes}
            long params = 0;
            for (String name : ckpt.names()) {
                TensorInfo t = ckpt.info(name);
                long[] acc = byDtype.computeIfAbsent(t.dtype(), d -> new long[3]);
                acc[0]++;
                acc[1] += t.numel();
                acc[2] += t.byteSize();
                params += t.numel();
            }
            System.out.printf("model        %s%n", dir);
            System.out.printf("architecture %s (%s)%n", c.family().modelType, describe(c));
            System.out.printf("parameters   %,d in %d tensors across %d file(s)%n", params, ckpt.names().size(), ckpt.files().size());
            byDtype.forEach((d, a) -> System.out.printf("  %-5s %,15d params in %4d tensors, %s%n", d, a[1], a[0], bytes(a[2])));
            long kvPerToken = 2L * c.numLayers() * c.numKvHeads() * c.headDim() * Float.BYTES;
            System.out.printf("memory       on disk %s (memory-mapped); in memory after load %s (f32 weights)%n",
                    bytes(ckpt.totalBytes()), bytes(params * Float.BYTES));
            System.out.printf("             KV cache %s per token per sequence (%s for %d positions)%n",
                    bytes(kvPerToken), bytes(kvPerToken * c.maxPositions()), c.maxPositions());
            if (listTensors) {
                System.out.println("tensors");
                for (String name : ckpt.names()) {
                    TensorInfo t = ckpt.info(name);
                    System.out.printf("  %-60s %-5s %s%n", name, t.dtype(), Arrays.toString(t.shape()));
                }
            }
        }
        return 0;
    }

    /** An adapter directory: its configuration and tensors, read without a base model. */
    private int inspectAdapter() {
        var config = dev.peft4j.tuner.PeftAdapter.readConfig(dir);
        System.out.printf("adapter      %s (PEFT %s, peft_type %s)%n", dir, config.methodName(), config.peftType());
        System.out.printf("base model   %s%n", dev.peft4j.tuner.PeftAdapter.baseModelOf(dir));
        if (config instanceof dev.peft4j.tuner.lora.LoraConfig cfg) {
            System.out.printf("config       r %d, lora_alpha %s%s, dropout %s, target_modules %s%n", cfg.r(), cfg.loraAlpha(),
                    cfg.useRslora() ? " (rsLoRA)" : "", cfg.loraDropout(), cfg.targetModules() == null ? "(model default)" : cfg.targetModules().toPeft());
            if (!cfg.rankPattern().isEmpty()) System.out.printf("             rank_pattern %s%n", cfg.rankPattern());
            if (!cfg.alphaPattern().isEmpty()) System.out.printf("             alpha_pattern %s%n", cfg.alphaPattern());
        } else {
            Map<String, Object> json = config.toPeftJson();
            Object targets = json.get("target_modules");
            if (!json.containsKey("target_modules") && json.containsKey("num_virtual_tokens"))   // prompt learning: no modules
                System.out.printf("config       %s (virtual tokens: no adapted modules)%n", config.describe());
            else System.out.printf("config       %s, target_modules %s%n", config.describe(), targets == null ? "(model default)" : targets);
        }
        if (!config.modulesToSave().isEmpty()) System.out.printf("             modules_to_save %s%n", config.modulesToSave());
        try (var f = dev.peft4j.io.SafeTensorsFile.open(dir.resolve(dev.peft4j.tuner.PeftAdapter.WEIGHTS))) {
            long params = 0, bytes = 0;
            java.util.Set<String> modules = new java.util.TreeSet<>();
            for (TensorInfo t : f.tensors()) {
                params += t.numel();
                bytes += t.byteSize();
                String n = t.name();
                if (n.startsWith("base_model.model.")) modules.add(n.substring(0, n.lastIndexOf('.')).replaceFirst("^base_model\\.model\\.", "")
                        .replaceFirst("\\.(lora_[AB]|ia3_l|weight|bias)$", ""));
            }
            System.out.printf("tensors      %d (%,d parameters, %s) on %d adapted modules%n", f.tensors().size(), params, bytes(bytes), modules.size());
            if (listTensors)
                for (TensorInfo t : f.tensors()) System.out.printf("  %-70s %-5s %s%n", t.name(), t.dtype(), Arrays.toString(t.shape()));
        }
        printProvenance(dir);
        return 0;
    }

    /** provenance.json (written by peft4j train) and eval_results.json (eval --record), when the adapter has them. */
    static void printProvenance(Path dir) {
        var p = dev.peft4j.provenance.Provenance.read(dir);
        if (p == null) {
            System.out.println("provenance   none (no " + dev.peft4j.provenance.Provenance.FILE + ": trained elsewhere or by an older peft4j)");
        } else {
            System.out.println("provenance   " + dir.resolve(dev.peft4j.provenance.Provenance.FILE));
            for (String[] row : dev.peft4j.tuner.ModelCard.provenanceRows(p)) System.out.printf("  %-24s %s%n", row[0], row[1]);
        }
        var evals = dev.peft4j.provenance.EvalResults.read(dir).latest();
        if (!evals.isEmpty()) {
            System.out.println("evaluations  recorded by peft4j eval --record (latest of each metric)");
            evals.forEach((name, l) -> System.out.printf("  %-24s %.4f%s n=%d  (%s, %s)%n", name, l.score().value(),
                    l.score().lo() == null || l.score().hi() == null ? "" : String.format(" [%.4f, %.4f]", l.score().lo(), l.score().hi()), l.score().n(),
                    l.data().data() == null ? "-" : l.data().data(), l.date()));
        }
    }

    private static String describe(ModelConfig c) {
        StringBuilder s = new StringBuilder();
        s.append(String.format("layers %d, hidden %d, heads %d", c.numLayers(), c.hiddenSize(), c.numHeads()));
        if (c.numKvHeads() != c.numHeads()) s.append(String.format(" / %d kv (grouped-query)", c.numKvHeads()));
        s.append(String.format(", head dim %d, mlp %d, vocab %d, context %d", c.headDim(), c.intermediateSize(),
                c.vocabSize(), c.maxPositions()));
        if (!c.isGpt2()) s.append(String.format(", rope theta %s", c.ropeTheta()));
        if (c.ropeScaling() != null) s.append(", rope scaling ").append(c.ropeScaling().type()).append(" x").append(c.ropeScaling().factor());
        if (c.ropeScaling() != null && c.ropeScaling().type().equals("longrope"))
            s.append(String.format(" (short/long factors switch past %d tokens, attention factor %.4f)",
                    c.ropeScaling().originalMaxPositions(), c.longRopeAttentionFactor()));
        if (c.rotaryDim() != c.headDim()) s.append(String.format(", partial rotary %d of %d dims", c.rotaryDim(), c.headDim()));
        if (c.family() == ModelConfig.Family.PHI3) s.append(", fused qkv_proj / gate_up_proj");
        if (c.qkvBias()) s.append(", q/k/v bias");
        if (c.slidingWindow() > 0) s.append(", sliding window ").append(c.slidingWindow());
        ModelConfig.Gemma g = c.arch().gemma();
        if (g != null) {             // Gemma 2 / 3: which layers slide, the attention scale, soft-capping, local RoPE base
            long slide = g.sliding().stream().filter(x -> x).count();
            s.append(String.format(" on %d of %d layers (the others global)", slide, g.sliding().size()));
            s.append(", query_pre_attn_scalar ").append(g.queryPreAttnScalar());
            if (g.attnSoftcap() > 0) s.append(", attention soft-cap ").append(g.attnSoftcap());
            if (g.finalSoftcap() > 0) s.append(", final logit soft-cap ").append(g.finalSoftcap());
            if (g.ropeLocalTheta() > 0) s.append(", local rope theta ").append(g.ropeLocalTheta());
        }
        if (!c.arch().describe().isEmpty()) s.append(", ").append(c.arch().describe());     // the family's switches
        s.append(c.tieWordEmbeddings() ? ", tied embeddings" : ", separate lm_head");
        s.append(", ").append(c.torchDtype());
        return s.toString();
    }

    static String bytes(long b) {
        if (b >= 1L << 30) return String.format("%.2f GiB", b / (double) (1L << 30));
        if (b >= 1L << 20) return String.format("%.1f MiB", b / (double) (1L << 20));
        if (b >= 1L << 10) return String.format("%.1f KiB", b / 1024.0);
        return b + " B";
    }
}
