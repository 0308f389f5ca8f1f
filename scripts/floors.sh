#!/usr/bin/env bash
# Proves the library's declared floors as a registry user meets them: the packaged crate
# (what `cargo publish` uploads, outside this workspace) resolved with its direct
# dependencies at the lowest versions Cargo.toml allows (nightly cargo's
# -Z direct-minimal-versions), checked with nightly and with the declared rust-version.
set -euo pipefail
cd "$(dirname "$0")/.."
msrv=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
rustup toolchain install nightly --profile minimal >/dev/null 2>&1
rustup toolchain install "$msrv" --profile minimal >/dev/null 2>&1
cargo package -p mmsg --allow-dirty --no-verify -q
version=$(cargo pkgid -p mmsg | sed 's/.*[#@]//')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "target/package/mmsg-$version.crate" -C "$work"
cd "$work/mmsg-$version"
export CARGO_TARGET_DIR="$work/target"
cargo +nightly -Z direct-minimal-versions generate-lockfile -q
echo "floors: $(grep -A1 -E '^name = "(socket2|libc|bitflags|tokio)"$' Cargo.lock | grep -o '"[^"]*"' | paste -sd' ')"
cargo +nightly check -q --all-features --lib --examples
cargo "+$msrv" check -q --all-features --lib
cargo "+$msrv" check -q --lib
echo "floors and rust-version $msrv: ok"
