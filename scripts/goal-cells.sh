#!/usr/bin/env bash
# The issue's goal cells, every sender in one invocation per cell (senders interleaved,
# best of --repeat), as recorded in BENCHMARKS.md. Usage: bash scripts/goal-cells.sh [repeat]
set -euo pipefail
cd "$(dirname "$0")/.."
repeat="${1:-3}"
cargo build --release -q -p mmsg-cli --features peers
bench() { ./target/release/mmsg bench --count 200000 --repeat "$repeat" "$@"; }
for cell in "mixed 8 64 64" "mixed 8 1200 64" "mixed 1 1200 64" "fanout 8 1200 64" "mixed 1 64 1"; do
    set -- $cell
    echo "## $1 --dests $2 --size $3 --batch $4"
    bench --workload "$1" --dests "$2" --size "$3" --batch "$4" |
        awk '{ sub(":", "", $2); print $2 ": " $(NF-1) }'
done
