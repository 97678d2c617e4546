#!/usr/bin/env python3
"""
make_model_goldens.py -- golden logits for peft4j's checkpoint loaders and forward passes.

For each tiny model (gpt2, llama, llama-tied, mistral, qwen2, qwen3, smollm3, olmo2, phi3, phi3-tied, gemma2, gemma3,
llama-sharded) this writes
    peft4j-core/src/test/resources/golden/models/<name>/
        config.json                HF transformers layout (sorted keys, indent 2, as save_pretrained writes it)
        model.safetensors          our own writer (or two shards + model.safetensors.index.json)
        expected.json              {"description", "input_ids" [B][T], "logits" [B][T][V]}

Constraints:
  * Needs only Debian's python3-torch (1.13) -- no transformers, no safetensors package. The reference
    math (in golden_common.py, shared with make_lora_goldens.py) is written from scratch; it follows HF
    transformers' semantics, checked against
        models/llama/modeling_llama.py, models/mistral/modeling_mistral.py, models/qwen2/modeling_qwen2.py,
        models/qwen3/modeling_qwen3.py (Qwen3Attention: q_norm/k_norm = Qwen3RMSNorm(head_dim) applied to the
          projections viewed as (B, T, heads, head_dim), before RoPE; Qwen3Config's head_dim default 128),
        models/smollm3/modeling_smollm3.py (SmolLM3Attention: RoPE only where no_rope_layers[layer] is 1),
        models/olmo2/modeling_olmo2.py (Olmo2Attention: q_norm/k_norm over NH*HS / KVH*HS before the head split;
          Olmo2DecoderLayer: post_attention_layernorm / post_feedforward_layernorm on the sublayer outputs)
          (rotate_half RoPE, repeat_kv head grouping, scaling head_dim**-0.5, RMSNorm, SwiGLU MLP,
           q/k/v bias only in Qwen2, head_dim taken from the config when present),
        models/phi3/modeling_phi3.py (4.46: Phi3Attention's fused qkv_proj split q|k|v, Phi3MLP gate_up_proj.chunk(2)
          = (gate, up), Phi3LongRoPEScaledRotaryEmbedding, the sliding-window causal mask; partial_rotary_factor as
          the later releases apply it: rotate_half RoPE on the first int(HS * factor) values, the rest passed through),
        models/gemma2/modeling_gemma2.py, models/gemma3/modeling_gemma3.py (Gemma2/Gemma3 decoder: embeddings times
          sqrt(hidden), (1 + w) RMSNorms, post-attention / pre- and post-feedforward norms, GeGLU with
          gelu_pytorch_tanh, query_pre_attn_scalar**-0.5, attention and final logit soft-capping, sliding layers
          by `not bool(layer_idx % 2)` (Gemma 2) / `bool((layer_idx + 1) % sliding_window_pattern)` (Gemma 3),
          Gemma 3's q_norm/k_norm and rope_local_base_freq for the sliding layers),
        modeling_rope_utils.py  _compute_default_rope_parameters / _compute_llama3_parameters,
        models/gpt2/modeling_gpt2.py + activations.py NewGELUActivation + pytorch_utils.Conv1D.
  * Deterministic: a fixed torch seed per model; all logits computed in float64 from the values that were
    actually stored (bf16/f16 models: from the rounded weights), after re-reading the files we wrote.
  * Self-checks: every file is re-read with our own small reader and compared bit for bit; causality
    is checked; the llama3 RoPE scaling is shown to change the logits.

Run:  /usr/bin/python3 scripts/golden/make_model_goldens.py     (from the repository root, or anywhere)
Shapes use the project alphabet: B batch, T time, C channels, NH heads, KVH kv heads, HS head size, V vocab.
"""
import json
import math
import sys

import torch

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
from golden_common import (F64, GOLDEN_DIR, ROOT, ST_NAME, assert_same_bits, gpt2_forward, layer_norm,  # noqa: E402
                           gelu_tanh, llama3_scale, llama_forward, phi3_forward, read_safetensors, write_json,
                           write_safetensors, gemma_forward, gemma_layer_types)

OUT_DIR = GOLDEN_DIR / "models"
B, T = 2, 7

# The safetensors writer/reader and the float64 reference math (RMSNorm, LayerNorm, tanh-GELU, llama3 RoPE
# scaling, rotate_half RoPE, causal attention, llama_forward, gpt2_forward) live in golden_common.py.

# ----------------------------------------------------------------------------------------------------
# weights: std 0.05-0.1 for matrices, 1 + 0.1 randn for norm gains, non-zero biases

def randn(*shape, std):
    return torch.randn(*shape, dtype=F64) * std


