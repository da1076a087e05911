#!/usr/bin/env bash
# Long fuzz runs (docs/fuzzing.md): every target of tests/fuzz with its seeds and dictionary,
# several workers each, until its execution target or a time cap; the per-worker logs and a
# summary (executions, crashes) go to OUTDIR. Usage:
#   bench/fuzz-long.sh BINDIR OUTDIR SECONDS TARGET:EXECUTIONS:WORKERS ...
# e.g. bench/fuzz-long.sh build-fuzz/tests/fuzz out 540 model_yaml_parse:10000000:4 model_yaml:1000000:4
# The growing corpora go to $FUZZ_CORPUS (default OUTDIR/corpus), findings and logs to OUTDIR.
set -uo pipefail
bin=$1 out=$2 seconds=$3
corpus_root=${FUZZ_CORPUS:-$out/corpus}
shift 3
mkdir -p "$out"
seeds() {
  case $1 in
    numbers*) echo tests/fuzz/corpus/numbers ;;
    model_yaml*) echo models ;;
    hf_config*) echo tests/fixtures/hf tests/fixtures/hf/extra ;;
    gpu_yaml*) echo presets ;;
    engine_yaml*) echo presets/engines ;;
    deploy_yaml*) echo examples/deploy ;;
  esac
}
for spec in "$@"; do
  IFS=: read -r target runs workers <<< "$spec"
  dict=tests/fuzz/dict/${target%_parse}.dict
  mkdir -p "$out/$target" "$corpus_root/$target"
  for w in $(seq 1 "$workers"); do
    "$bin/fuzz_$target" -runs=$((runs / workers)) -max_total_time="$seconds" -max_len=4096 -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -dict="$dict" -artifact_prefix="$out/$target/" \
      "$corpus_root/$target" $(seeds "$target") > "$out/$target/worker$w.log" 2>&1 &
  done
done
wait
printf '%-22s %14s %8s %s\n' target executions workers findings > "$out/summary.txt"
for dir in "$out"/*/; do
  [ "$(basename "$dir")" = corpus ] && continue
  t=$(basename "$dir")
  execs=$(grep -h "stat::number_of_executed_units" "$dir"/worker*.log | awk '{s += $2} END {print s + 0}')
  workers=$(ls "$dir" | grep -c '^worker')
  findings=$(ls "$dir" | grep -c -E '^(crash|leak|timeout|oom|slow-unit)-' || true)
  printf '%-22s %14s %8s %s\n' "$t" "$execs" "$workers" "$findings" >> "$out/summary.txt"
done
cat "$out/summary.txt"
