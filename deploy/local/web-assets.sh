#!/usr/bin/env bash
# Browser-side tools for the tests, from npm at the versions pinned in web-assets/ (package.json
# and its lock file): axe-core, injected into the console pages by tests/e2e/accessibility.py,
# and the NL Design System CSS the resident pages vendor (tests/e2e/test_mijn_zaken_assets.py
# checks the copies in services/caseview/mijn_zaken/static/vendor/ against these).
# Installed once into .local/web-assets (again when the lock file changes).
#   web-assets.sh install   install if missing or out of date
#   web-assets.sh path      install if needed, then print the path of axe.min.js
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dest="${EENLOKET_LOCAL:-$root/.local}/web-assets"
axe="$dest/node_modules/axe-core/axe.min.js"

install() {
    if [[ -f "$axe" ]] && cmp -s "$here/web-assets/package-lock.json" "$dest/package-lock.json"; then
        return 0
    fi
    command -v npm >/dev/null || { echo "web-assets.sh: npm is required (Debian: npm)" >&2; exit 1; }
    mkdir -p "$dest"
    cp "$here/web-assets/package.json" "$here/web-assets/package-lock.json" "$dest/"
    echo "web-assets.sh: npm ci in $dest" >&2
    (cd "$dest" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
    [[ -f "$axe" ]] || { echo "web-assets.sh: $axe missing after npm ci" >&2; exit 1; }
}

case "${1:-}" in
    install) install ;;
    path) install && echo "$axe" ;;
    *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
