#!/usr/bin/env bash
# One throwaway PostgreSQL cluster for a whole test run, shared by every test project (each test still gets a database
# of its own, copied from a migrated template):
#   eval "$(bash eng/test-postgres.sh start /tmp/orch-pg)"   # prints: export ORCHESTRATOR_TEST_POSTGRES=...
#   dotnet test
#   bash eng/test-postgres.sh stop /tmp/orch-pg              # stops the server it started and removes its files
# Without it each test process starts a cluster of its own (tests/Orchestrator.Testing/PostgresServer.cs), which costs an
# initdb per test project. Settings as the fixture's: fsync and synchronous commit off (nothing here must survive a
# crash), 400 connections (test hosts of several projects at once). Runs the server as `postgres` when run as root.
set -euo pipefail

command=${1:?usage: test-postgres.sh start|stop DIR}
dir=${2:?usage: test-postgres.sh start|stop DIR}

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[ -x "$bin/initdb" ] || { echo "test-postgres: no PostgreSQL server binaries under /usr/lib/postgresql" >&2; exit 1; }
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "$command" in
  start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    mkdir -p "$dir/sock"
    [ "$(id -u)" = 0 ] && chown -R postgres "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_postgres "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
      || { echo "test-postgres: initdb failed:" >&2; cat "$dir/initdb.log" >&2; exit 1; }
    as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o "-p $port -k $dir/sock \
      -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      >/dev/null || { echo "test-postgres: the server did not start:" >&2; tail -20 "$dir/server.log" >&2; exit 1; }
    echo "test-postgres: server on 127.0.0.1:$port (data $dir/data)" >&2
    echo "export ORCHESTRATOR_TEST_POSTGRES='Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres;Timeout=30;Command Timeout=60'"
    ;;
  stop)
    [ -d "$dir/data" ] && as_postgres "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *) echo "usage: test-postgres.sh start|stop DIR" >&2; exit 64 ;;
esac
