#!/usr/bin/env bash
# A project-owned PostgreSQL cluster for development and tests, listening on
# 127.0.0.1 only, superuser `eenloket`, trust authentication. Uses Debian's
# PostgreSQL binaries (installed here if missing); never touches Debian's
# own `main` cluster. See deploy/local/README.md.
#
#   postgres.sh install                       apt-get install postgresql if no initdb
#   postgres.sh start    [--dir DIR] [--port P] [--durable]
#   postgres.sh createdb [--dir DIR] NAME...  create the databases that are missing
#   postgres.sh stop     [--dir DIR]
#   postgres.sh status   [--dir DIR]
#
# DIR defaults to $EENLOKET_LOCAL/postgres; EENLOKET_LOCAL defaults to
# <repo>/.local (git-ignored). `start` and `status` print
# PG_DSN=postgresql://eenloket@127.0.0.1:P as the last line on stdout (and
# write it to DIR/env); everything else goes to stderr. Without --durable the
# cluster runs with fsync, synchronous_commit and full_page_writes off (tests).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
EENLOKET_LOCAL=${EENLOKET_LOCAL:-$REPO_ROOT/.local}
PG_USER=eenloket
PG_OS_USER=postgres

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

usage() {
    sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit "${1:-2}"
}

# --- binaries --------------------------------------------------------------

# Prints the bin folder of the newest installed PostgreSQL (sort -V: 9 < 10).
find_pg_bin() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/initdb" ]; then printf '%s\n' "$d"; fi
    done | sort -V | tail -n1
}

cmd_install() {
    if [ -n "$(find_pg_bin)" ]; then
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || die "PostgreSQL is not installed; as root: apt-get install postgresql"
    # Debian's package would create and start a `main` cluster on port 5432;
    # this drop-in (read by /etc/postgresql-common/createcluster.conf) stops
    # that. The project runs its own cluster instead.
    mkdir -p /etc/postgresql-common/createcluster.d
    printf '# written by eenloket deploy/local/postgres.sh\ncreate_main_cluster = false\n' \
        >/etc/postgresql-common/createcluster.d/eenloket-no-main-cluster.conf
    log "installing PostgreSQL from Debian (apt-get update; apt-get install -y postgresql)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    [ -n "$(find_pg_bin)" ] || die "no initdb under /usr/lib/postgresql/*/bin after install"
}

# --- folders ---------------------------------------------------------------
#
# DIR/env                 PG_DSN=... (while running)
# DIR/base                only if BASE is not DIR (see below)
# BASE/data               the cluster (owned by postgres, 0700)
# BASE/run                unix socket + lock file (owned by postgres)
# BASE/log/postgres.log   server log
#
# BASE is DIR when the postgres OS user can reach it; otherwise (e.g. a repo
# under /root) a folder under /var/tmp keyed by a hash of DIR.

IS_ROOT=
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

# Runs a command as the postgres OS user (PostgreSQL refuses to run as root),
# from / so that an unreadable working directory does not matter. Never
# hands fd 8 (our lock) to the server, which outlives this script.
as_pg() {
    if [ -n "$IS_ROOT" ]; then
        (cd / && runuser -u "$PG_OS_USER" -- "$@") 8>&-
    else
        (cd / && "$@") 8>&-
    fi
}

DIR=
PORT=
DURABLE=
BASE=
NAMES=()
parse_args() {
    while [ $# -gt 0 ]; do
        case $1 in
            --dir) [ $# -ge 2 ] || usage; DIR=$2; shift 2 ;;
            --dir=*) DIR=${1#--dir=}; shift ;;
            --port) [ $# -ge 2 ] || usage; PORT=$2; shift 2 ;;
            --port=*) PORT=${1#--port=}; shift ;;
            --durable) DURABLE=1; shift ;;
            -h|--help) usage 0 ;;
            -*) log "unknown option: $1"; usage ;;
            *) NAMES+=("$1"); shift ;;
        esac
    done
    [ -n "$DIR" ] || DIR=$EENLOKET_LOCAL/postgres
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    if [ -n "$PORT" ] && ! [[ $PORT =~ ^[0-9]+$ ]]; then
        die "--port must be a number, not '$PORT'"
    fi
    choose_base
}

choose_base() {
    if [ -f "$DIR/base" ]; then
        BASE=$(cat "$DIR/base")
        return
    fi
    BASE=$DIR
    if [ -n "$IS_ROOT" ] && ! id "$PG_OS_USER" >/dev/null 2>&1; then
        return # not installed yet; decided again after install
    fi
    # The socket path (BASE/run/.s.PGSQL.NNNNN) must stay under ~107 bytes.
    if [ -n "$IS_ROOT" ] &&
        { ! runuser -u "$PG_OS_USER" -- test -x "$DIR" 2>/dev/null || [ ${#DIR} -gt 80 ]; }; then
        BASE=/var/tmp/eenloket-pg-$(printf '%s' "$DIR" | sha256sum | cut -c1-12)
        printf '%s\n' "$BASE" >"$DIR/base"
        log "$DIR is not reachable by the $PG_OS_USER user: cluster lives in $BASE"
    fi
}

pg_running() {
    [ -f "$BASE/data/PG_VERSION" ] || return 1
    as_pg "$PGBIN/pg_ctl" -D "$BASE/data" status >/dev/null 2>&1
}

conf_port() {
    [ -f "$BASE/data/eenloket.conf" ] || return 0
    sed -n "s/^port = \([0-9]*\).*/\1/p" "$BASE/data/eenloket.conf" | tail -n1
}

