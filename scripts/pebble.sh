#!/usr/bin/env bash
# Runs Pebble, Let's Encrypt's test ACME server, on 127.0.0.1:14000 for a
# local TLS frontend (see "TLS" in OPERATING.md). Domain validation always
# succeeds: *.share.localhost names cannot be validated from outside.
#
#   scripts/pebble.sh        start (built once and cached, like ziti)
#   scripts/pebble.sh stop   stop it
#
# Its state is in .demo/pebble/: root.pem verifies the certificates it
# issues, server-root.pem is what an ACME client trusts to talk to it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
state=${PORTICO_DEMO_DIR:-$root/.demo}/pebble
prog=pebble
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

PEBBLE_VERSION=${PEBBLE_VERSION:-v2.10.1}
cache=${PORTICO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/portico}
bin="$cache/pebble-$PEBBLE_VERSION"

case "${1:-up}" in
  stop | down) stop_procs pebble; echo "Pebble stopped."; exit 0 ;;
  up) ;;
  *) die "usage: $0 [up|stop]" ;;
esac

stop_procs pebble
mkdir -p "$state" "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The module proxy refuses `go install pebble@version`, so build from a small wrapper module.
printf 'module portico.local/pebblewrapper\n\ngo 1.24\n\nrequire github.com/letsencrypt/pebble/v2 %s\n' "$PEBBLE_VERSION" >"$work/go.mod"
printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/letsencrypt/pebble/v2/cmd/pebble"\n' >"$work/tools.go"
(cd "$work" && GOFLAGS=-mod=mod go mod tidy 2>/dev/null)
src=$(cd "$work" && go list -m -f '{{.Dir}}' github.com/letsencrypt/pebble/v2)
if [ ! -x "$bin" ]; then
  say "building pebble $PEBBLE_VERSION"
  (cd "$work" && go build -o "$bin" github.com/letsencrypt/pebble/v2/cmd/pebble)
fi

cat >"$state/config.json" <<JSON
{"pebble": {
  "listenAddress": "127.0.0.1:14000",
  "managementListenAddress": "127.0.0.1:15000",
  "certificate": "$src/test/certs/localhost/cert.pem",
  "privateKey": "$src/test/certs/localhost/key.pem",
  "httpPort": 5002, "tlsPort": 5001,
  "keyAlgorithm": "ecdsa"
}}
JSON
cp "$src/test/certs/pebble.minica.pem" "$state/server-root.pem"
say "starting Pebble on 127.0.0.1:14000"
PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1 start pebble "$bin" -config "$state/config.json"
wait_for "Pebble" 20 curl -sf --cacert "$state/server-root.pem" https://127.0.0.1:14000/dir
curl -sf --cacert "$state/server-root.pem" https://127.0.0.1:15000/roots/0 >"$state/root.pem"
echo "Pebble is up: acme_ca https://127.0.0.1:14000/dir, acme_ca_root $state/server-root.pem; issued certificates chain to $state/root.pem"
