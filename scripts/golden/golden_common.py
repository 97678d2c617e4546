"""
golden_common.py -- pieces shared by the golden-fixture scripts in this folder (not run on its own).

  * a small safetensors writer/reader (format spec of huggingface/safetensors: 8-byte LE header length,
    JSON header padded with spaces to a multiple of 8, row-major LE data in sorted-key order);
  * the float64 reference forward passes for the Llama family (llama/mistral/qwen2) and GPT-2, following
    HF transformers as cited in make_model_goldens.py. Both take an optional `lora` hook,
    lora(x, module_name) -> delta, which is added to the output of every Linear / Conv1D, bias included
    (PEFT's lora.Linear.forward: result = base_layer(x) + lora_B(lora_A(dropout(x))) * scaling).
    module_name is the HF module path, e.g. "model.layers.0.self_attn.q_proj", "transformer.h.1.attn.c_attn".
    With lora=None the arithmetic is exactly what make_model_goldens.py always did.
    A second, more general hook, layer(x, module_name, base) -> y, replaces the whole layer: base(z) is the
    plain Linear / Conv1D (bias included), so a method that rescales the input or the output ((IA)^3) can be
    written exactly as PEFT's forward. lora and layer are not used together.

Importers set sys.dont_write_bytecode = True first, so no __pycache__ appears next to the scripts.
"""
import json
import math
import struct
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
GOLDEN_DIR = ROOT / "peft4j-core" / "src" / "test" / "resources" / "golden"
F64 = torch.float64

# ----------------------------------------------------------------------------------------------------
# safetensors: 8-byte LE header length, JSON header, row-major LE data (format spec of huggingface/safetensors)

ST_DTYPE = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
ST_NAME = {v: k for k, v in ST_DTYPE.items()}
# each float type is moved as raw bits through a same-width int type (numpy has no bfloat16)
BITS = {torch.float32: (torch.int32, "<i4"), torch.bfloat16: (torch.int16, "<i2"), torch.float16: (torch.int16, "<i2")}


def raw_bytes(t):
    int_dtype, np_le = BITS[t.dtype]
    return t.contiguous().view(int_dtype).numpy().astype(np_le).tobytes()


def write_safetensors(path, tensors):
    """tensors: {name: torch tensor in its storage dtype}. Keys sorted, data laid out in key order."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        blob = raw_bytes(t)
        header[name] = {"dtype": ST_NAME[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * (-len(hjson) % 8)  # pad with spaces so the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for blob in blobs:
            f.write(blob)


def read_safetensors(path):
    """Our own reader, used only to check the writer: returns {name: tensor in storage dtype}."""
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0, f"{path}: header length {n} not a multiple of 8"
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    assert header.pop("__metadata__") == {"format": "pt"}, f"{path}: bad __metadata__"
    data = raw[8 + n:]
    out, spans = {}, []
    for name, info in header.items():
        dtype = ST_DTYPE[info["dtype"]]
        a, b = info["data_offsets"]
        int_dtype, np_le = BITS[dtype]
        bits = np.frombuffer(data[a:b], dtype=np_le).astype(np_le[1:])  # LE -> native
        t = torch.from_numpy(bits.copy()).view(dtype).reshape(info["shape"])
        assert t.numel() * t.element_size() == b - a, f"{path}:{name}: size does not match shape"
        out[name] = t
        spans.append((a, b))
    spans.sort()
    assert spans[0][0] == 0 and spans[-1][1] == len(data), f"{path}: data section not covered exactly"
    assert all(x[1] == y[0] for x, y in zip(spans, spans[1:])), f"{path}: gaps or overlaps in data_offsets"
    return out


def assert_same_bits(a, b, what):
    assert a.keys() == b.keys(), f"{what}: keys differ: {sorted(a.keys() ^ b.keys())}"
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, f"{what}:{k}: dtype/shape differ"
        assert torch.equal(a[k].view(BITS[a[k].dtype][0]), b[k].view(BITS[b[k].dtype][0])), f"{what}:{k}: bits differ"


# ----------------------------------------------------------------------------------------------------
# reference math (float64)

def rms_norm(x, w, eps):
    # x * rsqrt(mean(x^2) + eps) * w    (LlamaRMSNorm)
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = (x - mu).pow(2).mean(-1, keepdim=True)  # biased variance, as nn.LayerNorm
    return (x - mu) / torch.sqrt(var + eps) * w + b


def gelu_tanh(x):
    # NewGELUActivation ("gelu_new"): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def llama3_scale(inv_freq, rs):
    """Llama 3.1 frequency scaling, as transformers' _compute_llama3_parameters. Returns (scaled, regimes)."""
    factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old_ctx = rs["original_max_position_embeddings"]
    low_freq_wavelen, high_freq_wavelen = old_ctx / lo, old_ctx / hi
    wavelen = 2 * math.pi / inv_freq
    out = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)  # long waves: divide by factor
    smooth = (old_ctx / wavelen - lo) / (hi - lo)
    smoothed = (1 - smooth) * out / factor + smooth * out
    medium = (wavelen >= high_freq_wavelen) & (wavelen <= low_freq_wavelen)  # in between: interpolate
    out = torch.where(medium, smoothed, out)
    regimes = ["divided" if w > low_freq_wavelen else "smoothed" if m else "kept"
               for w, m in zip(wavelen.tolist(), medium.tolist())]
    return out, regimes


