"""PiSSA / OLoRA with the REAL HF PEFT 0.14 (run through ../shared/realpeft/run.sh, which puts PEFT on the path):

  sh ../shared/realpeft/run.sh scripts/golden/pissa_olora_realpeft.py BASE_DIR OUT_DIR INIT [IDS]

INIT is pissa, pissa_niter_K or olora. On BASE_DIR (a Llama layout, e.g. stories260K), LoraConfig(r=4, lora_alpha=8,
target_modules=q_proj,v_proj,down_proj, init_lora_weights=INIT):
  OUT_DIR/init.json            per adapted module: B@A (out x in, "ba") and the residualised base weight ("residual"),
                               both float32 as PEFT holds them, plus scaling;
  OUT_DIR/initial/             the initial adapter saved with init_lora_weights=True (PEFT's documented recipe);
  then every lora_A/lora_B moves by 0.05*sin(arange(numel) + i) (a stand-in for training, i = parameter index);
  OUT_DIR/trained_logits.json  logits of that model (residual base + moved adapter) on IDS;
  OUT_DIR/raw/                 save_pretrained(raw) (the PiSSA/OLoRA form; loading it re-residualises the base);
  OUT_DIR/converted/           save_pretrained(converted, path_initial_model_for_weight_conversion=initial): plain LoRA, r 8;
and checks in PEFT itself that both saved forms reproduce trained_logits on a fresh ORIGINAL base (printed).
"""
import json, os, sys
import torch

here = os.environ.get("REALPEFT_DIR") or os.path.dirname(os.path.abspath(sys.argv[0]))
import peft
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM

TARGETS = ["q_proj", "v_proj", "down_proj"]


def load_base(d):
    m = AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32)
    m.eval()
    return m


def logits(m, ids):
    with torch.no_grad():
        return m(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long)).logits[0].float()


def main():
    base_dir, out, init = sys.argv[1], sys.argv[2], sys.argv[3]
    ids = [int(x) for x in (sys.argv[4] if len(sys.argv) > 4 else "1,403,407,261,378,488,77,300").split(",")]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    base = load_base(base_dir)
    orig = {n: p.detach().clone() for n, p in base.named_parameters()}
    pm = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8, target_modules=TARGETS, init_lora_weights=init))
    pm.eval()
    rec = {}
    for name, mod in pm.named_modules():
        if hasattr(mod, "lora_A") and "default" in getattr(mod, "lora_A", {}):
            a, b = mod.lora_A["default"].weight.detach(), mod.lora_B["default"].weight.detach()
            key = name.replace("base_model.model.", "", 1)
            res = mod.get_base_layer().weight.detach()
            rec[key] = {"ba": (b @ a).reshape(-1).tolist(), "residual": res.reshape(-1).tolist(),
                        "scaling": mod.scaling["default"], "shape": list(res.shape)}
            w0 = orig[key + ".weight"]
            err = (res + mod.scaling["default"] * (b @ a) - w0).norm() / w0.norm()
            assert err < 1e-5, (key, float(err))
    json.dump({"init": init, "peft": peft.__version__, "modules": rec}, open(os.path.join(out, "init.json"), "w"))

    pm.peft_config["default"].init_lora_weights = True            # PEFT's recipe for the initial adapter
    pm.save_pretrained(os.path.join(out, "initial"))
    pm.peft_config["default"].init_lora_weights = init
    i = 0
    for n, p in pm.named_parameters():
        if p.requires_grad:
            with torch.no_grad():
                p.add_((0.05 * torch.sin(torch.arange(p.numel(), dtype=torch.float64) + i)).reshape(p.shape).to(p.dtype))
            i += 1
    lg = logits(pm, ids)
    json.dump({"input_ids": ids, "logits": lg.tolist()}, open(os.path.join(out, "trained_logits.json"), "w"))
    pm.save_pretrained(os.path.join(out, "raw"))
    pm.save_pretrained(os.path.join(out, "converted"), path_initial_model_for_weight_conversion=os.path.join(out, "initial"))
    for form in ("raw", "converted"):
        m2 = PeftModel.from_pretrained(load_base(base_dir), os.path.join(out, form))
        m2.eval()
        print(f"{init} {form}: PEFT reload on the original base, max |logits diff| {(logits(m2, ids) - lg).abs().max().item():.3e}")


if __name__ == "__main__":
    main()