def llama_weights(cfg, qkv_bias):
    C, NH, KVH, I, V = (cfg[k] for k in ("hidden_size", "num_attention_heads", "num_key_value_heads",
                                           "intermediate_size", "vocab_size"))
    HS = cfg.get("head_dim") or C // NH
    W = {"model.embed_tokens.weight": randn(V, C, std=0.1)}
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        W[p + "input_layernorm.weight"] = 1 + randn(C, std=0.1)
        W[p + "self_attn.q_proj.weight"] = randn(NH * HS, C, std=0.1)
        W[p + "self_attn.k_proj.weight"] = randn(KVH * HS, C, std=0.1)
        W[p + "self_attn.v_proj.weight"] = randn(KVH * HS, C, std=0.1)
        if qkv_bias:
            W[p + "self_attn.q_proj.bias"] = randn(NH * HS, std=0.1)
            W[p + "self_attn.k_proj.bias"] = randn(KVH * HS, std=0.1)
            W[p + "self_attn.v_proj.bias"] = randn(KVH * HS, std=0.1)
        W[p + "self_attn.o_proj.weight"] = randn(C, NH * HS, std=0.08)
        W[p + "post_attention_layernorm.weight"] = 1 + randn(C, std=0.1)
        W[p + "mlp.gate_proj.weight"] = randn(I, C, std=0.1)
        W[p + "mlp.up_proj.weight"] = randn(I, C, std=0.1)
        W[p + "mlp.down_proj.weight"] = randn(C, I, std=0.08)
    W["model.norm.weight"] = 1 + randn(C, std=0.1)
    if not cfg["tie_word_embeddings"]:
        W["lm_head.weight"] = randn(V, C, std=0.1)
    if cfg["model_type"] == "qwen3":  # Qwen3RMSNorm(head_dim) on q and k, after everything else (no other draw moves)
        for l in range(cfg["num_hidden_layers"]):
            p = f"model.layers.{l}."
            W[p + "self_attn.q_norm.weight"] = 1 + randn(HS, std=0.3)
            W[p + "self_attn.k_norm.weight"] = 1 + randn(HS, std=0.3)
    return W


def olmo2_weights(cfg):
    """OLMo 2: the Llama tensors without input_layernorm, plus post_feedforward_layernorm and q_norm / k_norm over
    the full projections ([NH*HS], [KVH*HS]), drawn after everything else."""
    C, NH, KVH = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    HS = cfg.get("head_dim") or C // NH
    W = llama_weights(cfg, cfg["attention_bias"])
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        del W[p + "input_layernorm.weight"]
        W[p + "post_feedforward_layernorm.weight"] = 1 + randn(C, std=0.1)
        W[p + "self_attn.q_norm.weight"] = 1 + randn(NH * HS, std=0.3)
        W[p + "self_attn.k_norm.weight"] = 1 + randn(KVH * HS, std=0.3)
    return W


def phi3_weights(cfg):
    C, NH, KVH, I, V = (cfg[k] for k in ("hidden_size", "num_attention_heads", "num_key_value_heads",
                                           "intermediate_size", "vocab_size"))
    HS = C // NH
    W = {"model.embed_tokens.weight": randn(V, C, std=0.1)}
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        W[p + "input_layernorm.weight"] = 1 + randn(C, std=0.1)
        W[p + "self_attn.qkv_proj.weight"] = randn((NH + 2 * KVH) * HS, C, std=0.15)  # q rows, k rows, v rows
        W[p + "self_attn.o_proj.weight"] = randn(C, NH * HS, std=0.08)
        W[p + "post_attention_layernorm.weight"] = 1 + randn(C, std=0.1)
        W[p + "mlp.gate_up_proj.weight"] = randn(2 * I, C, std=0.1)  # gate rows, then up rows
        W[p + "mlp.down_proj.weight"] = randn(C, I, std=0.08)
    W["model.norm.weight"] = 1 + randn(C, std=0.1)
    if not cfg["tie_word_embeddings"]:
        W["lm_head.weight"] = randn(V, C, std=0.1)
    return W


