/*
 * ModelModules: the module tree of a supported model as transformers names it — what PEFT's
 * model.named_modules() yields for LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM /
 * GPT2LMHeadModel, in registration order — with each linear layer's shape, plus the base parameter
 * count. LoRA matching runs over these names exactly as PEFT's inject_adapter runs over
 * named_modules(), so a target that hits a non-linear module (a norm, the embedding, a container
 * such as "mlp") is detected and refused as PEFT refuses it, instead of silently adapting less.
 *
 * Built from a ModelConfig alone (shapes only, no weights: enough to plan and count LoRA for a
 * 124M-parameter model in a unit test) or from a loaded CausalLM, in which case its linears() are
 * checked against the names and shapes derived here, so the two cannot drift apart.
 * Omitted on purpose: modules whose presence varies by transformers version (rotary_emb inside
 * attention in 4.45–4.47); none of them is a linear layer.
 */
package dev.peft4j.tuner;

import dev.peft4j.model.CausalLM;
import dev.peft4j.model.Llama;
import dev.peft4j.model.ModelConfig;
import dev.peft4j.nn.Linear;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;

public record ModelModules(ModelConfig config, List<Module> modules, long baseParameterCount) {

    /**
     * One named module. type is the transformers class name (for messages); in/out/bias/conv1d are
     * meaningful for linear modules only; outputHead marks lm_head (excluded by all-linear).
     */
    public record Module(String name, String type, boolean linear, int in, int out, boolean bias, boolean conv1d,
                         boolean outputHead) {
        /** Weight plus bias values of a linear module (0 for other modules). */
        public long parameterCount() { return linear ? (long) in * out + (bias ? out : 0) : 0; }

        static Module other(String name, String type) { return new Module(name, type, false, 0, 0, false, false, false); }

        static Module linear(String name, int in, int out, boolean bias) {
            return new Module(name, "Linear", true, in, out, bias, false, false);
        }

        static Module conv1d(String name, int in, int out) { return new Module(name, "Conv1D", true, in, out, true, true, false); }
    }

    public ModelModules {
        modules = List.copyOf(modules);
    }

    /** The module tree and parameter count implied by config.json alone. */
    public static ModelModules of(ModelConfig c) {
        if (c.family() == ModelConfig.Family.PHI3) return phi3(c);
        if (c.arch().gemma() != null) return gemma(c);
        return c.isGpt2() ? gpt2(c) : llama(c);
    }

    /**
     * The module tree of a loaded model. Its linear layers must be exactly those the config implies
     * (same names, order and shapes); the base parameter count is the model's own parameterCount(),
     * so call this before modules_to_save replaces any weight.
     */
    public static ModelModules of(CausalLM model) {
        ModelModules fromConfig = of(model.config());
        List<Linear> actual = model.linears();
        List<Module> expected = fromConfig.linears();
        boolean same = actual.size() == expected.size();
        for (int i = 0; same && i < actual.size(); i++) {
            Linear a = actual.get(i);
            Module e = expected.get(i);
            same = a.name.equals(e.name()) && a.in == e.in() && a.out == e.out() && (a.bias() != null) == e.bias() && a.conv1d == e.conv1d();
        }
        if (!same)
            throw new IllegalStateException("the tuner's module map for " + model.config().family().modelType
                    + " disagrees with the loaded model's linear layers (expected " + describe(expected) + ", found "
                    + describeLinears(actual) + "); dev.peft4j.tuner.ModelModules must follow dev.peft4j.model.ModelLoader");
        return new ModelModules(model.config(), fromConfig.modules(), model.parameterCount());
    }

    /** The linear modules, in module order (lm_head last). */
    public List<Module> linears() {
        List<Module> out = new ArrayList<>();
        for (Module m : modules) if (m.linear()) out.add(m);
        return out;
    }

    /** The module with this exact name, or null. */
    public Module find(String name) {
        for (Module m : modules) if (m.name().equals(name)) return m;
        return null;
    }

    /** The distinct last name components of the linear layers ("q_proj", ..., "lm_head"), for messages. */
    public List<String> linearSuffixes() {
        LinkedHashSet<String> out = new LinkedHashSet<>();
        for (Module m : linears()) out.add(m.name().substring(m.name().lastIndexOf('.') + 1));
        return List.copyOf(out);
    }

