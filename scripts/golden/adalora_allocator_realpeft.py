"""AdaLoRA's rank allocator in the REAL HF PEFT 0.14, step by step, for peft4j's AdaLoraRealPeftTest.

Run with /work/shared/realpeft/run.sh (PEFT 0.14 + transformers on the path):
    run.sh adalora_allocator_realpeft.py BASE_MODEL_DIR OUT_DIR
Attaches AdaLoraConfig(init_r=4, target_r=2, lora_alpha=8, tinit=1, tfinal=2, deltaT=2, total_step=10,
beta1=0.85, beta2=0.85, target_modules=q_proj,v_proj,down_proj) to the base; for each global step 1..10
it sets every lora_A/lora_B/lora_E to random values and gives each a random gradient (torch.manual_seed(0)),
then calls model.base_model.update_and_allocate(step) as PEFT's training loop does after optimizer.step().
OUT_DIR/steps.safetensors: per step the values and gradients it set ("s{step}.{module}.{name}" and
"...{name}.grad", float32) and lora_E after the call ("s{step}.{module}.lora_E.after");
OUT_DIR/steps.json: "orth_reg_step1", the orthogonal regulariser PEFT adds to the loss at step 1's values
(orth_reg_weight 0.5 x mean Frobenius norm), and per step the schedule's budget and config.rank_pattern after the call (keys as PEFT
keeps them in memory, "<module>.lora_E.default"). peft4j replays the same values and compares.
"""
import json
import sys

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

import peft

base_dir, out_dir = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
model = AutoModelForCausalLM.from_pretrained(base_dir, torch_dtype=torch.float32)
cfg = peft.AdaLoraConfig(task_type="CAUSAL_LM", init_r=4, target_r=2, lora_alpha=8, tinit=1, tfinal=2, deltaT=2,
                         total_step=10, target_modules=["q_proj", "v_proj", "down_proj"])
pm = peft.get_peft_model(model, cfg)
params = [(n, p) for n, p in pm.base_model.model.named_parameters() if "lora_" in n and ".default" in n]
tensors, steps = {}, []
for step in range(1, 11):
    for n, p in params:
        key = n.replace(".default", "")
        with torch.no_grad():
            p.copy_(torch.randn(p.shape) * 0.5)
        p.grad = torch.randn(p.shape)
        tensors[f"s{step}.{key}"] = p.detach().clone().contiguous()
        tensors[f"s{step}.{key}.grad"] = p.grad.detach().clone().contiguous()
    if step == 1:  # PEFT's regulariser at these values: AdaLoraModel.forward's loss minus the plain LM loss
        ids = torch.tensor([[1, 403, 407, 261, 378, 488, 77, 300]])
        with torch.no_grad():
            with_reg = pm.base_model(input_ids=ids, labels=ids).loss.item()
            plain = pm.base_model.model(input_ids=ids, labels=ids).loss.item()
        orth_reg = with_reg - plain
    pm.base_model.update_and_allocate(step)
    for n, p in params:
        if ".lora_E." in n:
            tensors[f"s{step}.{n.replace('.default', '')}.after"] = p.detach().clone().contiguous()
    rp = pm.peft_config["default"].rank_pattern
    steps.append({"step": step, "budget": pm.base_model.rankallocator.budget_schedule(step)[0],
                  "rank_pattern": None if rp is None else {k: [bool(b) for b in v] for k, v in rp.items()}})
save_file(tensors, f"{out_dir}/steps.safetensors", metadata={"format": "pt"})
with open(f"{out_dir}/steps.json", "w") as f:
    json.dump({"steps": steps, "orth_reg_step1": orth_reg, "modules": sorted({n.replace(".default", "").rsplit(".", 1)[0] for n, _ in params})}, f, indent=1)
print(f"wrote {len(tensors)} tensors, {len(steps)} steps")
