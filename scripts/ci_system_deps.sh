#!/usr/bin/env bash
# System packages the production-shape tests need: PostgreSQL server binaries (the Dagster
# instance of the integration test) and Chromium (the browser test). Idempotent: installs only
# what is missing and runs `apt-get update` only when something is.
set -euo pipefail

missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null || missing+=(postgresql)
command -v chromium > /dev/null || missing+=(chromium)

if [ ${#missing[@]} -eq 0 ]; then
    echo "system deps: postgresql and chromium present"
    exit 0
fi

echo "system deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
