#!/usr/bin/env bash
# Performance, round two (issue 17): the tables of BENCHMARKS.md "Training step profile", "Default configuration vs
# PyTorch", "Real model sizes" and "Inference vs the machine's limits", one command after the other in one session.
# usage: scripts/bench_perf.sh [OUT_DIR] [all|reference|big|infer]   (needs bin/peft4j built; PyTorch 1.13 for /usr/bin/python3)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/peft4j-bench-perf}
what=${2:-all}
mkdir -p "$out"
torch() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 ../shared/bench/torch_lora_ref.py "$@"; }
if [ "$what" = all ] || [ "$what" = reference ]; then
  for s in gpt2:gpt2-124m smollm:smollm2-135m; do
    torch "${s%%:*}" 3 4 256 2 | tee "$out/torch-${s#*:}.txt"
    bin/peft4j bench train --shape "${s#*:}" --batch 4 --seq 256 --steps 3 --profile "$out/profile-${s#*:}.json" | tee "$out/peft4j-${s#*:}.txt"
    bin/peft4j bench train --shape "${s#*:}" --batch 4 --seq 256 --steps 3 --prepack-weights | tee "$out/peft4j-${s#*:}-prepacked.txt"
    bin/peft4j bench train --shape "${s#*:}" --batch 4 --seq 256 --steps 3 | tee "$out/peft4j-${s#*:}-2.txt"
    bin/peft4j bench train --shape "${s#*:}" --batch 4 --seq 256 --steps 3 --prepack-weights | tee "$out/peft4j-${s#*:}-prepacked-2.txt"
  done
fi
if [ "$what" = all ] || [ "$what" = big ]; then
  bin/peft4j bench train --shape qwen2.5-0.5b --batch 1 --seq 512 --steps 2 | tee "$out/qwen2.5-0.5b-bf16.txt"
  bin/peft4j bench train --shape llama-3.2-1b --batch 1 --seq 512 --steps 2 | tee "$out/llama-3.2-1b-bf16.txt"
  bin/peft4j bench train --shape llama-3.2-1b --batch 1 --seq 512 --steps 2 --quantize nf4 | tee "$out/llama-3.2-1b-nf4.txt"
  bin/peft4j bench train --shape llama-3.2-3b --batch 1 --seq 512 --steps 1 --quantize nf4 | tee "$out/llama-3.2-3b-nf4.txt"
  bin/peft4j bench train --shape llama-3.2-3b --batch 1 --seq 512 --steps 1 --quantize nf4 --gradient-checkpointing | tee "$out/llama-3.2-3b-nf4-ckpt.txt"
  bin/peft4j bench train --shape llama-3.1-8b --batch 1 --seq 512 --steps 1 --quantize nf4 | tee "$out/llama-3.1-8b-nf4.txt"
fi
if [ "$what" = all ] || [ "$what" = infer ]; then
  bin/peft4j bench infer --shape gpt2-124m --batch 1,8 | tee "$out/infer-gpt2-124m.txt"
  bin/peft4j bench infer --shape llama-3.2-1b --batch 1,8 --prefill 128 --tokens 16 | tee "$out/infer-llama-3.2-1b.txt"
fi
