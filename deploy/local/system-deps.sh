#!/usr/bin/env bash
# System packages the tests and the demo need, installed from Debian only if missing:
# PostgreSQL (server binaries; see postgres.sh), kcat (an independent Kafka client for
# the envelope test), wrk (HTTP load in make bench), Chromium and its driver (the
# console's browser test), Java 17+ and Maven (for the Kafka broker; see kafka.sh);
# then Keycloak (a Java >= 21 found or installed, the distribution fetched with Maven and
# built once; see keycloak.sh) and the tools built from source (promtool, Mailpit).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

missing=()
command -v kcat >/dev/null || missing+=(kcat)
command -v wrk >/dev/null || missing+=(wrk)  # HTTP load for make bench
command -v chromium >/dev/null || missing+=(chromium)  # the console's browser test
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v npm >/dev/null || missing+=(npm)  # axe-core for the console's accessibility checks
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v python3.11 >/dev/null || { echo "system-deps: python3.11 is required" >&2; exit 1; }

if ((${#missing[@]})); then
    echo "system-deps: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi
bash "$here/postgres.sh" install
bash "$here/web-assets.sh" install
bash "$here/keycloak.sh" resolve  # about a minute the first time on a machine; cached after
# Prometheus' promtool for the alert-rule and dashboard tests, and Mailpit (the SMTP server
# with an inbox the outbound e-mail tests and the demo send to), built once from the Go module
# proxy into .local/bin (a few minutes the first time on a machine; cached after).
if command -v go >/dev/null; then
    bash "$here/promtool.sh" path >/dev/null
    bash "$here/mailpit.sh" path >/dev/null
else
    echo "system-deps: no Go: promtool and Mailpit cannot be built (their tests will say so)" >&2
fi
