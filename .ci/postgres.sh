#!/usr/bin/env bash
# Run a command against a throw-away PostgreSQL server:
#   .ci/postgres.sh CMD [ARGS...]
# Installs PostgreSQL with apt when no initdb is found, starts a cluster in a temporary
# folder as a non-root user (PostgreSQL refuses to run as root), listening on
# 127.0.0.1 only, on a free port, creates a database, exports
#   DUALREC_TEST_PG_URL=postgresql+psycopg://dualrec@127.0.0.1:PORT/dualrec_test
# runs CMD, and stops and removes the cluster on exit, whatever happens.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

find_bin() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$found" ] && [ -x "$found/initdb" ]; then echo "$found"; return; fi
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
}

PGBIN=$(find_bin || true)
if [ -z "${PGBIN:-}" ]; then
  echo "postgres.sh: installing PostgreSQL with apt" >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
  PGBIN=$(find_bin || true)
  if [ -z "${PGBIN:-}" ]; then
    echo "postgres.sh: initdb not found after installing postgresql" >&2
    exit 1
  fi
fi

# PostgreSQL will not run as root: use the packaged 'postgres' user, or make one.
RUN=()
if [ "$(id -u)" = 0 ]; then
  PGUSER_OS=postgres
  if ! id "$PGUSER_OS" >/dev/null 2>&1; then
    PGUSER_OS=dualrec-pg
    id "$PGUSER_OS" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PGUSER_OS"
  fi
  RUN=(runuser -u "$PGUSER_OS" --)
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dualrec-pg.XXXXXX")
chmod 700 "$WORK"
[ "${#RUN[@]}" -eq 0 ] || chown "$PGUSER_OS" "$WORK"
PGDATA="$WORK/data"

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}
PORT=$(free_port)

cleanup() {
  local rc=$?
  if [ -f "$PGDATA/postmaster.pid" ]; then
    "${RUN[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT INT TERM

# A UTF-8 character-type locale so that pg_trgm makes trigrams of Chinese characters.
LOCALE=C.UTF-8
locale -a 2>/dev/null | grep -qi '^c\.utf-\?8$' || LOCALE=C
"${RUN[@]}" "$PGBIN/initdb" -D "$PGDATA" -U dualrec --auth=trust --encoding=UTF8 \
  --locale="$LOCALE" >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; exit 1; }
"${RUN[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/server.log" -w -t 60 start \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $WORK -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
"${RUN[@]}" "$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U dualrec dualrec_test

export DUALREC_TEST_PG_URL="postgresql+psycopg://dualrec@127.0.0.1:$PORT/dualrec_test"
echo "postgres.sh: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT" >&2
"$@"
