#!/bin/sh
# eenloket-service SERVICE COMMAND...: run one service (ingest, router, caseview, outbound,
# notifications) of the image, or the operator's command: eenloket-service eenloket caseview rebuild ...
set -eu
service="${1:?usage: eenloket-service ingest|router|caseview|outbound|notifications migrate|serve|openapi, or eenloket ...}"
shift
case "$service" in
    ingest|router|caseview|outbound|notifications) exec python -m "services.$service" "$@" ;;
    eenloket) exec eenloket "$@" ;;
    *) echo "unknown service '$service' (ingest, router, caseview, outbound, notifications or eenloket)" >&2; exit 64 ;;
esac
