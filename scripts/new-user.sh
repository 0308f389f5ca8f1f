#!/usr/bin/env bash
# A new user's crate depending on the library by path, default features: it must pull in
# only mmsg, socket2, libc and bitflags, and build without a C compiler.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo new -q --bin "$work/user"
printf 'mmsg = { path = "%s" }\n' "$root" >>"$work/user/Cargo.toml"
cd "$work/user"
CC=/nonexistent CARGO_TARGET_DIR="$work/target" cargo build -q
packages=$(cargo tree -q --prefix none -e normal | sed 's/ .*//' | sort -u | grep -v '^user$' | paste -sd' ')
echo "packages: $packages"
[ "$packages" = "bitflags libc mmsg socket2" ] || { echo "unexpected dependencies: $packages"; exit 1; }
