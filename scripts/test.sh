#!/usr/bin/env bash
# Runs every test against the real parts. It builds the cached ziti binary on
# first use (about 7 minutes), makes sure PostgreSQL and RabbitMQ answer, then
# checks the formatting, vets and staticchecks the tree and runs the tests:
# with -race for the packages that are concurrent at heart, plainly for all.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v go >/dev/null || { echo "test: Go is required" >&2; exit 1; }
export GONOSUMDB=${GONOSUMDB:-github.com/openziti}
PORTICO_ZITI_BIN=$(scripts/ziti-build.sh)
export PORTICO_ZITI_BIN
scripts/services.sh

echo "==> gofmt, go vet, staticcheck"
# third_party/ holds upstream code as released, with Portico's patches.
unformatted=$(find . -name '*.go' -not -path './third_party/*' -exec gofmt -l {} +)
if [ -n "$unformatted" ]; then
  echo "test: these files are not gofmt-formatted (run gofmt -w):" $unformatted >&2
  exit 1
fi
go vet ./...
# staticcheck is built once and cached outside the repo, as ziti is.
STATICCHECK_VERSION=v0.8.2
staticcheck=${PORTICO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/portico}/staticcheck-$STATICCHECK_VERSION
if [ ! -x "$staticcheck" ]; then
  echo "==> building staticcheck $STATICCHECK_VERSION (once)" >&2
  gobin=$(mktemp -d)
  GOBIN=$gobin go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
  mkdir -p "$(dirname "$staticcheck")"
  mv "$gobin/staticcheck" "$staticcheck"
  rmdir "$gobin"
fi
"$staticcheck" ./...

race=(./internal/routes/ ./internal/syncclient/ ./internal/broker/ ./internal/certstore/ ./internal/agent/
  ./controller/syncapi/ ./controller/store/ ./controller/cluster/ ./controller/api/ ./caddymodule/)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
summary=$tmp/testsummary
go build -o "$summary" ./scripts/testsummary

# Both runs go through testsummary, which prints each package, the output of
# failed and skipped tests only, and "N passed, N failed, N skipped"; it exits
# 1 if anything failed. A missing service fails its tests unless
# PORTICO_SKIP_MISSING=1 (never under CI=true).
{
  echo "==> go test -race ${race[*]}" >&2
  go test -json -race -count=1 "${race[@]}" || true
  echo "==> go test ./..." >&2
  go test -json -count=1 ./... || true
  echo "==> go test the patched OpenZiti SDK's own change (third_party/README.md)" >&2
  (cd third_party/sdk-golang && go test -json -count=1 -run 'TestOfflineRouter|TestFailedDialsToARouter|TestRouterNeverSeen|TestDialEvaluatesPosture' ./ziti) || true
} | "$summary"
