/*
 * HeapPlan: the Java heap a training run needs, computed from the model's shapes and the run's settings
 * before anything is loaded, so that the JVM can be started with that heap (-Xmx; bin/peft4j does it for
 * `train` and `bench train`) instead of a share of the machine.
 *
 * Why a plan and not simply a large heap: G1 reclaims old-generation garbage only once the heap's occupancy
 * reaches a share of its maximum, so under a heap of 75% of a 24 GB machine a training process keeps every
 * array it ever promoted and its resident memory grows far past what it uses (SmolLM2-135M, B=4 T=256:
 * peak RSS 3.2-3.9 GB with an 18 GB maximum, 1.9 GB with 1.8 GB, same tokens/s; BENCHMARKS.md).
 *
 * What is counted (bytes; a float is 4):
 *   weights      every frozen value in its storage (f32 4, bf16 2, NF4 about 0.56, int8 about 1.03, prepacked f32 8);
 *                vectors (norms, biases) in f32
 *   loading      the peak while the base loads, when higher: an unquantised checkpoint is read whole in f32 before
 *                bf16 compaction or prepacking (4 per value); quantising stores one tensor at a time as it reads (the
 *                stored weights plus the largest matrix in f32)
 *   trainable    16 per trainable value: the value, its gradient and AdamW's two moments
 *   activations  what the backward keeps, per token and layer: the two norm inputs (2C), q and the attention
 *                output (2·NH·HS), k and v (2·KVH·HS), the inputs of the MLP activation (gated: g and u, 2I; else
 *                I), and each adapted linear's input unless already counted (one C for q/k/v, one C for
 *                gate/up or c_fc, I for down or the MLP's c_proj; the attention output for o). An op output that
 *                no backward keeps is garbage as soon as the forward moves on (Tape.record holds it weakly), so
 *                it is not counted. With gradient checkpointing: each block's input (C) plus one block's set.
 *   head         the LM head + loss chunk (LinearCrossEntropy: at most about 24M logits) and the final norm (2C)
 *   working      one block's activation gradients in flight during the backward, and 192 MB for the rest
 *                (tokenizer, kernel scratch, the JIT's objects), and 3x the training data's file size (its strings,
 *                records and token ids)
 *   G1 regions   an array of half a G1 region or more gets whole regions of its own, and the rest of its last
 *                region is lost (Llama-3.2-3B at T = 512 under a 5.7 GB heap: 4 MB regions, its 6 MB and 16 MB
 *                activations and its NF4 matrices lose about 1.2 GB, which ran out of memory before this was counted);
 *                the plan picks the region size (1-32 MB) that loses least, and bin/peft4j passes it to the JVM
 *   young        256 MB for G1's young generation (bin/peft4j caps it there)
 * heap = 1.1 × max(loading, weights + trainable + activations + head + working + G1 regions) + young.
 * Checked against the live heap after a forward (HeapPlanTest) on GPT-2 and Llama shapes; an estimate that
 * came out low would show there as a plan smaller than what the step keeps.
 */
package dev.peft4j.train;

import dev.peft4j.model.ModelConfig;
import dev.peft4j.tuner.ModelModules;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

