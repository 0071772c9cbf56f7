# Every developer command. README's two commands are `just dev` and `just test`.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Build cache outside the clone, shared between runs (never `cargo clean` it in CI).
export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", env_var("HOME") + "/.cache/weelo-target")
export DATABASE_URL := env_var_or_default("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/weelo")
export REDIS_URL := env_var_or_default("REDIS_URL", "redis://127.0.0.1:6379")

bin := CARGO_TARGET_DIR / "debug"

default:
    @just --list

# Start local PostgreSQL and Redis when none answers (see scripts/services).
services:
    scripts/services

# Build both binaries.
build:
    cargo build --locked -p weelo-api -p weelo-worker

# Create the dev database if missing and apply migrations.
migrate: services build
    #!/usr/bin/env bash
    set -euo pipefail
    db="${DATABASE_URL##*/}"; db="${db%%\?*}"
    server="${DATABASE_URL%/*}"
    if ! psql "$server/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
      psql "$server/postgres" -qc "CREATE DATABASE \"$db\"" && echo "created database $db"
    fi
    "{{bin}}/weelo-api" migrate

# Run the API and the worker together, with prefixed logs. Ctrl-C stops both.
dev: migrate
    #!/usr/bin/env bash
    set -euo pipefail
    trap 'kill 0 2>/dev/null' EXIT INT TERM
    api="${WEELO_HTTP_ADDR:-127.0.0.1:8080}"
    worker="${WEELO_WORKER_HTTP_ADDR:-127.0.0.1:9090}"
    ops="${WEELO_OPS_ADDR:-127.0.0.1:8081}"
    WEELO_HTTP_ADDR="$api" WEELO_OPS_ADDR="$ops" "{{bin}}/weelo-api" 2>&1 | sed -u 's/^/[api]    /' &
    WEELO_WORKER_HTTP_ADDR="$worker" "{{bin}}/weelo-worker" 2>&1 | sed -u 's/^/[worker] /' &
    for _ in $(seq 1 100); do curl -sf "http://$api/health/ready" >/dev/null && break; sleep 0.1; done
    echo
    echo "  API        http://$api          (ready: http://$api/health/ready)"
    echo "  Docs       http://$api/docs     (spec: http://$api/openapi.json)"
    echo "  Socket.IO  ws://$api/socket.io  (WebSocket transport; auth: { token })"
    echo "  Worker     http://$worker/health/ready  http://$worker/metrics"
    echo "  Ops        http://$ops/          (admins: {{bin}}/weelo-api admin add PHONE)"
    echo "  OTP codes are printed in the [api] log (development SMS sender)."
    echo
    wait

# The whole test suite against real PostgreSQL and Redis (started if needed), plus the static checks.
test: services
    #!/usr/bin/env bash
    set -euo pipefail
    started=$(date +%s)
    tools="$(scripts/pytools | tail -1)"
    export PATH="$tools:$PATH"
    scripts/test-db-clean
    cargo test --locked --workspace --exclude weelo-worker --no-fail-fast
    # The worker's end-to-end tests each run an API and a worker process with tight timing
    # assertions: three at a time keeps 2 cores from starving them.
    cargo test --locked -p weelo-worker --no-fail-fast -- --test-threads=3
    # The contract: spec lint, SDK drift, the TypeScript SDK against a live API, schemathesis.
    WEELO_API_BIN="$CARGO_TARGET_DIR/debug/weelo-api" scripts/contract-check
    # Bounded chaos: kill -9 worker and API, restart Redis and PostgreSQL (private instances)
    # under load, then audit. Nothing is excused: every check must pass.
    scripts/chaos --quick
    scripts/check-infra
    echo "just test: passed in $(( $(date +%s) - started )) s"

# cargo fmt --check, clippy with warnings as errors, and the query macros' offline data (.sqlx/) checked against a freshly migrated database.
lint: services
    cargo fmt --all -- --check
    cargo clippy --locked --workspace --all-targets -- -D warnings
    scripts/sqlx-prepare --check

# Regenerate .sqlx/ after adding or changing a query macro (commit the result).
sqlx-prepare: services
    scripts/sqlx-prepare

# Write openapi/openapi.json from the code (no database or Redis needed).
openapi:
    cargo run --locked -q -p weelo-api -- openapi > openapi/openapi.json

# Fail if openapi/openapi.json differs from what the code generates.
openapi-check:
    cargo run --locked -q -p weelo-api -- openapi | diff -u openapi/openapi.json - && echo "openapi.json is up to date"

# Terraform fmt, checkov and actionlint.
check-infra:
    scripts/check-infra

fmt:
    cargo fmt --all

# Regenerate the app SDKs in openapi/sdk/ (Kotlin, Swift, TypeScript) from openapi/openapi.json.
sdk:
    scripts/sdk

# The API contract check: spec lint, SDK drift, TypeScript SDK against a live API, bounded schemathesis.
contract:
    scripts/contract-check

# A longer schemathesis run against a live API as each role (WEELO_FUZZ_EXAMPLES per operation, default 100).
fuzz:
    scripts/contract-check --long --only spec,fuzz

# Measure the targets (release builds, real processes, same-run pgbench/redis-benchmark baselines)
# and write docs/BENCHMARKS.md. `just bench contention` runs one scenario without writing.
bench *scenario:
    scripts/services
    cargo build --locked --release -p weelo-api -p weelo-worker -p weelo-bench
    "$CARGO_TARGET_DIR/release/weelo-bench" {{scenario}}

# The chaos suite, full run (a few minutes): load + kill -9 worker and API, Redis and PostgreSQL restarts on private instances, then an audit.
chaos: build
    scripts/chaos

# The chaos suite, bounded (under 2 minutes): the same faults and audit on a shorter load (part of `just test`).
chaos-quick: build
    scripts/chaos --quick
