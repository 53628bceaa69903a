#!/usr/bin/env bash
# A real single-node Apache Kafka 4.x broker (KRaft, combined broker +
# controller, loopback only) from jars resolved by Maven -- no Docker.
# See deploy/local/README.md.
#
#   kafka.sh resolve                          fetch the jars into $EENLOKET_LOCAL/kafka/libs
#   kafka.sh start  [--dir DIR] [--port P] [--fresh]
#   kafka.sh stop   [--dir DIR]
#   kafka.sh status [--dir DIR]
#
# DIR defaults to $EENLOKET_LOCAL/kafka/run; EENLOKET_LOCAL defaults to
# <repo>/.local (git-ignored). `start` and `status` print
# KAFKA_BOOTSTRAP=127.0.0.1:P as the last line on stdout (and write it to
# DIR/env); everything else goes to stderr.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
EENLOKET_LOCAL=${EENLOKET_LOCAL:-$REPO_ROOT/.local}
KAFKA_HOME=$EENLOKET_LOCAL/kafka
LIBS=$KAFKA_HOME/libs
POM=$SCRIPT_DIR/kafka/pom.xml
LOG4J_CONF=$SCRIPT_DIR/kafka/log4j2.properties
DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=30

NAME=kafka.sh
DEFAULT_DIR=$KAFKA_HOME/run
# shellcheck source=deploy/local/lib.sh
. "$SCRIPT_DIR/lib.sh"

