#!/usr/bin/env bash
# Every test of every crate of the workspace, with the library's two send paths: once with
# the batch calls (sendmmsg/recvmmsg) as the default, once with the portable
# sendmsg/recvmsg loop forced on (the library's feature `portable`); then the library's
# suite built for Windows and run under wine (scripts/test-windows.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== test suite, sendmmsg path (library with tokio, CLI with the C peers, peers)"
cargo test --workspace --features mmsg/tokio,mmsg-cli/peers
echo "== test suite, portable sendmsg path"
cargo test --workspace --features mmsg/tokio,mmsg-cli/portable,mmsg-cli/peers
echo "== test suite, Windows build under wine"
bash scripts/test-windows.sh
