#!/usr/bin/env bash
# Brings up a Portico cluster on one machine and shares a demo service
# through it: a local OpenZiti cluster of 3 voters, 2 controllers on one PostgreSQL
# database publishing through RabbitMQ, 3 Caddy frontend instances (two that
# share a frontend token, secret and identity file, one with a frontend record
# and identity of its own) and a Caddy load balancer in front of them.
#
#   scripts/cluster.sh        start (stops a previous run first)
#   scripts/cluster.sh stop   stop everything
#
# State and logs live in .cluster/ (PORTICO_CLUSTER_DIR). It uses the local
# PostgreSQL and RabbitMQ (scripts/services.sh starts or installs them) with
# the database CLUSTER_DB and the RabbitMQ vhost CLUSTER_VHOST. Ports: Ziti
# 1380-1382 and 3122-3124, controllers 18180-18183, frontends 8181-8183, load balancer
# 8180, demo service 3100. Each frontend's Caddy admin endpoint is the unix
# socket .cluster/frontend-<name>-admin.sock, which only this user may open.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
state=${PORTICO_CLUSTER_DIR:-$root/.cluster}
db=${CLUSTER_DB:-portico_cluster}
vhost=${CLUSTER_VHOST:-portico-cluster}
namespace=cluster.localhost
lb_port=8180

prog=cluster
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

stop() { stop_procs agent demo lb frontend-1a frontend-1b frontend-2 controller-a controller-b ziti-1 ziti-2 ziti-3; }

begin "${1:-up}" cluster
require_free_ports 1380 1381 1382 3122 3123 3124 18180 18181 18182 18183 8180 8181 8182 8183 3100

scripts/services.sh
build_all
start_ziti_cluster 1380 3122 3

say "preparing database $db and RabbitMQ vhost $vhost"
psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
rabbitmqctl -q delete_vhost "$vhost" >/dev/null 2>&1 || true
rabbitmqctl -q add_vhost "$vhost" >/dev/null
rabbitmqctl -q set_permissions -p "$vhost" guest ".*" ".*" ".*" >/dev/null
amqp_url="amqp://guest:guest@127.0.0.1:5672/$vhost"
# The frontends' broker user may only consume: its own server-named queue,
# bound to the exchange that only the controllers declare and publish to.
frontend_user=$vhost-frontend frontend_password=$(random_token)
rabbitmqctl -q delete_user "$frontend_user" >/dev/null 2>&1 || true
rabbitmqctl -q add_user "$frontend_user" "$frontend_password" >/dev/null
rabbitmqctl -q set_permissions -p "$vhost" "$frontend_user" '^amq\.gen-.*' '^amq\.gen-.*' '^(amq\.gen-.*|portico\.mappings)$' >/dev/null
frontend_amqp_url="amqp://$frontend_user:$frontend_password@127.0.0.1:5672/$vhost"

say "starting 2 controllers"
export PORTICO_ADMIN_TOKEN=$(random_token)
for c in a:18180:18181 b:18182:18183; do
  IFS=: read -r id api grpc <<<"$c"
  cat >"$state/controller-$id.yaml" <<YAML
id: controller-$id
api: 127.0.0.1:$api
grpc: 127.0.0.1:$grpc
store: postgres://postgres@127.0.0.1:5432/$db?sslmode=disable
admin_token: \${PORTICO_ADMIN_TOKEN}
amqp:
  url: $amqp_url
ziti:
  # One member would do (the others are learnt from it); all three let a
  # controller start while any one is down.
  management_urls: [https://127.0.0.1:1380, https://127.0.0.1:1381, https://127.0.0.1:1382]
  username: admin
  password: admin
YAML
  start "controller-$id" bin/portico-controller --config "$state/controller-$id.yaml"
done
export PORTICO_API=http://127.0.0.1:18180,http://127.0.0.1:18182
for api in 18180 18182; do wait_for "controller on $api" 30 curl -sf "http://127.0.0.1:$api/api/v1/version"; done

say "creating namespace $namespace, 2 frontends and an account"
bin/portico admin create namespace "$namespace" >/dev/null
# Both frontends answer at the load balancer's address.
create_frontend one "http://{host}:$lb_port" "$namespace"
frontend_one=$frontend secret_one=$secret
create_frontend two "http://{host}:$lb_port" "$namespace"
frontend_two=$frontend secret_two=$secret
account_token=$(bin/portico admin create account demo@cluster.localhost | sed -n 's/^token: //p')

# frontend-1a and frontend-1b run frontend "one" with the same identity file,
# frontend-2 runs frontend "two" with its own.
say "starting 3 frontend instances and the load balancer on :$lb_port"
for f in 1a:one:8181 1b:one:8182 2:two:8183; do
  IFS=: read -r name which port <<<"$f"
  token_var=frontend_$which secret_var=secret_$which
  # The load balancer is on loopback: believe its X-Forwarded-For, from the
  # right, so policies' IP lists see the client (README: IP lists).
  bin/frontend-caddyfile -o "$state/frontend-$name.caddyfile" \
    --admin "unix/$state/frontend-$name-admin.sock|0600" --trusted-proxy 127.0.0.1/32 \
    --storage "file_system $state/frontend-$name/data" --cache-dir "$state/frontend-$name/cache" \
    --controllers 127.0.0.1:18181,127.0.0.1:18183 --frontend "${!token_var}" \
    --identity "$state/frontend-$which.json" --option "amqp {env.PORTICO_AMQP}" \
    --site "http://:$port" --bind 127.0.0.1
  PORTICO_FRONTEND_SECRET=${!secret_var} PORTICO_AMQP=$frontend_amqp_url \
    start "frontend-$name" bin/caddy run --config "$state/frontend-$name.caddyfile" --adapter caddyfile
done
cat >"$state/lb.caddyfile" <<CADDY
{
	admin off
}

# Any L4/L7 balancer works in front of the frontends if it keeps Host and
# allows WebSocket upgrades; Caddy's reverse_proxy does both.
http://:$lb_port {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:8181 127.0.0.1:8182 127.0.0.1:8183 {
		lb_policy round_robin
		lb_try_duration 2s
		fail_duration 10s
	}
}
CADDY
start lb bin/caddy run --config "$state/lb.caddyfile" --adapter caddyfile
for name in 1a 1b 2; do
  wait_for "frontend-$name" 30 curl -sf --unix-socket "$state/frontend-$name-admin.sock" http://localhost/portico/status
done

share_demo 3100 "$account_token"
wait_for "the route to reach every frontend" 15 bash -c \
  "for p in 8181 8182 8183; do curl -sf -H 'Host: ${url#http://}' http://127.0.0.1:\$p/ >/dev/null || exit 1; done"

cat <<DONE

The Portico cluster is up. The demo service answers through the load balancer:

  curl $url

  $(curl -s "$url")

Look around:
  export PORTICO_API=$PORTICO_API PORTICO_ADMIN_TOKEN=$PORTICO_ADMIN_TOKEN
  bin/portico admin controllers   # the live controllers and who runs each worker
  bin/portico admin frontends     # the 3 frontend instances and their lag
  kill \$(cat $state/controller-b.pid)   # the other controller takes over its workers within 10 s
  logs: $state/*.log

Stop everything with:

  scripts/cluster.sh stop
DONE
