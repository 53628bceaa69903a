#!/usr/bin/env bash
# The Go tools of the adoption checks (docs/compatibility.md), built from the Go module proxy
# like promtool.sh's promtool:
#   oasdiff             OpenAPI diff: `oasdiff breaking` of /v1 against the last release
#   publiccode-parser   the publiccode.yml validator (pinned in deploy/local/publiccode-parser/)
#   go-tools.sh path NAME   build NAME once into .local/bin if missing, print the binary's path
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${EENLOKET_LOCAL:-$root/.local}/bin"
[ "${1:-}" = path ] && [ $# -eq 2 ] || { echo "usage: go-tools.sh path oasdiff|publiccode-parser" >&2; exit 2; }
name=$2
case $name in
oasdiff) version=v1.39.0 ;;
publiccode-parser) version=v5.3.1 ;;  # keep equal to publiccode-parser/go.mod
*) echo "go-tools.sh: unknown tool $name" >&2; exit 2 ;;
esac
if [ ! -x "$bin/$name" ] || ! grep -qx "$version" "$bin/$name.version" 2>/dev/null; then
    command -v go >/dev/null || { echo "go-tools.sh: Go is needed to build $name" >&2; exit 1; }
    mkdir -p "$bin"
    echo "go-tools.sh: building $name $version" >&2
    case $name in
    oasdiff) GOBIN="$bin" go install "github.com/oasdiff/oasdiff@$version" >&2 ;;
    publiccode-parser)
        (cd "$root/deploy/local/publiccode-parser" \
            && go build -o "$bin/$name" github.com/italia/publiccode-parser-go/v5/publiccode-parser) >&2 ;;
    esac
    echo "$version" > "$bin/$name.version"
fi
echo "$bin/$name"
