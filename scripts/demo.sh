#!/usr/bin/env bash
# Brings up a whole local Portico stack on loopback and shares a demo service:
# a local OpenZiti network (built once and cached), the controller on embedded
# SQLite, a Caddy frontend, and an agent sharing a small HTTP service.
#
#   scripts/demo.sh        start (stops a previous run first)
#   scripts/demo.sh stop   stop everything
#
# State and logs live in .demo/ (PORTICO_DEMO_DIR). Ports can be changed with
# ZITI_CTRL_PORT, ZITI_ROUTER_PORT, PORTICO_API_PORT, PORTICO_GRPC_PORT,
# PORTICO_HTTP_PORT, CADDY_ADMIN_PORT and DEMO_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
state=${PORTICO_DEMO_DIR:-$root/.demo}
ziti_ctrl_port=${ZITI_CTRL_PORT:-1280}
ziti_router_port=${ZITI_ROUTER_PORT:-3022}
api_port=${PORTICO_API_PORT:-18080}
grpc_port=${PORTICO_GRPC_PORT:-18081}
http_port=${PORTICO_HTTP_PORT:-8080}
admin_port=${CADDY_ADMIN_PORT:-2019}
demo_port=${DEMO_PORT:-3000}
namespace=share.localhost

say() { printf '==> %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

stop() {
  [ -d "$state" ] || return 0
  local pids=()
  # The agent first, so it can delete its share while the controller is up.
  for name in agent demo caddy controller ziti; do
    local f="$state/$name.pid"
    [ -f "$f" ] || continue
    local pid; pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
      [ "$name" = agent ] && wait_gone "$pid" 10
    fi
    rm -f "$f"
  done
  for pid in "${pids[@]}"; do wait_gone "$pid" 10 || kill -KILL -- "-$pid" 2>/dev/null || true; done
}

wait_gone() { # pid seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  return 1
}

# start NAME CMD... runs CMD in its own session, logging to $state/NAME.log.
start() {
  local name=$1; shift
  setsid "$@" >"$state/$name.log" 2>&1 < /dev/null &
  echo $! >"$state/$name.pid"
}

# wait_for WHAT SECONDS CMD... retries CMD until it succeeds.
wait_for() {
  local what=$1 secs=$2 i; shift 2
  for ((i = 0; i < secs * 4; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  die "timed out after ${secs}s waiting for $what (logs in $state)"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

case "${1:-up}" in
  stop | down)
    stop
    echo "Portico demo stopped."
    exit 0
    ;;
  up) ;;
  *) die "usage: $0 [up|stop]" ;;
esac

stop # leftovers of an earlier run
rm -rf "$state"
mkdir -p "$state"

for p in $ziti_ctrl_port $ziti_router_port $api_port $grpc_port $http_port $admin_port $demo_port; do
  port_free "$p" || die "port $p is in use; stop what holds it or set the port variables (see the top of $0)"
done

command -v go >/dev/null || die "Go 1.26 or newer is required"
command -v curl >/dev/null || { say "installing curl"; apt-get update -qq && apt-get install -y -qq curl >/dev/null; }

ziti=$("$root/scripts/ziti-build.sh")
say "building portico, portico-controller and caddy"
export GONOSUMDB=${GONOSUMDB:-github.com/openziti}
go build -o bin/portico ./cmd/portico
go build -o bin/portico-controller ./cmd/portico-controller
go build -o bin/caddy ./cmd/caddy

say "starting a local OpenZiti network (about 15 s)"
start ziti env ZITI_CTRL_BIND_ADDRESS=127.0.0.1 ZITI_CTRL_EDGE_BIND_ADDRESS=127.0.0.1 ZITI_CONFIG_DIR="$state/ziti-cli" \
  "$ziti" edge quickstart --home "$state/ziti" --ctrl-address 127.0.0.1 --router-address 127.0.0.1 \
  --ctrl-port "$ziti_ctrl_port" --router-port "$ziti_router_port"
wait_for "the OpenZiti network" 120 grep -q "controller and router started." "$state/ziti.log"

say "starting the controller"
admin_token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat >"$state/controller.yaml" <<YAML
api: 127.0.0.1:$api_port
grpc: 127.0.0.1:$grpc_port
store: sqlite:$state/portico.db
admin_token: \${PORTICO_ADMIN_TOKEN}
ziti:
  management_url: https://127.0.0.1:$ziti_ctrl_port
  username: admin
  password: admin
YAML
export PORTICO_ADMIN_TOKEN=$admin_token PORTICO_API=http://127.0.0.1:$api_port
start controller bin/portico-controller --config "$state/controller.yaml"
wait_for "the controller" 30 curl -sf "$PORTICO_API/api/v1/version"

say "creating namespace $namespace, a frontend and an account"
bin/portico admin create namespace "$namespace" >/dev/null
bin/portico admin create frontend --description demo --url-template "http://{host}:$http_port" \
  --identity-out "$state/frontend.json" >"$state/frontend.txt"
frontend=$(sed -n 's/^frontend: //p' "$state/frontend.txt")
secret=$(sed -n 's/^secret: //p' "$state/frontend.txt")
bin/portico admin map "$frontend" "$namespace" >/dev/null
account_token=$(bin/portico admin create account demo@portico.localhost | sed -n 's/^token: //p')

say "starting the Caddy frontend on :$http_port"
cat >"$state/Caddyfile" <<CADDY
{
	admin 127.0.0.1:$admin_port
	storage file_system $state/caddy-data
	portico {
		controllers 127.0.0.1:$grpc_port
		frontend $frontend
		secret {env.PORTICO_FRONTEND_SECRET}
		identity $state/frontend.json
		cache_dir $state/caddy-data/portico
	}
}

http://*.$namespace:$http_port {
	portico
	handle_errors {
		respond "{err.status_code} {err.status_text}: {err.message}"
	}
}
CADDY
PORTICO_FRONTEND_SECRET=$secret start caddy bin/caddy run --config "$state/Caddyfile" --adapter caddyfile
wait_for "Caddy" 30 curl -sf "http://127.0.0.1:$admin_port/portico/status"

say "starting the demo service on 127.0.0.1:$demo_port"
start demo bin/caddy respond --listen "127.0.0.1:$demo_port" --body "Hello from a service shared through Portico!"
wait_for "the demo service" 10 curl -sf "http://127.0.0.1:$demo_port/"

say "enabling an environment and sharing the demo service"
export PORTICO_HOME=$state/agent
bin/portico enable "$account_token" --description demo >/dev/null
start agent bin/portico share public "http://127.0.0.1:$demo_port"
wait_for "the share" 60 grep -q "^Public URL: " "$state/agent.log"
url=$(sed -n 's/^Public URL: //p' "$state/agent.log" | head -1)
wait_for "the route to reach the frontend" 15 curl -sf "$url"

cat <<DONE

Portico is up. The demo service answers through Caddy and OpenZiti:

  curl $url

  $(curl -s "$url")

More:
  PORTICO_HOME=$state/agent bin/portico ls --api $PORTICO_API
  curl http://127.0.0.1:$admin_port/portico/status     # the frontend's sync state
  logs: $state/*.log

Stop everything with:

  scripts/demo.sh stop
DONE
