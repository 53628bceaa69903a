#!/bin/sh
# eenloket-service SERVICE COMMAND...: run one service (ingest, router, caseview) of the image.
set -eu
service="${1:?usage: eenloket-service ingest|router|caseview migrate|serve|openapi}"
shift
case "$service" in
    ingest|router|caseview) exec python -m "services.$service" "$@" ;;
    *) echo "unknown service '$service' (ingest, router or caseview)" >&2; exit 64 ;;
esac
