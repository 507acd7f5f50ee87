#!/usr/bin/env bash
# Runs every test against the real parts. It builds the cached ziti binary on
# first use (about 7 minutes), makes sure PostgreSQL and RabbitMQ answer, then
# vets the tree and runs the tests: with -race for the packages that are
# concurrent at heart, plainly for the rest.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v go >/dev/null || { echo "test: Go is required" >&2; exit 1; }
export GONOSUMDB=${GONOSUMDB:-github.com/openziti}
PORTICO_ZITI_BIN=$(scripts/ziti-build.sh)
export PORTICO_ZITI_BIN
scripts/services.sh

echo "==> go vet"
go vet ./...

race=(./internal/mapping/ ./internal/syncclient/ ./internal/broker/ ./internal/certstore/ ./controller/syncapi/ ./controller/store/ ./controller/cluster/)
echo "==> go test -race ${race[*]}"
go test -race -count=1 "${race[@]}"

echo "==> go test ./..."
go test -count=1 ./...