def gemma_weights(cfg):
    """Gemma 2 / Gemma 3 text: norm weights are offsets from 1 (gain 1 + w), four norms per block, tied head;
    Gemma 3 adds q_norm/k_norm [head_dim]."""
    C, NH, KVH, I, V, HS = (cfg[k] for k in ("hidden_size", "num_attention_heads", "num_key_value_heads",
                                               "intermediate_size", "vocab_size", "head_dim"))
    W = {"model.embed_tokens.weight": randn(V, C, std=0.1)}
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        W[p + "input_layernorm.weight"] = randn(C, std=0.1)
        W[p + "self_attn.q_proj.weight"] = randn(NH * HS, C, std=0.1)
        W[p + "self_attn.k_proj.weight"] = randn(KVH * HS, C, std=0.1)
        W[p + "self_attn.v_proj.weight"] = randn(KVH * HS, C, std=0.1)
        W[p + "self_attn.o_proj.weight"] = randn(C, NH * HS, std=0.08)
        if cfg["model_type"] == "gemma3_text":
            W[p + "self_attn.q_norm.weight"] = randn(HS, std=0.3)
            W[p + "self_attn.k_norm.weight"] = randn(HS, std=0.3)
        W[p + "post_attention_layernorm.weight"] = randn(C, std=0.1)
        W[p + "pre_feedforward_layernorm.weight"] = randn(C, std=0.1)
        W[p + "mlp.gate_proj.weight"] = randn(I, C, std=0.1)
        W[p + "mlp.up_proj.weight"] = randn(I, C, std=0.1)
        W[p + "mlp.down_proj.weight"] = randn(C, I, std=0.08)
        W[p + "post_feedforward_layernorm.weight"] = randn(C, std=0.1)
    W["model.norm.weight"] = randn(C, std=0.1)
    return W


def gpt2_weights(cfg):
    C, V, P = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
    I = cfg["n_inner"] or 4 * C
    W = {"transformer.wte.weight": randn(V, C, std=0.1), "transformer.wpe.weight": randn(P, C, std=0.05)}
    for l in range(cfg["n_layer"]):
        p = f"transformer.h.{l}."
        for ln in ("ln_1", "ln_2"):
            W[p + ln + ".weight"] = 1 + randn(C, std=0.1)
            W[p + ln + ".bias"] = randn(C, std=0.05)
        W[p + "attn.c_attn.weight"] = randn(C, 3 * C, std=0.1)  # [in, out]
        W[p + "attn.c_attn.bias"] = randn(3 * C, std=0.05)
        W[p + "attn.c_proj.weight"] = randn(C, C, std=0.08)
        W[p + "attn.c_proj.bias"] = randn(C, std=0.05)
        W[p + "mlp.c_fc.weight"] = randn(C, I, std=0.1)
        W[p + "mlp.c_fc.bias"] = randn(I, std=0.05)
        W[p + "mlp.c_proj.weight"] = randn(I, C, std=0.06)
        W[p + "mlp.c_proj.bias"] = randn(C, std=0.05)
    W["transformer.ln_f.weight"] = 1 + randn(C, std=0.1)
    W["transformer.ln_f.bias"] = randn(C, std=0.05)
    return W


# ----------------------------------------------------------------------------------------------------
# configs, in the layout transformers' save_pretrained writes (json, indent 2, sorted keys)

def llama_family_config(arch, model_type, **kw):
    cfg = {"architectures": [arch], "model_type": model_type, "hidden_act": "silu", "hidden_size": 64,
           "num_hidden_layers": 2, "initializer_range": 0.02, "attention_dropout": 0.0, "use_cache": True,
           "transformers_version": "4.46.3"}
    cfg.update(kw)
    return cfg


GPT2 = {
    "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
    "bos_token_id": 99, "embd_pdrop": 0.1, "eos_token_id": 99, "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 32, "n_embd": 64, "n_head": 4, "n_inner": None,
    "n_layer": 2, "n_positions": 32, "reorder_and_upcast_attn": False, "resid_pdrop": 0.1,
    "scale_attn_by_inverse_layer_idx": False, "scale_attn_weights": True, "summary_activation": None,
    "summary_first_dropout": 0.1, "summary_proj_to_labels": True, "summary_type": "cls_index",
    "summary_use_proj": True, "torch_dtype": "float32",
    "transformers_version": "4.46.3", "use_cache": True, "vocab_size": 100,
}

LLAMA = llama_family_config(  # Llama-3.2-like: GQA, untied head, llama3 RoPE scaling
    "LlamaForCausalLM", "llama", intermediate_size=96, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
    vocab_size=128, max_position_embeddings=128, rms_norm_eps=1e-05, rope_theta=500000.0,
    # original_max_position_embeddings 64 puts the 8 frequencies of HS=16 in all three llama3 regimes
    rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                  "original_max_position_embeddings": 64},
    attention_bias=False, mlp_bias=False, pretraining_tp=1, tie_word_embeddings=False,
    bos_token_id=1, eos_token_id=2, torch_dtype="float32")

LLAMA_TIED = llama_family_config(  # SmolLM-like: tied embeddings, MQA, no head_dim key, rope_scaling null
    "LlamaForCausalLM", "llama", intermediate_size=72, num_attention_heads=4, num_key_value_heads=1,
    vocab_size=90, max_position_embeddings=64, rms_norm_eps=1e-05, rope_theta=10000.0, rope_scaling=None,
    attention_bias=False, mlp_bias=False, pretraining_tp=1, tie_word_embeddings=True,
    bos_token_id=0, eos_token_id=0, torch_dtype="float32", transformers_version="4.40.1")

