#!/usr/bin/env bash
# A real Keycloak 26 (the Quarkus distribution from Maven Central), loopback only, with the
# realm deploy/keycloak/eenloket-realm.json imported -- no Docker. See deploy/local/README.md.
#
#   keycloak.sh resolve                          fetch + unpack + build into $EENLOKET_LOCAL/keycloak
#   keycloak.sh start  [--dir DIR] [--port P] [--fresh]
#   keycloak.sh stop   [--dir DIR]
#   keycloak.sh status [--dir DIR]
#
# DIR defaults to $EENLOKET_LOCAL/keycloak/run. `start` and `status` print
# KEYCLOAK_URL=http://127.0.0.1:P as the last line on stdout (and write it to DIR/env);
# everything else goes to stderr. The bootstrap admin of the master realm is
# $KEYCLOAK_ADMIN / $KEYCLOAK_ADMIN_PASSWORD (default admin/admin: development only).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
EENLOKET_LOCAL=${EENLOKET_LOCAL:-$REPO_ROOT/.local}
VERSION=26.7.3
KC_CACHE=$EENLOKET_LOCAL/keycloak
KC_HOME=$KC_CACHE/keycloak-$VERSION
REALM_FILE=$REPO_ROOT/deploy/keycloak/eenloket-realm.json
REALM=eenloket
DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
# Build-time options, baked into the distribution once by `kc.sh build` so that every start
# is `start --optimized` (no re-augmentation: seconds, not half a minute). Health on the main
# port, not a second one.
BUILD_OPTS=(--db=dev-file --health-enabled=true --http-management-health-enabled=false)
START_TIMEOUT=${KEYCLOAK_START_TIMEOUT:-180}
STOP_TIMEOUT=30
ADMIN_USER=${KEYCLOAK_ADMIN:-admin}
ADMIN_PASSWORD=${KEYCLOAK_ADMIN_PASSWORD:-admin}

NAME=keycloak.sh
DEFAULT_DIR=$KC_CACHE/run
# shellcheck source=deploy/local/lib.sh
. "$SCRIPT_DIR/lib.sh"

