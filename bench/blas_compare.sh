#!/usr/bin/env bash
# Which cuBLAS the reference step's linears run on, side by side on one card (docs/validation/h100-sxm/README.md,
# "Which component"). On the GPU machine, from the repo root, binaries in gpu-bin/:
#   STAGES="linear calibrate steps" bench/blas_compare.sh OUTDIR
# linear:    bench/linear_compare.py (PyTorch's F.linear against cublasGemmEx on PyTorch's libcublas).
# calibrate: `kvplan calibrate` twice, on the system's libcublas (/usr/local/cuda, what the binaries
#            find by default) and on PyTorch's (LD_LIBRARY_PATH), into cal-system.yaml / cal-torchlib.yaml.
# steps:     `kvplan validate` of Llama-3.1-8B's decode step at POINTS on both libraries (measured
#            components; validate-LIB/), then the PyTorch step at the same points (decode_step_torch.py,
#            one cuDNN call a layer), decode_measured.json.
set -uo pipefail
OUT=${1:-/tmp/kvplan-blas-compare}
BIN=${KVPLAN_BIN:-gpu-bin}
STAGES=${STAGES:-linear calibrate steps}
POINTS=${POINTS:-"1:4096 32:1024 16:4096 64:512"}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
exec > >(tee -a "$OUT/log.txt") 2>&1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
TD=$(python3 -c "import os, sys; sys.path.insert(0, 'bench'); import linear_compare as lc; print(os.path.dirname(lc.torch_cublas_path()))" 2>/dev/null)
echo "PyTorch's cuBLAS: $TD ($(ls $TD 2>/dev/null | tr '\n' ' '))"
SYS=/usr/local/cuda/lib64
for s in $STAGES; do
  case $s in
    linear)
      echo "== linear"; timeout 220 python3 bench/linear_compare.py --out "$OUT" > "$OUT/linear.log" 2>&1 || echo "LINEAR FAILED"
      sed -n '/per model/,$p' "$OUT/linear.log" ;;
    calibrate)
      for lib in system torchlib; do
        case $lib in system) LP=$SYS ;; torchlib) LP=$TD:$SYS ;; esac
        echo "== calibrate on $lib ($(date +%T))"
        LD_LIBRARY_PATH=$LP timeout 250 "$BIN/kvplan" calibrate --out "$OUT/cal-$lib.yaml" > /dev/null 2> "$OUT/cal-$lib.log" \
          || echo "CALIBRATE $lib FAILED"
        grep -E "^  (bandwidth_fraction|kernel_gap_s|kernel_overhead_s|lm_head_bandwidth_fraction):" "$OUT/cal-$lib.yaml"
      done ;;
    steps)
      for lib in system torchlib; do
        case $lib in system) LP=$SYS ;; torchlib) LP=$TD:$SYS ;; esac
        mkdir -p "$OUT/validate-$lib"
        for p in $POINTS; do
          b=${p%%:*}; n=${p##*:}
          LD_LIBRARY_PATH=$LP timeout 60 "$BIN/kvplan" validate --model llama-3.1-8b --batch $b --context $n --gpu h100-sxm \
            --no-check --no-prefill --max-time 0.3 --format json > "$OUT/validate-$lib/b$b-c$n.json" || echo "VALIDATE $lib $p FAILED"
          python3 - "$OUT/validate-$lib/b$b-c$n.json" "$lib $p" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(sys.argv[2], " ".join(f"{c['name']} {c['measured']['median_s'] * 1e6:.1f}" for c in r["decode"]),
      f"step {r['decode_step']['measured']['median_s'] * 1e6:.1f} us")
PY
        done
      done
      echo "== PyTorch steps"
      timeout 150 python3 bench/decode_step_torch.py --models llama-3.1-8b --gqa-sdpa --out "$OUT" \
        --points "$(echo $POINTS | tr ' ' ',')" | tail -6 || echo "TORCH STEPS FAILED" ;;
  esac
done
