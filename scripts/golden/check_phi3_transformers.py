#!/usr/bin/env python3
"""
check_phi3_transformers.py -- the phi3 golden reference (golden_common.phi3_forward) against the real
transformers 4.46 Phi3ForCausalLM, as a second, independent reference. A test tool, not a fixture writer.

Run:  ../shared/realpeft/run.sh scripts/golden/check_phi3_transformers.py     (from the repository root)
      (realpeft puts transformers 4.46 on the path; see ../shared/realpeft/README.md)

Checks, all in float64 (transformers keeps its RoPE tables in float32, hence ~1e-7 differences):
  1. golden/models/phi3-tied (F32, tied head, MHA, sliding_window 3, LongRoPE): transformers' logits on the
     fixture's input_ids (T = 7 <= original_max 8: short factors) vs expected.json, and on a 12-token input
     (T > original_max: long factors) vs phi3_forward.
  2. golden/models/phi3 (BF16 weights, GQA, untied, sliding_window 4, LongRoPE with T = 7 > original_max 5)
     without its partial_rotary_factor: transformers 4.46 predates partial rotary (Phi-4-mini), so its config
     is given full-width factor lists (8 per list) and partial_rotary_factor 1.0, and transformers is compared
     with phi3_forward on that config -- fused qkv/gate_up, GQA, the window, the long factors and the untied
     head against the real implementation.
  3. Partial rotary layout: phi3_forward's turn-the-first-R-values RoPE against transformers 4.46's own
     partial-rotary code path (models/phi/modeling_phi.py: PhiRotaryEmbedding over rotary_ndims, q_rot/q_pass
     split, apply_rotary_pos_emb, cat), on random q.
  4. transformers' generate() across original_max (phi3-tied, 6 prompt tokens + 6 greedy steps, past 8): the
     greedy tokens equal argmax of phi3_forward on each prefix, and each step's logits equal phi3_forward's last
     row on that prefix (transformers drops and recomputes its cache at the switch; peft4j's Phi3 does the same).
"""
import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from golden_common import F64, GOLDEN_DIR, partial_rope, phi3_forward, read_safetensors  # noqa: E402

from transformers import Phi3ForCausalLM  # noqa: E402
from transformers.models.phi import modeling_phi  # noqa: E402

MODELS = GOLDEN_DIR / "models"


def hf_logits(model_dir, ids):
    m = Phi3ForCausalLM.from_pretrained(str(model_dir), torch_dtype=F64, attn_implementation="eager")
    m.eval()
    with torch.no_grad():
        return m(input_ids=ids, use_cache=False).logits, m


def weights(d):
    return {k: v.to(F64) for k, v in read_safetensors(d / "model.safetensors").items()}


def main():
    torch.set_num_threads(1)
    worst = 0.0

    # 1. phi3-tied as written
    d = MODELS / "phi3-tied"
    cfg = json.loads((d / "config.json").read_text())
    exp = json.loads((d / "expected.json").read_text())
    ids = torch.tensor(exp["input_ids"])
    got, hf = hf_logits(d, ids)
    err = (got - torch.tensor(exp["logits"], dtype=F64)).abs().max().item()
    print(f"1. phi3-tied, T={ids.shape[1]} (short factors): |transformers - expected.json| max {err:.2e}")
    worst = max(worst, err)
    long_ids = torch.tensor([[5, 17, 3, 22, 9, 41, 7, 30, 11, 2, 64, 13], [12, 6, 33, 2, 19, 8, 27, 14, 1, 50, 70, 4]])
    with torch.no_grad():
        got = hf(input_ids=long_ids, use_cache=False).logits
    ref = phi3_forward(cfg, weights(d), long_ids)
    err = (got - ref).abs().max().item()
    print(f"   phi3-tied, T=12 (long factors): |transformers - phi3_forward| max {err:.2e}")
    worst = max(worst, err)

    # 4. generate() across original_max_position_embeddings
    prompt = long_ids[:1, :6]
    # generate() asks integrations.fsdp whether the model is FSDP-wrapped, which imports torch.distributed._shard;
    # on Debian's torch 1.13 with Python 3.11 that import fails (a dataclass default), so answer it directly.
    import transformers.generation.utils as gen_utils
    gen_utils.is_fsdp_managed_module = lambda module: False
    with torch.no_grad():
        gen = hf.generate(prompt, max_new_tokens=6, do_sample=False, use_cache=True, pad_token_id=cfg["pad_token_id"],
                          output_logits=True, return_dict_in_generate=True)
    out = gen.sequences
    W = weights(d)
    seq, err = prompt.clone(), 0.0
    for step in range(6):
        last = phi3_forward(cfg, W, seq)[:, -1]  # (1, V): the full forward over the prefix
        err = max(err, (gen.logits[step].to(F64) - last).abs().max().item())
        seq = torch.cat([seq, last.argmax(-1, keepdim=True)], dim=1)
    print(f"4. generate() over 6 -> 12 tokens (original_max 8): transformers {out[0].tolist()}, "
          f"argmax of phi3_forward per prefix {seq[0].tolist()}; step logits vs full forward of each prefix max {err:.2e}")
    assert torch.equal(out, seq), "greedy generation differs"
    worst = max(worst, err)

    # 2. phi3 (BF16, GQA, untied, window 4, long factors) without partial rotary
    d = MODELS / "phi3"
    cfg = json.loads((d / "config.json").read_text())
    cfg = dict(cfg, partial_rotary_factor=1.0)
    rs = cfg["rope_scaling"]
    cfg["rope_scaling"] = {"type": "longrope", "short_factor": rs["short_factor"] + [3.7, 4.4],
                           "long_factor": rs["long_factor"] + [40.0, 61.0]}
    tmp = Path(tempfile.mkdtemp())
    try:
        shutil.copy(d / "model.safetensors", tmp / "model.safetensors")
        (tmp / "config.json").write_text(json.dumps(cfg))
        exp = json.loads((d / "expected.json").read_text())
        ids = torch.tensor(exp["input_ids"])
        got, _ = hf_logits(tmp, ids)
    finally:
        shutil.rmtree(tmp)
    ref = phi3_forward(cfg, weights(d), ids)
    err = (got - ref).abs().max().item()
    print(f"2. phi3 weights, full rotary, T={ids.shape[1]} > original_max 5: |transformers - phi3_forward| max {err:.2e}")
    worst = max(worst, err)

    # 3. partial rotary layout against transformers' Phi (phi-1/2) partial-rotary path
    torch.manual_seed(0)
    HS, R, T = 16, 12, 9
    q = torch.randn(2, 3, T, HS, dtype=F64)
    pos = torch.arange(T).unsqueeze(0)
    rot = modeling_phi.PhiRotaryEmbedding(dim=R, base=10000.0)
    cos, sin = rot(q, pos)  # (1, T, R)
    cos, sin = cos.to(F64), sin.to(F64)
    q_rot, q_pass = q[..., :R], q[..., R:]
    hf_q, _ = modeling_phi.apply_rotary_pos_emb(q_rot, q_rot, cos, sin)
    hf_q = torch.cat((hf_q, q_pass), dim=-1)
    ours = partial_rope(q, cos[0], sin[0])  # what phi3_forward applies to q and k
    err = (hf_q - ours).abs().max().item()
    print(f"3. partial rotary (R={R} of HS={HS}) vs transformers' modeling_phi path: max {err:.2e}")
    worst = max(worst, err)

    print(f"worst {worst:.2e}")
    assert worst < 1e-5, worst


if __name__ == "__main__":
    main()
