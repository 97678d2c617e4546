#!/usr/bin/env python3
"""
make_lora_goldens.py -- golden LoRA gradients and a 10-step AdamW training curve for peft4j.

Run:  /usr/bin/python3 scripts/golden/make_lora_goldens.py      (PyTorch 1.13 + numpy; no transformers/peft)

Reads the tiny base models written by make_model_goldens.py
    peft4j-core/src/test/resources/golden/models/{llama,gpt2,qwen3,olmo2}/{config.json, model.safetensors}
and writes
    peft4j-core/src/test/resources/golden/lora/<model>/
        init.safetensors          initial lora_A / lora_B                                 (F32)
        grads.safetensors         d loss / d lora_A, d loss / d lora_B at init            (F32)
        grads_rslora.safetensors  the same with use_rslora=True          (gpt2 only)     (F32)
        grads.json                loss, scaling, batch, module list, spec (+ loss_rslora for gpt2)
        final.safetensors         lora_A / lora_B after the 10 training steps             (F32)
        curve.json                per step: loss (before the update), pre-clip grad norm, lr; hyper-parameters

Everything is computed in float64 with torch autograd, from the F32 base weights converted to float64.
Tensor names are those PEFT's save_pretrained writes to adapter_model.safetensors:
    base_model.model.<module>.lora_A.weight   [r, in]
    base_model.model.<module>.lora_B.weight   [out, r]
(get_peft_model_state_dict keeps the "lora_" keys and removes the ".default" adapter name). In grads*.safetensors
the same names hold the gradients.

SPEC (peft4j reproduces exactly this)
-------------------------------------
LoRA (HF PEFT src/peft/tuners/lora/layer.py, checked):
  * LoraLayer.update_layer: lora_A = nn.Linear(in_features, r, bias=False) -> weight [r, in];
    lora_B = nn.Linear(r, out_features, bias=False) -> weight [out, r];
    scaling = lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora; dropout p = 0 -> nn.Identity.
  * Linear.forward (unmerged): result = base_layer(x) + lora_B(lora_A(dropout(x))) * scaling
    i.e. y = (x W^T + b) + ((x A^T) B^T) * scaling; base bias included in base_layer(x), LoRA has no bias.
  * GPT-2 Conv1D (weight stored [in, out], y = x W + b): dispatch_default wraps it in the same lora.Linear with
    fan_in_fan_out=True; in_features, out_features = weight.shape. A is [r, in] and B is [out, r] exactly as for
    nn.Linear, and forward is identical. fan_in_fan_out only transposes B@A in get_delta_weight (merging).
  * r = 4, lora_alpha = 8 -> scaling 2.0 (rslora case: 8 / sqrt(4) = 4.0), lora_dropout 0, bias "none".
Targets (HF module paths; lm_head / embeddings / norms are not adapted, base weights frozen):
  * llama (and qwen3, olmo2, gemma3, gemma2): model.layers.{l}.self_attn.{q,k,v,o}_proj and model.layers.{l}.mlp.{gate,up,down}_proj,
    every layer (gemma2 also checks the gradients through both soft-cappings, gemma3 through the q/k norms)
  * phi3:  model.layers.{l}.self_attn.{qkv,o}_proj and model.layers.{l}.mlp.{gate_up,down}_proj (the fused modules;
           T = 8 > original_max 5, so the long LongRoPE factors, partial rotary 0.75 and sliding window 4 are all in play)
  * gpt2:  transformer.h.{l}.attn.c_attn, transformer.h.{l}.attn.c_proj, transformer.h.{l}.mlp.c_fc,
           transformer.h.{l}.mlp.c_proj, every layer
Deterministic init (no RNG): sort the target module names by Unicode code point (Python sorted); the module with
ordinal k (0-based) in that order, in = in_features, out = out_features, gets
    A[i][j] = 0.1  * sin(0.37 * (i*in + j) + 1.3*k)      i < r, j < in
    B[o][i] = 0.05 * cos(0.23 * (o*r + i) + 0.7*k)       o < out, i < r
  evaluated in double exactly in that operation order (integer index first, then 0.37 * idx, then + 1.3*k),
  then ROUNDED TO FLOAT32: init.safetensors holds those float32 values and every computation starts from them.
  (B is non-zero on purpose so that A receives a gradient.)
Batch and loss:
  * input_ids [2, 8] = [[5, 17, 3, 22, 9, 41, 7, 30], [12, 6, 33, 2, 19, 8, 27, 14]] (all < 100 = min vocab)
  * labels = input_ids with labels[0][0:3] = -100 and labels[1][5:8] = -100; no attention mask (all ones)
  * loss = HF causal-LM loss: cross_entropy(logits[:, :-1], labels[:, 1:], ignore_index=-100), mean over the
    non-ignored targets (14 targets, 2 + 3 ignored -> mean over 9).
Fixture 1 (grads.*): loss and d loss / d A, d loss / d B of every module at init; gpt2 also with use_rslora.
Fixture 2 (curve.json, final.safetensors), llama and gpt2, scaling 2.0, 10 optimizer steps on the same batch:
  * parameters: all A and B, in sorted module order, A before B (order matters only for the summation order in
    the grad norm, not numerically at float64)
  * for step s = 0..9:  loss_s = loss(params); grads = backward;
        grad_norm_s = sqrt(sum over all A, B gradients of g^2)        [torch.nn.utils.clip_grad_norm_, norm 2]
        clip_coef = max_norm / (grad_norm_s + 1e-6); grads *= min(clip_coef, 1.0)    (multiplied even when 1.0)
        lr_s = 0.01 * lambda(s),  lambda(s) = s / max(1, warmup)               if s < warmup
                                             max(0, (total - s) / max(1, total - warmup))  otherwise
            (transformers get_linear_schedule_with_warmup via torch LambdaLR: the first optimizer step uses
             lambda(0) = 0; warmup = 3, total = 10 -> lr = 0, 0.01/3, 0.02/3, 0.01, 0.01*6/7, ..., 0.01/7)
        AdamW (torch.optim.AdamW, amsgrad=False, maximize=False), per parameter tensor p with grad g, t = s + 1:
            p *= 1 - lr_s * weight_decay                        (decoupled decay, applied first)
            m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
            bc1 = 1 - beta1^t;  bc2 = 1 - beta2^t
            p -= (lr_s / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
        with lr 0.01 (peak), betas (0.9, 0.999), eps 1e-8, weight_decay 0.01 (also on A and B).
    NOTE step 0 runs with lr = 0: the parameters do not move (loss_1 == loss_0 exactly) but m, v and t DO advance.
  * max_norm = 0.5 (pre-clip norms are printed; with these settings it clips on all 10 steps for both models;
    see curve.json "clipped").
  * curve.json: loss[s], grad_norm[s] (pre-clip), lr[s], clipped[s], loss_after (loss at the final parameters),
    hyper; final.safetensors: A and B after the 10th update.
Self-checks: (a) with B = 0 the LoRA logits equal the base logits exactly; (b) autograd vs central finite
differences in float64 for A and B elements; (c) the base forward reproduces models/<name>/expected.json
(7-significant-digit text: the re-rendered logits match it character for character); the hand-written AdamW /
clip / schedule loop matches torch.optim.AdamW + clip_grad_norm_ + LambdaLR; every file is re-read and compared
bit for bit; the script is deterministic (torch.set_num_threads(1)).
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
from golden_common import (F64, GOLDEN_DIR, ROOT, assert_same_bits, gpt2_forward, llama_forward, gemma_forward,  # noqa: E402
                           phi3_forward, read_safetensors, write_json, write_safetensors)

MODELS_DIR = GOLDEN_DIR / "models"
OUT_DIR = GOLDEN_DIR / "lora"

R, ALPHA = 4, 8
INPUT_IDS = [[5, 17, 3, 22, 9, 41, 7, 30], [12, 6, 33, 2, 19, 8, 27, 14]]
HYPER = {
    "optimizer": "AdamW", "lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01, "amsgrad": False,
    "schedule": "linear_with_warmup", "warmup_steps": 3, "total_steps": 10, "steps": 10,
    "max_grad_norm": 0.5, "clip_eps": 1e-6, "r": R, "lora_alpha": ALPHA, "scaling": ALPHA / R,
    "lora_dropout": 0.0, "use_rslora": False,
    "param_order": "sorted module names (Unicode code point); per module lora_A then lora_B",
}
SPEC = ("LoRA r=4, lora_alpha=8 (scaling = alpha/r = 2.0; rslora: alpha/sqrt(r) = 4.0), dropout 0, no bias; "
        "y = base(x) + ((x A^T) B^T) * scaling, A [r, in], B [out, r] (also for GPT-2 Conv1D). "
        "Init: sort target module names by code point; module k: A[i][j] = 0.1*sin(0.37*(i*in+j) + 1.3*k), "
        "B[o][i] = 0.05*cos(0.23*(o*r+i) + 0.7*k), computed in double and rounded to float32. "
        "labels = input_ids with labels[0][0:3] = labels[1][5:8] = -100; loss = mean cross-entropy of "
        "logits[:, :-1] vs labels[:, 1:] over non-ignored targets. Gradients in float64, stored as F32 under "
        "PEFT adapter names. See scripts/golden/make_lora_goldens.py.")


def target_modules(name, cfg):
    if name == "phi3":  # Phi-3's fused projections, as PEFT targets them by name
        return [f"model.layers.{l}.{m}" for l in range(cfg["num_hidden_layers"])
                for m in ("self_attn.qkv_proj", "self_attn.o_proj", "mlp.gate_up_proj", "mlp.down_proj")]
    if name != "gpt2":  # the Llama family (llama, qwen3, olmo2) and Gemma (gemma2, gemma3): the same module names
        return [f"model.layers.{l}.{m}" for l in range(cfg["num_hidden_layers"])
                for m in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                          "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")]
    return [f"transformer.h.{l}.{m}" for l in range(cfg["n_layer"])
            for m in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")]


def in_out(name, W, module):
    w = W[module + ".weight"]
    if name == "gpt2":  # Conv1D: weight [in, out]   (PEFT: in_features, out_features = weight.shape)
        return w.shape[0], w.shape[1]
    return w.shape[1], w.shape[0]  # nn.Linear: weight [out, in]


def init_lora(name, W, modules):
    """{module: (A [r, in], B [out, r])} float64 tensors holding float32-rounded values of the spec formulas."""
    out = {}
    for k, m in enumerate(sorted(modules)):
        n_in, n_out = in_out(name, W, m)
        A = [[0.1 * math.sin(0.37 * (i * n_in + j) + 1.3 * k) for j in range(n_in)] for i in range(R)]
        B = [[0.05 * math.cos(0.23 * (o * R + i) + 0.7 * k) for i in range(R)] for o in range(n_out)]
        out[m] = tuple(torch.tensor(x, dtype=F64).to(torch.float32).to(F64) for x in (A, B))
    return out


def peft_key(module, which):
    return f"base_model.model.{module}.lora_{which}.weight"


def to_st(d):
    """{module: (a, b)} -> {peft name: F32 tensor}"""
    out = {}
    for m, (a, b) in d.items():
        out[peft_key(m, "A")] = a.detach().to(torch.float32).contiguous()
        out[peft_key(m, "B")] = b.detach().to(torch.float32).contiguous()
    return out


def save_st(path, d):
    tensors = to_st(d)
    write_safetensors(path, tensors)
    assert_same_bits(tensors, read_safetensors(path), str(path))


def make_hook(lora, scaling, seen=None):
    def hook(x, module):
        A, B = lora[module]  # KeyError = a Linear that is not a target (none in these models)
        if seen is not None:
            seen.add(module)
        return ((x @ A.T) @ B.T) * scaling  # lora_B(lora_A(x)) * scaling
    return hook


def causal_lm_loss(logits, labels):
    V = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100)


def causal_lm_loss_by_hand(logits, labels):
    logp = logits[:, :-1].log_softmax(-1)
    tgt = labels[:, 1:]
    mask = tgt != -100
    nll = -logp.gather(-1, tgt.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (nll * mask).sum() / mask.sum()


class Setup:
    def __init__(self, name):
        self.name = name
        d = MODELS_DIR / name
        self.cfg = json.loads((d / "config.json").read_text())
        self.W = {k: v.to(F64) for k, v in read_safetensors(d / "model.safetensors").items()}
        self.forward = (gpt2_forward if name == "gpt2" else phi3_forward if name == "phi3"
                        else gemma_forward if name.startswith("gemma") else llama_forward)
        self.modules = sorted(target_modules(name, self.cfg))
        assert all(m + ".weight" in self.W for m in self.modules)
        self.init = init_lora(name, self.W, self.modules)
        self.ids = torch.tensor(INPUT_IDS)
        assert int(self.ids.max()) < self.cfg["vocab_size"], "input id out of vocabulary"
        self.labels = self.ids.clone()
        self.labels[0, 0:3] = -100
        self.labels[1, 5:8] = -100

    def logits(self, lora, scaling, seen=None):
        hook = None if lora is None else make_hook(lora, scaling, seen)
        return self.forward(self.cfg, self.W, self.ids, lora=hook)

    def loss(self, lora, scaling):
        return causal_lm_loss(self.logits(lora, scaling), self.labels)

    def params(self, lora):
        """Leaf copies with requires_grad, in the spec's order (sorted modules, A before B)."""
        p = {m: tuple(t.clone().requires_grad_(True) for t in lora[m]) for m in self.modules}
        return p, [t for m in self.modules for t in p[m]]


