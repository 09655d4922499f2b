#!/usr/bin/env bash
# Coverage-guided fuzzing with cargo-fuzz (libFuzzer) of request validation,
# the catalog data loader and page tokens: each target in fuzz/ runs for a
# bounded time (KNOTWORK_FUZZ_SECONDS, 60 by default) from the committed
# corpus in fuzz/corpus/<target>/; any crash fails CI and leaves its input in
# fuzz/artifacts/<target>/ (add it to the corpus once fixed).
#
# cargo-fuzz needs nightly compiler flags. With a nightly toolchain it is
# used; otherwise the stable toolchain runs them with RUSTC_BOOTSTRAP=1 (CI
# machines cannot download toolchains). Installs cargo-fuzz into
# $HOME/.cache/knotwork-tools unless the pinned version is there; builds into
# $HOME/.cache/knotwork-fuzz-target (instrumented builds share nothing with
# the normal target dir). New inputs go to a temporary folder, so the
# committed corpus is read only here.
#
# No sanitizer (`--sanitizer none`): every crate of ours forbids unsafe code,
# so AddressSanitizer would watch only our dependencies, while it nearly
# doubles the instrumented build (10 vs 18 CPU minutes cold) and slows each
# execution. Panics, hangs, INTERNAL answers and memory blow-ups (rss limit)
# are what the targets look for. Set KNOTWORK_FUZZ_SANITIZER=address to
# fuzz with ASan locally.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_VERSION=0.13.2
TOOLS="$HOME/.cache/knotwork-tools"
TARGET_DIR="$HOME/.cache/knotwork-fuzz-target"
SECONDS_PER_TARGET="${KNOTWORK_FUZZ_SECONDS:-60}"
RSS_LIMIT_MB="${KNOTWORK_FUZZ_RSS_MB:-2048}"
SANITIZER="${KNOTWORK_FUZZ_SANITIZER:-none}"
TARGETS=(requests catalog_loader page_tokens)
export PATH="$TOOLS/bin:$PATH"
export CARGO_TERM_COLOR=never

if [ "$(cargo-fuzz --version 2>/dev/null || true)" != "cargo-fuzz $FUZZ_VERSION" ]; then
  started=$(date +%s)
  cargo install --locked --quiet --root "$TOOLS" cargo-fuzz --version "$FUZZ_VERSION"
  echo "cargo-fuzz $FUZZ_VERSION installed in $(( $(date +%s) - started )) s"
fi

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
  echo "toolchain: nightly"
else
  toolchain=(+stable)
  export RUSTC_BOOTSTRAP=1
  echo "toolchain: stable with RUSTC_BOOTSTRAP=1 (no nightly installed)"
fi

cd fuzz
started=$(date +%s)
cargo "${toolchain[@]}" fuzz build --sanitizer "$SANITIZER" --target-dir "$TARGET_DIR"
echo "fuzz targets built in $(( $(date +%s) - started )) s"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
summary=()
for t in "${TARGETS[@]}"; do
  echo "== fuzz $t (${SECONDS_PER_TARGET} s)"
  mkdir -p "$scratch/$t"
  log="$scratch/$t.log"
  # KNOTWORK_FUZZ_KEEP=1 (by hand, to grow the corpus): new inputs go into
  # corpus/<target>; minimize afterwards with `cargo fuzz cmin <target>`.
  dirs=("$scratch/$t" "corpus/$t")
  if [ "${KNOTWORK_FUZZ_KEEP:-0}" = 1 ]; then dirs=("corpus/$t"); fi
  if ! cargo "${toolchain[@]}" fuzz run --sanitizer "$SANITIZER" --target-dir "$TARGET_DIR" "$t" "${dirs[@]}" -- \
      -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb="$RSS_LIMIT_MB" -timeout=10 \
      -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz $t: FAILED (crash input in fuzz/artifacts/$t/)"
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*' || echo "?")
  summary+=("$t: $runs executions in ${SECONDS_PER_TARGET} s, coverage $cov, no crash")
done
printf 'fuzz: %s\n' "${summary[@]}"
