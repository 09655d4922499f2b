#!/usr/bin/env bash
# Dependency hygiene with cargo-deny: licenses, bans and sources always;
# advisories only when the advisory database can be fetched (it is skipped,
# with the reason printed, on machines that cannot reach it).
# Installs cargo-deny into $HOME/.cache/knotwork-tools unless the pinned
# version is already there (a cold install compiles ~300 crates: measured
# in RELIABILITY.md).
set -euo pipefail
cd "$(dirname "$0")/.."

DENY_VERSION=0.20.2
TOOLS="$HOME/.cache/knotwork-tools"
export PATH="$TOOLS/bin:$PATH"
export CARGO_TERM_COLOR=never

if [ "$(cargo-deny --version 2>/dev/null || true)" != "cargo-deny $DENY_VERSION" ]; then
  started=$(date +%s)
  cargo install --locked --quiet --root "$TOOLS" cargo-deny --version "$DENY_VERSION"
  echo "cargo-deny $DENY_VERSION installed in $(( $(date +%s) - started )) s"
fi

echo "== cargo deny check licenses bans sources"
cargo deny --log-level warn check --hide-inclusion-graph licenses bans sources

echo "== cargo deny check advisories"
if timeout 120 cargo deny --log-level error fetch db >/dev/null 2>&1; then
  cargo deny --log-level warn check --hide-inclusion-graph advisories
else
  echo "advisories: SKIPPED: the advisory database could not be fetched from this machine (no network access to it)"
fi
