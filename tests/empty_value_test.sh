#!/bin/sh
# An empty value (`--format ''`, `--gen ''`) is one clear line naming the option, and the accepted
# values where it has a list, exit 2. (The golden runner cannot pass an empty argument: CMake drops
# empty list elements.)
kvplan=$1
fail=0
expect() {  # expect WANT_STDERR ARGS...
  want=$1
  shift
  got=$("$kvplan" "$@" 2>&1 >/dev/null)
  status=$?
  if [ "$status" != 2 ] || [ "$got" != "$want" ]; then
    echo "kvplan $*: want exit 2 and: $want"
    echo "got exit $status and: $got"
    fail=1
  fi
}
expect "kvplan: error: --format: an empty value; expected one of table, json, csv" \
  estimate -m llama-3.1-8b -g h100 --format ''
expect "kvplan: error: what: an empty value; expected one of models, gpus, engines, nodes" list ''
# Options without a list of names: the empty value is refused, never read as "not given".
expect "kvplan: error: --gen: an empty value" estimate -m llama-3.1-8b -g h100 --gen ''
expect "kvplan: error: --kv-cache-memory: an empty value" estimate -m llama-3.1-8b -g h100 --kv-cache-memory=
expect "kvplan: error: --mla-cache: an empty value; expected one of latent, decompressed, fp8_ds" \
  estimate -m llama-3.1-8b -g h100 --mla-cache ''
exit $fail
