#!/usr/bin/env bash
# kvplan on a machine without the CUDA libraries: in a private mount namespace, /usr/local/cuda*
# are empty and every CUDA library file the loader knows reads as empty; `kvplan estimate` must
# still work and `kvplan validate` must end with one error line and exit status 3 (kvplan-gpu,
# where built, cannot load). Skips (77) where no mount namespace can be made (not root, no user
# namespaces).
# usage: tests/hidden_cuda_test.sh PATH/TO/kvplan
set -u
kvplan=$(readlink -f "$1")

if [ "${KVPLAN_IN_NAMESPACE:-}" != 1 ]; then
  for how in "unshare -m" "unshare -rm"; do
    if $how true 2>/dev/null; then
      KVPLAN_IN_NAMESPACE=1 exec $how bash "$0" "$kvplan"
    fi
  done
  echo "skipped: cannot create a mount namespace here"
  exit 77
fi

fail() { echo "FAIL: $*"; exit 1; }

mount --make-rprivate / 2>/dev/null
hidden=0
for dir in /usr/local/cuda*; do
  [ -d "$dir" ] && mount -t tmpfs tmpfs "$dir" && hidden=$((hidden + 1))
done
# Library files outside /usr/local/cuda (a driver's libcuda.so, distribution-packaged toolkits).
while read -r lib; do
  real=$(readlink -f "$lib") && [ -f "$real" ] && mount --bind /dev/null "$real" && hidden=$((hidden + 1))
done < <(ldconfig -p 2>/dev/null | awk '/libcuda\.so|libcudart\.so|libcublas(Lt)?\.so|libnvidia-ml\.so/ {print $NF}' | sort -u)
echo "hid $hidden CUDA locations"

helper="$(dirname "$kvplan")/kvplan-gpu"
if [ -x "$helper" ] && "$helper" --version > /dev/null 2>&1; then
  fail "kvplan-gpu still starts: the CUDA libraries were not hidden"
fi

out=$("$kvplan" estimate --model llama-3.1-8b --gpu h100 --context 8k 2>&1) || fail "estimate exited $?: $out"
grep -q "KV cache" <<< "$out" || fail "estimate printed no KV cache line: $out"

err=$("$kvplan" validate --model llama-3.1-8b 2>&1 > /dev/null)
status=$?
[ "$status" -eq 3 ] || fail "validate exited $status, expected 3: $err"
last=$(tail -n 1 <<< "$err")
case "$last" in
  "kvplan: error: "*) ;;
  *) fail "validate's last line is not one kvplan error line: $err" ;;
esac
echo "$last"
# Its options are read before the GPU is needed: --in-step is one (exit 3 here), a misspelt one is not (2).
"$kvplan" validate --model llama-3.1-8b --in-step > /dev/null 2>&1
status=$?
[ "$status" -eq 3 ] || fail "validate --in-step exited $status, expected 3"
"$kvplan" validate --model llama-3.1-8b --in-steps > /dev/null 2>&1
status=$?
[ "$status" -eq 2 ] || fail "validate --in-steps exited $status, expected 2"
echo "ok: estimate works and validate exits 3 without the CUDA libraries"