APT_UPDATED=
apt_update() {
    command -v apt-get >/dev/null || die "cannot install packages: no apt-get"
    [ -n "$APT_UPDATED" ] && return 0
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    APT_UPDATED=1
}
apt_has() { apt-cache policy "$1" 2>/dev/null | grep -q 'Candidate: [0-9]'; }
apt_get() {
    apt_update
    log "apt-get install -y $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# --- Java >= 21 ------------------------------------------------------------------------------

java_major() { # java_major JAVA -> 17, 21, 25 ... (empty if it does not run)
    "$1" -XshowSettings:properties -version 2>&1 |
        sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n1
}

java_ok() { [ -x "$1" ] && [ "$(java_major "$1" || true)" -ge 21 ] 2>/dev/null; }

# Keycloak 26 needs Java >= 21; the system `java` here is 17. Exports JAVA_HOME (kc.sh uses it).
# Installs one from Debian if none is found (`find_java --installed`: after that, do not).
find_java() {
    local candidate
    for candidate in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} /usr/lib/jvm/*/bin/java \
        "$(command -v java || true)"; do
        if [ -n "$candidate" ] && java_ok "$candidate"; then
            JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$candidate")")")
            export JAVA_HOME
            return 0
        fi
    done
    [ -z "${1:-}" ] || die "no Java >= 21 found (JAVA_HOME, /usr/lib/jvm, PATH)"
    apt_update
    local pkg
    for pkg in openjdk-21-jre-headless openjdk-25-jre-headless; do
        if apt_has "$pkg"; then
            apt_get "$pkg"
            find_java --installed
            return 0
        fi
    done
    die "no Java >= 21 found, and Debian offers neither openjdk-21 nor openjdk-25 here"
}

# --- the distribution ------------------------------------------------------------------------

build_stamp() { printf '%s %s\n' "$VERSION" "${BUILD_OPTS[*]}"; }

dist_ok() {
    [ -x "$KC_HOME/bin/kc.sh" ] && [ -f "$KC_HOME/.eenloket-build" ] &&
        [ "$(cat "$KC_HOME/.eenloket-build")" = "$(build_stamp)" ]
}

cmd_resolve() {
    dist_ok && return 0
    find_java
    command -v mvn >/dev/null || apt_get maven
    mkdir -p "$KC_CACHE"
    # One resolve at a time (parallel test workers).
    exec 9>"$KC_CACHE/.resolve.lock"
    flock 9
    if ! dist_ok; then
        local tarball=$KC_CACHE/keycloak-quarkus-dist-$VERSION.tar.gz started=$SECONDS
        if [ ! -s "$tarball" ]; then
            log "fetching org.keycloak:keycloak-quarkus-dist:$VERSION with Maven"
            mvn -B -q "$DEPENDENCY_PLUGIN:copy" \
                "-Dartifact=org.keycloak:keycloak-quarkus-dist:$VERSION:tar.gz" \
                "-DoutputDirectory=$KC_CACHE" >&2 || die "maven could not fetch Keycloak $VERSION"
        fi
        local tmp=$KC_CACHE/unpack.tmp.$$
        rm -rf "$tmp" "$KC_HOME"
        mkdir -p "$tmp"
        tar -xzf "$tarball" -C "$tmp" || die "cannot unpack $tarball"
        mv "$tmp/keycloak-$VERSION" "$KC_HOME"
        rm -rf "$tmp"
        log "building an optimized server image (${BUILD_OPTS[*]})"
        "$KC_HOME/bin/kc.sh" build "${BUILD_OPTS[@]}" >&2 || die "kc.sh build failed"
        build_stamp >"$KC_HOME/.eenloket-build"
        log "resolved and built in $((SECONDS - started))s"
    fi
    exec 9>&-
}

# --- process helpers -------------------------------------------------------------------------

# The pid in DIR/keycloak.pid is kc.sh's shell (it forwards SIGTERM to its java child); it is
# ours if its command line names this DIR's database.
is_ours() {
    local pid=$1
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "jdbc:h2:file:$DIR/h2/"
}

running_pid() {
    local pid
    [ -f "$DIR/keycloak.pid" ] || return 1
    pid=$(cat "$DIR/keycloak.pid")
    is_ours "$pid" || return 1
    printf '%s\n' "$pid"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

realm_answers() { # the discovery document, not just an open port: the import has finished
    curl -fsS -o /dev/null --max-time 2 \
        "http://127.0.0.1:$1/realms/$REALM/.well-known/openid-configuration" 2>/dev/null
}

# --- subcommands -----------------------------------------------------------------------------

cmd_start() {
    local pid
    already_running && return 0
    # One start at a time per DIR; children that outlive us must not inherit fd 8.
    exec 8>"$DIR/.start.lock"
    flock -w 600 8 || die "another start holds $DIR/.start.lock"
    already_running && return 0
    if pid=$(running_pid); then
        die "Keycloak pid $pid runs from $DIR but $DIR/env is missing: stop it first"
    fi
    cmd_resolve
    find_java

    rm -f "$DIR/keycloak.pid" "$DIR/env"
    [ -n "$FRESH" ] && rm -rf "$DIR/h2" "$DIR/port"
    # An existing realm is never imported again: when the realm file changed, start from a
    # fresh database (development data only) so that DIR runs the realm the repository has.
    local realm_sum
    realm_sum=$(sha256sum "$REALM_FILE" | cut -d' ' -f1)
    if [ -d "$DIR/h2" ] && [ "$(cat "$DIR/realm.sha256" 2>/dev/null)" != "$realm_sum" ]; then
        log "the realm file changed since DIR's database was made: a fresh database"
        rm -rf "$DIR/h2"
    fi
    echo "$realm_sum" >"$DIR/realm.sha256"
    mkdir -p "$DIR/logs"
    # --import-realm reads the distribution's data/import (not configurable): the realm file
    # is the same for every DIR.
    mkdir -p "$KC_HOME/data/import"
    cp "$REALM_FILE" "$KC_HOME/data/import/$REALM-realm.json"

    # Port: --port wins; on a restart keep the previous one (tokens name it as issuer).
    local p=$PORT
    if [ -z "$p" ] && [ -f "$DIR/port" ]; then p=$(cat "$DIR/port"); fi
    [ -n "$p" ] || p=$(free_port)
    echo "$p" >"$DIR/port"
    [ -f "$DIR/logs/keycloak.log" ] && mv -f "$DIR/logs/keycloak.log" "$DIR/logs/keycloak.log.previous"

    log "starting Keycloak $VERSION on 127.0.0.1:$p (Java $JAVA_HOME), logs in $DIR/logs"
    local started=$SECONDS
    # setsid + nohup: Keycloak outlives the calling shell; the inner bash records its pid and
    # becomes kc.sh. A small heap: a test and demo server with one realm. The C1 compiler
    # only: a warm start in ~13 s instead of ~23 s and less memory, at a peak speed a test
    # server does not need (docs/benchmarks.md). cache=local: one node, no JGroups cluster
    # (it would listen on every interface, on fixed ports). The management interface (health)
    # gets a free port too: its default, 9000, would clash between two servers on one machine.
    # shellcheck disable=SC2016  # $$ and $@ are for the inner bash
    KC_BOOTSTRAP_ADMIN_USERNAME=$ADMIN_USER KC_BOOTSTRAP_ADMIN_PASSWORD=$ADMIN_PASSWORD \
        JAVA_OPTS_KC_HEAP="-Xms64m -Xmx512m" \
        JAVA_OPTS_APPEND="-XX:TieredStopAtLevel=1 ${JAVA_OPTS_APPEND:-}" \
        setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$DIR/keycloak.pid" \
        "$KC_HOME/bin/kc.sh" start --optimized \
        --http-enabled=true --http-host=127.0.0.1 "--http-port=$p" \
        "--http-management-port=$(free_port)" \
        --hostname-strict=false \
        --cache=local \
        "--db-url=jdbc:h2:file:$DIR/h2/keycloakdb;NON_KEYWORDS=VALUE" \
        --import-realm \
        --log=console,file "--log-file=$DIR/logs/keycloak.log" \
        >"$DIR/logs/stdout.log" 2>&1 </dev/null 8>&- &

    local deadline=$((SECONDS + START_TIMEOUT)) reason=
    pid=
    while :; do
        if [ -z "$pid" ] && [ -s "$DIR/keycloak.pid" ]; then pid=$(cat "$DIR/keycloak.pid"); fi
        if [ -n "$pid" ]; then
            if ! is_ours "$pid"; then
                sleep 0.2 # right after fork the cmdline is the inner bash's
                if ! is_ours "$pid"; then reason="Keycloak exited"; break; fi
            fi
            realm_answers "$p" && break
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            reason="realm $REALM not answering after ${START_TIMEOUT}s"
            break
        fi
        sleep 0.5
    done

    if [ -n "$reason" ]; then
        log "$reason; last lines of $DIR/logs/stdout.log:"
        tail -n 40 "$DIR/logs/stdout.log" >&2 2>/dev/null || true
        if [ -n "$pid" ] && is_ours "$pid"; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
        rm -f "$DIR/keycloak.pid"
        exit 1
    fi

    printf 'KEYCLOAK_URL=http://127.0.0.1:%s\n' "$p" >"$DIR/env"
    local rss
    rss=$(ps -o rss= --ppid "$pid" 2>/dev/null | awk '{s += $1} END {printf "%d", s / 1024}')
    log "ready in $((SECONDS - started))s (pid $pid, java RSS ${rss} MiB)"
    tail -n1 "$DIR/env"
}

cmd_stop() {
    local pid
    if ! pid=$(running_pid); then
        log "not running ($DIR)"
        rm -f "$DIR/keycloak.pid" "$DIR/env"
        return 0
    fi
    log "stopping Keycloak pid $pid (SIGTERM)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT))
    # kc.sh waits for its java child: when kc.sh is gone, so is Keycloak.
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "still running after ${STOP_TIMEOUT}s: SIGKILL to its process group"
            kill -KILL -- "-$pid" 2>/dev/null || true
            sleep 0.5
            break
        fi
        sleep 0.3
    done
    rm -f "$DIR/keycloak.pid" "$DIR/env"
    log "stopped"
}

main "$@"
