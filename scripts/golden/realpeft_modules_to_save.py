#!/usr/bin/env python3
"""A real PEFT 0.14 adapter with modules_to_save=["lm_head"], for RealPeftInteropTest.

Run through the realpeft launcher (it puts PEFT 0.14 / transformers 4.46 on the path, offline):
    sh ../shared/realpeft/run.sh scripts/golden/realpeft_modules_to_save.py REALPEFT_DIR METHOD OUT_DIR BASE_DIR

METHOD is one of the oracle's methods (lora, ia3, vera, loha, lokr, ...). The adapter is the oracle's
own config for METHOD (peft_oracle._configs) plus modules_to_save=["lm_head"]; every trainable parameter
gets the oracle's deterministic_init (so the lm_head copy is no longer the base head), then
save_pretrained(OUT_DIR) and OUT_DIR/expected_logits.json (oracle's payload, ids DEFAULT_IDS) and
OUT_DIR/format.json (keys and shapes of the saved file).
"""
import json
import os
import sys


def main():
    realpeft, method, out_dir, base_dir = sys.argv[1:5]
    sys.path.insert(0, os.path.abspath(realpeft))
    import torch
    import peft
    import peft_oracle as po

    configs = po._configs()
    if method not in configs:
        raise SystemExit(f"unknown method {method}; known: {sorted(configs)}")
    torch.manual_seed(0)
    base = po.load_base(base_dir)
    cfg = configs[method]()
    cfg.modules_to_save = ["lm_head"]            # read by inject_adapter / PeftModel when wrapping
    pm = peft.get_peft_model(base, cfg)
    inited = po.deterministic_init(pm)
    pm.eval()
    ids = po.DEFAULT_IDS
    lg = po.run_logits(pm, ids)
    os.makedirs(out_dir, exist_ok=True)
    pm.save_pretrained(out_dir)
    payload = po.logits_payload(pm, ids, lg)
    payload.update({"method": method, "modules_to_save": ["lm_head"], "initialized_params": inited,
                    "peft_version": peft.__version__})
    json.dump(payload, open(os.path.join(out_dir, "expected_logits.json"), "w"))
    fmt = po.describe_dir(out_dir)
    json.dump(fmt, open(os.path.join(out_dir, "format.json"), "w"), indent=1)
    print(json.dumps({method: {"tensors": len(fmt["tensors"]),
                               "lm_head": fmt["tensors"].get("base_model.model.lm_head.weight")}}), file=sys.stderr)


if __name__ == "__main__":
    main()