# ----------------------------------------------------------------------------------------------------
# self-checks

def check_expected(s):
    """(c) our base forward against models/<name>/expected.json (written with 7 significant digits)."""
    exp = json.loads((MODELS_DIR / s.name / "expected.json").read_text())
    ids = torch.tensor(exp["input_ids"])
    logits = s.forward(s.cfg, s.W, ids)
    ref = torch.tensor(exp["logits"], dtype=F64)
    err = (logits - ref).abs().max().item()
    rendered = [float(f"{v:.7g}") for v in logits.reshape(-1).tolist()]
    same = rendered == ref.reshape(-1).tolist()
    print(f"  (c) base forward vs expected.json: max |diff| {err:.2e} (7-digit file), "
          f"re-rendered to 7 digits identical: {same}")
    assert same and err < 5e-6


def check_identity(s):
    """(a) B = 0: LoRA logits == base logits, bit for bit; also checks that every target is hooked."""
    zero_b = {m: (a, torch.zeros_like(b)) for m, (a, b) in s.init.items()}
    seen = set()
    lo = s.logits(zero_b, ALPHA / R, seen)
    base = s.logits(None, 0.0)
    assert seen == set(s.modules), sorted(set(s.modules) - seen)
    assert torch.equal(lo, base), "B = 0 LoRA model differs from the base model"
    moved = (s.logits(s.init, ALPHA / R) - base).abs().max().item()
    print(f"  (a) B = 0: logits identical to the base model (all {len(seen)} targets hooked); "
          f"with the spec init the logits move by up to {moved:.3e}")
    assert moved > 1e-3


