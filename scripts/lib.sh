# Shell functions shared by scripts/demo.sh and scripts/cluster.sh. Source it
# after setting $state (the run's directory) and $prog (the script's name).

say() { printf '==> %s\n' "$*"; }
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 1; }

# begin ARG NAME handles a script's argument: "stop" stops the run (the
# script's stop function) and exits; "up" (or none) stops what an earlier
# run left and starts from a fresh $state.
begin() {
  case "${1:-up}" in
    stop | down)
      stop
      echo "Portico $2 stopped."
      exit 0
      ;;
    up) ;;
    *) die "usage: $0 [up|stop]" ;;
  esac
  stop
  rm -rf "$state"
  mkdir -p "$state"
}

wait_gone() { # pid seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  return 1
}

# stop_procs NAME... stops the processes started as NAME, in that order; each
# agent is waited for, so it can delete its share while the controllers are up.
stop_procs() {
  [ -d "$state" ] || return 0
  local pids=() name f pid
  for name in "$@"; do
    f="$state/$name.pid"
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
      case $name in agent*) wait_gone "$pid" 25 || true ;; esac
    fi
    rm -f "$f"
  done
  for pid in "${pids[@]}"; do wait_gone "$pid" 10 || kill -KILL -- "-$pid" 2>/dev/null || true; done
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

require_free_ports() {
  local p
  for p in "$@"; do
    port_free "$p" || die "port $p is in use; stop what holds it or set the port variables (see the top of $0)"
  done
}

# build_all builds the ziti binary (cached), Portico's three binaries,
# tune-ziti-router, which start_ziti runs, and frontend-caddyfile, which
# writes each frontend's Caddyfile from the template the tests use.
build_all() {
  command -v go >/dev/null || die "Go 1.26 or newer is required"
  command -v curl >/dev/null || { say "installing curl"; apt-get update -qq && apt-get install -y -qq curl >/dev/null; }
  ziti=$("$root/scripts/ziti-build.sh")
  say "building portico, portico-controller and caddy"
  export GONOSUMDB=${GONOSUMDB:-github.com/openziti}
  go build -o bin/ ./cmd/portico ./cmd/portico-controller ./cmd/caddy ./deploy/tune-ziti-router ./deploy/frontend-caddyfile
}

# start_ziti CTRL_PORT ROUTER_PORT starts a local OpenZiti network (admin/admin)
# whose router has the xgress options of deploy/ziti-router-xgress.yml.
start_ziti() {
  say "starting a local OpenZiti network (about 20 s)"
  local qs=(env ZITI_CTRL_BIND_ADDRESS=127.0.0.1 ZITI_CTRL_EDGE_BIND_ADDRESS=127.0.0.1
    ZITI_CONFIG_DIR="$state/ziti-cli" ZITI_ROUTER_NAME=router
    "$ziti" edge quickstart --home "$state/ziti" --ctrl-address 127.0.0.1 --router-address 127.0.0.1
    --ctrl-port "$1" --router-port "$2")
  start ziti "${qs[@]}"
  wait_for "the OpenZiti network" 120 grep -q "controller and router started." "$state/ziti.log"
  # Quickstart writes the router's config and runs it at once, so the options
  # go in between two runs; the second reuses the network in $state/ziti.
  stop_procs ziti
  bin/tune-ziti-router "$state/ziti/router.yaml" || die "could not tune the router config"
  start ziti "${qs[@]}"
  wait_for "the OpenZiti network" 120 grep -q "controller and router started." "$state/ziti.log"
}

# start_ziti_cluster CTRL_PORT ROUTER_PORT N starts a local OpenZiti cluster
# of N voters (admin/admin): member i, ctrl1 to ctrlN, runs a controller and
# its edge router in one process on ports CTRL_PORT+i-1 and ROUTER_PORT+i-1,
# all on one PKI in $state/ziti; each router has the xgress options.
start_ziti_cluster() {
  local ctrl=$1 router=$2 n=$3 i
  say "starting a local OpenZiti cluster of $n voters (about a minute)"
  ziti_member 1 "$ctrl" "$router" ha
  for ((i = 2; i <= n; i++)); do
    ziti_member "$i" "$ctrl" "$router" join --cluster-member "tls:127.0.0.1:$ctrl"
  done
  # One at a time, so the cluster keeps its quorum; a member that joined
  # starts again with "ha" and its ports.
  for ((i = 1; i <= n; i++)); do
    stop_procs "ziti-$i"
    bin/tune-ziti-router "$state/ziti/ctrl$i/router-ctrl$i.yaml" || die "could not tune router-ctrl$i"
    ziti_member "$i" "$ctrl" "$router" ha
  done
  wait_for "the OpenZiti cluster to have a leader" 60 ziti_has_leader "$ctrl"
}

# ziti_member I CTRL_PORT ROUTER_PORT SUBCOMMAND... runs cluster member I.
ziti_member() {
  local i=$1 ctrl=$2 router=$3
  shift 3
  start "ziti-$i" env ZITI_CTRL_BIND_ADDRESS=127.0.0.1 ZITI_CTRL_EDGE_BIND_ADDRESS=127.0.0.1 ZITI_CONFIG_DIR="$state/ziti-cli" \
    "$ziti" edge quickstart "$@" --instance-id "ctrl$i" --home "$state/ziti" --trust-domain portico \
    --ctrl-address 127.0.0.1 --router-address 127.0.0.1 --ctrl-port $((ctrl + i - 1)) --router-port $((router + i - 1))
  wait_for "OpenZiti member ctrl$i" 120 grep -q "controller and router started." "$state/ziti-$i.log"
}

# ziti_has_leader CTRL_PORT asks the member on CTRL_PORT whether the cluster has a leader.
ziti_has_leader() {
  local token
  token=$(curl -sfk -X POST -H 'Content-Type: application/json' -d '{"username":"admin","password":"admin"}' \
    "https://127.0.0.1:$1/edge/management/v1/authenticate?method=password" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
  [ -n "$token" ] && curl -sfk -H "zt-session: $token" "https://127.0.0.1:$1/fabric/v1/cluster/list-members" | grep -q '"leader":true'
}

random_token() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# create_frontend DESCRIPTION URL_TEMPLATE NAMESPACE sets $frontend and
# $secret and writes the frontend's identity to $state/frontend-$frontend.json.
# The file that keeps the secret is readable by this user alone.
create_frontend() {
  local out="$state/frontend-$1.txt"
  (umask 077 && bin/portico admin create frontend --description "$1" --url-template "$2" --identity-out "$state/frontend-$1.json" >"$out")
  frontend=$(sed -n 's/^frontend: //p' "$out")
  secret=$(sed -n 's/^secret: //p' "$out")
  bin/portico admin map "$frontend" "$3" >/dev/null
}

# share_demo DEMO_PORT ACCOUNT_TOKEN starts a demo service and shares it; sets $url.
share_demo() {
  say "starting the demo service on 127.0.0.1:$1"
  start demo bin/caddy respond --listen "127.0.0.1:$1" --body "Hello from a service shared through Portico!"
  wait_for "the demo service" 10 curl -sf "http://127.0.0.1:$1/"
  say "enabling an environment and sharing the demo service"
  export PORTICO_HOME=$state/agent
  PORTICO_ACCOUNT_TOKEN=$2 bin/portico enable --description demo >/dev/null # not in the process list
  start agent bin/portico share public "http://127.0.0.1:$1"
  wait_for "the share" 60 grep -q "^Public URL: " "$state/agent.log"
  url=$(sed -n 's/^Public URL: //p' "$state/agent.log" | head -1)
}