# Java and Maven are on every machine of this project, but install them
# from Debian if a fresh machine lacks them.
APT_UPDATED=
apt_install() {
    command -v apt-get >/dev/null || die "cannot install $*: no apt-get"
    if [ -z "$APT_UPDATED" ]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        APT_UPDATED=1
    fi
    log "apt-get install -y $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

need_java() {
    command -v java >/dev/null || apt_install openjdk-17-jre-headless
}

need_maven() {
    command -v mvn >/dev/null || apt_install maven
}

pom_stamp() { sha256sum "$POM" | cut -d' ' -f1; }

libs_ok() {
    compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null &&
        [ -f "$LIBS/.pom.sha256" ] &&
        [ "$(cat "$LIBS/.pom.sha256")" = "$(pom_stamp)" ]
}

cmd_resolve() {
    libs_ok && return 0
    need_java
    need_maven
    mkdir -p "$KAFKA_HOME"
    # Serialise concurrent resolves (e.g. parallel test workers).
    exec 9>"$KAFKA_HOME/.resolve.lock"
    flock 9
    if ! libs_ok; then
        local tmp=$KAFKA_HOME/libs.tmp.$$
        rm -rf "$tmp"
        log "resolving Kafka jars with Maven into $LIBS"
        # -q still prints colour codes on stdout: keep stdout clean.
        if ! mvn -B -q -f "$POM" "$DEPENDENCY_PLUGIN:copy-dependencies" \
            -DincludeScope=runtime -DoutputDirectory="$tmp" >&2; then
            rm -rf "$tmp"
            die "maven could not resolve $POM"
        fi
        compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || die "no kafka jar after resolve"
        pom_stamp >"$tmp/.pom.sha256"
        rm -rf "$LIBS"
        mv "$tmp" "$LIBS"
    fi
    exec 9>&-
}

# --- process helpers -------------------------------------------------------

# True if PID exists and is not a (mere) zombie. A JVM's main thread turns
# Z while its other threads still shut down: that still counts as alive.
pid_alive() {
    local pid=$1 state tasks
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [ "$state" != Z ] && return 0
    tasks=$(find "/proc/$pid/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    [ "$tasks" -gt 1 ]
}

# True if PID is alive and is the broker of this DIR.
is_our_broker() {
    local pid=$1 dir=$2
    pid_alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null |
        grep -qF "kafka.Kafka $dir/server.properties"
}

running_pid() {
    local dir=$1 pid
    [ -f "$dir/kafka.pid" ] || return 1
    pid=$(cat "$dir/kafka.pid")
    is_our_broker "$pid" "$dir" || return 1
    printf '%s\n' "$pid"
}

free_ports() {
    # Prints N distinct free loopback ports, avoiding those given after N.
    python3 - "$@" <<'PY'
import socket, sys
n, avoid = int(sys.argv[1]), {int(p) for p in sys.argv[2:]}
socks, ports = [], []
while len(ports) < n:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
    p = s.getsockname()[1]
    if p not in avoid:
        ports.append(p)
print(" ".join(map(str, ports)))
PY
}

port_free() {
    python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
# Like the JVM: a port whose old connections linger in TIME_WAIT is free.
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

prop() { # prop FILE KEY -> value
    sed -n "s/^$2=//p" "$1" | tail -n1
}

# --- subcommands -----------------------------------------------------------

write_server_properties() {
    local dir=$1 p=$2 c=$3
    cat >"$dir/server.properties" <<EOF
# Written by deploy/local/kafka.sh -- single-node KRaft broker for tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$c
listeners=PLAINTEXT://127.0.0.1:$p,CONTROLLER://127.0.0.1:$c
advertised.listeners=PLAINTEXT://127.0.0.1:$p,CONTROLLER://127.0.0.1:$c
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
# One node: internal topics must have replication factor 1, or consumer
# groups and transactions hang on COORDINATOR_NOT_AVAILABLE.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
num.partitions=1
log.retention.hours=168
EOF
}

lock_dir() {
    # One start at a time per DIR (parallel test workers may share DIR).
    # Children that outlive us must not inherit fd 8 (see the launch).
    exec 8>"$DIR/.start.lock"
    flock -w 300 8 || die "another start holds $DIR/.start.lock"
}

cmd_start() {
    local pid
    already_running && return 0
    lock_dir
    already_running && return 0
    if pid=$(running_pid "$DIR"); then
        die "broker pid $pid runs from $DIR but $DIR/env is missing: stop it first"
    fi
    cmd_resolve
    need_java

    rm -f "$DIR/kafka.pid" "$DIR/env"
    if [ -n "$FRESH" ]; then
        rm -rf "$DIR/data" "$DIR/logs" "$DIR/server.properties"
    fi
    mkdir -p "$DIR/logs"

    # Ports: --port wins; on a restart keep the previous ones if still free.
    local p=$PORT c='' old_p='' old_c='' c_new=''
    if [ -f "$DIR/server.properties" ]; then
        old_p=$(prop "$DIR/server.properties" listeners | sed -n 's/.*PLAINTEXT:\/\/127.0.0.1:\([0-9]*\).*/\1/p')
        old_c=$(prop "$DIR/server.properties" controller.quorum.voters | sed 's/.*://')
    fi
    if [ -z "$p" ] && [ -n "$old_p" ] && port_free "$old_p"; then p=$old_p; fi
    if [ -n "$old_c" ] && [ "$old_c" != "$p" ] && port_free "$old_c"; then c=$old_c; fi
    if [ -z "$p" ]; then
        read -r p c_new < <(free_ports 2 ${c:+"$c"})
        [ -n "$c" ] || c=$c_new
    elif [ -z "$c" ]; then
        c=$(free_ports 1 "$p")
    fi
    write_server_properties "$DIR" "$p" "$c"

    local jvm_common=(
        -Djava.awt.headless=true
        "-Dkafka.logs.dir=$DIR/logs"
        "-Dlog4j2.configurationFile=$LOG4J_CONF"
        -cp "$LIBS/*"
    )
    if [ ! -f "$DIR/data/meta.properties" ]; then
        local cluster_id
        # Like Kafka's Uuid.randomUuid(): 22 chars of URL-safe base64, never
        # starting with '-' (the storage tool's parser would take it for an option).
        cluster_id=$(python3 -c '
import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break')
        log "formatting $DIR/data (cluster id $cluster_id)"
        # controller.quorum.voters is set: no --standalone.
        java -Xmx256m "${jvm_common[@]}" kafka.tools.StorageTool format \
            -t "$cluster_id" -c "$DIR/server.properties" >&2 ||
            die "formatting the storage failed"
    else
        log "reusing the data in $DIR/data (use --fresh to wipe it)"
    fi

    # Readiness greps server.log: keep an earlier run's log out of the way.
    if [ -f "$DIR/logs/server.log" ]; then
        mv -f "$DIR/logs/server.log" "$DIR/logs/server.log.previous"
    fi
    log "starting broker on 127.0.0.1:$p (controller $c), logs in $DIR/logs"
    local started=$SECONDS
    # setsid + nohup: the broker outlives the calling shell and its terminal.
    # The inner bash records its own pid and then becomes java (exec).
    # shellcheck disable=SC2016  # $$ and $@ are for the inner bash
    setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$DIR/kafka.pid" \
        java -Xms256m -Xmx512m -XX:+UseG1GC "${jvm_common[@]}" \
        kafka.Kafka "$DIR/server.properties" \
        >"$DIR/logs/stdout.log" 2>&1 </dev/null 8>&- &

    local deadline=$((SECONDS + START_TIMEOUT)) reason=
    pid=
    while :; do
        if [ -z "$pid" ] && [ -s "$DIR/kafka.pid" ]; then
            pid=$(cat "$DIR/kafka.pid")
        fi
        if [ -n "$pid" ]; then
            if ! is_our_broker "$pid" "$DIR"; then
                # Give exec a moment: right after fork the cmdline is bash's.
                sleep 0.2
                if ! is_our_broker "$pid" "$DIR"; then reason="the broker exited"; break; fi
            fi
            if port_open "$p" && grep -qs 'Kafka Server started' "$DIR/logs/server.log"; then
                break
            fi
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            reason="not ready after ${START_TIMEOUT}s"
            break
        fi
        sleep 0.3
    done

    if [ -n "$reason" ]; then
        log "$reason; last lines of $DIR/logs/server.log and stdout.log:"
        tail -n 40 "$DIR/logs/server.log" >&2 2>/dev/null || true
        tail -n 20 "$DIR/logs/stdout.log" >&2 2>/dev/null || true
        if [ -n "$pid" ] && is_our_broker "$pid" "$DIR"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$DIR/kafka.pid"
        exit 1
    fi

    printf 'KAFKA_BOOTSTRAP=127.0.0.1:%s\n' "$p" >"$DIR/env"
    log "ready in $((SECONDS - started))s (pid $pid)"
    tail -n1 "$DIR/env"
}

cmd_stop() {
    local pid
    if ! pid=$(running_pid "$DIR"); then
        log "not running ($DIR)"
        rm -f "$DIR/kafka.pid"
        return 0
    fi
    log "stopping broker pid $pid (SIGTERM)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT))
    # The identity was checked above; now wait for the process itself to go
    # (its cmdline empties while it is still exiting).
    while pid_alive "$pid"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "still running after ${STOP_TIMEOUT}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
            break
        fi
        sleep 0.3
    done
    rm -f "$DIR/kafka.pid" "$DIR/env"
    log "stopped"
}

main "$@"
