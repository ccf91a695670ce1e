#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL cluster for the tests (installing the server package
# when it is missing). `start` prints the admin URL on stdout; `stop DIR` removes the cluster.
set -euo pipefail

case "${1:-}" in
start)
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >&2
  fi
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  port=${PGPORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
  data=$(mktemp -d /tmp/sesame-pg.XXXXXX)
  chown postgres:postgres "$data"
  runuser -u postgres -- "$pgbin/initdb" -D "$data" -A trust -U postgres -E UTF8 --no-sync >/dev/null
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
    -o "-k $data -p $port -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
    start >/dev/null
  echo "$data" > /tmp/sesame-pg.current
  echo "postgres://postgres@127.0.0.1:$port/postgres"
  ;;
stop)
  data=${2:-$(cat /tmp/sesame-pg.current 2>/dev/null || true)}
  [ -n "$data" ] && [ -d "$data" ] || exit 0
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$data" /tmp/sesame-pg.current
  ;;
*)
  echo "usage: $0 start | stop [DIR]" >&2
  exit 2
  ;;
esac
