#!/usr/bin/env python3
"""A real PEFT 0.14 P-tuning adapter (PromptEncoderConfig), for RealPeftPTuningTest (the oracle's `make` has no p_tuning).

Run through the realpeft launcher (it puts PEFT 0.14 / transformers 4.46 on the path, offline):
    sh ../shared/realpeft/run.sh scripts/golden/ptuning_realpeft.py REALPEFT_DIR TYPE OUT_DIR BASE_DIR

TYPE is MLP or LSTM. The config: task_type CAUSAL_LM, num_virtual_tokens 8, encoder_reparameterization_type TYPE,
encoder_hidden_size 24, encoder_num_layers 2, encoder_dropout 0.1 (LSTM: active only in training; the model is
in eval mode here). get_peft_model in training mode builds PEFT's PromptEncoder; every trainable parameter gets
the oracle's deterministic_init, except that the embedding gets 0.5*sin (so the prompt is far from zero);
then, in eval mode: the logits (PEFT's forward through the encoder), save_pretrained(OUT_DIR) (PEFT saves the
encoder OUTPUT as prompt_embeddings), OUT_DIR/expected_logits.json (the oracle's payload plus "roundtrip_max_abs_diff"
of PeftModel.from_pretrained on a fresh base), OUT_DIR/format.json and OUT_DIR/encoder.safetensors (the encoder's
own state_dict, F32, PEFT's names: embedding.weight, lstm_head.*, mlp_head.*; not part of the adapter: it lets
peft4j rebuild the training-mode encoder and compare its output with PEFT's).
"""
import json
import math
import os
import sys


def main():
    realpeft, kind, out_dir, base_dir = sys.argv[1:5]
    sys.path.insert(0, os.path.abspath(realpeft))
    import torch
    import peft
    from safetensors.torch import save_file
    import peft_oracle as po

    torch.manual_seed(0)
    base = po.load_base(base_dir)
    cfg = peft.PromptEncoderConfig(task_type="CAUSAL_LM", num_virtual_tokens=8, encoder_reparameterization_type=kind,
                                   encoder_hidden_size=24, encoder_num_layers=2, encoder_dropout=0.1)
    pm = peft.get_peft_model(base, cfg)
    inited = po.deterministic_init(pm)
    enc = pm.prompt_encoder["default"]
    with torch.no_grad():
        w = enc.embedding.weight
        w.copy_((0.5 * torch.sin(torch.arange(w.numel(), dtype=torch.float64) * 0.37)).reshape(w.shape).to(w.dtype))
    pm.eval()
    ids = po.DEFAULT_IDS
    lg = po.run_logits(pm, ids)
    os.makedirs(out_dir, exist_ok=True)
    pm.save_pretrained(out_dir)
    save_file({k: v.detach().float().contiguous() for k, v in enc.state_dict().items()}, os.path.join(out_dir, "encoder.safetensors"))
    base2 = po.load_base(base_dir)
    pm2 = peft.PeftModel.from_pretrained(base2, out_dir)
    pm2.eval()
    rt = (lg - po.run_logits(pm2, ids)).abs().max().item()
    payload = po.logits_payload(pm, ids, lg)
    payload.update({"method": "p_tuning", "encoder_reparameterization_type": kind, "initialized_params": inited,
                    "roundtrip_max_abs_diff": rt, "peft_version": peft.__version__})
    json.dump(payload, open(os.path.join(out_dir, "expected_logits.json"), "w"))
    fmt = po.describe_dir(out_dir)
    json.dump(fmt, open(os.path.join(out_dir, "format.json"), "w"), indent=1)
    print(json.dumps({"p_tuning": {"type": kind, "tensors": fmt["tensors"], "roundtrip_max_abs_diff": rt}}), file=sys.stderr)


if __name__ == "__main__":
    main()