MISTRAL = llama_family_config(  # explicit head_dim 32 != 64/4; BF16 storage
    "MistralForCausalLM", "mistral", intermediate_size=88, num_attention_heads=4, num_key_value_heads=2,
    head_dim=32, vocab_size=120, max_position_embeddings=256, rms_norm_eps=1e-06, rope_theta=1000000.0,
    sliding_window=64, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, torch_dtype="bfloat16")

QWEN2 = llama_family_config(  # q/k/v biases, tied embeddings; F16 storage
    "Qwen2ForCausalLM", "qwen2", intermediate_size=100, num_attention_heads=4, num_key_value_heads=2,
    vocab_size=112, max_position_embeddings=128, rms_norm_eps=1e-06, rope_theta=1000000.0,
    sliding_window=128, use_sliding_window=False, max_window_layers=2, use_mrope=False,
    tie_word_embeddings=True, bos_token_id=111, eos_token_id=111, torch_dtype="float16")

QWEN3 = llama_family_config(  # per-head q/k RMSNorm, explicit head_dim 24 != 64/4, untied; BF16 storage as released
    "Qwen3ForCausalLM", "qwen3", intermediate_size=80, num_attention_heads=4, num_key_value_heads=2, head_dim=24,
    vocab_size=104, max_position_embeddings=128, rms_norm_eps=1e-06, rope_theta=1000000.0, rope_scaling=None,
    attention_bias=False, sliding_window=None, use_sliding_window=False, max_window_layers=2,
    tie_word_embeddings=False, bos_token_id=100, eos_token_id=101, torch_dtype="bfloat16")

SMOLLM3 = llama_family_config(  # NoPE layers 1 and 3 from an explicit no_rope_layers (the interval-4 default would be
    # layer 3 only), GQA, tied embeddings (SmolLM3Config's default), full attention everywhere; BF16 storage as released
    "SmolLM3ForCausalLM", "smollm3", num_hidden_layers=4, intermediate_size=80, num_attention_heads=4,
    num_key_value_heads=2, vocab_size=96, max_position_embeddings=128, rms_norm_eps=1e-06, rope_theta=5000000.0,
    rope_scaling=None, no_rope_layers=[1, 0, 1, 0], no_rope_layer_interval=4, layer_types=["full_attention"] * 4,
    use_sliding_window=False, sliding_window=None, max_window_layers=4, attention_bias=False, mlp_bias=False,
    pretraining_tp=1, tie_word_embeddings=True, bos_token_id=None, eos_token_id=95, pad_token_id=94,
    torch_dtype="bfloat16")

OLMO2 = llama_family_config(  # post-norm blocks, q/k RMSNorm over the full projections, GQA (k_norm [KVH*HS]), untied
    "Olmo2ForCausalLM", "olmo2", intermediate_size=88, num_attention_heads=4, num_key_value_heads=2, vocab_size=100,
    max_position_embeddings=128, rms_norm_eps=1e-06, rope_theta=500000.0, rope_scaling=None, attention_bias=False,
    tie_word_embeddings=False, eos_token_id=99, pad_token_id=98, torch_dtype="float32")

def phi3_config(**kw):  # Phi3Config keys as save_pretrained writes them (transformers 4.46)
    cfg = {"architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "hidden_act": "silu", "num_hidden_layers": 2,
           "initializer_range": 0.02, "attention_bias": False, "attention_dropout": 0.0, "embd_pdrop": 0.0,
           "resid_pdrop": 0.0, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "use_cache": True,
           "transformers_version": "4.46.3"}
    cfg.update(kw)
    return cfg


PHI3 = phi3_config(  # Phi-4-mini-like: partial rotary 0.75, LongRoPE, GQA, sliding window, untied; BF16 storage
    hidden_size=64, num_attention_heads=4, num_key_value_heads=2, intermediate_size=48, vocab_size=96,
    partial_rotary_factor=0.75,  # HS 16 -> R 12 rotary values, 6 frequencies; 4 pass through
    # T = 7 > original_max 5: the long factors; attention factor sqrt(1 + ln(64/5) / ln 5)
    max_position_embeddings=64, original_max_position_embeddings=5,
    rope_scaling={"type": "longrope", "short_factor": [1.0, 1.05, 1.2, 1.5, 2.1, 3.0],
                  "long_factor": [1.0, 1.6, 3.5, 7.0, 13.0, 27.0]},
    sliding_window=4, tie_word_embeddings=False, bos_token_id=1, eos_token_id=[2, 3], pad_token_id=95,
    torch_dtype="bfloat16")

