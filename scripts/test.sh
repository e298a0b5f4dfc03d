#!/usr/bin/env bash
# Runs heliport's whole test suite: Rust unit and integration tests, then the
# end-to-end tests that drive heliport with the official OpenAI and Anthropic
# Python SDKs. Installs what the tests need (a Python virtualenv with the SDKs,
# and Chromium with chromedriver for the dashboard's browser test).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> browser for the dashboard tests"
scripts/setup-browser.sh
# Here the browser test must run: without chromedriver it fails, not skips.
export HELIPORT_BROWSER_TESTS=required

echo "==> cargo test (unit and integration tests)"
cargo build --workspace --bins
cargo test --workspace

echo "==> Python end-to-end tests (official SDKs)"
scripts/setup-python.sh
HELIPORT_BIN="$PWD/target/debug/heliport" .venv/bin/python -m pytest -q tests/e2e
