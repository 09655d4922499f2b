#!/usr/bin/env bash
# Proves deploy/check.sh can fail: runs it on a scratch copy of deploy/ that is
# first left intact (must pass), then broken one way at a time (each must fail
# with the expected message). The copy gets stand-in crates/*/src/config.rs
# files declaring the settings table of CONVENTIONS.md, so this tests the
# checker itself, independent of the real binaries.
#
# Usage, from the repository root:   bash deploy/check-selftest.sh
# (about a minute; uses the tools deploy/check.sh installs).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT

# The settings each binary declares (CONVENTIONS.md, "Shared settings").
declare -A READS=(
  [runtime]="KNOTWORK_LOG_FORMAT KNOTWORK_TLS_CERT KNOTWORK_TLS_KEY KNOTWORK_TLS_CLIENT_CA KNOTWORK_BACKEND_CA KNOTWORK_BACKEND_CLIENT_CERT KNOTWORK_BACKEND_CLIENT_KEY KNOTWORK_HEADER_TIMEOUT_MS KNOTWORK_KEEPALIVE_INTERVAL_SECS KNOTWORK_KEEPALIVE_TIMEOUT_SECS KNOTWORK_MAX_CONCURRENT_STREAMS KNOTWORK_MAX_HEADER_BYTES"
  [catalog]="KNOTWORK_MODE KNOTWORK_INTERNAL_TOKEN_NEXT KNOTWORK_CATALOG_LISTEN KNOTWORK_CATALOG_ADMIN_LISTEN KNOTWORK_CATALOG_DATA_DIR KNOTWORK_CATALOG_FILE KNOTWORK_INTERNAL_TOKEN KNOTWORK_SHUTDOWN_GRACE_SECONDS"
  [session]="KNOTWORK_MODE KNOTWORK_INTERNAL_TOKEN_NEXT KNOTWORK_SESSION_SHARD_ID KNOTWORK_SESSION_INITIAL_SHARDS KNOTWORK_SESSION_LISTEN KNOTWORK_SESSION_ADMIN_LISTEN KNOTWORK_SESSION_DATA_DIR KNOTWORK_CATALOG_URL KNOTWORK_GUIDE_SPEEDUP KNOTWORK_INTERNAL_TOKEN KNOTWORK_SHUTDOWN_GRACE_SECONDS"
  [gateway]="KNOTWORK_CATALOG_RESOLVE_SECS KNOTWORK_MAX_CONNECTION_AGE_SECS KNOTWORK_MAX_CONNECTION_AGE_GRACE_SECS KNOTWORK_ALLOW_PLAINTEXT_BACKENDS KNOTWORK_GATEWAY_LISTEN KNOTWORK_GATEWAY_ADMIN_LISTEN KNOTWORK_SHUTDOWN_GRACE_SECONDS KNOTWORK_CATALOG_URLS KNOTWORK_SESSION_SHARDS KNOTWORK_JWT_SECRET KNOTWORK_JWT_JWKS_FILE KNOTWORK_OIDC_ISSUERS KNOTWORK_OIDC_AUDIENCES KNOTWORK_JWT_ISSUER KNOTWORK_JWT_AUDIENCE KNOTWORK_CORS_ORIGINS KNOTWORK_MODE KNOTWORK_INTERNAL_TOKEN KNOTWORK_TRUSTED_PROXIES KNOTWORK_FORWARDED_HEADER KNOTWORK_BODY_TIMEOUT_MS KNOTWORK_MAX_PENDING_PER_CONNECTION KNOTWORK_MAX_PENDING_PER_USER KNOTWORK_MAX_GUIDE_STREAMS_PER_USER"
)

fresh_copy() {
  rm -rf "$SCRATCH/repo"
  mkdir -p "$SCRATCH/repo"
  cp -r "$ROOT/deploy" "$ROOT/.dockerignore" "$SCRATCH/repo/"
  rm -f "$SCRATCH/repo/deploy/compose/.env"
  for crate in "${!READS[@]}"; do
    mkdir -p "$SCRATCH/repo/crates/$crate/src"
    for name in ${READS[$crate]}; do
      printf '    #[arg(long, env = "%s")]\n' "$name"
    done > "$SCRATCH/repo/crates/$crate/src/config.rs"
  done
}

passed=0
failed=0
run_check() { bash "$SCRATCH/repo/deploy/check.sh" > "$SCRATCH/out.txt" 2>&1; }

expect_pass() {
  fresh_copy
  if run_check; then
    echo "ok   intact copy passes"; passed=$((passed + 1))
  else
    echo "FAIL intact copy should pass:"; sed 's/^/     /' "$SCRATCH/out.txt"; failed=$((failed + 1))
  fi
}

