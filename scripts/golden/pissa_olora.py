"""Float64 reference of PEFT 0.14's PiSSA and OLoRA initialisations (peft/tuners/lora/layer.py pissa_init,
olora_init), re-written here in float64 torch (own code, same recipe) on small fixed matrices.

For each case: W (out x in), r, lora_alpha -> scaling = alpha / r;
  pissa: V, S, Uh = svd(W); Sr = S[:r] / scaling; A = diag(sqrt(Sr)) Uh[:r]; B = V[:, :r] diag(sqrt(Sr))
  olora: Q, R = qr(W) (reduced); A = R[:r]; B = Q[:, :r]
  residual W_res = W - scaling * B @ A.
Writes peft4j-core/src/test/resources/golden/pissa_olora/cases.json. Run: /usr/bin/python3 scripts/golden/pissa_olora.py
"""
import json, math, os
import torch

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), "../../peft4j-core/src/test/resources/golden/pissa_olora/cases.json")


def weight(out_f, in_f, seed):
    # deterministic, no RNG: smooth + oscillating entries with a decaying spectrum
    i = torch.arange(out_f).unsqueeze(1).double()
    j = torch.arange(in_f).unsqueeze(0).double()
    return 0.3 * torch.sin(0.7 * i + 1.3 * j + seed) + 0.1 * torch.cos(0.2 * i * j + seed) / (1 + 0.3 * (i + j))


def case(name, out_f, in_f, r, alpha, seed):
    W = weight(out_f, in_f, seed)
    s = alpha / r
    V, S, Uh = torch.linalg.svd(W, full_matrices=False)
    Sr = S[:r] / s
    pa = torch.diag(torch.sqrt(Sr)) @ Uh[:r]
    pb = V[:, :r] @ torch.diag(torch.sqrt(Sr))
    Q, R = torch.linalg.qr(W)
    oa, ob = R[:r], Q[:, :r]
    flat = lambda t: [float(v) for v in t.reshape(-1)]
    return {"name": name, "out": out_f, "in": in_f, "r": r, "alpha": alpha, "w": flat(W), "singular_values": flat(S),
            "pissa": {"a": flat(pa), "b": flat(pb), "ba": flat(pb @ pa), "residual": flat(W - s * pb @ pa)},
            "olora": {"a": flat(oa), "b": flat(ob), "ba": flat(ob @ oa), "residual": flat(W - s * ob @ oa)}}


cases = [case("tall", 12, 8, 3, 6.0, 0.0), case("wide", 6, 10, 2, 16.0, 1.0), case("square", 9, 9, 4, 4.0, 2.0)]
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump({"source": "scripts/golden/pissa_olora.py (float64 torch " + torch.__version__ + ")", "cases": cases}, f)
print("wrote", OUT)