public record HeapPlan(long weights, long loading, long trainable, long activations, long head, long working, long regionWaste,
                       long young, long regionBytes) {
    /** How the frozen matrices are held: bytes per value. */
    public enum Storage {
        F32(4.0), BF16(2.0), NF4(0.5625), INT8(1.03125), Q8_0(1.0625), Q4_K(0.5625),
        /** f32 rows plus the GEMM-ready packed copy (--prepack-weights on f32 matrices). */
        PREPACKED(8.0);

        final double bytesPerValue;

        Storage(double bytesPerValue) { this.bytesPerValue = bytesPerValue; }

        /**
         * The storage the CLI's options give: --quantize (none, nf4, int8, q8_0, q4_k), --frozen-dtype (auto, f32, bf16)
         * and whether the checkpoint's matrices are bf16 numbers (auto keeps those in bf16, exactly).
         */
        public static Storage of(String quantize, String frozenDtype, boolean bf16Values, boolean prepack) {
            Storage s = of(quantize, frozenDtype, bf16Values);
            return prepack && s == F32 ? PREPACKED : s;                // prepacking leaves compact matrices as they are
        }

        public static Storage of(String quantize, String frozenDtype, boolean bf16Values) {
            String q = quantize == null ? "none" : quantize.toLowerCase(Locale.ROOT);
            return switch (q) {
                case "nf4" -> NF4;
                case "int8" -> INT8;
                case "q8_0" -> Q8_0;
                case "q4_k" -> Q4_K;
                default -> switch (frozenDtype == null ? "auto" : frozenDtype.toLowerCase(Locale.ROOT)) {
                    case "bf16", "bfloat16" -> BF16;
                    case "f32", "float32" -> F32;
                    default -> bf16Values ? BF16 : F32;
                };
            };
        }
    }

    static final long MB = 1L << 20;
    static final long REST = 192 * MB, YOUNG = 256 * MB;
    static final double MARGIN = 1.1;

    /** The heap to give the JVM, in bytes (a multiple of 64 MB). */
    public long heapBytes() {
        long need = Math.max(loading, weights + trainable + activations + head + working + regionWaste);
        long bytes = (long) (MARGIN * need) + young;
        return (bytes + 64 * MB - 1) / (64 * MB) * (64 * MB);
    }

    /** The JVM option for this plan's heap, e.g. "-Xmx2176m". */
    public String xmx() { return "-Xmx" + heapBytes() / MB + "m"; }

    /** The JVM options for this plan: the heap and G1's region size, e.g. "-Xmx2176m -XX:G1HeapRegionSize=1m". */
    public String jvmOptions() { return xmx() + " -XX:G1HeapRegionSize=" + regionBytes / MB + "m"; }

    /** One line for the console: the heap and what it is made of. */
    public String describe() {
        return String.format(Locale.ROOT, "%d MB = 1.1 x (weights %d + trainable %d + activations %d + LM head %d + working %d + G1 regions of %d MB %d%s) + young %d",
                heapBytes() / MB, weights / MB, trainable / MB, activations / MB, head / MB, working / MB, regionBytes / MB, regionWaste / MB,
                loading > weights + trainable + activations + head + working + regionWaste ? "; loading peak " + loading / MB : "", young / MB);
    }

    /** A plan for training on a model of this config; the builder's defaults are the cautious ones. */
    public static Builder builder(ModelConfig cfg) { return new Builder(cfg); }

    public static final class Builder {
        private final ModelConfig cfg;
        private Storage storage = Storage.F32;
        private boolean loadsInF32 = true, checkpointing;
        private Set<String> adapted;
        private long trainable, dataBytes;
        private int batch = 1, seq = 1, virtualTokens;

        private Builder(ModelConfig cfg) { this.cfg = java.util.Objects.requireNonNull(cfg, "cfg"); }

        /** How the frozen matrices are held (default F32). */
        public Builder storage(Storage s) { this.storage = java.util.Objects.requireNonNull(s, "storage"); return this; }

        /**
         * Whether the base is first held whole in f32 (an unquantised checkpoint, compacted after loading; a random
         * benchmark model) rather than stored tensor by tensor as it is read (default true).
         */
        public Builder loadsInF32(boolean b) { this.loadsInF32 = b; return this; }

        /**
         * Names of the linear modules an adapter is attached to (their inputs are kept for its gradient); null (the
         * default) = every linear layer of the blocks, for methods whose targets are not known up front.
         */
        public Builder adapted(java.util.Collection<String> names) { this.adapted = names == null ? null : Set.copyOf(names); return this; }

        /**
         * The adapter to be trained (null: not known up front): a LoRA config gives its real targets and trainable count (LoraPlan); any other method
         * counts every linear's input as kept and 2% of the base as trained; prompt methods add their virtual tokens to
         * every sequence.
         */
        public Builder adapter(dev.peft4j.tuner.AdapterConfig ac) {
            virtualTokens = switch (ac) {
                case dev.peft4j.tuner.prompttuning.PromptTuningConfig p -> p.base().numVirtualTokens();
                case dev.peft4j.tuner.prefixtuning.PrefixTuningConfig p -> p.base().numVirtualTokens();
                case dev.peft4j.tuner.ptuning.PTuningConfig p -> p.base().numVirtualTokens();
                case null, default -> 0;
            };
            if (ac instanceof dev.peft4j.tuner.lora.LoraConfig lora) {
                dev.peft4j.tuner.lora.LoraPlan lp = dev.peft4j.tuner.lora.LoraPlan.of(cfg, lora);
                return adapted(lp.targetModuleNames()).trainable(lp.trainableParameterCount());
            }
            return adapted(null).trainable(ModelModules.of(cfg).baseParameterCount() / 50);
        }

        /** Trainable values: adapter parameters and modules_to_save (default 0). */
        public Builder trainable(long values) { this.trainable = values; return this; }

        /** Sequences per micro-batch and tokens per sequence, virtual tokens included. */
        public Builder batch(int batch, int seq) { this.batch = batch; this.seq = seq; return this; }

        public Builder checkpointing(boolean b) { this.checkpointing = b; return this; }

        /** Size of the training data files: held parsed and tokenised (counted 3x: strings, records, token ids). */
        public Builder dataBytes(long bytes) { this.dataBytes = bytes; return this; }

        public HeapPlan build() {
            if (batch < 1 || seq < 1)
                throw new IllegalArgumentException("a heap plan needs batch >= 1 and seq >= 1 (got batch " + batch + ", seq " + seq + ")");
            if (trainable < 0 || dataBytes < 0) throw new IllegalArgumentException("trainable values and data bytes must be >= 0");
            ModelModules mm = ModelModules.of(cfg);
            int C = cfg.hiddenSize(), L = cfg.numLayers(), V = cfg.vocabSize();
            List<Long> matrixValues = new ArrayList<>();                               // every frozen matrix, in values
            for (ModelModules.Module m : mm.linears())
                if (!m.outputHead() || !cfg.tieWordEmbeddings()) matrixValues.add((long) m.in() * m.out());
            matrixValues.add((long) V * C);                                            // the token embedding
            if (cfg.isGpt2()) matrixValues.add((long) cfg.maxPositions() * C);         // GPT-2's position embedding
            long matrices = 0, largest = 0;
            for (long n : matrixValues) { matrices += n; largest = Math.max(largest, n); }
            long vectors = Math.max(0, mm.baseParameterCount() - matrices);           // norms, biases
            long weights = (long) (storage.bytesPerValue * matrices) + 4 * vectors;
            long loading = loadsInF32 ? 4 * mm.baseParameterCount() + 64 * MB          // the f32 model + the matrix being compacted
                    : weights + 4 * largest + 64 * MB;                                 // stored as read: one f32 matrix at a time

            long tokens = (long) batch * (seq + virtualTokens);
            Widths w = widths(cfg, mm, adapted);
            long perLayer = w.floats(cfg);
            long activations = checkpointing ? 4 * tokens * ((long) L * C + perLayer) : 4 * tokens * L * perLayer;
            int chunk = dev.peft4j.autograd.LinearCrossEntropy.chunkRows(V, (int) Math.min(Integer.MAX_VALUE, tokens));
            long head = 4L * Math.min(tokens, chunk) * V + 4 * tokens * 2L * C;
            long working = 4 * tokens * perLayer + REST + 3 * dataBytes;
            // G1 gives an array of half a region or more whole regions of its own: the rest of its last region is lost.
            // The plan picks the region size that loses least (bin/peft4j passes it with the heap).
            HeapPlan best = null;
            for (long region = MB; region <= 32 * MB; region *= 2) {
                long waste = 0;
                for (long n : matrixValues) waste += waste((long) (storage.bytesPerValue * n), region);
                waste += (checkpointing ? 1 : L) * w.waste(cfg, tokens, region) + (checkpointing ? L * waste(4 * tokens * C, region) : 0);
                waste += 2 * waste(4 * tokens * Math.max(C, cfg.intermediateSize()), region);   // gradients in flight
                HeapPlan p = new HeapPlan(weights, loading, 16 * trainable, activations, head, working, waste, YOUNG, region);
                if (best == null || p.regionWaste() <= best.regionWaste()) best = p;      // ties: the larger region
            }
            return best;
        }
    }

    /** Bytes lost to region rounding by an array of this many bytes (16 bytes of header) in regions of `region` bytes. */
    static long waste(long bytes, long region) {
        long size = bytes + 16;
        if (size < region / 2) return 0;                                       // a normal object, packed with others
        return (size + region - 1) / region * region - bytes;
    }

    /** The arrays one block keeps, by width: counts of (rows, C), (rows, NH·HS), (rows, KVH·HS) and (rows, I). */
    record Widths(int c, int q, int kv, int i) {
        long floats(ModelConfig cfg) {
            return (long) c * cfg.hiddenSize() + (long) q * cfg.numHeads() * cfg.headDim() + (long) kv * cfg.numKvHeads() * cfg.headDim()
                    + (long) i * cfg.intermediateSize();
        }

        long waste(ModelConfig cfg, long tokens, long region) {
            return c * HeapPlan.waste(4 * tokens * cfg.hiddenSize(), region) + q * HeapPlan.waste(4 * tokens * cfg.numHeads() * cfg.headDim(), region)
                    + kv * HeapPlan.waste(4 * tokens * cfg.numKvHeads() * cfg.headDim(), region) + i * HeapPlan.waste(4 * tokens * cfg.intermediateSize(), region);
        }
    }

    /**
     * Whether a checkpoint directory's weight matrices are stored as bf16 (then --frozen-dtype auto keeps them in
     * bf16): the first 2-D tensor of its first .safetensors file, read from the header only. False when there is none.
     */
    public static boolean bf16Checkpoint(java.nio.file.Path modelDir) {
        try (var files = java.nio.file.Files.list(modelDir)) {
            java.nio.file.Path first = files.filter(f -> f.getFileName().toString().endsWith(".safetensors")).sorted().findFirst().orElse(null);
            if (first == null) return false;
            try (dev.peft4j.io.SafeTensorsFile st = dev.peft4j.io.SafeTensorsFile.open(first)) {
                for (dev.peft4j.io.TensorInfo t : st.tensors())
                    if (t.shape().length == 2) return t.dtype() == dev.peft4j.io.DType.BF16;
            }
            return false;
        } catch (java.io.IOException e) {
            return false;
        }
    }

    /** The arrays one block keeps for its backward (see the header). */
    static Widths widths(ModelConfig cfg, ModelModules mm, Set<String> adapted) {
        int C = cfg.hiddenSize(), I = cfg.intermediateSize();
        long q = (long) cfg.numHeads() * cfg.headDim();
        boolean gated = !cfg.isGpt2();                                                // GPT-2: c_fc -> gelu -> c_proj
        int nc = 2, nq = 2, nkv = 2, ni = gated ? 2 : 1;
        if (cfg.arch().gemma() != null || cfg.arch().postNorm()) nc += 2;             // norms after the sublayers too
        if (cfg.arch().qkNorm()) { nq++; nkv++; }                                     // q/k norms keep their inputs
        // adapted linears of layer 0 (all layers alike for planning), deduplicated by (parent module, input width):
        // q/k/v/o share self_attn and o's input is the attention output, already counted; gate/up share mlp
        Set<String> inputs = new HashSet<>();
        String layer0 = cfg.isGpt2() ? "transformer.h.0." : "model.layers.0.";
        for (ModelModules.Module m : mm.linears()) {
            if (m.outputHead() || !m.name().startsWith(layer0)) continue;
            if (adapted != null && !adapted.contains(m.name()) && !adaptedInAnyLayer(adapted, m.name(), layer0)) continue;
            String parent = m.name().substring(0, m.name().lastIndexOf('.'));
            boolean attentionOutput = m.in() == q && (m.name().endsWith("o_proj") || m.name().endsWith("attn.c_proj"));
            if (!inputs.add(parent + ":" + m.in()) || attentionOutput) continue;
            if (m.in() == C) nc++;
            else if (m.in() == I) ni++;
            else nq++;                                                                  // another width: count it as a q-wide array
        }
        return new Widths(nc, nq, nkv, ni);
    }

    /** Whether the module with layer-0 name `name` is adapted in some layer (layers_to_transform may skip layer 0). */
    private static boolean adaptedInAnyLayer(Set<String> adapted, String name, String layer0) {
        String suffix = name.substring(layer0.length());
        for (String a : adapted) if (a.endsWith("." + suffix)) return true;
        return false;
    }
}
