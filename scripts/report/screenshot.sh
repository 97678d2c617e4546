#!/usr/bin/env bash
# screenshot.sh: render a peft4j HTML report to a PNG with headless Chromium.
# Usage: scripts/report/screenshot.sh REPORT.html OUT.png
# Installs nothing. Uses $CHROMIUM if set, else Debian's /usr/bin/chromium
# (install it with: apt-get install -y chromium). Window size: $WINDOW_SIZE (default 1280,2000).
# The report is self-contained (Chart.js inlined), so no network is used; a virtual-time budget
# lets the charts render before the shot.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 REPORT.html OUT.png" >&2
  exit 2
fi
report=$1
out=$2
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "chromium not found at $chromium; install it with: apt-get install -y chromium (or set CHROMIUM=/path/to/chromium)" >&2
  exit 3
fi
if [ ! -f "$report" ]; then
  echo "no such report: $report" >&2
  exit 2
fi

abs_report=$(realpath "$report")
out_dir=$(dirname "$out")
mkdir -p "$out_dir"
abs_out="$(realpath "$out_dir")/$(basename "$out")"

# file:// URL: percent-encode the characters that would break it
url_path=$(printf '%s' "$abs_report" | sed -e 's/%/%25/g' -e 's/ /%20/g' -e 's/#/%23/g' -e 's/?/%3F/g')

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
rm -f "$abs_out"

timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --hide-scrollbars --user-data-dir="$profile" \
  --window-size="${WINDOW_SIZE:-1280,2000}" --virtual-time-budget=5000 \
  --screenshot="$abs_out" "file://$url_path" >"$profile/chromium.log" 2>&1 || {
  status=$?
  echo "chromium failed (exit $status):" >&2
  tail -n 20 "$profile/chromium.log" >&2
  exit 1
}

if [ ! -s "$abs_out" ]; then
  echo "chromium wrote no screenshot to $abs_out:" >&2
  tail -n 20 "$profile/chromium.log" >&2
  exit 1
fi
echo "$abs_out"
