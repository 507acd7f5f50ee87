#!/usr/bin/env bash
# Runs the benchmark suite (see bench/README.md) on a local OpenZiti network
# and writes bench/results/latest.{txt,json,png}. Arguments go to
# portico-bench: -smoke for a quick check, -out DIR elsewhere. It reports
# figures and never fails on a timing.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v go >/dev/null || { echo "bench: Go is required" >&2; exit 1; }
export GONOSUMDB=${GONOSUMDB:-github.com/openziti}
PORTICO_ZITI_BIN=$(scripts/ziti-build.sh)
export PORTICO_ZITI_BIN
scripts/services.sh

go run ./bench/cmd/portico-bench "$@"
