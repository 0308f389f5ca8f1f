#!/usr/bin/env bash
# The library's test suite built for Windows (x86_64-pc-windows-gnu) and run under wine:
# unit tests, integration tests and doctests, with tokio; then the CLI built for Windows,
# its tests and `mmsg demo` run under wine. Installs what it needs (MinGW, wine, the rustup target,
# a wine prefix under target/ with its small ProcessPrng DLL: scripts/wine-setup.sh).
#
# Tests that need what wine lacks (segmentation offload, ECN)
# are marked `ignore` on Windows with the reason; on a real Windows run them with
# `cargo test -p mmsg --features tokio -- --include-ignored`.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-pc-windows-gnu

bash scripts/wine-setup.sh
# shellcheck source=wine-env.sh
. scripts/wine-env.sh
trap 'bash scripts/wine-stop.sh' EXIT

echo "== Windows: the library's tests under wine"
cargo test -p mmsg --features tokio --target "$target"
echo "== Windows: the CLI's tests under wine (its bench is Linux-only)"
cargo test -p mmsg-cli --target "$target"
echo "== Windows: mmsg demo under wine"
cargo run -q -p mmsg-cli --release --target "$target" -- demo
