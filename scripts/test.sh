#!/usr/bin/env bash
# The project's test command (README, .ci/run): prepare the test environment,
# then formatting, lints and every test target of the single `nestci` package.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

phase() { printf '\n==> %s\n' "$*"; }

phase "[1/4] test environment: scripts/test-env.sh"
scripts/test-env.sh

phase "[2/4] format: cargo fmt --all -- --check"
cargo fmt --all -- --check

phase "[3/4] lint: cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

phase "[4/4] test: cargo test --all-targets"
cargo test --all-targets