# expect_fail DESCRIPTION EXPECTED-OUTPUT-REGEX PYTHON-MUTATION
# The mutation runs with the scratch repo as the working directory.
expect_fail() {
  local what="$1" want="$2" mutation="$3"
  fresh_copy
  (cd "$SCRATCH/repo" && python3 -c "$mutation")
  if run_check; then
    echo "FAIL not caught: $what"; failed=$((failed + 1))
  elif grep -Eq -- "$want" "$SCRATCH/out.txt"; then
    echo "ok   caught: $what"; passed=$((passed + 1))
  else
    echo "FAIL $what: check failed, but without /$want/:"; sed 's/^/     /' "$SCRATCH/out.txt"; failed=$((failed + 1))
  fi
}

edit='
import pathlib, sys
def edit(path, old, new):
    p = pathlib.Path(path); s = p.read_text()
    assert old in s, (path, old)
    p.write_text(s.replace(old, new, 1))
'

expect_pass
expect_fail "shard count changed without the shard list" "does not match StatefulSet session" "$edit
edit('deploy/k8s/overlays/dev/kustomization.yaml', '    count: 3', '    count: 4')"
expect_fail "shard list out of order" "does not match StatefulSet session" "$edit
edit('deploy/k8s/overlays/prod/kustomization.yaml', 'session-0.session.knotwork.svc', 'session-9.session.knotwork.svc')"
expect_fail "compose shard list missing a shard" "KNOTWORK_SESSION_SHARDS .* does not name the session services" "$edit
edit('deploy/compose/compose.yaml', ',http://session-2:50053', '')"
# Misspelled names are spelt in two pieces here, so that this file itself
# passes the env-name scan of deploy/.
expect_fail "unknown env name" "CATALOG_LISTN .*read by no binary" "$edit
edit('deploy/compose/compose.yaml', 'KNOTWORK_CATALOG_LISTEN: 0.0.0.0:50052', 'KNOTWORK_' 'CATALOG_LISTN: 0.0.0.0:50052')"
expect_fail "a setting given to the wrong binary" "sets KNOTWORK_JWT_SECRET, which knotwork-session does not read" "$edit
edit('deploy/k8s/base/kustomization.yaml', '      - KNOTWORK_GUIDE_SPEEDUP=1', '      - KNOTWORK_GUIDE_SPEEDUP=1\n      - KNOTWORK_JWT_SECRET=x')"
expect_fail "required setting missing" "required setting KNOTWORK_INTERNAL_TOKEN is not set" "$edit
import re
p = pathlib.Path('deploy/k8s/base/catalog.yaml'); s = p.read_text()
p.write_text(re.sub(r'          env:\n(            .*\n)+?          # Health', '          # Health', s, count=1))"
expect_fail "binary no longer reads a required setting" "KNOTWORK_SESSION_SHARDS is not read by knotwork-gateway" "$edit
edit('crates/gateway/src/config.rs', 'KNOTWORK_SESSION_SHARDS', 'KNOTWORK_' 'SHARDS')"
expect_fail "wrong catalog port for the session service" "KNOTWORK_CATALOG_URL entry" "$edit
edit('deploy/k8s/overlays/dev/kustomization.yaml', 'KNOTWORK_CATALOG_URL=http://catalog.knotwork-dev.svc.cluster.local:50052', 'KNOTWORK_CATALOG_URL=http://catalog.knotwork-dev.svc.cluster.local:50053')"
expect_fail "loopback listen address" "must listen on all interfaces" "$edit
edit('deploy/k8s/base/kustomization.yaml', 'KNOTWORK_GATEWAY_LISTEN=0.0.0.0:50051', 'KNOTWORK_GATEWAY_LISTEN=127.0.0.1:50051')"
expect_fail "probe on the wrong port" "readinessProbe probes port 9999" "$edit
p = pathlib.Path('deploy/k8s/base/gateway.yaml'); s = p.read_text()
i = s.index('readinessProbe:'); j = s.index('port: 50051', i)
p.write_text(s[:j] + 'port: 9999' + s[j + len('port: 50051'):])"
expect_fail "grace period shorter than preStop + drain + hard stop" "terminationGracePeriodSeconds 30 is shorter than the shutdown: preStop 5 s \\+ drain 25 s" "$edit
edit('deploy/k8s/base/gateway.yaml', 'terminationGracePeriodSeconds: 35', 'terminationGracePeriodSeconds: 30')"
expect_fail "drain lengthened past the grace period" "terminationGracePeriodSeconds 45 is shorter than the shutdown" "$edit
edit('deploy/k8s/base/kustomization.yaml', '      - KNOTWORK_GUIDE_SPEEDUP=1', '      - KNOTWORK_GUIDE_SPEEDUP=1\n      - KNOTWORK_SHUTDOWN_GRACE_SECONDS=60')"
expect_fail "prod session calling the catalog in plain text" "prod: KNOTWORK_CATALOG_URL entry .* must be https://" "$edit
edit('deploy/k8s/overlays/prod/kustomization.yaml', 'KNOTWORK_CATALOG_URL=https://', 'KNOTWORK_CATALOG_URL=http://')"
expect_fail "prod internal credential from an unmanaged Secret" "must come from the overlay's secretGenerator" "$edit
edit('deploy/k8s/overlays/prod/kustomization.yaml', '  - name: knotwork-secrets\n    files:', '  - name: knotwork-other\n    files:')"
expect_fail "liveness that follows storage" "livenessProbe must ask for the health service 'liveness'" "$edit
p = pathlib.Path('deploy/k8s/base/session.yaml'); s = p.read_text()
i = s.index('livenessProbe:'); j = s.index('              service: liveness', i)
p.write_text(s[:j] + s[j + len('              service: liveness') + 1:])"
expect_fail "a dashboard query naming a metric nobody exports" "knotwork_session_bogus_total is not exported" "$edit
edit('deploy/observability/dashboard.json', 'knotwork_session_writer_queue_depth', 'knotwork_session_bogus_total')"
expect_fail "an alert whose unit test no longer fires" "promtool test rules" "$edit
edit('deploy/observability/alerts.yaml', 'rate(knotwork_session_commit_duration_seconds_bucket[5m]))) > 0.25', 'rate(knotwork_session_commit_duration_seconds_bucket[5m]))) > 5')"
expect_fail "a rule that does not parse" "promtool check rules" "$edit
edit('deploy/observability/alerts.yaml', 'expr: max by (backend) (knotwork_gateway_backend_up{role=\"session\"}) == 0', 'expr: max by (backend (knotwork_gateway_backend_up == 0')"
expect_fail "writable root filesystem" "readOnlyRootFilesystem must be true" "$edit
edit('deploy/k8s/base/session.yaml', 'readOnlyRootFilesystem: true', 'readOnlyRootFilesystem: false')"
expect_fail "prod left in dev mode" "KNOTWORK_MODE must be prod" "$edit
edit('deploy/k8s/overlays/prod/kustomization.yaml', '      - KNOTWORK_MODE=prod', '      - KNOTWORK_MODE=dev')"
expect_fail "prod with a wildcard CORS origin" "KNOTWORK_CORS_ORIGINS=.* must list explicit" "$edit
edit('deploy/k8s/overlays/prod/kustomization.yaml', 'KNOTWORK_CORS_ORIGINS=https://app.knotwork.example,https://www.knotwork.example', 'KNOTWORK_CORS_ORIGINS=*')"
expect_fail "network policy lets the catalog reach the shards" "NetworkPolicy lets .* reach session" "$edit
p = pathlib.Path('deploy/k8s/base/networkpolicy.yaml'); s = p.read_text()
i = s.index('name: session-ingress'); j = s.index('app.kubernetes.io/name: gateway', i)
p.write_text(s[:j] + 'app.kubernetes.io/name: catalog' + s[j + len('app.kubernetes.io/name: gateway'):])"
expect_fail "Kubernetes schema violation" "did not validate" "$edit
edit('deploy/k8s/base/session.yaml', 'minReadySeconds: 10', 'minReadySeconds: ten')"
expect_fail "unknown Kubernetes field" "Additional properties are not allowed" "$edit
edit('deploy/k8s/base/catalog.yaml', 'periodSeconds: 5', 'periodSecondz: 5')"
expect_fail "compose-spec schema violation" "bogus_key" "$edit
edit('deploy/compose/compose.yaml', '    expose: [\"50052\"]', '    expose: [\"50052\"]\n    bogus_key: 1')"
expect_fail "a backend publishing a port in compose" "publishes ports; only the gateway may" "$edit
edit('deploy/compose/compose.yaml', '    expose: [\"50052\"]', '    expose: [\"50052\"]\n    ports: [\"50052:50052\"]')"
expect_fail "a required compose variable missing from .env.example" "KNOTWORK_JWT_SECRET. is required" "$edit
edit('deploy/compose/.env.example', 'KNOTWORK_JWT_SECRET=change-me-jwt-secret', '')"
expect_fail "Dockerfile error" "Dockerfile" "$edit
edit('deploy/Dockerfile', 'WORKDIR /src', 'WORKDIR src')"
expect_fail "kustomize render error" "does not render" "$edit
edit('deploy/k8s/overlays/dev/kustomization.yaml', '  - ../../base', '  - ../../missing')"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
