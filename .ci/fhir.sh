#!/usr/bin/env bash
# Validates the FHIR bundle that tests/tests/daily_loop.rs wrote (from the
# real service, through the gateway) with the fhir.resources library, in a
# venv under $HOME/.cache/knotwork-tools. Run after `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
FHIR_RESOURCES_VERSION=8.3.0
VENV="$HOME/.cache/knotwork-tools/fhir-venv"
BUNDLE="${1:-${CARGO_TARGET_DIR:-target}/tmp/fhir-bundle.json}"
if ! python3 -m venv --help >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
fi
if [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("fhir.resources"))' 2>/dev/null || true)" != "$FHIR_RESOURCES_VERSION" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "fhir.resources==$FHIR_RESOURCES_VERSION"
fi
if [ ! -f "$BUNDLE" ]; then
  echo "no bundle at $BUNDLE: run cargo test -p knotwork-tests --test daily_loop first" >&2
  exit 1
fi
"$VENV/bin/python" .ci/fhir_check.py "$BUNDLE"
