#!/usr/bin/env bash
# Decode tokens/s of peft4j vs llama.cpp (node-llama-cpp 3.21.1) on the same GGUF files, same threads, one session.
# Random weights at the SmolLM2-135M (f32, q8_0, q4_0) and Llama-3.2-1B (q8_0, q4_k) shapes; BENCHMARKS.md's GGUF decode table.
# usage: scripts/bench_gguf_decode.sh [OUT_DIR]   (needs bin/peft4j built and `npm ci` in peft4j-core/src/test/js-llama)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/peft4j-bench-gguf-decode}
mkdir -p "$out"
js=peft4j-core/src/test/js-llama
[ -d "$js/node_modules/node-llama-cpp" ] || (cd "$js" && npm ci --no-audit --no-fund)
for t in f32 q8_0 q4_0; do
  bin/peft4j bench decode --shape smollm2-135m --type "$t" --tokens 64 --repeats 5 --llama-cpp "$js" | tee "$out/smollm2-135m-$t.txt"
done
for t in q8_0 q4_k; do
  f="$out/llama-3.2-1b-$t.gguf"
  if [ -f "$f" ]; then src=(--model "$f"); else src=(--shape llama-3.2-1b --type "$t" --save-gguf "$f"); fi
  PEFT4J_JVM_OPTS="-Xmx12g" bin/peft4j bench decode "${src[@]}" --tokens 32 --repeats 3 --llama-cpp "$js" | tee "$out/llama-3.2-1b-$t.txt"
done
