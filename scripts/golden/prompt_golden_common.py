"""
prompt_golden_common.py -- what make_prompt_goldens.py and make_ptuning_goldens.py share: the tensor key
"prompt_encoder.default.<name>", float32 export, the finite-difference check of autograd, and the 10-step
AdamW run (torch.optim.AdamW + LambdaLR, or the same update written out by hand with the clip of
clip_grad_norm_). `s` is a setup with loss(module) -> (loss, logits); `mod` the prompt module.
"""
import math

import torch

from make_lora_goldens import lr_lambda


def key(name):
    return "prompt_encoder.default." + name


def f32(d):
    return {k: v.detach().to(torch.float32).contiguous() for k, v in d.items()}


def finite_differences(s, mod, grads):
    worst = 0.0
    with torch.no_grad():
        for name, p in mod.named_parameters():
            flat = p.view(-1)
            for idx in sorted({0, flat.numel() // 3, flat.numel() // 2, flat.numel() - 1}):
                keep = flat[idx].item()
                vals = []
                for h in (1e-6, -1e-6):
                    flat[idx] = keep + h
                    vals.append(s.loss(mod)[0].item())
                flat[idx] = keep
                fd = (vals[0] - vals[1]) / 2e-6
                err = abs(fd - grads[name].view(-1)[idx].item()) / max(grads[name].abs().max().item(), 1e-12)
                worst = max(worst, err)
    print(f"  finite differences vs autograd: worst error relative to the tensor's max |grad| {worst:.2e}")
    assert worst < 2e-5, worst  # central differences, h = 1e-6: round-off ~1e-16 / h relative to the loss


def train(s, mod, H, by_hand):
    flat = list(mod.parameters())
    losses, norms, lrs, clipped = [], [], [], []
    if not by_hand:
        opt = torch.optim.AdamW(flat, lr=H["lr"], betas=tuple(H["betas"]), eps=H["eps"], weight_decay=H["weight_decay"])
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda st: lr_lambda(st, H["warmup_steps"], H["total_steps"]))
    else:
        (b1, b2), eps, wd = H["betas"], H["eps"], H["weight_decay"]
        m1 = [torch.zeros_like(t) for t in flat]
        m2 = [torch.zeros_like(t) for t in flat]
    for step in range(H["steps"]):
        for t in flat:
            t.grad = None
        loss = s.loss(mod)[0]
        loss.backward()
        if not by_hand:
            norm = torch.nn.utils.clip_grad_norm_(flat, H["max_grad_norm"]).item()
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        else:
            g = [t.grad.detach() for t in flat]
            norm = math.sqrt(sum(float((x * x).sum()) for x in g))
            coef = min(H["max_grad_norm"] / (norm + H["clip_eps"]), 1.0)
            lr = H["lr"] * lr_lambda(step, H["warmup_steps"], H["total_steps"])
            n = step + 1
            with torch.no_grad():
                for i, t in enumerate(flat):
                    gi = g[i] * coef
                    t.mul_(1 - lr * wd)
                    m1[i] = b1 * m1[i] + (1 - b1) * gi
                    m2[i] = b2 * m2[i] + (1 - b2) * gi * gi
                    t.sub_((lr / (1 - b1 ** n)) * m1[i] / (m2[i].sqrt() / math.sqrt(1 - b2 ** n) + eps))
            lrs.append(lr)
        losses.append(loss.item())
        norms.append(norm)
        clipped.append(norm > H["max_grad_norm"])
    with torch.no_grad():
        after = s.loss(mod)[0].item()
    return losses, norms, lrs, clipped, after