def rope_tables(cfg, HS, T):
    """cos, sin: (T, HS) for positions 0..T-1, rotate_half layout (freqs repeated for both halves)."""
    inv_freq = 1.0 / cfg["rope_theta"] ** (torch.arange(0, HS, 2, dtype=F64) / HS)  # (HS/2,)
    rs = cfg.get("rope_scaling")
    if rs is not None:
        assert rs["rope_type"] == "llama3", rs
        inv_freq, _ = llama3_scale(inv_freq, rs)
    freqs = torch.outer(torch.arange(T, dtype=F64), inv_freq)  # (T, HS/2)
    emb = torch.cat([freqs, freqs], dim=-1)  # (T, HS)
    return emb.cos(), emb.sin()


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat([-x2, x1], dim=-1)


def causal_attention(q, k, v):
    # q: (B, NH, T, HS), k/v: (B, NH, T, HS) -> (B, T, NH*HS); softmax in float64
    Bq, NH, Tq, HS = q.shape
    att = (q @ k.transpose(-2, -1)) * HS ** -0.5  # (B, NH, T, T)
    mask = torch.ones(Tq, Tq, dtype=torch.bool).tril()
    att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
    y = att @ v  # (B, NH, T, HS)
    return y.transpose(1, 2).reshape(Bq, Tq, NH * HS)


