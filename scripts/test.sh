#!/usr/bin/env bash
# The project's whole test run (what `.ci/run` calls; the README's test command).
#
#   scripts/test.sh
#
# 1. formatting and lints (clippy with -D warnings, every target);
# 2. the dependency arrows: vigie-processors must not depend on a runtime,
#    a network client or a server framework;
# 3. the real parts the tests start on free loopback ports: the
#    Kafka-protocol broker tansu 0.6.0 (installed into ~/.cargo/bin when
#    missing, about 8 minutes on 2 cores), and promtool (Debian package
#    prometheus, installed with apt-get when missing) to check /metrics;
#    ClickHouse 18.16 (Debian package clickhouse-server, apt-get) and chdb
#    (PyPI, pip) for the ClickHouse DDL; Chromium and chromedriver (Debian
#    packages chromium, chromium-driver) for the console's browser test;
#    schemathesis 4.32.5 (PyPI, pip) for the API contract test;
# 4. every test of the workspace (cargo nextest), then the doc tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

echo "== fmt"
cargo fmt --all -- --check

echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== dependency arrows"
# The compute crates stay free of runtimes, network clients, servers and Arrow.
forbidden='^(tokio|rdkafka|axum|hyper|clickhouse|reqwest|datafusion|arrow|arrow-[a-z]+|parquet) '
for crate in vigie-schemas vigie-processors vigie-ingest; do
  if cargo tree -p "$crate" -e normal --prefix none --locked | grep -E "$forbidden"; then
    echo "$crate must not depend on the crates above (see docs/architecture.md, crates and arrows)" >&2
    exit 1
  fi
done
# The API crate reads history and serves the pipeline through traits: it
# neither decodes sources nor computes.
if cargo tree -p vigie-query-api -e normal --prefix none --locked | grep -E '^(vigie-ingest|vigie-processors) '; then
  echo "vigie-query-api must not depend on vigie-ingest or vigie-processors (see docs/architecture.md, crates and arrows)" >&2
  exit 1
fi

echo "== real parts"
if ! command -v tansu >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/tansu" ]; then
  echo "installing tansu 0.6.0 (Kafka-protocol broker for the Kafka tests)"
  cargo install tansu --version 0.6.0 --locked --features dynostore
fi
export VIGIE_TANSU=${VIGIE_TANSU:-$(command -v tansu || echo "$HOME/.cargo/bin/tansu")}
"$VIGIE_TANSU" --version >/dev/null 2>&1 || "$VIGIE_TANSU" --help >/dev/null

# Debian packages, installed once when missing.
missing=()
if ! command -v promtool >/dev/null 2>&1 && [ -z "${VIGIE_PROMTOOL:-}" ]; then missing+=(prometheus); fi
if ! command -v clickhouse-server >/dev/null 2>&1 && [ -z "${VIGIE_CLICKHOUSE:-}" ]; then missing+=(clickhouse-server); fi
if ! command -v chromium >/dev/null 2>&1 && [ -z "${VIGIE_CHROMIUM:-}" ]; then missing+=(chromium); fi
if ! command -v chromedriver >/dev/null 2>&1 && [ -z "${VIGIE_CHROMEDRIVER:-}" ]; then missing+=(chromium-driver); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (promtool checks /metrics; clickhouse-server runs the ClickHouse tests; chromium and its driver the console test)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
export VIGIE_PROMTOOL=${VIGIE_PROMTOOL:-$(command -v promtool)}
"$VIGIE_PROMTOOL" --version >/dev/null
export VIGIE_CLICKHOUSE=${VIGIE_CLICKHOUSE:-$(command -v clickhouse-server)}
export VIGIE_CHROMIUM=${VIGIE_CHROMIUM:-$(command -v chromium)}
export VIGIE_CHROMEDRIVER=${VIGIE_CHROMEDRIVER:-$(command -v chromedriver)}
"$VIGIE_CHROMEDRIVER" --version >/dev/null
export VIGIE_PYTHON=${VIGIE_PYTHON:-python3}
# chdb checks the ClickHouse DDL on a current engine; PyYAML and jsonschema
# check docker-compose.yml against the Compose Specification's schema.
if ! "$VIGIE_PYTHON" -c "import chdb, yaml, jsonschema" >/dev/null 2>&1; then
  echo "installing chdb, pyyaml and jsonschema (PyPI) for the ClickHouse DDL and compose checks"
  "$VIGIE_PYTHON" -m pip install --quiet chdb pyyaml jsonschema 2>/dev/null \
    || "$VIGIE_PYTHON" -m pip install --quiet --break-system-packages chdb pyyaml jsonschema
fi

# schemathesis checks the API against its OpenAPI document (tests/contract.rs).
if [ -z "${VIGIE_SCHEMATHESIS:-}" ]; then
  scripts_dir=$("$VIGIE_PYTHON" -c "import sysconfig; print(sysconfig.get_path('scripts'))")
  if ! "$scripts_dir/schemathesis" --version 2>/dev/null | grep -q "4.32.5"; then
    echo "installing schemathesis 4.32.5 (PyPI) for the API contract test"
    "$VIGIE_PYTHON" -m pip install --quiet "schemathesis==4.32.5" 2>/dev/null \
      || "$VIGIE_PYTHON" -m pip install --quiet --break-system-packages "schemathesis==4.32.5"
  fi
  export VIGIE_SCHEMATHESIS="$scripts_dir/schemathesis"
fi
"$VIGIE_SCHEMATHESIS" --version >/dev/null

echo "== tests"
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast --lib --bins --tests
fi
cargo test --workspace --locked --doc

echo "== fuzz (short)"
# Each decoder fuzzed for a few seconds when the nightly toolchain is here
# (fuzz/: cargo fuzz, outside the workspace); a crash fails the run and
# leaves its input in fuzz/artifacts/. The corpus grows in the target dir.
if cargo +nightly --version >/dev/null 2>&1; then
  if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz 0.13.2 (about 3 minutes on 2 cores)"
    cargo install cargo-fuzz --version 0.13.2 --locked
  fi
  fuzz_target_dir="$CARGO_TARGET_DIR/fuzz"
  for t in event_body csv_series sheets snapshot parquet_upload multipart; do
    mkdir -p "$fuzz_target_dir/corpus/$t"
    log="$fuzz_target_dir/$t.log"
    if ! (cd fuzz && CARGO_TARGET_DIR="$fuzz_target_dir" cargo +nightly fuzz run "$t" \
      "$fuzz_target_dir/corpus/$t" "seeds/$t" -- -max_total_time="${VIGIE_FUZZ_SECONDS:-10}" -timeout=30 >"$log" 2>&1); then
      tail -40 "$log" >&2
      echo "fuzz target $t failed (a crash leaves its input in fuzz/artifacts/$t)" >&2
      exit 1
    fi
    echo "$t: $(grep -E '^Done' "$log")"
  done
else
  echo "no nightly toolchain: fuzzing skipped"
fi
