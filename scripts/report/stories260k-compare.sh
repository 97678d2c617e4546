#!/usr/bin/env bash
# The evaluation issue's end-to-end check: base stories260K vs two adapters trained by `peft4j train`
# (ranks 4 and 16 on the animal-sounds task), compared on held-out prompts (exact match), on
# stories text (perplexity) with drift from the base, rendered to HTML and screenshotted by headless
# Chromium. Usage: scripts/report/stories260k-compare.sh [OUT_DIR]   (needs ../shared and chromium)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${1:-$root/stories260k-compare}"
model="$root/../shared/models/stories260K"
[ -d "$model" ] || { echo "needs $model (../shared)" >&2; exit 2; }
rm -rf "$out"; mkdir -p "$out/data"
python3 - "$out/data" <<'PY'
import json, random, sys
d = sys.argv[1]; random.seed(3)
names = ["Lily","Tom","Ben","Sue","Max","Anna","Tim","Mia","Sam","Lucy","Jack","Zoe"]
places = ["park","garden","farm","yard","house","forest"]
animals = {"dog":"woof","cat":"meow","cow":"moo","duck":"quack","sheep":"baa","lion":"roar","bird":"tweet","pig":"oink"}
rows = [(n, p, a) for n in names for p in places for a in animals]; random.shuffle(rows)
def prompt(n, p, a): return f"{n} went to the {p} and saw a {a}. The {a} said"
with open(f"{d}/train.jsonl", "w") as f:
    for n, p, a in rows[:400]: f.write(json.dumps({"prompt": prompt(n, p, a), "completion": f" {animals[a]}!"}) + "\n")
with open(f"{d}/test.jsonl", "w") as f:
    for n, p, a in rows[400:480]: f.write(json.dumps({"prompt": prompt(n, p, a), "answer": f"{animals[a]}!"}) + "\n")
PY
grep -v "^TOKENS" "$model/greedy_from_bos_256steps.txt" > "$out/data/stories.txt"   # the story text (the file ends with its token ids)
for r in 4 16; do
  "$root/bin/peft4j" train --model "$model" --data "$out/data/train.jsonl" --output "$out/adapter-r$r" --lora.r $r --lora.alpha $((2*r)) \
    --lora.target-modules all-linear --lora.dropout 0 --steps 60 --lr 3e-3 --batch-size 16 --add-eos false --val-fraction 0.1 --log-every 20
done
"$root/bin/peft4j" compare --model "$model" --adapter "$out/adapter-r4" --adapter "$out/adapter-r16" \
  --task gen --data "$out/data/test.jsonl" --task perplexity --data "$out/data/stories.txt" \
  --reference "$out/data/stories.txt" --max-new-tokens 4 --output "$out/report"
"$root/scripts/report/screenshot.sh" "$out/report/compare.html" "$out/report/compare.png"
