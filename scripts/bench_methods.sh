#!/usr/bin/env bash
# Per-method training benchmark (README / BENCHMARKS.md "PEFT methods" table): every method of the
# registry on the GPT-2-124M and SmolLM2-135M shapes, one `bench train` run each, one after the other.
# Prints one Markdown row per run: trainable params, step seconds min/median/max, median vs LoRA of
# the same shape, peak RSS and the saved adapter file size. Usage: scripts/bench_methods.sh [STEPS] [B] [T]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
steps="${1:-5}" B="${2:-4}" T="${3:-128}"
methods="lora dora ia3 vera loha lokr adalora prompt-tuning p-tuning prefix-tuning"
printf '| shape | method | trainable params | step s min / median / max | median vs LoRA | peak RSS | adapter file | FMA peak |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for shape in smollm2-135m gpt2-124m; do
  lora_median=""
  for m in $methods; do
    if [ "$shape" = gpt2-124m ] && { [ "$m" = loha ] || [ "$m" = lokr ]; }; then continue; fi   # PEFT refuses Conv1D
    out="$("$root/bin/peft4j" bench train --shape "$shape" --batch "$B" --seq "$T" --steps "$steps" --threads 2 --method "$m" 2>&1)" || { echo "$out" >&2; exit 1; }
    line="$(grep -E "^peft4j $shape" <<<"$out")"
    trainable="$(sed -E 's/.*trainable ([0-9]+) of.*/\1/' <<<"$line")"
    read -r mn md mx < <(sed -E 's/.*min ([0-9.]+) median ([0-9.]+) max ([0-9.]+).*/\1 \2 \3/' <<<"$line")
    rss="$(grep -oE 'peak_rss_mb=[0-9]+' <<<"$out" | cut -d= -f2)"
    bytes="$(grep -oE 'adapter_file_bytes=[0-9]+' <<<"$out" | cut -d= -f2)"
    peak="$(grep -oE 'peak_gflops=[0-9.]+' <<<"$out" | cut -d= -f2)"
    [ "$m" = lora ] && lora_median="$md"
    ratio="$(awk -v a="$md" -v b="$lora_median" 'BEGIN { printf "%.2fx", a / b }')"
    printf '| %s | %s | %s | %s / %s / %s | %s | %s MB | %s | %s GFLOP/s |\n' "$shape" "$m" \
      "$(printf "%'d" "$trainable")" "$mn" "$md" "$mx" "$ratio" "$(printf "%'d" "$rss")" \
      "$(awk -v b="$bytes" 'BEGIN { if (b >= 1048576) printf "%.1f MB", b / 1048576; else printf "%.0f KB", b / 1024 }')" "$peak"
  done
done
