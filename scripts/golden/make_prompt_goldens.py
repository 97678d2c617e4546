#!/usr/bin/env python3
"""
make_prompt_goldens.py -- float64 golden fixtures for prompt tuning and prefix tuning (PEFT 0.14 PROMPT_TUNING:
tuners/prompt_tuning/model.py PromptEmbedding; PREFIX_TUNING: tuners/prefix_tuning/model.py PrefixEncoder; both
through PeftModelForCausalLM's prompt-learning forward in training mode), on the tiny GQA Llama and GPT-2.

Run:  /usr/bin/python3 scripts/golden/make_prompt_goldens.py          (PyTorch 1.13 + numpy only)

The prompt module is an own torch.nn.Module with the attribute names of PEFT's (so its state_dict keys are PEFT's):
  prompt:       embedding = nn.Embedding(P, D); output = embedding(arange(P))                       (P, D)
  prefix:       embedding = nn.Embedding(P, L*2*D); output = embedding(arange(P))                   (P, L*2*D)
  prefix_proj:  embedding = nn.Embedding(P, D); transform = Sequential(Linear(D, H), Tanh(), Linear(H, L*2*D))
D = token_dim: the hidden size for prompt tuning; for prefix tuning on a config with num_key_value_heads
hidden / heads * KVH (PEFT's _prepare_prompt_learning_config), so 32 on the Llama (GQA 4/2 heads of 16), 64 on GPT-2.

Prompt tuning forward: the P output rows are placed before the input embeddings (positions 0..P-1, GPT-2 adds
wpe[0..P-1] to them); computed as golden_common's forwards over ids with the virtual rows appended to the embedding
table as ids V..V+P-1 (logits cut to [..., :V]). Labels of the virtual rows are -100 (PEFT: cat(-100 * P, labels))
and the loss runs over the P+T rows, so the last virtual row predicts labels[:, 0]: row 0 of the batch keeps its
labels[0, 0] (row 1 ignores it), so the golden tells the two semantics apart (asserted: they differ).

Prefix tuning forward (own code below): the output row p, viewed (L*2, H, D/H) as PEFT's
view(B, P, L*2, H, D/H).permute(2, 0, 3, 1, 4).split(2) does, gives layer l's past key (index 2l) and value (2l+1),
(B, KVH, P, HS), no RoPE applied to them; the inputs take positions P..P+T-1 (RoPE / wpe), attend to all P prefix
slots and causally to each other (attention_mask of ones over P+T, as PEFT prepends).

Batch, labels, deterministic init and the 10-step AdamW curve as make_ptuning_goldens.py: the i-th tensor of
named_parameters(), flat index q: embedding.weight sin(0.37 q + 1.3 i); 2-D weights 1.5/sqrt(shape[1]) *
sin(0.37 q + 1.3 i + 0.5); 1-D biases 0.3 cos(0.23 q + 0.7 i); rounded to float32.
Cases (peft4j-core/src/test/resources/golden/prompt/<case>/<model>/): prompt, prefix (P 4), prefix_proj (P 4,
encoder_hidden_size 12). Files: init.safetensors ("prompt_encoder.default.<name>"), grads.safetensors (same keys;
"logits" [B*T, V] of the input rows, "prompt_embeddings" what PEFT saves), grads.json, curve.json, final.safetensors,
and adapter/ as PEFT's save_pretrained writes it (config keys of PEFT 0.14's to_dict, inference_mode true;
{"prompt_embeddings"}: the table, or for prefix_proj the projected output). Self-checks: float64 finite differences of
the loss for a few entries of every tensor; torch.optim.AdamW equals the hand-written loop.
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
from golden_common import (F64, GOLDEN_DIR, gelu_tanh, gpt2_forward, layer_norm, llama_forward, read_safetensors,  # noqa: E402
                           rms_norm, rope_tables, rotate_half, write_json, write_safetensors)
from prompt_golden_common import f32, finite_differences, key, train  # noqa: E402
from make_lora_goldens import HYPER as LORA_HYPER, INPUT_IDS, MODELS_DIR, causal_lm_loss  # noqa: E402

OUT_DIR = GOLDEN_DIR / "prompt"
P = 4
HYPER = {k: v for k, v in LORA_HYPER.items()
         if k not in ("r", "lora_alpha", "scaling", "lora_dropout", "use_rslora", "param_order")}
HYPER["param_order"] = "PEFT's named_parameters of the prompt encoder: embedding, transform.0, transform.2"
CASES = {"prompt": {"type": "PROMPT_TUNING"}, "prefix": {"type": "PREFIX_TUNING", "projection": False},
         "prefix_proj": {"type": "PREFIX_TUNING", "projection": True, "hidden": 12}}


class PromptModule(torch.nn.Module):
    def __init__(self, case, D, L):
        super().__init__()
        c = CASES[case]
        self.projection = c.get("projection", False)
        if c["type"] == "PREFIX_TUNING" and not self.projection:
            self.embedding = torch.nn.Embedding(P, L * 2 * D)
        else:
            self.embedding = torch.nn.Embedding(P, D)
        if self.projection:
            H = c["hidden"]
            self.transform = torch.nn.Sequential(torch.nn.Linear(D, H), torch.nn.Tanh(), torch.nn.Linear(H, L * 2 * D))
        self.to(F64)
        with torch.no_grad():
            for i, (name, p) in enumerate(self.named_parameters()):
                q = torch.arange(p.numel(), dtype=F64)
                if name == "embedding.weight":
                    v = torch.sin(0.37 * q + 1.3 * i)
                elif p.dim() == 2:
                    v = 1.5 / math.sqrt(p.shape[1]) * torch.sin(0.37 * q + 1.3 * i + 0.5)
                else:
                    v = 0.3 * torch.cos(0.23 * q + 0.7 * i)
                p.copy_(v.to(torch.float32).to(F64).view(p.shape))

    def forward(self):
        x = self.embedding(torch.arange(P))
        return self.transform(x) if self.projection else x


def prefix_attention(q, k, v, Pv):
    """q: (B, NH, T, HS); k, v: (B, NH, Pv+T, HS): query i sees the Pv prefix slots and inputs 0..i."""
    T = q.shape[2]
    att = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
    allowed = torch.cat([torch.ones(T, Pv, dtype=torch.bool), torch.ones(T, T, dtype=torch.bool).tril()], dim=1)
    att = att.masked_fill(~allowed, float("-inf")).softmax(dim=-1)
    y = att @ v
    return y.transpose(1, 2).reshape(q.shape[0], T, -1)


def past_key_values(flat, L, H, B):
    """(P, L*2*D) -> per layer (k, v), each (B, H, P, D/H): PEFT's view/permute/split."""
    Pv = flat.shape[0]
    x = flat.unsqueeze(0).expand(B, Pv, flat.shape[1]).reshape(B, Pv, L * 2, H, -1).permute(2, 0, 3, 1, 4)
    return [(x[2 * l], x[2 * l + 1]) for l in range(L)]


