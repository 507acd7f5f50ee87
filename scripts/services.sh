#!/usr/bin/env bash
# Makes sure the services the tests use answer on loopback: PostgreSQL on
# 5432 (trust auth) and RabbitMQ on 5672 (guest/guest). A service that is
# installed but stopped is started; one that is missing is installed from
# Debian's packages first.
set -euo pipefail

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port seconds name
  local i
  for ((i = 0; i < $2 * 4; i++)); do answers "$1" && return 0; sleep 0.25; done
  echo "services: $3 did not come up on port $1" >&2
  return 1
}

apt_install() {
  echo "services: installing $*" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! answers 5432; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  version=$(ls /etc/postgresql | sort -V | tail -1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  # The tests connect over loopback without a password, as on the project's machines.
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  echo "services: starting PostgreSQL $version" >&2
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_port 5432 30 PostgreSQL
fi

if ! answers 5672; then
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  echo "services: starting RabbitMQ" >&2
  rabbitmq-server -detached
  wait_port 5672 90 RabbitMQ
  rabbitmqctl await_startup >/dev/null
fi