    // transformers modeling_llama.py / modeling_mistral.py / modeling_qwen2.py: LlamaForCausalLM(model: LlamaModel(
    // embed_tokens, layers[N](self_attn(q,k,v,o), mlp(gate, up, down, act_fn), input_layernorm,
    // post_attention_layernorm), norm, rotary_emb), lm_head); modeling_olmo2.py: no input_layernorm, the layer's norms
    // are post_attention_layernorm, post_feedforward_layernorm (after mlp), q_norm/k_norm over the full projections
    private static ModelModules llama(ModelConfig c) {
        String fam = switch (c.family()) {
            case MISTRAL -> "Mistral";
            case QWEN2 -> "Qwen2";
            case QWEN3 -> "Qwen3";
            case SMOLLM3 -> "SmolLM3";
            case OLMO2 -> "Olmo2";
            default -> "Llama";
        };
        int C = c.hiddenSize(), V = c.vocabSize(), I = c.intermediateSize(), HS = c.headDim();
        int q = c.numHeads() * HS, kv = c.numKvHeads() * HS;
        List<Module> m = new ArrayList<>();
        long params = (long) V * C;
        m.add(Module.other("model", fam + "Model"));
        m.add(Module.other("model.embed_tokens", "Embedding"));
        m.add(Module.other("model.layers", "ModuleList"));
        for (int l = 0; l < c.numLayers(); l++) {
            String p = "model.layers." + l;
            List<Module> lin = List.of(
                    Module.linear(p + ".self_attn.q_proj", C, q, c.qkvBias()),
                    Module.linear(p + ".self_attn.k_proj", C, kv, c.qkvBias()),
                    Module.linear(p + ".self_attn.v_proj", C, kv, c.qkvBias()),
                    Module.linear(p + ".self_attn.o_proj", q, C, c.outputBias()),
                    Module.linear(p + ".mlp.gate_proj", C, I, c.mlpBias()),
                    Module.linear(p + ".mlp.up_proj", C, I, c.mlpBias()),
                    Module.linear(p + ".mlp.down_proj", I, C, c.mlpBias()));
            m.add(Module.other(p, fam + "DecoderLayer"));
            m.add(Module.other(p + ".self_attn", fam + "Attention"));
            m.addAll(lin.subList(0, 4));
            if (c.arch().qkNorm()) {
                m.add(Module.other(p + ".self_attn.q_norm", fam + "RMSNorm"));
                m.add(Module.other(p + ".self_attn.k_norm", fam + "RMSNorm"));
                int[] qk = Llama.qkNormSizes(c);
                params += qk[0] + qk[1];
            }
            m.add(Module.other(p + ".mlp", fam + "MLP"));
            m.addAll(lin.subList(4, 7));
            m.add(Module.other(p + ".mlp.act_fn", "SiLU"));
            for (String norm : Llama.normNames(c)) m.add(Module.other(p + "." + norm, fam + "RMSNorm"));
            params += 2L * C;
            for (Module x : lin) params += x.parameterCount();
        }
        m.add(Module.other("model.norm", fam + "RMSNorm"));
        m.add(Module.other("model.rotary_emb", fam + "RotaryEmbedding"));
        params += C;
        m.add(new Module("lm_head", "Linear", true, C, V, false, false, true));
        if (!c.tieWordEmbeddings()) params += (long) V * C;
        return new ModelModules(c, m, params);
    }

