#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the tests (Debian's `postgresql` package).
#
#   eval "$(bash scripts/postgres.sh start)"   # prints the exports below
#   bash scripts/postgres.sh stop "$GUARDRAIL_TEST_PGDIR"
#
# `start` makes a cluster in a new temporary directory with initdb, as a non-root user (initdb
# refuses root: as root, the system user `guardrail-pg` is created when missing and owns the
# directory), and starts it with pg_ctl on a free loopback port, the socket in that directory,
# and fsync off (nothing in it outlives the run). The server also speaks TLS, with a
# certificate for localhost and 127.0.0.1 from a CA made for the run (openssl). It prints:
#   GUARDRAIL_TEST_POSTGRES  the superuser's URL; each test creates a database of its own
#   GUARDRAIL_TEST_PG_CA     the CA that signed the server's certificate (PEM)
#   GUARDRAIL_TEST_PG_OTHER_CA  another CA, which did not
#   GUARDRAIL_TEST_PGDIR     the directory to hand to `stop`, which stops the server and
#                            deletes the directory
set -euo pipefail

bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
    echo "postgres.sh: no initdb under /usr/lib/postgresql/*/bin (apt-get install postgresql)" >&2
    exit 2
  fi
  echo "$d"
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u guardrail-pg -- "$@"
  else
    "$@"
  fi
}

case "${1:-}" in
start)
  bin=$(bindir)
  dir=$(mktemp -d /tmp/guardrail-pg.XXXXXX)
  if [ "$(id -u)" = 0 ]; then
    id guardrail-pg >/dev/null 2>&1 ||
      useradd --system --no-create-home --shell /usr/sbin/nologin guardrail-pg
    chown guardrail-pg "$dir"
  fi
  chmod 700 "$dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  (
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=guardrail test CA"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.crt -days 2 -subj "/CN=another CA"
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >san.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext
  ) >"$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log" >&2; exit 1; }
  chmod 600 "$dir/server.key"
  if [ "$(id -u)" = 0 ]; then chown guardrail-pg "$dir/server.key" "$dir/server.crt"; fi
  chmod 644 "$dir/ca.crt" "$dir/other-ca.crt"
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key" \
    start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
  echo "export GUARDRAIL_TEST_POSTGRES=postgres://postgres@127.0.0.1:$port/postgres"
  echo "export GUARDRAIL_TEST_PG_CA=$dir/ca.crt"
  echo "export GUARDRAIL_TEST_PG_OTHER_CA=$dir/other-ca.crt"
  echo "export GUARDRAIL_TEST_PGDIR=$dir"
  ;;
stop)
  dir=${2:?usage: postgres.sh stop DIR}
  bin=$(bindir)
  if [ -d "$dir/data" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  ;;
*)
  echo "usage: postgres.sh start | stop DIR" >&2
  exit 2
  ;;
esac
