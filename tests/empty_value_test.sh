#!/bin/sh
# An empty value (`--format ''`) is one clear line naming the accepted values, exit 2. (The golden
# runner cannot pass an empty argument: CMake drops empty list elements.)
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
exit $fail