env_line() { printf 'PG_DSN=postgresql://%s@127.0.0.1:%s\n' "$PG_USER" "$(conf_port)"; }

write_env() {
    env_line >"$DIR/env"
    env_line
}

free_port() {
    python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
PY
}

port_free() {
    python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}

write_conf() {
    local port=$1 durability
    if [ -n "$DURABLE" ]; then
        # --durable: PostgreSQL's own defaults, as a municipality runs it (the benchmarks).
        durability="# --durable: fsync, synchronous_commit and full_page_writes as PostgreSQL ships them."
    else
        durability="# Durability is traded for speed: a crash of the machine may lose or corrupt
# this cluster's data. Acceptable only because it holds test data.
fsync = off
synchronous_commit = off
full_page_writes = off"
    fi
    as_pg tee "$BASE/data/eenloket.conf" >/dev/null <<EOF
# Written by deploy/local/postgres.sh on every start; included from
# postgresql.conf. A throw-away cluster for development and tests.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$BASE/run'
max_connections = 200
$durability
EOF
}

# --- subcommands -----------------------------------------------------------

lock_dir() {
    # One start at a time per DIR (parallel test workers may share DIR).
    exec 8>"$DIR/.start.lock"
    flock -w 300 8 || die "another start holds $DIR/.start.lock"
}

cmd_start() {
    cmd_install
    PGBIN=$(find_pg_bin)
    choose_base
    lock_dir
    if pg_running; then
        log "already running ($BASE/data)"
        write_env
        return 0
    fi

    if [ "$BASE" != "$DIR" ]; then
        mkdir -p "$BASE"
        chmod 755 "$BASE"
    fi
    local d
    for d in data run log; do
        mkdir -p "$BASE/$d"
        [ -z "$IS_ROOT" ] || chown "$PG_OS_USER:" "$BASE/$d"
    done
    chmod 700 "$BASE/data"

    if [ ! -f "$BASE/data/PG_VERSION" ]; then
        log "initdb $BASE/data (superuser $PG_USER, trust auth)"
        as_pg "$PGBIN/initdb" -D "$BASE/data" --username="$PG_USER" --auth=trust \
            --encoding=UTF8 --locale=C.UTF-8 --no-sync >&2 || die "initdb failed"
        # Sockets (in the private BASE/run) and 127.0.0.1 only.
        as_pg tee "$BASE/data/pg_hba.conf" >/dev/null <<'EOF'
# Written by deploy/local/postgres.sh: trust, loopback only.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
EOF
        printf "\ninclude_if_exists = 'eenloket.conf'\n" |
            as_pg tee -a "$BASE/data/postgresql.conf" >/dev/null
    fi

    local port=$PORT old
    old=$(conf_port)
    if [ -z "$port" ] && [ -n "$old" ] && port_free "$old"; then port=$old; fi
    [ -n "$port" ] || port=$(free_port)
    write_conf "$port"

    log "starting PostgreSQL on 127.0.0.1:$port, log $BASE/log/postgres.log"
    if ! as_pg "$PGBIN/pg_ctl" -D "$BASE/data" -l "$BASE/log/postgres.log" \
        -w -t 60 start >&2; then
        log "start failed; last lines of $BASE/log/postgres.log:"
        tail -n 30 "$BASE/log/postgres.log" >&2 || true
        exit 1
    fi
    write_env
}

cmd_stop() {
    PGBIN=$(find_pg_bin)
    [ -n "$PGBIN" ] || { log "PostgreSQL is not installed"; return 0; }
    rm -f "$DIR/env"
    if ! pg_running; then
        log "not running ($BASE/data)"
        return 0
    fi
    log "stopping ($BASE/data)"
    as_pg "$PGBIN/pg_ctl" -D "$BASE/data" stop -m fast -w -t 60 >&2
}

cmd_status() {
    PGBIN=$(find_pg_bin)
    if [ -n "$PGBIN" ] && pg_running; then
        write_env
        return 0
    fi
    log "not running ($BASE/data)"
    return 1
}

cmd_createdb() {
    [ ${#NAMES[@]} -gt 0 ] || die "createdb: name at least one database"
    PGBIN=$(find_pg_bin)
    if [ -z "$PGBIN" ] || ! pg_running; then
        die "not running ($BASE/data): start it first"
    fi
    local port name psql err
    port=$(conf_port)
    psql=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$PG_USER" -d postgres)
    exists() {
        [ "$("${psql[@]}" -tA -v name="$1" <<<"SELECT 1 FROM pg_database WHERE datname = :'name'")" = 1 ]
    }
    for name in "${NAMES[@]}"; do
        if exists "$name"; then
            log "database $name exists"
            continue
        fi
        if err=$("${psql[@]}" -v name="$name" <<<'CREATE DATABASE :"name"' 2>&1); then
            log "database $name created"
        elif exists "$name"; then
            # A parallel createdb won the race.
            log "database $name exists"
        else
            printf '%s\n' "$err" >&2
            die "could not create database $name"
        fi
    done
}

[ $# -ge 1 ] || usage
sub=$1
shift
case $sub in
    install) [ $# -eq 0 ] || usage; cmd_install ;;
    start) parse_args "$@"; [ ${#NAMES[@]} -eq 0 ] || usage; cmd_start ;;
    createdb) parse_args "$@"; cmd_createdb ;;
    stop) parse_args "$@"; [ ${#NAMES[@]} -eq 0 ] || usage; cmd_stop ;;
    status) parse_args "$@"; [ ${#NAMES[@]} -eq 0 ] || usage; cmd_status ;;
    -h|--help|help) usage 0 ;;
    *) log "unknown subcommand: $sub"; usage ;;
esac