    // transformers modeling_phi3.py (4.46): Phi3ForCausalLM(model: Phi3Model(embed_tokens, embed_dropout, layers[N](
    // self_attn(o_proj, qkv_proj), mlp(gate_up_proj, down_proj, activation_fn), input_layernorm, resid_attn_dropout,
    // resid_mlp_dropout, post_attention_layernorm), norm), lm_head) -- o_proj is registered before qkv_proj.
    private static ModelModules phi3(ModelConfig c) {
        int C = c.hiddenSize(), V = c.vocabSize(), I = c.intermediateSize(), HS = c.headDim();
        int q = c.numHeads() * HS, qkv = (c.numHeads() + 2 * c.numKvHeads()) * HS;
        List<Module> m = new ArrayList<>();
        long params = (long) V * C;
        m.add(Module.other("model", "Phi3Model"));
        m.add(Module.other("model.embed_tokens", "Embedding"));
        m.add(Module.other("model.embed_dropout", "Dropout"));
        m.add(Module.other("model.layers", "ModuleList"));
        for (int l = 0; l < c.numLayers(); l++) {
            String p = "model.layers." + l;
            List<Module> lin = List.of(
                    Module.linear(p + ".self_attn.o_proj", q, C, false),
                    Module.linear(p + ".self_attn.qkv_proj", C, qkv, false),
                    Module.linear(p + ".mlp.gate_up_proj", C, 2 * I, false),
                    Module.linear(p + ".mlp.down_proj", I, C, false));
            m.add(Module.other(p, "Phi3DecoderLayer"));
            m.add(Module.other(p + ".self_attn", "Phi3Attention"));
            m.addAll(lin.subList(0, 2));
            m.add(Module.other(p + ".mlp", "Phi3MLP"));
            m.addAll(lin.subList(2, 4));
            m.add(Module.other(p + ".mlp.activation_fn", "SiLU"));
            m.add(Module.other(p + ".input_layernorm", "Phi3RMSNorm"));
            m.add(Module.other(p + ".resid_attn_dropout", "Dropout"));
            m.add(Module.other(p + ".resid_mlp_dropout", "Dropout"));
            m.add(Module.other(p + ".post_attention_layernorm", "Phi3RMSNorm"));
            params += 2L * C;
            for (Module x : lin) params += x.parameterCount();
        }
        m.add(Module.other("model.norm", "Phi3RMSNorm"));
        params += C;
        m.add(new Module("lm_head", "Linear", true, C, V, false, false, true));
        if (!c.tieWordEmbeddings()) params += (long) V * C;
        return new ModelModules(c, m, params);
    }