def llama_prefix_forward(cfg, W, ids, flat):
    C, NH, KVH = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    HS = cfg.get("head_dim") or C // NH
    eps, L = cfg["rms_norm_eps"], cfg["num_hidden_layers"]
    B, T = ids.shape
    Pv = flat.shape[0]
    cos, sin = rope_tables(cfg, HS, Pv + T)
    cos, sin = cos[Pv:], sin[Pv:]  # the inputs sit at positions P..P+T-1
    pkv = past_key_values(flat, L, KVH, B)

    def lin(x, name):
        return x @ W[name + ".weight"].T

    x = W["model.embed_tokens.weight"][ids]
    for l in range(L):
        p = f"model.layers.{l}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = lin(h, p + "self_attn.q_proj").view(B, T, NH, HS).transpose(1, 2)
        k = lin(h, p + "self_attn.k_proj").view(B, T, KVH, HS).transpose(1, 2)
        v = lin(h, p + "self_attn.v_proj").view(B, T, KVH, HS).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = torch.cat([pkv[l][0], k], dim=2).repeat_interleave(NH // KVH, dim=1)
        v = torch.cat([pkv[l][1], v], dim=2).repeat_interleave(NH // KVH, dim=1)
        x = x + lin(prefix_attention(q, k, v, Pv), p + "self_attn.o_proj")
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = lin(h, p + "mlp.gate_proj")
        x = x + lin(g * torch.sigmoid(g) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else W["lm_head.weight"]
    return x @ head.T


def gpt2_prefix_forward(cfg, W, ids, flat):
    C, NH, eps, L = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"], cfg["n_layer"]
    HS = C // NH
    B, T = ids.shape
    Pv = flat.shape[0]
    pkv = past_key_values(flat, L, NH, B)

    def conv1d(x, name):
        return x @ W[name + ".weight"] + W[name + ".bias"]

    def ln(x, name):
        return layer_norm(x, W[name + ".weight"], W[name + ".bias"], eps)

    x = W["transformer.wte.weight"][ids] + W["transformer.wpe.weight"][Pv:Pv + T]
    for l in range(L):
        p = f"transformer.h.{l}."
        qkv = conv1d(ln(x, p + "ln_1"), p + "attn.c_attn")
        q, k, v = (t.view(B, T, NH, HS).transpose(1, 2) for t in qkv.split(C, dim=-1))
        k = torch.cat([pkv[l][0], k], dim=2)
        v = torch.cat([pkv[l][1], v], dim=2)
        x = x + conv1d(prefix_attention(q, k, v, Pv), p + "attn.c_proj")
        x = x + conv1d(gelu_tanh(conv1d(ln(x, p + "ln_2"), p + "mlp.c_fc")), p + "mlp.c_proj")
    x = ln(x, "transformer.ln_f")
    return x @ W["transformer.wte.weight"].T


class Setup:
    def __init__(self, case, model):
        d = MODELS_DIR / model
        self.case, self.model = case, model
        self.prefix = CASES[case]["type"] == "PREFIX_TUNING"
        self.cfg = json.loads((d / "config.json").read_text())
        self.W = {k: v.to(F64) for k, v in read_safetensors(d / "model.safetensors").items()}
        self.llama = model == "llama"
        self.emb = "model.embed_tokens.weight" if self.llama else "transformer.wte.weight"
        self.V = self.cfg["vocab_size"]
        self.C = self.W[self.emb].shape[1]
        self.L = self.cfg.get("num_hidden_layers", self.cfg.get("n_layer"))
        self.NH = self.cfg.get("num_attention_heads", self.cfg.get("n_head"))
        self.heads, self.D = self.NH, self.C
        if self.prefix and "num_key_value_heads" in self.cfg:  # PEFT's GQA sizing
            self.D = self.C // self.NH * self.cfg["num_key_value_heads"]
            self.heads = self.cfg["num_key_value_heads"]
        self.ids = torch.tensor(INPUT_IDS)
        self.labels = self.ids.clone()
        self.labels[0, 1:3] = -100  # labels[0, 0] stays: the last virtual token predicts it (prompt tuning)
        self.labels[1, 0] = -100
        self.labels[1, 5:8] = -100

    def loss(self, mod):
        """PEFT's training loss and the logits of the T input rows."""
        out = mod()
        if self.prefix:  # past key/values: the labels are the input's own
            f = llama_prefix_forward if self.llama else gpt2_prefix_forward
            lg = f(self.cfg, self.W, self.ids, out)
            return causal_lm_loss(lg, self.labels), lg
        B = self.ids.shape[0]
        W = dict(self.W)
        W[self.emb] = torch.cat([self.W[self.emb], out], dim=0)  # virtual tokens = ids V..V+P-1
        ids = torch.cat([torch.arange(self.V, self.V + P).unsqueeze(0).expand(B, P), self.ids], dim=1)
        lg = (llama_forward if self.llama else gpt2_forward)(self.cfg, W, ids)[..., : self.V]
        full = torch.cat([torch.full((B, P), -100, dtype=torch.long), self.labels], dim=1)
        loss = causal_lm_loss(lg, full)
        assert abs(loss.item() - causal_lm_loss(lg[:, P:], self.labels).item()) > 1e-6  # labels[0, 0] counts
        return loss, lg[:, P:]

    def base_logits(self):
        return (llama_forward if self.llama else gpt2_forward)(self.cfg, self.W, self.ids)


def adapter_config(s, case):
    c = CASES[case]
    cfg = {"auto_mapping": None, "base_model_name_or_path": None, "inference_mode": True,
           "num_attention_heads": s.heads, "num_layers": s.L, "num_transformer_submodules": 1, "num_virtual_tokens": P,
           "peft_type": c["type"], "revision": None, "task_type": "CAUSAL_LM", "token_dim": s.D}
    if c["type"] == "PROMPT_TUNING":
        cfg.update({"prompt_tuning_init": "RANDOM", "prompt_tuning_init_text": None, "tokenizer_kwargs": None,
                    "tokenizer_name_or_path": None})
    else:
        cfg.update({"encoder_hidden_size": c.get("hidden", s.D), "prefix_projection": c["projection"]})
    return cfg


def make(case, model):
    print(f"{case}/{model}")
    s = Setup(case, model)
    out = OUT_DIR / case / model
    (out / "adapter").mkdir(parents=True, exist_ok=True)
    mod = PromptModule(case, s.D, s.L)
    names = [n for n, _ in mod.named_parameters()]
    write_safetensors(out / "init.safetensors", f32({key(n): p for n, p in mod.named_parameters()}))

    loss, lg = s.loss(mod)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in mod.named_parameters()}
    assert all(g.abs().max() > 0 for g in grads.values()), "a prompt tensor got no gradient"
    norm = math.sqrt(sum(float((g * g).sum()) for g in grads.values()))
    finite_differences(s, mod, grads)
    with torch.no_grad():
        saved = mod()  # get_prompt_embedding_to_save: the table, or the projected output
        base = s.base_logits()
    B, T = s.ids.shape
    logits = lg.detach()
    moved = (logits - base).abs().max().item()
    print(f"  loss {loss.item():.6f}, grad norm {norm:.4e}, the prompt moves the logits by {moved:.3e}")
    assert moved > 1e-3
    g = {key(n): v for n, v in grads.items()}
    g["logits"] = logits.reshape(B * T, -1)
    g["prompt_embeddings"] = saved
    write_safetensors(out / "grads.safetensors", f32(g))
    cfg = adapter_config(s, case)
    write_json(out / "grads.json", {"loss": loss.item(), "grad_norm": norm, "input_ids": INPUT_IDS,
                                    "labels": s.labels.tolist(), "config": cfg, "param_order": names,
                                    "spec": __doc__.strip().split("\n\n")[1]})
    write_json(out / "adapter" / "adapter_config.json", cfg)
    write_safetensors(out / "adapter" / "adapter_model.safetensors", f32({"prompt_embeddings": saved}))

    mod2 = PromptModule(case, s.D, s.L)
    losses, norms, lrs, clipped, after = train(s, mod, HYPER, by_hand=False)
    losses2, norms2, _, _, _ = train(s, mod2, HYPER, by_hand=True)
    for a, b in zip(losses + norms, losses2 + norms2):
        assert abs(a - b) <= 1e-12 * max(abs(a), 1), (a, b)
    for (n, p), (_, p2) in zip(mod.named_parameters(), mod2.named_parameters()):
        assert torch.allclose(p, p2, rtol=1e-12, atol=1e-15), n
    print(f"  curve: loss {losses[0]:.5f} -> {after:.5f}, clipped {sum(clipped)}/{len(clipped)} steps")
    write_safetensors(out / "final.safetensors", f32({key(n): p for n, p in mod.named_parameters()}))
    write_json(out / "curve.json", {"loss": losses, "grad_norm": norms, "lr": lrs, "clipped": clipped,
                                    "loss_after": after, "hyper": HYPER})


def main():
    torch.manual_seed(0)
    for case in CASES:
        for model in ("llama", "gpt2"):
            make(case, model)


if __name__ == "__main__":
    main()
