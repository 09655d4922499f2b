#!/usr/bin/env bash
# Builds the web app and runs its browser test against a real stack.
#
#   KNOTWORK_BIN=/path/to/knotwork bash clients/web/run-e2e.sh
#
# Installs what it needs: Debian's chromium (when /usr/bin/chromium is missing)
# and the npm dependencies (npm ci). Then unit tests (vitest), the production
# build (buf generate with the local protoc-gen-es, tsc, vite build), and the e2e
# walk in headless Chromium, which starts `$KNOTWORK_BIN up` itself.
# Screenshots land in clients/web/test-artifacts/. Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")"

if [[ -z "${KNOTWORK_BIN:-}" && -z "${KNOTWORK_E2E_GATEWAY:-}" ]]; then
  echo "run-e2e.sh: set KNOTWORK_BIN to the knotwork binary (e.g. target/debug/knotwork)" >&2
  exit 2
fi
if [[ -n "${KNOTWORK_BIN:-}" ]]; then
  KNOTWORK_BIN="$(cd "$(dirname "$KNOTWORK_BIN")" && pwd)/$(basename "$KNOTWORK_BIN")"
  export KNOTWORK_BIN
  [[ -x "$KNOTWORK_BIN" ]] || { echo "run-e2e.sh: $KNOTWORK_BIN is not executable" >&2; exit 2; }
fi

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM" ]]; then
  echo "run-e2e.sh: installing Debian's chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
export CHROMIUM

if ! command -v npm >/dev/null; then
  echo "run-e2e.sh: needs Node.js >= 20.19 with npm (the machine's own)" >&2
  exit 2
fi

npm ci --no-audit --no-fund --loglevel=error
npm test
npm run build
node e2e/run.mjs
