#!/bin/sh
# eenloket-service SERVICE COMMAND...: run one service (ingest, router, caseview) of the image,
# or the operator's command: eenloket-service eenloket caseview rebuild ...
set -eu
service="${1:?usage: eenloket-service ingest|router|caseview migrate|serve|openapi, or eenloket ...}"
shift
case "$service" in
    ingest|router|caseview) exec python -m "services.$service" "$@" ;;
    eenloket) exec eenloket "$@" ;;
    *) echo "unknown service '$service' (ingest, router, caseview or eenloket)" >&2; exit 64 ;;
esac
