#!/usr/bin/env bash
# Mailpit: a real SMTP server with an inbox you can look at (web UI and REST API), for the
# outbound e-mail adapter's tests, the demo and the bench. Built from the Go module proxy like
# promtool (promtool.sh), cached in .local/bin; loopback only, no Docker.
#
#   mailpit.sh path                    build once into $EENLOKET_LOCAL/bin if missing, print the path
#   mailpit.sh start  [--dir DIR]      start on two free ports (SMTP, HTTP), messages in DIR
#   mailpit.sh stop   [--dir DIR]
#   mailpit.sh status [--dir DIR]
#
# DIR defaults to $EENLOKET_LOCAL/mailpit/run. `start` and `status` print
# MAILPIT_SMTP=127.0.0.1:P and MAILPIT_HTTP=http://127.0.0.1:Q as the last two lines on
# stdout (and write them to DIR/env); everything else goes to stderr.
set -euo pipefail
version=v1.33.1
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
local_dir="${EENLOKET_LOCAL:-$root/.local}"
bin="$local_dir/bin"
START_TIMEOUT=${MAILPIT_START_TIMEOUT:-30}
STOP_TIMEOUT=10

log() { printf 'mailpit.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
usage() { echo "usage: mailpit.sh path | start|stop|status [--dir DIR]" >&2; exit "${1:-2}"; }

cmd_path() {
    if [ ! -x "$bin/mailpit" ] || ! grep -qx "$version" "$bin/mailpit.version" 2>/dev/null; then
        command -v go >/dev/null || die "Go is needed to build Mailpit"
        mkdir -p "$bin"
        # Parallel test workers may all find it missing: one builds, the others wait.
        exec 9>"$bin/.mailpit.lock"
        flock 9
        if [ ! -x "$bin/mailpit" ] || ! grep -qx "$version" "$bin/mailpit.version" 2>/dev/null; then
            log "building Mailpit $version (first time: about a minute)"
            GOBIN="$bin" go install "github.com/axllent/mailpit@$version" >&2
            echo "$version" >"$bin/mailpit.version"
        fi
        exec 9>&-
    fi
    echo "$bin/mailpit"
}

# True if PID is alive and is the Mailpit of DIR (its database is DIR/mailpit.db).
is_ours() {
    local pid=$1
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--database $DIR/mailpit.db"
}

running_pid() {
    local pid
    [ -f "$DIR/mailpit.pid" ] || return 1
    pid=$(cat "$DIR/mailpit.pid")
    is_ours "$pid" || return 1
    printf '%s\n' "$pid"
}

free_ports() {
    python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

DIR=
parse_args() {
    while [ $# -gt 0 ]; do
        case $1 in
            --dir) [ $# -ge 2 ] || usage; DIR=$2; shift 2 ;;
            --dir=*) DIR=${1#--dir=}; shift ;;
            -h|--help) usage 0 ;;
            *) log "unknown argument: $1"; usage ;;
        esac
    done
    [ -n "$DIR" ] || DIR=$local_dir/mailpit/run
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
}

cmd_status() {
    if running_pid >/dev/null && [ -f "$DIR/env" ]; then
        cat "$DIR/env"
        return 0
    fi
    log "not running ($DIR)"
    return 1
}

cmd_start() {
    local pid exe smtp http
    if pid=$(running_pid) && [ -f "$DIR/env" ]; then
        log "already running (pid $pid, $DIR)"
        cat "$DIR/env"
        return 0
    fi
    exe=$(cmd_path)
    exec 8>"$DIR/.start.lock"
    flock -w 60 8 || die "another start holds $DIR/.start.lock"
    if pid=$(running_pid) && [ -f "$DIR/env" ]; then
        cat "$DIR/env"
        return 0
    fi
    rm -f "$DIR/mailpit.pid" "$DIR/env"
    read -r smtp http < <(free_ports)
    log "starting on SMTP 127.0.0.1:$smtp, HTTP 127.0.0.1:$http, log in $DIR/mailpit.log"
    # --max 0: keep every message (the reliability test counts them all); any SMTP AUTH
    # is accepted without TLS (the adapter's AUTH is exercised, nothing is protected here).
    # setsid + nohup: it outlives the calling shell; the inner bash records its pid, then execs.
    # shellcheck disable=SC2016  # $$ and $@ are for the inner bash
    setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$DIR/mailpit.pid" \
        "$exe" --database "$DIR/mailpit.db" \
        --smtp "127.0.0.1:$smtp" --listen "127.0.0.1:$http" \
        --max 0 --disable-version-check --smtp-disable-rdns \
        --smtp-auth-accept-any --smtp-auth-allow-insecure \
        >"$DIR/mailpit.log" 2>&1 </dev/null 8>&- &

    local deadline=$((SECONDS + START_TIMEOUT))
    pid=
    until [ -n "$pid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$smtp") 2>/dev/null &&
        curl -fsS -o /dev/null "http://127.0.0.1:$http/readyz" 2>/dev/null; do
        [ -z "$pid" ] && [ -s "$DIR/mailpit.pid" ] && pid=$(cat "$DIR/mailpit.pid")
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$DIR/mailpit.log" >&2 || true
            die "Mailpit exited"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 20 "$DIR/mailpit.log" >&2 || true
            [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
            rm -f "$DIR/mailpit.pid"
            die "not ready after ${START_TIMEOUT}s"
        fi
        sleep 0.2
    done
    printf 'MAILPIT_SMTP=127.0.0.1:%s\nMAILPIT_HTTP=http://127.0.0.1:%s\n' "$smtp" "$http" \
        >"$DIR/env"
    log "ready (pid $pid); inbox: http://127.0.0.1:$http/"
    cat "$DIR/env"
}

cmd_stop() {
    local pid
    if pid=$(running_pid); then
        log "stopping pid $pid"
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq $((STOP_TIMEOUT * 5))); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "still running after ${STOP_TIMEOUT}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    else
        log "not running ($DIR)"
    fi
    rm -f "$DIR/mailpit.pid" "$DIR/env"
}

sub=${1:-}
[ $# -gt 0 ] && shift
case $sub in
    path) [ $# -eq 0 ] || usage; cmd_path ;;
    start|stop|status) parse_args "$@"; "cmd_$sub" ;;
    -h|--help|help) usage 0 ;;
    *) usage ;;
esac
