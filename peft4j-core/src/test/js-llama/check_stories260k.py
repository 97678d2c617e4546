#!/usr/bin/env python3
"""
End-to-end check of make_test_gguf.py + generate.mjs against the real llama.cpp (node-llama-cpp
3.21.1) on ../shared/models/stories260K.  Run from this directory after `npm ci`:

    python3 check_stories260k.py [--shared ../../../../../shared] [--threads 1] [--peft-lora DIR]

--peft-lora DIR: a PEFT LoRA made by `../shared/realpeft/run.sh make lora DIR` (needs Debian's
python3-torch); its expected_logits.json is then compared with llama.cpp + our LoRA GGUF.
Prints one line per check and a final 'N passed, N failed' line; exit code 1 on any failure.
Needs no network.
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def arg(name, default):
    if name in sys.argv:
        return sys.argv[sys.argv.index(name) + 1]
    return default


SHARED = Path(arg("--shared", str(HERE / "../../../../../shared"))).resolve()
THREADS = arg("--threads", "1")
PEFT_LORA = arg("--peft-lora", None)
S260 = SHARED / "models/stories260K"
results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)


def gen(*args):
    p = subprocess.run(["node", str(HERE / "generate.mjs"), "--threads", THREADS, *map(str, args)],
                       capture_output=True, text=True, cwd=HERE)
    line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else "{}"
    return p.returncode, json.loads(line), p.stderr


def log_softmax(x):
    x = np.asarray(x, dtype=np.float64)
    x = x - x.max()
    return x - np.log(np.exp(x).sum())


def conv(*args):
    subprocess.run([sys.executable, str(HERE / "make_test_gguf.py"), *map(str, args)], check=True,
                   cwd=HERE, stdout=subprocess.DEVNULL)


def main():
    if not S260.is_dir():
        print(f"SKIP: {S260} not found")
        return 0
    ref = json.loads((S260 / "reference_outputs.json").read_text())
    greedy_ids = ref["greedy_from_bos"]["generated_ids"]
    greedy_txt = (S260 / "greedy_from_bos_256steps.txt").read_text()
    tmp = Path(tempfile.mkdtemp(prefix="js-llama-"))

    # 1. the llama2.c-era GGUF v1 file is refused
    v1 = S260 / "tinyllamas-stories-260k-f32.gguf"
    ver = int.from_bytes(v1.read_bytes()[4:8], "little")
    rc, out, _ = gen("--model", v1, "--tokens", "1", "--n", "4")
    check("v1 GGUF refused by llama.cpp", ver == 1 and rc != 0 and "version 1" in out.get("error", ""),
          f"version field {ver}, error {out.get('error')!r}")

    # 2. our converter: bit-identical tensors to the v1 file (proves names, shapes, q/k permutation)
    tied, untied = tmp / "s260k.gguf", tmp / "s260k-untied.gguf"
    conv("convert", S260, tied)
    conv("convert", S260, untied, "--untied")
    sys.path.insert(0, str(HERE))
    from make_test_gguf import read_gguf
    a, b = read_gguf(untied), read_gguf(v1)
    same = set(a["tensors"]) == set(b["tensors"]) and all(
        np.array_equal(a["tensors"][n], b["tensors"][n]) for n in a["tensors"])
    check("v3 tensors == v1 tensors (bitwise)", same, f"{len(a['tensors'])} tensors")
    check("v3 vocab tokens/types == v1", a["kv"]["tokenizer.ggml.tokens"][0] == b["kv"]["tokenizer.ggml.tokens"][0]
          and a["kv"]["tokenizer.ggml.token_type"][0] == b["kv"]["tokenizer.ggml.token_type"][0])

    # 3. greedy from BOS, 64 tokens, tied and untied
    for label, path in (("tied", tied), ("untied", untied)):
        rc, out, err = gen("--model", path, "--tokens", "1", "--n", "64")
        ok = rc == 0 and out["tokens"] == greedy_ids[:64] and greedy_txt.startswith(out["text"])
        check(f"greedy 64 from BOS ({label}) == greedy_from_bos_256steps.txt", ok,
              f"{out.get('tokens_per_s')} tok/s" if ok else f"{out} {err[-500:]}")

    rc, out, _ = gen("--model", tied, "--tokens", "1", "--n", "255")
    check("greedy 255 from BOS (tied) == reference_outputs.json greedy_from_bos (all 255)",
          rc == 0 and out["tokens"] == greedy_ids[:255])

    # 4. llama.cpp's own tokenization of the prompt, BOS from add_bos_token
    rc, out, _ = gen("--model", tied, "--prompt", "Once upon a time", "--n", "0")
    check("tokenize 'Once upon a time' (bos auto)", out.get("prompt_tokens") == [1, 403, 407, 261, 378],
          str(out.get("prompt_tokens")))
    rc, out, _ = gen("--model", tied, "--prompt", "Once upon a time", "--n", "0", "--bos", "no")
    check("tokenize 'Once upon a time' (bos no)", out.get("prompt_tokens") == [403, 407, 261, 378],
          str(out.get("prompt_tokens")))

    rc, out, _ = gen("--model", tied, "--prompt", ref["greedy_from_bos"]["text"], "--n", "0")
    check("re-tokenize the 255-token greedy text == [BOS] + its ids (merge scores right)",
          out.get("prompt_tokens") == [1] + greedy_ids)

    # 5. last-position log-softmax vs the float64 oracle
    ids = ref["prompt_logits"]["input_ids"]
    want = log_softmax(ref["prompt_logits"]["logits"][-1])
    rc, out, _ = gen("--model", tied, "--tokens", ",".join(map(str, ids)), "--n", "0", "--logits-full")
    d = float(np.abs(np.asarray(out["logits"]["all"]) - want).max())
    check("log-softmax at last prompt position vs reference (F32 KV)", d < 1e-4 and out["logits"]["argmax"] == int(want.argmax()),
          f"max|diff| {d:.2e}")
    rc, out, _ = gen("--model", tied, "--tokens", ",".join(map(str, ids)), "--n", "0", "--logits", "--kv", "f16")
    d16 = float(np.abs(np.asarray(out["logits"]["first16"]) - want[:16]).max())
    check("same with llama.cpp's stock F16 KV cache (looser, 2e-2)", d16 < 2e-2, f"max|diff| first16 {d16:.2e}")

    # 6. LoRA
    if PEFT_LORA:
        lora = tmp / "lora.gguf"
        subprocess.run([sys.executable, str(HERE / "make_test_gguf.py"), "lora", PEFT_LORA, lora, "--base", S260],
                       check=True, cwd=HERE, stdout=subprocess.DEVNULL)
        exp = json.loads((Path(PEFT_LORA) / "expected_logits.json").read_text())
        want = log_softmax(exp["logits"][-1])
        rc, out, err = gen("--model", tied, "--lora", lora, "--tokens", ",".join(map(str, exp["input_ids"])),
                           "--n", "0", "--logits-full")
        d = float(np.abs(np.asarray(out["logits"]["all"]) - want).max()) if rc == 0 else float("inf")
        check("LoRA GGUF in llama.cpp vs PEFT logits (log-softmax)", d < 1e-4, f"max|diff| {d:.2e}")
        rc, out0, _ = gen("--model", tied, "--lora", lora, "--lora-scale", "0", "--tokens", "1", "--n", "16")
        check("LoRA at scale 0 == base greedy", out0.get("tokens") == greedy_ids[:16])
    else:
        print("SKIP LoRA checks (no --peft-lora DIR)")

    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