def check_fd(s, lora, scaling, grads, picks):
    """(b) central finite differences in float64 against autograd."""
    worst = 0.0
    for module, which, idx in picks:
        pos = 0 if which == "A" else 1
        h = 1e-5
        vals = []
        for sign in (1, -1):
            t = lora[module][pos].clone()
            t[idx] += sign * h
            pert = dict(lora)
            pert[module] = (t, lora[module][1]) if pos == 0 else (lora[module][0], t)
            vals.append(s.loss(pert, scaling).item())
        fd = (vals[0] - vals[1]) / (2 * h)
        ag = grads[module][pos][idx].item()
        rel = abs(fd - ag) / max(abs(ag), 1e-12)
        worst = max(worst, rel)
        print(f"  (b) FD {module}.lora_{which}{list(idx)}: autograd {ag:+.12e}  fd {fd:+.12e}  rel err {rel:.2e}")
    assert worst < 1e-6, worst
    return worst


# ----------------------------------------------------------------------------------------------------

def gradients(s, scaling):
    p, flat = s.params(s.init)
    loss = s.loss(p, scaling)
    assert torch.allclose(loss, causal_lm_loss_by_hand(s.logits(p, scaling), s.labels), rtol=1e-14, atol=0)
    loss.backward()
    grads = {m: (a.grad.detach().clone(), b.grad.detach().clone()) for m, (a, b) in p.items()}
    assert all(g.abs().max() > 0 for pair in grads.values() for g in pair), "a LoRA tensor got no gradient"
    norm = math.sqrt(sum(float((g * g).sum()) for pair in grads.values() for g in pair))
    return loss.item(), grads, norm


