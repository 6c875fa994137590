#!/usr/bin/env bash
# Runs every check and test of the workspace: formatting, clippy with
# warnings as errors, and the whole test suite. Tests that talk to the real
# PC/SC stack need pcscd with the vpcd driver running (see .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