PHI3_TIED = phi3_config(  # Phi-3.5-mini-like without partial rotary, so transformers 4.46 runs it: LongRoPE in the
    # short regime (T = 7 <= original_max 8), MHA, sliding window 3, tied head; F32
    hidden_size=48, num_attention_heads=4, num_key_value_heads=4, intermediate_size=40, vocab_size=88,
    max_position_embeddings=32, original_max_position_embeddings=8,
    rope_scaling={"type": "longrope", "short_factor": [1.0, 1.1, 1.3, 1.7, 2.2, 2.9],
                  "long_factor": [1.2, 2.0, 3.3, 5.5, 9.0, 15.0]},
    sliding_window=3, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=87,
    torch_dtype="float32")

GEMMA2 = {  # Gemma2Config layout; window 3 < T = 7, soft-capping values small enough to bite
    "architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "attention_bias": False, "attention_dropout": 0.0,
    "attn_logit_softcapping": 1.5, "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": 1,
    "final_logit_softcapping": 2.0, "head_dim": 16, "hidden_act": "gelu_pytorch_tanh",
    "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 64, "initializer_range": 0.02, "intermediate_size": 96,
    "max_position_embeddings": 128, "num_attention_heads": 4, "num_hidden_layers": 3, "num_key_value_heads": 2,
    "pad_token_id": 0, "query_pre_attn_scalar": 8, "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "sliding_window": 3,
    "torch_dtype": "float32", "transformers_version": "4.46.3", "use_cache": True, "vocab_size": 96}
GEMMA3 = {  # Gemma3TextConfig layout (as google/gemma-3-1b-it, 4B's linear rope_scaling); window 3 < T = 7
    "architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "attention_bias": False,
    "attention_dropout": 0.0, "attn_logit_softcapping": None, "bos_token_id": 2, "cache_implementation": "hybrid",
    "eos_token_id": [1, 99], "final_logit_softcapping": None, "head_dim": 32, "hidden_activation": "gelu_pytorch_tanh",
    "hidden_size": 64, "initializer_range": 0.02, "intermediate_size": 80, "max_position_embeddings": 256,
    "num_attention_heads": 4, "num_hidden_layers": 3, "num_key_value_heads": 1, "pad_token_id": 0,
    "query_pre_attn_scalar": 24, "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000.0,
    "rope_scaling": {"factor": 8.0, "rope_type": "linear"}, "rope_theta": 1000000.0, "sliding_window": 3,
    "sliding_window_pattern": 3, "torch_dtype": "bfloat16", "transformers_version": "4.50.0", "use_cache": True,
    "vocab_size": 100}
