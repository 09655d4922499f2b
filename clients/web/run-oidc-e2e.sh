#!/usr/bin/env bash
# Sign-in against a real OpenID provider: installs oidc-provider (pinned) into
# $HOME/.cache/knotwork-tools, builds the web app when dist/ is missing, then
# runs e2e/oidc.mjs (the provider, `$KNOTWORK_BIN up` trusting it, Chromium).
#
#   KNOTWORK_BIN=/path/to/knotwork bash clients/web/run-oidc-e2e.sh
set -euo pipefail
cd "$(dirname "$0")"

OIDC_PROVIDER_VERSION=9.13.3
export KNOTWORK_TOOLS="${KNOTWORK_TOOLS:-$HOME/.cache/knotwork-tools}"
mkdir -p "$KNOTWORK_TOOLS"

if [[ -z "${KNOTWORK_BIN:-}" ]]; then
  echo "run-oidc-e2e.sh: set KNOTWORK_BIN to the knotwork binary (e.g. target/debug/knotwork)" >&2
  exit 2
fi
KNOTWORK_BIN="$(cd "$(dirname "$KNOTWORK_BIN")" && pwd)/$(basename "$KNOTWORK_BIN")"
export KNOTWORK_BIN

installed="$(node -p "require('$KNOTWORK_TOOLS/node_modules/oidc-provider/package.json').version" 2>/dev/null || true)"
if [[ "$installed" != "$OIDC_PROVIDER_VERSION" ]]; then
  echo "run-oidc-e2e.sh: installing oidc-provider@$OIDC_PROVIDER_VERSION into $KNOTWORK_TOOLS"
  npm install --silent --no-audit --no-fund --prefix "$KNOTWORK_TOOLS" "oidc-provider@$OIDC_PROVIDER_VERSION" >/dev/null
fi

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM" ]]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
export CHROMIUM

[[ -d node_modules/playwright-core ]] || npm ci --no-audit --no-fund --loglevel=error
[[ -f dist/index.html ]] || npm run build
node e2e/oidc.mjs
