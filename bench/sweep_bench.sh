#!/usr/bin/env bash
# Sweep speed: a million points (1000 contexts x 1000 batches) of Llama 3.1 8B on an H100, written to
# /dev/null, best of 3 runs, single thread. Prints points per second for every column and for a few.
# Usage: bench/sweep_bench.sh [path/to/kvplan]   (docs/sweep.md records the figures)
set -euo pipefail
kvplan=${1:-build/kvplan}
base=(sweep -m llama-3.1-8b -g h100-sxm)
args=("${base[@]}" -c 1..1000:+1 -b 1..1000:+1)
few=workload.batch,workload.context,memory.total_bytes,memory.fits,decode.tokens_per_s
best() {
  local best=999999
  for _ in 1 2 3; do
    local t0 t1
    t0=$(date +%s.%N)
    "$kvplan" "$@" > /dev/null
    t1=$(date +%s.%N)
    best=$(echo "$t1 - $t0" | bc -l | awk -v b="$best" '{print ($1 < b) ? $1 : b}')
  done
  echo "$best"
}
columns=$("$kvplan" "${base[@]}" -c 1 -b 1 | head -1 | tr ',' '\n' | wc -l)
bytes=$("$kvplan" "${base[@]}" -c 1..1000:+1 -b 1..10:+1 | wc -c)
all=$(best "${args[@]}")
some=$(best "${args[@]}" --columns "$few")
printf 'all %d columns (%.0f MB of CSV): %.2f s, %.2f M points/s\n' "$columns" "$(echo "$bytes * 100 / 1000000" | bc -l)" "$all" "$(echo "1 / $all" | bc -l)"
printf '5 columns (%s): %.2f s, %.2f M points/s\n' "$few" "$some" "$(echo "1 / $some" | bc -l)"