def llama_forward(cfg, W, ids, lora=None, layer=None):
    """Llama / Mistral / Qwen2 / Qwen3 / SmolLM3 / OLMo 2 decoder. W: {name: float64 tensor}; ids: (B, T) -> logits (B, T, V).
    lora: optional hook lora(x, module_name) -> delta added to each Linear's output (see the module docstring).
    SmolLM3 (modeling_smollm3.py SmolLM3Attention): layer l applies RoPE only when no_rope_layers[l] is 1.
    OLMo 2 (modeling_olmo2.py): Olmo2Attention normalises the whole q and k projections (q_norm over NH*HS, k_norm
    over KVH*HS) before splitting into heads; Olmo2DecoderLayer is post-norm: x + post_attention_layernorm(attn(x)),
    then x + post_feedforward_layernorm(mlp(x)), with no input_layernorm."""
    C, NH, KVH = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    HS = cfg.get("head_dim") or C // NH
    eps = cfg["rms_norm_eps"]
    olmo2 = cfg["model_type"] == "olmo2"
    L = cfg["num_hidden_layers"]
    use_rope = [1] * L  # SmolLM3: no_rope_layers[l] 1 = RoPE, 0 = NoPE; absent: NoPE every no_rope_layer_interval-th layer
    if cfg["model_type"] == "smollm3":
        every = cfg.get("no_rope_layer_interval", 4)
        use_rope = cfg.get("no_rope_layers") or [int((l + 1) % every != 0) for l in range(L)]
    Bx, Tx = ids.shape
    cos, sin = rope_tables(cfg, HS, Tx)  # (T, HS)

    def base_lin(x, name):  # nn.Linear: x @ W^T (+ b)
        y = x @ W[name + ".weight"].T
        return y + W[name + ".bias"] if name + ".bias" in W else y

    def lin(x, name):  # [+ LoRA delta] or [the layer hook]
        if layer is not None:
            return layer(x, name, lambda z: base_lin(z, name))
        y = base_lin(x, name)
        return y if lora is None else y + lora(x, name)

    x = W["model.embed_tokens.weight"][ids]  # (B, T, C)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = x if olmo2 else rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q, k = lin(h, p + "self_attn.q_proj"), lin(h, p + "self_attn.k_proj")  # (B, T, NH*HS), (B, T, KVH*HS)
        if olmo2:  # OLMo 2: RMSNorm over the full projections
            q = rms_norm(q, W[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, W[p + "self_attn.k_norm.weight"], eps)
        q = q.view(Bx, Tx, NH, HS).transpose(1, 2)  # (B, NH, T, HS)
        k = k.view(Bx, Tx, KVH, HS).transpose(1, 2)  # (B, KVH, T, HS)
        v = lin(h, p + "self_attn.v_proj").view(Bx, Tx, KVH, HS).transpose(1, 2)  # (B, KVH, T, HS)
        if not olmo2 and p + "self_attn.q_norm.weight" in W:  # Qwen3: RMSNorm over each head's HS values, before RoPE
            q = rms_norm(q, W[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, W[p + "self_attn.k_norm.weight"], eps)
        if use_rope[l]:
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
        # repeat_kv: query head j uses kv head j // (NH / KVH)
        k = k.repeat_interleave(NH // KVH, dim=1)  # (B, NH, T, HS)
        v = v.repeat_interleave(NH // KVH, dim=1)
        a = lin(causal_attention(q, k, v), p + "self_attn.o_proj")  # (B, T, C)
        if olmo2:
            x = x + rms_norm(a, W[p + "post_attention_layernorm.weight"], eps)
            h = x
        else:
            x = x + a
            h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = lin(h, p + "mlp.gate_proj")  # (B, T, I)
        m = lin(g * torch.sigmoid(g) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")  # SwiGLU
        x = x + (rms_norm(m, W[p + "post_feedforward_layernorm.weight"], eps) if olmo2 else m)
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else W["lm_head.weight"]
    return x @ head.T  # (B, T, V)


def phi3_rope_tables(cfg, T):
    """Phi-3 cos, sin: (T, R) for positions 0..T-1 over the first R = int(HS * partial_rotary_factor) values of a
    head (rotate_half layout). LongRoPE (transformers 4.46 Phi3LongRoPEScaledRotaryEmbedding; the later
    _compute_longrope_parameters is the same math): ext = long_factor if the sequence length T exceeds
    original_max_position_embeddings else short_factor; inv_freq[i] = 1 / (ext[i] * theta^(2i/R));
    cos and sin multiplied by sqrt(1 + ln(s) / ln(original_max)), s = max_position_embeddings / original_max (1 if s <= 1)."""
    HS = cfg["hidden_size"] // cfg["num_attention_heads"]
    R = int(HS * cfg.get("partial_rotary_factor", 1.0))
    inv_freq = 1.0 / cfg["rope_theta"] ** (torch.arange(0, R, 2, dtype=F64) / R)  # (R/2,)
    rs, scale = cfg.get("rope_scaling"), 1.0
    if rs is not None:
        assert rs["type"] == "longrope", rs
        orig = cfg["original_max_position_embeddings"]
        ext = torch.tensor(rs["long_factor"] if T > orig else rs["short_factor"], dtype=F64)
        inv_freq = inv_freq / ext
        s = cfg["max_position_embeddings"] / orig
        scale = 1.0 if s <= 1.0 else math.sqrt(1 + math.log(s) / math.log(orig))
    freqs = torch.outer(torch.arange(T, dtype=F64), inv_freq)  # (T, R/2)
    emb = torch.cat([freqs, freqs], dim=-1)  # (T, R)
    return emb.cos() * scale, emb.sin() * scale


def partial_rope(x, cos, sin):
    """x (..., T, HS), cos/sin (T, R): rotate_half RoPE on x[..., :R], x[..., R:] passed through unchanged."""
    R = cos.shape[-1]
    xr = x[..., :R]
    return torch.cat([xr * cos + rotate_half(xr) * sin, x[..., R:]], dim=-1)


def phi3_forward(cfg, W, ids, lora=None, layer=None):
    """Phi3ForCausalLM (transformers models/phi3/modeling_phi3.py). W: {name: float64 tensor}; ids (B, T) -> (B, T, V).
    Fused self_attn.qkv_proj (rows: q NH*HS, then k KVH*HS, then v KVH*HS) and mlp.gate_up_proj (gate, up =
    chunk(2): the first I outputs are the gate); RoPE on the first R values of each head only, the rest passed
    through (partial_rotary_factor); sliding_window W: query i sees keys j with i - W < j <= i (the eager mask:
    j <= i - W masked). lora / layer hooks as in llama_forward (module names qkv_proj, gate_up_proj, ...)."""
    C, NH, KVH, I = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["intermediate_size"]
    HS = C // NH
    eps = cfg["rms_norm_eps"]
    Bx, Tx = ids.shape
    cos, sin = phi3_rope_tables(cfg, Tx)  # (T, R)
    R = cos.shape[-1]
    window = cfg.get("sliding_window")

    def base_lin(x, name):  # nn.Linear without bias
        return x @ W[name + ".weight"].T

    def lin(x, name):
        if layer is not None:
            return layer(x, name, lambda z: base_lin(z, name))
        y = base_lin(x, name)
        return y if lora is None else y + lora(x, name)

    i_pos = torch.arange(Tx).view(-1, 1)
    j_pos = torch.arange(Tx).view(1, -1)
    visible = j_pos <= i_pos
    if window is not None:
        visible = visible & (j_pos > i_pos - window)

    x = W["model.embed_tokens.weight"][ids]  # (B, T, C)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        qkv = lin(h, p + "self_attn.qkv_proj")  # (B, T, (NH + 2 KVH) HS)
        q = qkv[..., :NH * HS].view(Bx, Tx, NH, HS).transpose(1, 2)  # (B, NH, T, HS)
        k = qkv[..., NH * HS:(NH + KVH) * HS].view(Bx, Tx, KVH, HS).transpose(1, 2)  # (B, KVH, T, HS)
        v = qkv[..., (NH + KVH) * HS:].view(Bx, Tx, KVH, HS).transpose(1, 2)
        q, k = partial_rope(q, cos, sin), partial_rope(k, cos, sin)
        k = k.repeat_interleave(NH // KVH, dim=1)  # (B, NH, T, HS)
        v = v.repeat_interleave(NH // KVH, dim=1)
        att = (q @ k.transpose(-2, -1)) * HS ** -0.5  # (B, NH, T, T)
        att = att.masked_fill(~visible, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(Bx, Tx, NH * HS)
        x = x + lin(y, p + "self_attn.o_proj")  # (B, T, C)
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        gu = lin(h, p + "mlp.gate_up_proj")  # (B, T, 2I)
        g, u = gu[..., :I], gu[..., I:]
        x = x + lin(u * (g * torch.sigmoid(g)), p + "mlp.down_proj")
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else W["lm_head.weight"]
    return x @ head.T  # (B, T, V)


def gemma_rms_norm(x, w, eps):
    # Gemma2RMSNorm / Gemma3RMSNorm: x * rsqrt(mean(x^2) + eps) * (1 + w)  (weights stored as offsets from 1)
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * (1.0 + w)


def gemma_layer_types(cfg):
    """True per sliding layer: layer_types when given, else Gemma 2 even layers (not bool(layer_idx % 2)),
    Gemma 3 bool((layer_idx + 1) % sliding_window_pattern)."""
    L = cfg["num_hidden_layers"]
    if cfg.get("layer_types") is not None:
        return [t == "sliding_attention" for t in cfg["layer_types"]]
    if cfg["model_type"] == "gemma2":
        return [not bool(l % 2) for l in range(L)]
    return [bool((l + 1) % cfg.get("sliding_window_pattern", 6)) for l in range(L)]


def gemma_rope_tables(theta, HS, T, linear_factor=None):
    inv_freq = 1.0 / theta ** (torch.arange(0, HS, 2, dtype=F64) / HS)  # (HS/2,)
    if linear_factor is not None:
        inv_freq = inv_freq / linear_factor  # _compute_linear_scaling_rope_parameters
    freqs = torch.outer(torch.arange(T, dtype=F64), inv_freq)  # (T, HS/2)
    emb = torch.cat([freqs, freqs], dim=-1)  # (T, HS)
    return emb.cos(), emb.sin()


def gemma_forward(cfg, W, ids, lora=None, layer=None):
    """Gemma2ForCausalLM / Gemma3ForCausalLM (text), after transformers' modeling_gemma2.py / modeling_gemma3.py:
    embeddings * sqrt(hidden) (a tensor of the activation dtype: float64 here), four (1 + w) RMSNorms per block
    (input, post_attention, pre_feedforward, post_feedforward), GeGLU MLP with the tanh GELU, scores scaled by
    query_pre_attn_scalar**-0.5 and soft-capped (attn_logit_softcapping) before the causal / sliding-window mask
    (key j visible to query i when i - window < j <= i), Gemma 3's q_norm/k_norm over head_dim before RoPE and its
    local RoPE base (rope_local_base_freq) on sliding layers, global layers on rope_theta with rope_scaling (linear),
    final norm, tied head, final_logit_softcapping. Hooks as in llama_forward."""
    C, NH, KVH = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    HS, eps = cfg["head_dim"], cfg["rms_norm_eps"]
    gemma3 = cfg["model_type"] == "gemma3_text"
    Bx, Tx = ids.shape
    rs = cfg.get("rope_scaling")
    if rs is not None:
        assert rs["rope_type"] == "linear", rs
    cos_g, sin_g = gemma_rope_tables(cfg["rope_theta"], HS, Tx, rs["factor"] if rs else None)  # global layers
    cos_l, sin_l = gemma_rope_tables(cfg["rope_local_base_freq"], HS, Tx) if gemma3 else (cos_g, sin_g)
    sliding = gemma_layer_types(cfg)
    scaling = cfg["query_pre_attn_scalar"] ** -0.5
    attn_cap, final_cap = cfg.get("attn_logit_softcapping"), cfg.get("final_logit_softcapping")

    def base_lin(x, name):
        y = x @ W[name + ".weight"].T
        return y + W[name + ".bias"] if name + ".bias" in W else y

    def lin(x, name):
        if layer is not None:
            return layer(x, name, lambda z: base_lin(z, name))
        y = base_lin(x, name)
        return y if lora is None else y + lora(x, name)

    i_idx = torch.arange(Tx).view(Tx, 1)
    j_idx = torch.arange(Tx).view(1, Tx)
    causal = j_idx <= i_idx  # (T, T)
    x = W["model.embed_tokens.weight"][ids] * torch.tensor(C ** 0.5, dtype=F64)  # (B, T, C)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = gemma_rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = lin(h, p + "self_attn.q_proj").view(Bx, Tx, NH, HS).transpose(1, 2)  # (B, NH, T, HS)
        k = lin(h, p + "self_attn.k_proj").view(Bx, Tx, KVH, HS).transpose(1, 2)  # (B, KVH, T, HS)
        v = lin(h, p + "self_attn.v_proj").view(Bx, Tx, KVH, HS).transpose(1, 2)
        if gemma3:
            q = gemma_rms_norm(q, W[p + "self_attn.q_norm.weight"], eps)
            k = gemma_rms_norm(k, W[p + "self_attn.k_norm.weight"], eps)
        cos, sin = (cos_l, sin_l) if sliding[l] else (cos_g, sin_g)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(NH // KVH, dim=1)  # (B, NH, T, HS)
        v = v.repeat_interleave(NH // KVH, dim=1)
        s = (q @ k.transpose(-2, -1)) * scaling  # (B, NH, T, T)
        if attn_cap is not None:
            s = torch.tanh(s / attn_cap) * attn_cap
        mask = causal & (i_idx - j_idx < cfg["sliding_window"]) if sliding[l] else causal
        att = s.masked_fill(~mask, float("-inf")).softmax(dim=-1) @ v  # (B, NH, T, HS)
        att = att.transpose(1, 2).reshape(Bx, Tx, NH * HS)
        x = x + gemma_rms_norm(lin(att, p + "self_attn.o_proj"), W[p + "post_attention_layernorm.weight"], eps)
        h = gemma_rms_norm(x, W[p + "pre_feedforward_layernorm.weight"], eps)
        m = lin(gelu_tanh(lin(h, p + "mlp.gate_proj")) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")  # GeGLU
        x = x + gemma_rms_norm(m, W[p + "post_feedforward_layernorm.weight"], eps)
    x = gemma_rms_norm(x, W["model.norm.weight"], eps)
    logits = x @ W["model.embed_tokens.weight"].T  # tied head (B, T, V)
    if final_cap is not None:
        logits = torch.tanh(logits / final_cap) * final_cap
    return logits


def gpt2_forward(cfg, W, ids, lora=None, layer=None):
    """GPT2LMHeadModel. Conv1D weights are [in, out]: y = x @ W + b. Tied head (wte).
    lora: optional hook lora(x, module_name) -> delta added to each Conv1D's output (see the module docstring)."""
    C, NH, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    HS = C // NH
    Bx, Tx = ids.shape

    def base_conv1d(x, name):  # Conv1D: x @ W + b
        return x @ W[name + ".weight"] + W[name + ".bias"]

    def conv1d(x, name):  # [+ LoRA delta] or [the layer hook]
        if layer is not None:
            return layer(x, name, lambda z: base_conv1d(z, name))
        y = base_conv1d(x, name)
        return y if lora is None else y + lora(x, name)

    def ln(x, name):
        return layer_norm(x, W[name + ".weight"], W[name + ".bias"], eps)

    x = W["transformer.wte.weight"][ids] + W["transformer.wpe.weight"][:Tx]  # (B, T, C)
    for l in range(cfg["n_layer"]):
        p = f"transformer.h.{l}."
        qkv = conv1d(ln(x, p + "ln_1"), p + "attn.c_attn")  # (B, T, 3C)
        q, k, v = (t.view(Bx, Tx, NH, HS).transpose(1, 2) for t in qkv.split(C, dim=-1))  # (B, NH, T, HS)
        x = x + conv1d(causal_attention(q, k, v), p + "attn.c_proj")
        m = gelu_tanh(conv1d(ln(x, p + "ln_2"), p + "mlp.c_fc"))  # (B, T, 4C)
        x = x + conv1d(m, p + "mlp.c_proj")
    x = ln(x, "transformer.ln_f")
    return x @ W["transformer.wte.weight"].T  # (B, T, V)


# ----------------------------------------------------------------------------------------------------

def write_json(path, obj):
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")

