#!/usr/bin/env bash
# Regenerates docs/examples.md (and every other `<!-- kvplan: ... -->` block in README.md and docs/)
# by running the real kvplan binary. Usage: tools/gen_examples.sh [path/to/kvplan] (default build/kvplan)
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/gen-docs.py "${1:-build/kvplan}"
