#!/usr/bin/env bash
# Builds bin/caddy with xcaddy and the local Portico module (pinned to a
# placeholder version, so that Go resolves it from the replacement and never
# asks the module proxy for it). Extra plugins,
# such as a DNS provider for wildcard certificates, come from XCADDY_WITH:
#
#   XCADDY_WITH="github.com/caddy-dns/cloudflare" ./xcaddy.sh
#
# `go build -o bin/caddy ./cmd/caddy` gives the same binary without plugins.
set -euo pipefail
cd "$(dirname "$0")"

CADDY_VERSION=${CADDY_VERSION:-v2.11.9}
XCADDY_VERSION=${XCADDY_VERSION:-v0.4.5}
cache=${PORTICO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/portico}
xcaddy="$cache/xcaddy-$XCADDY_VERSION"

if [ ! -x "$xcaddy" ]; then
  # `go install xcaddy@version` is refused by the module proxy here, so build
  # it from a small wrapper module.
  echo "building xcaddy $XCADDY_VERSION..." >&2
  mkdir -p "$cache"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  printf 'module portico.local/xcaddywrapper\n\ngo 1.24\n\nrequire github.com/caddyserver/xcaddy %s\n' "$XCADDY_VERSION" >"$work/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/caddyserver/xcaddy/cmd/xcaddy"\n' >"$work/tools.go"
  (cd "$work" && GOFLAGS=-mod=mod go mod tidy && go build -o "$xcaddy" github.com/caddyserver/xcaddy/cmd/xcaddy)
fi

# A dependency's replace directive is not followed, so Portico's patched
# OpenZiti SDK (third_party/README.md) is named here as in go.mod.
args=(build "$CADDY_VERSION" --output bin/caddy --with "github.com/porticoproxy/portico@v0.0.0=$PWD"
  --replace "github.com/openziti/sdk-golang=$PWD/third_party/sdk-golang")
for m in ${XCADDY_WITH:-}; do args+=(--with "$m"); done
mkdir -p bin
"$xcaddy" "${args[@]}"
echo "built bin/caddy; portico modules:" >&2
bin/caddy list-modules | grep portico >&2
