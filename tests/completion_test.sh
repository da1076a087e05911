#!/usr/bin/env bash
# Checks `kvplan completion`: the bash script parses and completes (<TAB> simulated through
# COMP_WORDS/COMP_CWORD), every subcommand of `kvplan --help` is offered, and the zsh and fish
# scripts parse where those shells are installed (skipped otherwise).
# Usage: tests/completion_test.sh BUILD/kvplan   (run from the source directory)
set -u
kvplan=$(realpath "$1")
export PATH="$(dirname "$kvplan"):$PATH"  # the script asks `kvplan list ... --format ids`
export KVPLAN_DATA_DIR=
failed=0
fail() { echo "FAIL $*"; failed=1; }

script=$(mktemp)
trap 'rm -f "$script"' EXIT
"$kvplan" completion bash >"$script" || { echo "FAIL kvplan completion bash"; exit 1; }
bash -n "$script" || fail "bash -n: the bash script does not parse"

# The completions of the last word (possibly empty) of a command line, sorted, one a line.
complete_line() {
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _kvplan
           printf "%s\n" "${COMPREPLY[@]}"' _ "$script" "$@" | sed '/^$/d' | sort
}
# expect WANT WORDS...: the completions are exactly WANT (space-separated).
expect() {
  local want got
  want=$(printf '%s\n' $1 | sed '/^$/d' | sort)
  shift
  got=$(complete_line "$@")
  [[ $got == "$want" ]] || fail "'$*<TAB>': want [$(echo $want)], got [$(echo $got)]"
}
# expect_some WANT WORDS...: the completions include WANT.
expect_some() {
  local want=$1
  shift
  complete_line "$@" | grep -qxF -- "$want" || fail "'$*<TAB>': want $want among [$(echo $(complete_line "$@"))]"
}

expect estimate kvplan est
expect --model kvplan estimate --mo
expect --model kvplan estimate --enforce-eager --mo   # a flag takes no value
expect "csv json table" kvplan estimate --format ""
expect json kvplan estimate --format = j                # --format=j, split at '=' by bash
expect "" kvplan estimate --context ""                  # a number: nothing to offer
expect estimate kvplan --data-dir tests/fixtures/datadir est
expect "bash fish zsh" kvplan completion ""
expect "engines gpus models nodes" kvplan list ""
expect_some llama-3.1-8b kvplan estimate --model llama-3.1-8
expect_some llama-3.1-8b kvplan fit -m llama-3.1-8
expect_some h100 kvplan estimate --gpu h10              # an alias
expect_some h100-sxm kvplan compare -g h10
expect_some vllm@0.10 kvplan plan --engine vllm@
expect_some ids kvplan list --format i
expect_some memory-vs-context kvplan sweep --plot-kind ""
expect_some examples/deploy/fits-pass.yaml kvplan check examples/deploy/fits-
expect_some models/llama-3.1-8b.yaml kvplan estimate --model models/llama-3.1-8
expect_some tests/fixtures kvplan --data-dir tests/fix
expect_some --junit kvplan check --j
expect_some --data-dir kvplan estimate --data    # a global option after the subcommand
# Every subcommand `kvplan --help` lists, and only those.
subcommands=$("$kvplan" --help | sed -n '/^Subcommands:/,$p' | awk 'NR > 1 && NF {print $1}' | sort)
[[ -n $subcommands ]] || fail "no subcommands in kvplan --help"
expect "$subcommands" kvplan ""

for shell in zsh fish; do
  if command -v "$shell" >/dev/null; then
    "$kvplan" completion "$shell" >"$script" && "$shell" -n "$script" || fail "$shell -n: the $shell script does not parse"
  else
    echo "skip $shell -n: $shell is not installed"
  fi
done

[[ $failed == 0 ]] && echo "completion: all checks passed"
exit "$failed"
