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
# PORTICO_HTTP_PORT and DEMO_PORT. Caddy's admin endpoint is the unix socket
# .demo/caddy-admin.sock, which only this user may open.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
state=${PORTICO_DEMO_DIR:-$root/.demo}
ziti_ctrl_port=${ZITI_CTRL_PORT:-1280}
ziti_router_port=${ZITI_ROUTER_PORT:-3022}
api_port=${PORTICO_API_PORT:-18080}
grpc_port=${PORTICO_GRPC_PORT:-18081}
http_port=${PORTICO_HTTP_PORT:-8080}
admin_sock=$state/caddy-admin.sock
demo_port=${DEMO_PORT:-3000}
namespace=share.localhost

prog=demo
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

stop() { stop_procs agent demo caddy controller ziti; }

begin "${1:-up}" demo

require_free_ports "$ziti_ctrl_port" "$ziti_router_port" "$api_port" "$grpc_port" "$http_port" "$demo_port"
build_all
start_ziti "$ziti_ctrl_port" "$ziti_router_port"

say "starting the controller"
admin_token=$(random_token)
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
create_frontend demo "http://{host}:$http_port" "$namespace"
account_token=$(bin/portico admin create account demo@portico.localhost | sed -n 's/^token: //p')

say "starting the Caddy frontend on :$http_port"
bin/frontend-caddyfile -o "$state/Caddyfile" --admin "unix/$admin_sock|0600" \
  --storage "file_system $state/caddy-data" --cache-dir "$state/caddy-data/portico" \
  --controllers "127.0.0.1:$grpc_port" --frontend "$frontend" --identity "$state/frontend-demo.json" \
  --site "http://*.$namespace:$http_port"
PORTICO_FRONTEND_SECRET=$secret start caddy bin/caddy run --config "$state/Caddyfile" --adapter caddyfile
wait_for "Caddy" 30 curl -sf --unix-socket "$admin_sock" http://localhost/portico/status

share_demo "$demo_port" "$account_token"
wait_for "the route to reach the frontend" 15 curl -sf "$url"

cat <<DONE

Portico is up. The demo service answers through Caddy and OpenZiti:

  curl $url

  $(curl -s "$url")

More:
  PORTICO_HOME=$state/agent bin/portico ls --api $PORTICO_API
  curl --unix-socket $admin_sock http://localhost/portico/status   # the frontend's sync state
  logs: $state/*.log

Stop everything with:

  scripts/demo.sh stop
DONE
