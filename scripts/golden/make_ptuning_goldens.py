#!/usr/bin/env python3
"""
make_ptuning_goldens.py -- float64 golden fixtures for P-tuning (PEFT 0.14 P_TUNING, tuners/p_tuning/model.py
PromptEncoder in training mode, PeftModelForCausalLM's prompt-learning forward), on the tiny GQA Llama and GPT-2.

Run:  /usr/bin/python3 scripts/golden/make_ptuning_goldens.py          (PyTorch 1.13 + numpy only)

The encoder is an own torch.nn.Module with the attribute names of PEFT's PromptEncoder (so its state_dict
keys are PEFT's): embedding = nn.Embedding(P, D); MLP: mlp_head = Sequential(Linear(D,H), ReLU, Linear(H,H),
ReLU, Linear(H,D)); LSTM: lstm_head = torch.nn.LSTM(D, H, num_layers, dropout 0, bidirectional, batch_first)
(PyTorch's own LSTM, loaded with the fixture values) and mlp_head = Sequential(Linear(2H,2H), ReLU,
Linear(2H,D)). Everything float64.

Model forward with virtual tokens (PeftModelForCausalLM.forward, prompt learning, no past_key_values):
  prompts = encoder(arange(P)) (P, D), repeated for each row; inputs_embeds = cat(prompts, embed(ids)) at
  positions 0..P+T-1 (GPT-2 adds wpe[0..P+T-1] to the virtual rows too). golden_common's forwards take ids, so
  the P virtual rows are appended to the input embedding table as ids V..V+P-1 (the output logits over those
  extra columns, present only with GPT-2's tied head, are cut off: logits[..., :V]); this is the same arithmetic.
  PEFT's labels = cat(-100 * P, labels); loss = cross_entropy(logits[:, :-1], labels[:, 1:]) over the P+T rows.
  The last virtual row predicts labels[:, 0]: row 0 of the batch keeps labels[0, 0] (row 1 ignores it), so the
  golden tells this apart from a loss over the T input rows only (asserted: they differ).

Batch: input_ids as make_lora_goldens.py; labels = input_ids with [0][1:3], [1][0], [1][5:8] = -100.
Init (deterministic, PEFT's random init replaced): the i-th tensor of named_parameters(), flat index q:
    embedding.weight:  sin(0.37 q + 1.3 i)
    2-D weights:       1.5 / sqrt(shape[1]) * sin(0.37 q + 1.3 i + 0.5)
    1-D biases:        0.3 * cos(0.23 q + 0.7 i)
  rounded to float32.
Cases (peft4j-core/src/test/resources/golden/ptuning/<case>/<model>/):
    mlp:   P 4, encoder_hidden_size 12
    lstm:  P 4, encoder_hidden_size 6, encoder_num_layers 2, encoder_dropout 0.0
Files: init.safetensors (tensors under "prompt_encoder.default.<name>"), grads.safetensors (same keys: d loss/d
tensor at init; "logits" [B*T, V] for the input rows; "prompt_embeddings" [P, D] the encoder output), grads.json
(loss, grad norm, ids, labels, config), curve.json + final.safetensors (10 AdamW steps exactly as
make_lora_goldens.py's HYPER: clip 0.5, lr 0.01 linear warmup 3 / decay to 10, wd 0.01), and adapter/ — what
PEFT's save_pretrained writes for this adapter: adapter_config.json (PromptEncoderConfig.to_dict, inference_mode
true) and adapter_model.safetensors {"prompt_embeddings": encoder output, F32}. Self-checks: finite differences
of the loss in float64 for a few entries of every tensor; the curve by torch.optim.AdamW equals the hand loop.
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
from golden_common import F64, GOLDEN_DIR, gpt2_forward, llama_forward, read_safetensors, write_json, write_safetensors  # noqa: E402
from prompt_golden_common import f32, finite_differences, key, train  # noqa: E402
from make_lora_goldens import HYPER as LORA_HYPER, INPUT_IDS, MODELS_DIR, causal_lm_loss  # noqa: E402

OUT_DIR = GOLDEN_DIR / "ptuning"
P = 4
HYPER = {k: v for k, v in LORA_HYPER.items()
         if k not in ("r", "lora_alpha", "scaling", "lora_dropout", "use_rslora", "param_order")}
HYPER["param_order"] = "PEFT's named_parameters of the prompt encoder: embedding, lstm_head, mlp_head"
CASES = {"mlp": {"type": "MLP", "hidden": 12, "layers": 2}, "lstm": {"type": "LSTM", "hidden": 6, "layers": 2}}


class Encoder(torch.nn.Module):
    def __init__(self, kind, D, H, layers):
        super().__init__()
        self.kind = kind
        self.embedding = torch.nn.Embedding(P, D)
        if kind == "LSTM":
            self.lstm_head = torch.nn.LSTM(input_size=D, hidden_size=H, num_layers=layers, dropout=0.0,
                                           bidirectional=True, batch_first=True)
            self.mlp_head = torch.nn.Sequential(torch.nn.Linear(2 * H, 2 * H), torch.nn.ReLU(), torch.nn.Linear(2 * H, D))
        else:
            self.mlp_head = torch.nn.Sequential(torch.nn.Linear(D, H), torch.nn.ReLU(), torch.nn.Linear(H, H),
                                                torch.nn.ReLU(), torch.nn.Linear(H, D))
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
                p.copy_(v.reshape(p.shape).to(torch.float32).to(F64))

    def forward(self):
        x = self.embedding(torch.arange(P).unsqueeze(0))  # (1, P, D): PEFT runs one row and repeats it
        if self.kind == "LSTM":
            x = self.lstm_head(x)[0]
        return self.mlp_head(x)[0]  # (P, D)


class Setup:
    def __init__(self, model):
        d = MODELS_DIR / model
        self.model = model
        self.cfg = json.loads((d / "config.json").read_text())
        self.W = {k: v.to(F64) for k, v in read_safetensors(d / "model.safetensors").items()}
        self.forward = llama_forward if model == "llama" else gpt2_forward
        self.emb = "model.embed_tokens.weight" if model == "llama" else "transformer.wte.weight"
        self.V = self.cfg["vocab_size"]
        self.D = self.W[self.emb].shape[1]
        self.ids = torch.tensor(INPUT_IDS)
        self.labels = self.ids.clone()
        self.labels[0, 1:3] = -100  # labels[0, 0] stays: the last virtual token predicts it
        self.labels[1, 0] = -100
        self.labels[1, 5:8] = -100

    def full_logits(self, prompts):
        B = self.ids.shape[0]
        W = dict(self.W)
        W[self.emb] = torch.cat([self.W[self.emb], prompts], dim=0)  # virtual tokens = ids V..V+P-1
        ids = torch.cat([torch.arange(self.V, self.V + P).unsqueeze(0).expand(B, P), self.ids], dim=1)
        return self.forward(self.cfg, W, ids)[..., : self.V]  # (B, P+T, V)

    def loss(self, enc):
        lg = self.full_logits(enc())
        B = self.ids.shape[0]
        full = torch.cat([torch.full((B, P), -100, dtype=torch.long), self.labels], dim=1)
        loss = causal_lm_loss(lg, full)
        inputs_only = causal_lm_loss(lg[:, P:], self.labels)
        assert abs(loss.item() - inputs_only.item()) > 1e-6, (loss, inputs_only)  # labels[0, 0] counts
        return loss, lg


def make(case, model):
    c = CASES[case]
    print(f"{case}/{model}")
    s = Setup(model)
    out = OUT_DIR / case / model
    (out / "adapter").mkdir(parents=True, exist_ok=True)
    H = c["hidden"]
    enc = Encoder(c["type"], s.D, H, c["layers"])
    names = [n for n, _ in enc.named_parameters()]
    init = {key(n): p.detach().clone() for n, p in enc.named_parameters()}
    write_safetensors(out / "init.safetensors", f32(init))

    loss, lg = s.loss(enc)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in enc.named_parameters()}
    assert all(g.abs().max() > 0 for g in grads.values()), "an encoder tensor got no gradient"
    norm = math.sqrt(sum(float((g * g).sum()) for g in grads.values()))
    finite_differences(s, enc, grads)
    with torch.no_grad():
        prompts = enc()
        base = s.forward(s.cfg, s.W, s.ids)
    B, T = s.ids.shape
    logits = lg[:, P:].detach()
    moved = (logits - base).abs().max().item()
    print(f"  loss {loss.item():.6f}, grad norm {norm:.4e}, virtual tokens move the logits by {moved:.3e}")
    assert moved > 1e-3
    g = {key(n): v for n, v in grads.items()}
    g["logits"] = logits.reshape(B * T, -1)
    g["prompt_embeddings"] = prompts
    write_safetensors(out / "grads.safetensors", f32(g))
    config = {"num_virtual_tokens": P, "token_dim": s.D, "encoder_reparameterization_type": c["type"],
              "encoder_hidden_size": H, "encoder_num_layers": c["layers"], "encoder_dropout": 0.0}
    write_json(out / "grads.json", {"loss": loss.item(), "grad_norm": norm, "input_ids": INPUT_IDS,
                                    "labels": s.labels.tolist(), "config": config, "param_order": names,
                                    "spec": __doc__.strip().split("\n\n")[1]})

    # what PEFT's save_pretrained writes for this adapter (training mode: the encoder output)
    L = s.cfg.get("num_hidden_layers", s.cfg.get("n_layer"))
    NH = s.cfg.get("num_attention_heads", s.cfg.get("n_head"))
    adapter_cfg = {"auto_mapping": None, "base_model_name_or_path": None, "encoder_dropout": 0.0,
                   "encoder_hidden_size": H, "encoder_num_layers": c["layers"],
                   "encoder_reparameterization_type": c["type"], "inference_mode": True, "num_attention_heads": NH,
                   "num_layers": L, "num_transformer_submodules": 1, "num_virtual_tokens": P, "peft_type": "P_TUNING",
                   "revision": None, "task_type": "CAUSAL_LM", "token_dim": s.D}
    write_json(out / "adapter" / "adapter_config.json", adapter_cfg)
    write_safetensors(out / "adapter" / "adapter_model.safetensors", f32({"prompt_embeddings": prompts}))

    enc2 = Encoder(c["type"], s.D, H, c["layers"])
    losses, norms, lrs, clipped, after = train(s, enc, HYPER, by_hand=False)
    losses2, norms2, _, _, _ = train(s, enc2, HYPER, by_hand=True)
    for a, b in zip(losses + norms, losses2 + norms2):
        assert abs(a - b) <= 1e-12 * max(abs(a), 1), (a, b)
    for (n, p), (_, p2) in zip(enc.named_parameters(), enc2.named_parameters()):
        assert torch.allclose(p, p2, rtol=1e-12, atol=1e-15), n
    assert any(clipped), "the curve must exercise clipping"
    print(f"  curve: loss {losses[0]:.5f} -> {after:.5f}, clipped {sum(clipped)}/{len(clipped)} steps")
    write_safetensors(out / "final.safetensors", f32({key(n): p for n, p in enc.named_parameters()}))
    write_json(out / "curve.json", {"loss": losses, "grad_norm": norms, "lr": lrs, "clipped": clipped,
                                    "loss_after": after, "hyper": HYPER})


def main():
    torch.manual_seed(0)
    for case in CASES:
        for model in ("llama", "gpt2"):
            make(case, model)


if __name__ == "__main__":
    main()
