#!/usr/bin/env bash
# Builds the OpenZiti `ziti` binary once and caches it outside the repo, keyed by version and
# patch level. Prints the path of the cached binary on stdout; progress goes to stderr.
#
# The build carries three upstream fixes that no release served by the module proxy has.
#
# openziti/ziti#4108 (backported to 1.6.x as #4113). The v1.6.0 controller keeps terminator
# peer data that points into bbolt's mmap after the transaction; when the database grows and
# bbolt remaps it, the next circuit for that terminator crashes the controller with SIGSEGV in
# channel.EncodeU32ToBytesMap. The tests create services while they dial, which is exactly that
# churn, and the crash failed about one CI run in five. The patch copies those values out of
# bbolt memory, as upstream does.
#
# openziti/ziti#3072 (fixed in v1.6.2). The v1.6.0 edge router keeps each SDK connection's API
# session in a map keyed by the channel's id, which on the router is the identity's id token
# from the hello: every process of one identity gets the same key, so the last one to connect
# overwrites the others' sessions, and their dials and binds then fail with "invalid api session
# id" until they restart. Several frontend instances on one identity, or several agents in one
# environment, break each other. The patch keys the map on ch.ConnectionId(), as upstream does.
#
# openziti/ziti#3757 (fixed in v2.0.0), as ziti-patches/mesh-signing-cert.patch. A member that
# accepts a peer's connection records the peer's TLS client certificate as the one the peer signs
# tokens with, and the leader stores what it sees for every member (GET /controllers): the other
# members then refuse the OIDC sessions that member issued ("subject_token is invalid"). A client
# meets that when the member it logged in on is down and it refreshes on another; the SDK then
# logs in again, which closes its router connections and with them every terminator its shares
# hold, and without quorum none can be made again. Restarts of members bring it about. The patch
# takes the signing certificate that the peer sends in its hello, as upstream does.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ZITI_VERSION=${ZITI_VERSION:-v1.6.0}
ZITI_PATCH=bbolt-copy-connid-signer # keep in step with internal/testenv.ZitiBuild
cache=${PORTICO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/portico}
bin="$cache/ziti-$ZITI_VERSION-$ZITI_PATCH"

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
echo "building ziti $ZITI_VERSION with the $ZITI_PATCH fixes (first time only, about 7 minutes on 2 cores)..." >&2
(cd "$work" && go mod tidy >&2)

# Apply the fixes to a copy of the module and build from it.
src=$(cd "$work" && go list -m -f '{{.Dir}}' github.com/openziti/ziti)
cp -r "$src" "$work/ziti-src"
chmod -R u+w "$work/ziti-src"
db="$work/ziti-src/controller/db"
sed -i 's|entity.InstanceSecret = bucket.Get(\[\]byte(FieldTerminatorInstanceSecret))|entity.InstanceSecret = bytes.Clone(bucket.Get([]byte(FieldTerminatorInstanceSecret)))|;
        s|entity.PeerData\[binary.LittleEndian.Uint32(k)\] = v$|entity.PeerData[binary.LittleEndian.Uint32(k)] = bytes.Clone(v)|;
        0,/^import (/s|^import (|import (\n\t"bytes"|' "$db/terminator_store.go"
sed -i 's|entity.Data = bucket.Get(\[\]byte(FieldEventualEventData))|entity.Data = bytes.Clone(bucket.Get([]byte(FieldEventualEventData)))|;
        0,/^import (/s|^import (|import (\n\t"bytes"|' "$db/eventual_event_store.go"
if [ "$(grep -c 'bytes.Clone' "$db/terminator_store.go" "$db/eventual_event_store.go" | awk -F: '{s+=$2} END {print s}')" != 3 ]; then
  echo "ziti-build: the bbolt-copy patch no longer applies to ziti $ZITI_VERSION" >&2
  exit 1
fi
state="$work/ziti-src/router/state/manager.go"
sed -i 's/sm\.activeChannels\.\(Set\|Get\|Remove\)(ch\.Id()/sm.activeChannels.\1(ch.ConnectionId()/' "$state"
if [ "$(grep -c 'activeChannels\.[A-Za-z]*(ch\.ConnectionId()' "$state")" != 4 ] || grep -q 'activeChannels\.[A-Za-z]*(ch\.Id()' "$state"; then
  echo "ziti-build: the connid patch no longer applies to ziti $ZITI_VERSION" >&2
  exit 1
fi
for p in "$here"/ziti-patches/*.patch; do
  patch --quiet --directory="$work/ziti-src" --strip=1 --forward <"$p" || {
    echo "ziti-build: $(basename "$p") no longer applies to ziti $ZITI_VERSION" >&2
    exit 1
  }
done
(cd "$work" && go mod edit -replace "github.com/openziti/ziti=./ziti-src" && go mod tidy >&2)
start=$(date +%s)
(
  # A module build would report version v0.0.0. Stamp the release, and the patches in the
  # revision: routers report both to the OpenZiti controller, where Portico's controller
  # reads them to tell a router that has the #3072 fix from one that does not.
  v=github.com/openziti/ziti/common/version
  cd "$work" && go build -trimpath -ldflags "-X $v.Version=$ZITI_VERSION -X $v.Revision=portico-$ZITI_PATCH" \
    -o "$bin.tmp" github.com/openziti/ziti/ziti
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