    // transformers modeling_gemma2.py / modeling_gemma3.py: Gemma2ForCausalLM / Gemma3ForCausalLM(model: Gemma2Model /
    // Gemma3TextModel(embed_tokens, layers[N](self_attn(q,k,v,o[, q_norm, k_norm]), mlp(gate, up, down, act_fn),
    // input_layernorm, post_attention_layernorm, pre_feedforward_layernorm, post_feedforward_layernorm), norm), lm_head).
    // The rotary embeddings (per attention in 4.46, model.rotary_emb[_local] later) vary by version and are omitted.
    private static ModelModules gemma(ModelConfig c) {
        String fam = c.family() == ModelConfig.Family.GEMMA2 ? "Gemma2" : "Gemma3";
        int C = c.hiddenSize(), V = c.vocabSize(), I = c.intermediateSize(), HS = c.headDim();
        int q = c.numHeads() * HS, kv = c.numKvHeads() * HS;
        List<Module> m = new ArrayList<>();
        long params = (long) V * C;
        m.add(Module.other("model", fam + (fam.equals("Gemma2") ? "Model" : "TextModel")));
        m.add(Module.other("model.embed_tokens", fam.equals("Gemma2") ? "Embedding" : "Gemma3TextScaledWordEmbedding"));
        m.add(Module.other("model.layers", "ModuleList"));
        for (int l = 0; l < c.numLayers(); l++) {
            String p = "model.layers." + l;
            List<Module> lin = List.of(
                    Module.linear(p + ".self_attn.q_proj", C, q, c.qkvBias()),
                    Module.linear(p + ".self_attn.k_proj", C, kv, c.qkvBias()),
                    Module.linear(p + ".self_attn.v_proj", C, kv, c.qkvBias()),
                    Module.linear(p + ".self_attn.o_proj", q, C, c.outputBias()),
                    Module.linear(p + ".mlp.gate_proj", C, I, false),
                    Module.linear(p + ".mlp.up_proj", C, I, false),
                    Module.linear(p + ".mlp.down_proj", I, C, false));
            m.add(Module.other(p, fam + "DecoderLayer"));
            m.add(Module.other(p + ".self_attn", fam + "Attention"));
            m.addAll(lin.subList(0, 4));
            if (c.arch().qkNorm()) {
                m.add(Module.other(p + ".self_attn.q_norm", fam + "RMSNorm"));
                m.add(Module.other(p + ".self_attn.k_norm", fam + "RMSNorm"));
                params += 2L * HS;
            }
            m.add(Module.other(p + ".mlp", fam + "MLP"));
            m.addAll(lin.subList(4, 7));
            m.add(Module.other(p + ".mlp.act_fn", "PytorchGELUTanh"));
            for (String n : new String[] {"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                    "post_feedforward_layernorm"})
                m.add(Module.other(p + "." + n, fam + "RMSNorm"));
            params += 4L * C;
            for (Module x : lin) params += x.parameterCount();
        }
        m.add(Module.other("model.norm", fam + "RMSNorm"));
        params += C;
        m.add(new Module("lm_head", "Linear", true, C, V, false, false, true));
        if (!c.tieWordEmbeddings()) params += (long) V * C;
        return new ModelModules(c, m, params);
    }

    // transformers modeling_gpt2.py: GPT2LMHeadModel(transformer: GPT2Model(wte, wpe, drop, h[N](ln_1,
    // attn(c_attn, c_proj, attn_dropout, resid_dropout), ln_2, mlp(c_fc, c_proj, act, dropout)), ln_f), lm_head)
    private static ModelModules gpt2(ModelConfig c) {
        int C = c.hiddenSize(), V = c.vocabSize(), I = c.intermediateSize();
        List<Module> m = new ArrayList<>();
        long params = (long) V * C + (long) c.maxPositions() * C;
        m.add(Module.other("transformer", "GPT2Model"));
        m.add(Module.other("transformer.wte", "Embedding"));
        m.add(Module.other("transformer.wpe", "Embedding"));
        m.add(Module.other("transformer.drop", "Dropout"));
        m.add(Module.other("transformer.h", "ModuleList"));
        for (int l = 0; l < c.numLayers(); l++) {
            String p = "transformer.h." + l;
            List<Module> lin = List.of(
                    Module.conv1d(p + ".attn.c_attn", C, 3 * C),
                    Module.conv1d(p + ".attn.c_proj", C, C),
                    Module.conv1d(p + ".mlp.c_fc", C, I),
                    Module.conv1d(p + ".mlp.c_proj", I, C));
            m.add(Module.other(p, "GPT2Block"));
            m.add(Module.other(p + ".ln_1", "LayerNorm"));
            m.add(Module.other(p + ".attn", "GPT2Attention"));
            m.addAll(lin.subList(0, 2));
            m.add(Module.other(p + ".attn.attn_dropout", "Dropout"));
            m.add(Module.other(p + ".attn.resid_dropout", "Dropout"));
            m.add(Module.other(p + ".ln_2", "LayerNorm"));
            m.add(Module.other(p + ".mlp", "GPT2MLP"));
            m.addAll(lin.subList(2, 4));
            m.add(Module.other(p + ".mlp.act", "NewGELUActivation"));
            m.add(Module.other(p + ".mlp.dropout", "Dropout"));
            params += 4L * C;
            for (Module x : lin) params += x.parameterCount();
        }
        m.add(Module.other("transformer.ln_f", "LayerNorm"));
        params += 2L * C;
        m.add(new Module("lm_head", "Linear", true, C, V, false, false, true));
        if (!c.tieWordEmbeddings()) params += (long) V * C;
        return new ModelModules(c, m, params);
    }

    private static String describe(List<Module> ms) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Math.min(3, ms.size()); i++) sb.append(i > 0 ? ", " : "").append(ms.get(i).name()).append(" ").append(ms.get(i).in()).append("->").append(ms.get(i).out());
        return ms.size() + " linears: " + sb + (ms.size() > 3 ? ", ..." : "");
    }

    private static String describeLinears(List<Linear> ls) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Math.min(3, ls.size()); i++) sb.append(i > 0 ? ", " : "").append(ls.get(i).name).append(" ").append(ls.get(i).in).append("->").append(ls.get(i).out);
        return ls.size() + " linears: " + sb + (ls.size() > 3 ? ", ..." : "");
    }
}