def lr_lambda(step, warmup, total):  # transformers _get_linear_schedule_with_warmup_lr_lambda
    if step < warmup:
        return float(step) / float(max(1, warmup))
    return max(0.0, float(total - step) / float(max(1, total - warmup)))


def train_torch(s, H):
    """torch.optim.AdamW + torch.nn.utils.clip_grad_norm_ + LambdaLR, as a HF Trainer step would run them."""
    scaling = H["scaling"]
    p, flat = s.params(s.init)
    opt = torch.optim.AdamW(flat, lr=H["lr"], betas=tuple(H["betas"]), eps=H["eps"],
                            weight_decay=H["weight_decay"], amsgrad=False)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda st: lr_lambda(st, H["warmup_steps"], H["total_steps"]))
    losses, norms, lrs = [], [], []
    for _ in range(H["steps"]):
        opt.zero_grad(set_to_none=True)
        loss = s.loss(p, scaling)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(flat, H["max_grad_norm"])
        lrs.append(opt.param_groups[0]["lr"])
        losses.append(loss.item())
        norms.append(norm.item())
        opt.step()
        sched.step()
    with torch.no_grad():
        after = s.loss(p, scaling).item()
    return losses, norms, lrs, after, {m: (a.detach(), b.detach()) for m, (a, b) in p.items()}


