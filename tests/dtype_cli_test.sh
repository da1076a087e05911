#!/bin/sh
# --dtype reaches the numbers through both front ends, the CLI flag and a deploy file's engine.dtype:
# Llama-3.1-8B (32 layers, 8 KV heads of 128) caches 32 x 2 x 8 x 128 x 2 B = 131,072 B a token in
# its bf16 activations and 262,144 B under --dtype float32, whose 8,030,261,248 weights then take
# 4 B each (32,121,044,992 B). Expectations by hand, not from kvplan.
kvplan=$1
fail=0
json() { "$kvplan" estimate -m llama-3.1-8b -g h100 --engine ideal --format json "$@" 2>/dev/null; }
field() {  # field NAME: the first numeric "NAME": value in stdin
  sed -n "s/.*\"$1\": \\([0-9][0-9]*\\).*/\\1/p" | head -n 1
}
check() {  # check WHAT WANT GOT
  if [ "$2" != "$3" ]; then
    echo "$1: want $2, got $3"
    fail=1
  fi
}
check "bf16 KV bytes per token" 131072 "$(json | field kv_bytes_per_token)"
check "--dtype float32 KV bytes per token" 262144 "$(json --dtype float32 | field kv_bytes_per_token)"
check "--dtype float32 weights" 32121044992 "$(json --dtype float32 | field weights_bytes)"
check "--dtype bfloat16 KV bytes per token" 131072 "$(json --dtype bfloat16 | field kv_bytes_per_token)"
# A deploy file: vLLM 0.19, one 8192-token request of 262,144 B a token needs 2 GiB of KV cache;
# with kv_cache_memory_bytes 2 GiB - 1 the engine cannot start under float32 (exit 1) and can in bf16.
dir=$(mktemp -d)
cat > "$dir/d.yaml" <<YAML
model: llama-3.1-8b
gpu: h100
engine:
  version: "0.19"
  dtype: DTYPE
  max_model_len: 8192
  kv_cache_memory_bytes: 2147483647
workload: {prompt_tokens: 1, output_tokens: 1, concurrency: 1}
YAML
sed 's/DTYPE/float32/' "$dir/d.yaml" > "$dir/f32.yaml"
sed 's/DTYPE/bfloat16/' "$dir/d.yaml" > "$dir/bf16.yaml"
"$kvplan" check "$dir/f32.yaml" > /dev/null 2>&1
check "check under float32 (exit)" 1 $?
"$kvplan" check "$dir/bf16.yaml" > /dev/null 2>&1
check "check under bfloat16 (exit)" 0 $?
rm -rf "$dir"
exit $fail