# name, config, storage dtype, seed, weights(cfg), forward, description
MODELS = [
    ("gpt2", GPT2, torch.float32, 1001, gpt2_weights, gpt2_forward,
     "GPT2LMHeadModel, n_embd 64, 4 heads, 2 layers, n_positions 32, vocab 100, gelu_new (tanh), LayerNorm eps 1e-5, "
     "Conv1D weights stored [in, out], tied head (no lm_head key), F32."),
    ("llama", LLAMA, torch.float32, 1002, lambda c: llama_weights(c, False), llama_forward,
     "LlamaForCausalLM, hidden 64, 4 heads / 2 KV heads (GQA), head_dim 16, 2 layers, intermediate 96, vocab 128, "
     "untied lm_head, rope_theta 5e5 with llama3 rope_scaling (factor 8, low 1, high 4, original 64: the 8 frequencies "
     "fall in all three regimes), rms_norm_eps 1e-5, F32."),
    ("llama-tied", LLAMA_TIED, torch.float32, 1003, lambda c: llama_weights(c, False), llama_forward,
     "SmolLM-like LlamaForCausalLM: tie_word_embeddings true (no lm_head.weight), 4 heads / 1 KV head (MQA), "
     "no head_dim key (64/4 = 16), intermediate 72, vocab 90, rope_theta 1e4, rope_scaling null, F32."),
    ("mistral", MISTRAL, torch.bfloat16, 1004, lambda c: llama_weights(c, False), llama_forward,
     "MistralForCausalLM, hidden 64, 4 heads / 2 KV heads, explicit head_dim 32 (q_proj [128, 64], o_proj [64, 128], "
     "RoPE over 32 dims, scale 1/sqrt(32)), intermediate 88, vocab 120, rope_theta 1e6, sliding_window 64 > T, untied, "
     "stored as BF16; logits computed in float64 from the bf16-rounded weights."),
    ("qwen2", QWEN2, torch.float16, 1005, lambda c: llama_weights(c, True), llama_forward,
     "Qwen2ForCausalLM, hidden 64, 4 heads / 2 KV heads, q/k/v biases (no o_proj bias), intermediate 100, vocab 112, "
     "rope_theta 1e6, tied embeddings, stored as F16; logits computed in float64 from the f16-rounded weights."),
    ("qwen3", QWEN3, torch.bfloat16, 1006, lambda c: llama_weights(c, False), llama_forward,
     "Qwen3ForCausalLM, hidden 64, 4 heads / 2 KV heads, explicit head_dim 24 (q_proj [96, 64]), q_norm/k_norm: RMSNorm "
     "over each head's 24 values (weights [24]) after the projections and before RoPE, no biases, intermediate 80, "
     "vocab 104, rope_theta 1e6, untied lm_head, stored as BF16; logits in float64 from the bf16-rounded weights."),
    ("smollm3", SMOLLM3, torch.bfloat16, 1007, lambda c: llama_weights(c, False), llama_forward,
     "SmolLM3ForCausalLM, hidden 64, 4 layers, 4 heads / 2 KV heads, no_rope_layers [1, 0, 1, 0]: layers 1 and 3 attend "
     "without RoPE (NoPE), intermediate 80, vocab 96, rope_theta 5e6, tied embeddings, full attention in every layer, "
     "stored as BF16; logits in float64 from the bf16-rounded weights."),
    ("olmo2", OLMO2, torch.float32, 1008, olmo2_weights, llama_forward,
     "Olmo2ForCausalLM, hidden 64, 2 layers, 4 heads / 2 KV heads, post-norm blocks (x + post_attention_layernorm(attn(x)), "
     "x + post_feedforward_layernorm(mlp(x)), no input_layernorm), q_norm/k_norm RMSNorm over the full projections "
     "(weights [64] and [32]) before the split into heads, intermediate 88, vocab 100, rope_theta 5e5, untied, F32."),
    ("phi3", PHI3, torch.bfloat16, 1014, phi3_weights, phi3_forward,
     "Phi3ForCausalLM, hidden 64, 4 heads / 2 KV heads (HS 16), fused qkv_proj [128, 64] and gate_up_proj [96, 64] "
     "(gate first), partial_rotary_factor 0.75 (RoPE on 12 of 16 values per head), LongRoPE with T = 7 > "
     "original_max_position_embeddings 5 (long factors, attention factor sqrt(1 + ln(64/5)/ln 5)), sliding_window 4, "
     "intermediate 48, vocab 96, untied lm_head, stored as BF16; logits in float64 from the bf16-rounded weights."),
    ("phi3-tied", PHI3_TIED, torch.float32, 1015, phi3_weights, phi3_forward,
     "Phi3ForCausalLM, hidden 48, 4 heads = 4 KV heads (HS 12), full rotary, LongRoPE in the short regime (T = 7 <= "
     "original_max_position_embeddings 8; attention factor sqrt(1 + ln 4 / ln 8)), sliding_window 3, intermediate 40, "
     "vocab 88, tied head, F32. Also checked against transformers 4.46's Phi3ForCausalLM (check_phi3_transformers.py)."),
    ("gemma2", GEMMA2, torch.float32, 1007, gemma_weights, gemma_forward,
     "Gemma2ForCausalLM, hidden 64 (embeddings x 8), 4 heads / 2 KV heads, head_dim 16, 3 layers (sliding, global, "
     "sliding: even layers slide), sliding_window 3 < T, query_pre_attn_scalar 8 (scale 8^-0.5, not 16^-0.5), "
     "attn_logit_softcapping 1.5 and final_logit_softcapping 2.0, (1 + w) RMSNorms before and after attention and MLP, "
     "GeGLU (tanh GELU) intermediate 96, vocab 96, tied head, F32."),
    ("gemma3", GEMMA3, torch.bfloat16, 1008, gemma_weights, gemma_forward,
     "Gemma3ForCausalLM (gemma3_text), hidden 64 (embeddings x 8), 4 heads / 1 KV head, head_dim 32, 3 layers with "
     "sliding_window_pattern 3 (sliding, sliding, global), sliding_window 3 < T, q_norm/k_norm (1 + w) over head_dim "
     "before RoPE, sliding layers RoPE base rope_local_base_freq 1e4, the global layer rope_theta 1e6 with linear "
     "rope_scaling 8, query_pre_attn_scalar 24, no soft-capping, GeGLU intermediate 80, vocab 100, tied head, BF16."),
]


# ----------------------------------------------------------------------------------------------------

def write_expected(path, description, ids, logits):
    # one line per (b, t) row of V logits, 7 significant digits
    rows = [[", ".join(f"{v:.7g}" for v in logits[b, t].tolist()) for t in range(logits.shape[1])]
            for b in range(logits.shape[0])]
    batches = ",\n".join("    [\n" + ",\n".join(f"      [{r}]" for r in rb) + "\n    ]" for rb in rows)
    text = ("{\n"
            f'  "description": {json.dumps(description)},\n'
            f'  "input_ids": {json.dumps(ids.tolist())},\n'
            f'  "logits": [\n{batches}\n  ]\n'
            "}\n")
    back = json.loads(text)  # parses, and round-trips to within 7 digits
    assert torch.allclose(torch.tensor(back["logits"], dtype=F64), logits, rtol=1e-6, atol=1e-12)
    path.write_text(text)