def train_by_hand(s, H):
    """The SPEC's loop written out, to make sure it is exactly what the torch objects do."""
    scaling, (b1, b2), eps, wd = H["scaling"], H["betas"], H["eps"], H["weight_decay"]
    p, flat = s.params(s.init)
    m1 = [torch.zeros_like(t) for t in flat]
    m2 = [torch.zeros_like(t) for t in flat]
    losses, norms, lrs = [], [], []
    for step in range(H["steps"]):
        for t in flat:
            t.grad = None
        loss = s.loss(p, scaling)
        loss.backward()
        g = [t.grad.detach() for t in flat]
        norm = math.sqrt(sum(float((x * x).sum()) for x in g))
        coef = min(H["max_grad_norm"] / (norm + H["clip_eps"]), 1.0)
        g = [x * coef for x in g]
        lr = H["lr"] * lr_lambda(step, H["warmup_steps"], H["total_steps"])
        t_ = step + 1
        bc1, bc2 = 1 - b1 ** t_, 1 - b2 ** t_
        with torch.no_grad():
            for i, t in enumerate(flat):
                t.mul_(1 - lr * wd)
                m1[i] = b1 * m1[i] + (1 - b1) * g[i]
                m2[i] = b2 * m2[i] + (1 - b2) * g[i] * g[i]
                t.sub_((lr / bc1) * m1[i] / (m2[i].sqrt() / math.sqrt(bc2) + eps))
        losses.append(loss.item())
        norms.append(norm)
        lrs.append(lr)
    return losses, norms, lrs, {m: (a.detach(), b.detach()) for m, (a, b) in p.items()}


def rel_close(a, b, tol):
    return all(abs(x - y) <= tol * max(abs(x), abs(y), 1e-300) for x, y in zip(a, b))


