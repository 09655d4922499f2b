#!/usr/bin/env bash
# Checks the iCalendar export against a real stack: starts `knotwork up` on
# free loopback ports with a temporary data folder, signs a new user in,
# sets a time zone and waking hours, logs a session, fetches the coming
# week with `knotwork calendar > week.ics`, and parses the file with
# Python's `icalendar` (in a venv under $HOME/.cache/knotwork-tools),
# checking every event against the plan's rules (.ci/ical_check.py).
#
#   KNOTWORK_BIN=target/debug/knotwork bash .ci/ical.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ICALENDAR_VERSION=6.3.1
VENV="$HOME/.cache/knotwork-tools/ical-venv"
KNOTWORK_BIN="${KNOTWORK_BIN:-${CARGO_TARGET_DIR:-target}/debug/knotwork}"
if [[ ! -x "$KNOTWORK_BIN" ]]; then
  echo "ical.sh: no knotwork binary at $KNOTWORK_BIN (cargo build -p knotwork)" >&2
  exit 2
fi
if ! python3 -m venv --help >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
fi
if [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("icalendar"))' 2>/dev/null || true)" != "$ICALENDAR_VERSION" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "icalendar==$ICALENDAR_VERSION"
fi

WORK="$(mktemp -d)"
UP_PID=""
cleanup() {
  if [[ -n "$UP_PID" ]]; then
    kill -TERM "$UP_PID" 2>/dev/null || true
    wait "$UP_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

"$KNOTWORK_BIN" up --data-dir "$WORK/data" \
  --gateway-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
  --catalog-listen 127.0.0.1:0 --session-listen 127.0.0.1:0 >"$WORK/up.log" 2>&1 &
UP_PID=$!
GATEWAY=""
for _ in $(seq 300); do
  GATEWAY="$(sed -n 's#^ *gateway *grpc://\([0-9.:]*\).*#\1#p' "$WORK/up.log")"
  [[ -n "$GATEWAY" ]] && break
  kill -0 "$UP_PID" 2>/dev/null || { cat "$WORK/up.log" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$GATEWAY" ]] || { echo "knotwork up did not say where the gateway is" >&2; exit 1; }
export KNOTWORK_GATEWAY_URL="http://$GATEWAY" XDG_CONFIG_HOME="$WORK/config" NO_COLOR=1
for i in $(seq 300); do
  "$KNOTWORK_BIN" health >/dev/null 2>&1 && break
  [[ $i -lt 300 ]] || { echo "the stack never became healthy" >&2; exit 1; }
  sleep 0.1
done

ZONE=America/New_York WAKE=06:30 SLEEP=22:30
"$KNOTWORK_BIN" login --user ical-ci >/dev/null
"$KNOTWORK_BIN" profile set --time-zone "$ZONE" --tools lacrosse_ball --wake "$WAKE" --sleep "$SLEEP" >/dev/null
"$KNOTWORK_BIN" screening --none-apply >/dev/null
"$KNOTWORK_BIN" log --point quadratus_lumborum_superficial --tool lacrosse_ball --duration 90 >/dev/null
"$KNOTWORK_BIN" calendar > "$WORK/week.ics"
"$VENV/bin/python" .ci/ical_check.py "$WORK/week.ics" \
  --zone "$ZONE" --wake "$WAKE" --sleep "$SLEEP" --days 7 --per-day 3
