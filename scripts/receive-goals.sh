#!/usr/bin/env bash
# The issue's receive goal cells: `mmsg bench --workload receive --size B --count 200000
# --repeat 5`, every receiver in one invocation (receivers interleaved, best of 5), run
# RUNS times per size; prints each run's ratios and their medians, as recorded in
# BENCHMARKS.md. Usage: bash scripts/receive-goals.sh [runs] [count] [size...]
# MMSG_BIN=path runs that binary instead of building this tree's (to compare two builds).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
count="${2:-200000}"
sizes="${*:3}"
mmsg="${MMSG_BIN:-./target/release/mmsg}"
if [ -z "${MMSG_BIN:-}" ]; then
    cargo build --release -q -p mmsg-cli --features peers
fi
pairs="mmsg/c-gro mmsg/quinn-udp mmsg-no-gro/c-recvmmsg mmsg-no-gro/glib mmsg/c-gro-recvmmsg mmsg-messages/glib"
for size in ${sizes:-1200 64}; do
    echo "## --size $size --count $count --repeat 5, $runs runs"
    for run in $(seq "$runs"); do
        "$mmsg" bench --workload receive --size "$size" --count "$count" \
            --repeat 5 --json |
            sed -E 's/.*"receiver":"([^"]*)".*"ns_per_datagram":([0-9.]*),"pps":([0-9]*)}/\1 \3 \2/'
    done | awk -v runs="$runs" -v pairs="$pairs" '
        # Input: receiver pps ns, one line per receiver, the runs one after the other.
        { n[$1]++; pps[$1, n[$1]] = $2; ns[$1, n[$1]] = $3; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
        function median(a, m,    i, j, t) {
            for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
            return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
        }
        END {
            printf "%-15s %12s %10s\n", "receiver", "median pps", "ns/dgram"
            for (i = 1; i <= k; i++) {
                r = order[i]; delete a; delete b
                for (j = 1; j <= n[r]; j++) { a[j] = pps[r, j]; b[j] = ns[r, j] }
                printf "%-15s %12.0f %10.1f\n", r, median(a, n[r]), median(b, n[r])
            }
            np = split(pairs, p, " ")
            for (q = 1; q <= np; q++) {
                split(p[q], ab, "/"); line = ""; delete a
                for (j = 1; j <= runs; j++) { a[j] = pps[ab[1], j] / pps[ab[2], j]; line = line sprintf(" %.3f", a[j]) }
                printf "%-26s median %.3f  (runs:%s)\n", p[q], median(a, runs), line
            }
        }'
done