def make(name):
    print(f"== {name}")
    s = Setup(name)
    d = OUT_DIR / name
    d.mkdir(parents=True, exist_ok=True)
    check_expected(s)
    check_identity(s)

    # ---- fixture 1: gradients at init
    scaling = ALPHA / R
    loss, grads, gnorm = gradients(s, scaling)
    print(f"  loss at init {loss:.15g}, grad norm {gnorm:.15g}")
    first, last = s.modules[0], s.modules[-1]
    n_in_last, n_out_last = in_out(name, s.W, last)
    fd_err = check_fd(s, s.init, scaling, grads, [
        (first, "A", (1, 5)), (first, "B", (7, 2)),
        (last, "A", (3, n_in_last - 1)), (last, "B", (n_out_last - 1, 0))])
    save_st(d / "init.safetensors", s.init)
    save_st(d / "grads.safetensors", grads)
    modules = [{"name": m, "ordinal": k, "in_features": in_out(name, s.W, m)[0],
                "out_features": in_out(name, s.W, m)[1]} for k, m in enumerate(s.modules)]
    info = {"model": f"golden/models/{name}", "loss": loss, "scaling": scaling, "r": R, "lora_alpha": ALPHA,
            "grad_norm": gnorm, "input_ids": INPUT_IDS, "labels": s.labels.tolist(), "modules": modules,
            "spec": SPEC}
    if name == "gpt2":
        scaling_rs = ALPHA / math.sqrt(R)
        loss_rs, grads_rs, gnorm_rs = gradients(s, scaling_rs)
        print(f"  rslora (scaling {scaling_rs}): loss {loss_rs:.15g}, grad norm {gnorm_rs:.15g}")
        fd_err = max(fd_err, check_fd(s, s.init, scaling_rs, grads_rs, [(first, "A", (2, 9)), (last, "B", (3, 1))]))
        save_st(d / "grads_rslora.safetensors", grads_rs)
        info.update(loss_rslora=loss_rs, scaling_rslora=scaling_rs, grad_norm_rslora=gnorm_rs)
    write_json(d / "grads.json", info)

    # ---- fixture 2: 10-step curve
    H = dict(HYPER)
    losses, norms, lrs, after, final = train_torch(s, H)
    h_losses, h_norms, h_lrs, h_final = train_by_hand(s, H)
    assert lrs == h_lrs, (lrs, h_lrs)
    assert rel_close(losses, h_losses, 1e-13) and rel_close(norms, h_norms, 1e-13), "hand loop != torch"
    diff = max((final[m][i] - h_final[m][i]).abs().max().item() for m in s.modules for i in (0, 1))
    assert diff < 1e-14, diff
    clipped = [n > H["max_grad_norm"] for n in norms]
    assert losses[1] == losses[0], "step 0 (lr 0) must not move the parameters"
    assert sum(clipped) >= 3, clipped  # clipping must really be exercised
    print(f"  hand-written AdamW/clip/schedule loop matches torch (max |param diff| {diff:.1e})")
    print("  step  lr            loss               grad_norm (pre-clip)  clipped")
    for i in range(H["steps"]):
        print(f"  {i:4d}  {lrs[i]:.10f}  {losses[i]:.15f}  {norms[i]:.15f}     {clipped[i]}")
    print(f"  loss after 10 steps {after:.15f}")
    save_st(d / "final.safetensors", final)
    write_json(d / "curve.json", {"model": f"golden/models/{name}", "loss": losses, "grad_norm": norms, "lr": lrs,
                                  "clipped": clipped, "loss_after": after, "hyper": H,
                                  "input_ids": INPUT_IDS, "labels": s.labels.tolist(),
                                  "spec": SPEC + " Training: see hyper and the script header."})
    return fd_err


def main():
    torch.set_num_threads(1)  # bitwise-reproducible reductions
    worst = max(make(n) for n in ("llama", "gpt2", "qwen3", "olmo2", "phi3", "gemma3", "gemma2"))
    print(f"worst finite-difference rel err {worst:.2e}")
    total = 0
    print("files:")
    for f in sorted(OUT_DIR.rglob("*")):
        if f.is_file():
            total += f.stat().st_size
            print(f"  {f.relative_to(ROOT)}  {f.stat().st_size}")
    print(f"total {total} bytes")


if __name__ == "__main__":
    main()
