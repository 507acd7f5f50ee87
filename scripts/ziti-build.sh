#!/usr/bin/env bash
# Builds the OpenZiti `ziti` binary once and caches it outside the repo, keyed by version.
# Prints the path of the cached binary on stdout; progress goes to stderr.
set -euo pipefail

ZITI_VERSION=${ZITI_VERSION:-v1.6.0}
cache=${PORTICO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/portico}
bin="$cache/ziti-$ZITI_VERSION"

if [ -x "$bin" ] && "$bin" version >/dev/null 2>&1; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { echo "go is required to build ziti" >&2; exit 1; }
mkdir -p "$cache"
work=$(mktemp -d "$cache/ziti-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The module proxy refuses `go install ziti@version`, so build from a small wrapper module.
cat >"$work/go.mod" <<MOD
module portico.local/zitiwrapper

go 1.24

require github.com/openziti/ziti $ZITI_VERSION
MOD
cat >"$work/tools.go" <<'GO'
//go:build tools

package tools

import _ "github.com/openziti/ziti/ziti"
GO

export GONOSUMDB=github.com/openziti GOFLAGS=-mod=mod
echo "building ziti $ZITI_VERSION (first time only, about 7 minutes on 2 cores)..." >&2
(cd "$work" && go mod tidy >&2)
start=$(date +%s)
(
  cd "$work" && go build -trimpath -o "$bin.tmp" github.com/openziti/ziti/ziti
) >&2 &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  sleep 30
  kill -0 "$pid" 2>/dev/null && echo "  still building ziti... $(( $(date +%s) - start ))s" >&2
done
wait "$pid"
mv "$bin.tmp" "$bin"
echo "built $bin in $(( $(date +%s) - start ))s" >&2
echo "$bin"