def forward_from(forward, cfg, stored, ids):
    return forward(cfg, {k: v.to(F64) for k, v in stored.items()}, ids)


def check_causal(forward, cfg, W64, ids, logits):
    ids2 = ids.clone()
    ids2[:, -1] = (ids2[:, -1] + 1) % cfg["vocab_size"]
    other = forward(cfg, W64, ids2)
    assert torch.allclose(other[:, :-1], logits[:, :-1], rtol=0, atol=1e-12), "future token leaked into the past"
    assert not torch.allclose(other[:, -1], logits[:, -1]), "last token had no effect"


def make_model(name, cfg, dtype, seed, make_weights, forward, description):
    torch.manual_seed(seed)
    stored = {k: v.to(dtype) for k, v in make_weights(cfg).items()}  # values as they will be on disk
    V = cfg["vocab_size"]
    ids = torch.randint(0, V, (B, T))  # (B, T)

    d = OUT_DIR / name
    d.mkdir(parents=True, exist_ok=True)
    write_json(d / "config.json", cfg)
    write_safetensors(d / "model.safetensors", stored)
    back = read_safetensors(d / "model.safetensors")
    assert_same_bits(stored, back, name)

    W64 = {k: v.to(F64) for k, v in back.items()}
    logits = forward(cfg, W64, ids)  # (B, T, V), from the re-read tensors
    assert logits.shape == (B, T, V) and torch.isfinite(logits).all()
    check_causal(forward, cfg, W64, ids, logits)
    write_expected(d / "expected.json", description, ids, logits)
    print(f"{name:14s} {len(stored):3d} tensors, {sum(t.numel() for t in stored.values()):7d} params, "
          f"{ST_NAME[dtype]:4s}, logits std {logits.std().item():.3f}, max |logit| {logits.abs().max().item():.3f}")
    return stored, ids, logits


def show_llama3_scaling(cfg):
    HS = cfg["head_dim"]
    inv = 1.0 / cfg["rope_theta"] ** (torch.arange(0, HS, 2, dtype=F64) / HS)
    scaled, regimes = llama3_scale(inv, cfg["rope_scaling"])
    print("  llama3 rope scaling (i, wavelen, inv_freq -> scaled, regime):")
    for i, (a, s, r) in enumerate(zip(inv.tolist(), scaled.tolist(), regimes)):
        print(f"    {i}  {2 * math.pi / a:12.2f}  {a:.6e} -> {s:.6e}  {r}")
    assert {"kept", "smoothed", "divided"} <= set(regimes), f"want all three llama3 regimes, got {regimes}"


def make_sharded(llama_stored, llama_ids, llama_logits):
    """Same weights as 'llama' over two shards; the split runs through layer 1 (attention | mlp)."""
    name, d = "llama-sharded", OUT_DIR / "llama-sharded"
    d.mkdir(parents=True, exist_ok=True)
    for f in d.glob("*.safetensors"):
        f.unlink()
    files = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]

    def shard_of(key):
        first = key.startswith(("model.embed_tokens.", "model.layers.0.")) or \
            key.startswith("model.layers.1.") and (".self_attn." in key or ".input_layernorm." in key)
        return files[0] if first else files[1]

    weight_map = {k: shard_of(k) for k in sorted(llama_stored)}
    for f in files:
        write_safetensors(d / f, {k: v for k, v in llama_stored.items() if weight_map[k] == f})
    total = sum(t.numel() * t.element_size() for t in llama_stored.values())
    write_json(d / "model.safetensors.index.json", {"metadata": {"total_size": total}, "weight_map": weight_map})
    write_json(d / "config.json", LLAMA)

    back = {}
    for f in files:
        part = read_safetensors(d / f)
        assert not (part.keys() & back.keys())
        back.update(part)
    assert_same_bits(llama_stored, back, name)
    logits = forward_from(llama_forward, LLAMA, back, llama_ids)
    assert torch.equal(logits, llama_logits)
    write_expected(d / "expected.json",
                   "Same weights, input_ids and logits as ../llama, split over model-00001-of-00002.safetensors "
                   "(embed_tokens, layer 0, layer 1 input_layernorm + self_attn) and model-00002-of-00002.safetensors "
                   "(layer 1 post_attention_layernorm + mlp, norm, lm_head), with model.safetensors.index.json.",
                   llama_ids, logits)
    print(f"{name:14s} {len(back):3d} tensors over 2 shards, total_size {total}, logits identical to llama")


