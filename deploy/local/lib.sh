# shellcheck shell=bash
# What kafka.sh and keycloak.sh share (sourced, not run): messages, the arguments of a run
# directory and the subcommand dispatch. The caller sets NAME (its file name) and DEFAULT_DIR,
# and defines cmd_resolve, cmd_start, cmd_stop and `running_pid DIR` (the pid of DIR's
# server if it runs; DIR/env holds the line `start` printed).

log() { printf '%s: %s\n' "$NAME" "$*" >&2; }
die() { log "$*"; exit 1; }

# The calling script's header comment (line 2 up to the first line that is not a comment).
usage() {
    sed -n '2,/^[^#]/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit "${1:-2}"
}

DIR=
PORT=
FRESH=
parse_args() {
    while [ $# -gt 0 ]; do
        case $1 in
            --dir) [ $# -ge 2 ] || usage; DIR=$2; shift 2 ;;
            --dir=*) DIR=${1#--dir=}; shift ;;
            --port) [ $# -ge 2 ] || usage; PORT=$2; shift 2 ;;
            --port=*) PORT=${1#--port=}; shift ;;
            --fresh) FRESH=1; shift ;;
            -h|--help) usage 0 ;;
            *) log "unknown argument: $1"; usage ;;
        esac
    done
    [ -n "$DIR" ] || DIR=$DEFAULT_DIR
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    if [ -n "$PORT" ] && ! [[ $PORT =~ ^[0-9]+$ ]]; then
        die "--port must be a number, not '$PORT'"
    fi
}

cmd_status() {
    if running_pid "$DIR" >/dev/null && [ -f "$DIR/env" ]; then
        tail -n1 "$DIR/env"
        return 0
    fi
    log "not running ($DIR)"
    return 1
}

already_running() {
    local pid
    if pid=$(running_pid "$DIR") && [ -f "$DIR/env" ]; then
        log "already running (pid $pid, $DIR)${FRESH:+; --fresh ignored: stop it first}"
        tail -n1 "$DIR/env"
        return 0
    fi
    return 1
}

main() {
    [ $# -ge 1 ] || usage
    local sub=$1
    shift
    case $sub in
        resolve) [ $# -eq 0 ] || usage; cmd_resolve ;;
        start|stop|status) parse_args "$@"; "cmd_$sub" ;;
        -h|--help|help) usage 0 ;;
        *) log "unknown subcommand: $sub"; usage ;;
    esac
}
