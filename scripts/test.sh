#!/usr/bin/env bash
# The whole test suite, twice: once with the batch calls (sendmmsg/recvmmsg) as the default
# send path, once with the portable sendmsg/recvmsg loop forced on (feature `portable`), so
# both paths are proven on Linux.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== test suite, sendmmsg path"
cargo test --features tokio
echo "== test suite, portable sendmsg path"
cargo test --features tokio,portable
echo "== the benchmark's C peers (sendmmsg, UDP_SEGMENT, GLib)"
cargo test -p mmsg-bench-peers
