#!/usr/bin/env python3
"""
prompt_realpeft.py -- adapters written by the REAL HF PEFT 0.14 for the prompt-learning cases realpeft/run.sh's
`make` does not cover, for PromptRealPeftTest:

  prefix_proj   PrefixTuningConfig(num_virtual_tokens=5, prefix_projection=True, encoder_hidden_size=24), trained
                form (embedding + transform MLP); every trainable tensor i set to 0.05*sin(arange(numel) + i) (float64,
                then float32) so the output is deterministic; save_pretrained writes the projected output.
  prompt        PromptTuningConfig(num_virtual_tokens=4), the embedding set the same way: PEFT's training loss
                with labels prepends -100 over the virtual tokens, so the last one predicts labels[0].
(PEFT's TEXT init of prompt tuning cannot run here: realpeft has no HF `tokenizers` library for AutoTokenizer.)

Each OUT/<case>/ gets the adapter files and expected.json {input_ids, logits_input_positions (the T input rows of
PeftModel's output, float32), base_logits, loss_labels_input_ids (PeftModel(input_ids, labels=input_ids).loss)}.

Run:  sh ../shared/realpeft/run.sh scripts/golden/prompt_realpeft.py OUT BASE
"""
import json
import os
import sys

import torch

IDS = [1, 403, 407, 261, 378, 77, 300, 12]


def logits(model, ids):
    x = torch.tensor([ids], dtype=torch.long)
    with torch.no_grad():
        out = model(input_ids=x, attention_mask=torch.ones_like(x))
    return out.logits[0, -len(ids):].float()


def loss_with_labels(model, ids):
    x = torch.tensor([ids], dtype=torch.long)
    with torch.no_grad():
        return model(input_ids=x, attention_mask=torch.ones_like(x), labels=x).loss.item()


def main(out_dir, base_dir):
    import peft
    from transformers import AutoModelForCausalLM

    def base():
        m = AutoModelForCausalLM.from_pretrained(base_dir, torch_dtype=torch.float32)
        m.eval()
        return m

    base_lg = logits(base(), IDS).tolist()
    torch.manual_seed(0)
    cases = {
        "prefix_proj": peft.PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=5, prefix_projection=True,
                                               encoder_hidden_size=24),
        "prompt": peft.PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4),
    }
    for name, cfg in cases.items():
        pm = peft.get_peft_model(base(), cfg)
        if name in ("prefix_proj", "prompt"):
            i = 0
            for n, p in pm.named_parameters():
                if not p.requires_grad:
                    continue
                s = 0.05 * torch.sin(torch.arange(p.numel(), dtype=torch.float64) + i)
                with torch.no_grad():
                    p.copy_(s.reshape(p.shape).to(p.dtype))
                i += 1
        pm.eval()
        lg = logits(pm, IDS)
        d = os.path.join(out_dir, name)
        os.makedirs(d, exist_ok=True)
        pm.save_pretrained(d)
        payload = {"input_ids": IDS, "logits_input_positions": lg.tolist(), "base_logits": base_lg,
                   "loss_labels_input_ids": loss_with_labels(pm, IDS)}
        json.dump(payload, open(os.path.join(d, "expected.json"), "w"))
        print(f"{name}: max |logits - base| {(lg - torch.tensor(base_lg)).abs().max().item():.3e}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