def show_gemma_features(results):
    """Each Gemma feature moves the fixture's logits (so a peft4j forward without it fails the 1e-4 test)."""
    variants = {
        "gemma2": (GEMMA2, [("no attn softcapping", dict(attn_logit_softcapping=None)),
                            ("no final softcapping", dict(final_logit_softcapping=None)),
                            ("no sliding window", dict(layer_types=["full_attention"] * 3)),
                            ("scale head_dim^-0.5", dict(query_pre_attn_scalar=16))]),
        "gemma3": (GEMMA3, [("global rope base on sliding layers", dict(rope_local_base_freq=1000000.0)),
                            ("no rope_scaling", dict(rope_scaling=None)),
                            ("no sliding window", dict(layer_types=["full_attention"] * 3)),
                            ("scale head_dim^-0.5", dict(query_pre_attn_scalar=32))]),
    }
    for name, (cfg, changes) in variants.items():
        stored, ids, logits = results[name]
        kinds = gemma_layer_types(cfg)
        assert True in kinds and False in kinds, f"{name}: want sliding and global layers, got {kinds}"
        for what, change in changes:
            diff = (forward_from(gemma_forward, dict(cfg, **change), stored, ids) - logits).abs().max().item()
            print(f"  {name}: {what} moves the logits by up to {diff:.3e}")
            assert diff > 1e-3, f"{name}: {what} does not affect the fixture"
        W = {k: v.to(F64) for k, v in stored.items()}
        if name == "gemma3":
            W0 = dict(W)
            for k in W0:
                if k.endswith(("q_norm.weight", "k_norm.weight")):
                    W0[k] = torch.zeros_like(W0[k])
            diff = (gemma_forward(cfg, W0, ids) - logits).abs().max().item()
            print(f"  {name}: q/k norm weights at 0 move the logits by up to {diff:.3e}")
            assert diff > 1e-3


def check_primitives():
    """Our hand-written LayerNorm / tanh-GELU against torch's built-ins."""
    x, w, b = torch.randn(3, 5, 64, dtype=F64), torch.randn(64, dtype=F64), torch.randn(64, dtype=F64)
    assert torch.allclose(layer_norm(x, w, b, 1e-5), torch.nn.functional.layer_norm(x, (64,), w, b, 1e-5), atol=1e-12)
    assert torch.allclose(gelu_tanh(x), torch.nn.functional.gelu(x, approximate="tanh"), atol=1e-12)


def cross_check_shared():
    """Optional: the llama forward against an independent oracle (stories260K in ../shared, see its README),
    which also exercises our reader on a real HF-written file. Skipped when ../shared is absent."""
    d = ROOT.parent / "shared" / "models" / "stories260K"
    if not (d / "reference_outputs.json").exists():
        print(f"(skipping stories260K cross-check: {d} not found)")
        return
    cfg = json.loads((d / "config.json").read_text())
    ref = json.loads((d / "reference_outputs.json").read_text())["prompt_logits"]
    ids = torch.tensor([ref["input_ids"]])  # (1, T)
    logits = forward_from(llama_forward, cfg, read_safetensors(d / "model.safetensors"), ids)[0]
    err = (logits - torch.tensor(ref["logits"], dtype=F64)).abs().max().item()
    print(f"stories260K cross-check: max |our logits - oracle| = {err:.2e}")
    assert err < 1e-5, err


def main():
    torch.set_num_threads(1)  # bitwise-reproducible reductions
    check_primitives()
    cross_check_shared()
    results = {}
    for spec in MODELS:
        results[spec[0]] = make_model(*spec)
        if spec[0] == "llama":
            show_llama3_scaling(LLAMA)
            stored, ids, logits = results["llama"]
            plain = dict(LLAMA, rope_scaling=None)
            diff = (forward_from(llama_forward, plain, stored, ids) - logits).abs().max().item()
            print(f"  without rope_scaling the llama logits move by up to {diff:.3e}")
            assert diff > 1e-3, "llama3 scaling does not affect the fixture"
    show_gemma_features(results)
    make_sharded(*results["llama"])
    stored, ids, logits = results["phi3"]  # each phi3 feature must move the fixture's logits
    for what, cfg in (("short factors (original_max 8 >= T)", dict(PHI3, original_max_position_embeddings=8)),
                      ("no sliding window", dict(PHI3, sliding_window=None))):
        diff = (forward_from(phi3_forward, cfg, stored, ids) - logits).abs().max().item()
        print(f"  phi3 with {what}: logits move by up to {diff:.3e}")
        assert diff > 1e-3, what

    total = 0
    print("files:")
    for f in sorted(OUT_DIR.rglob("*")):
        if f.is_file():
            total += f.stat().st_size
            print(f"  {f.relative_to(ROOT)}  {f.stat().st_size}")
    print(f"total {total} bytes")


if __name__ == "__main__":
    main()
