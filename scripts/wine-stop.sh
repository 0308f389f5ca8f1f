#!/usr/bin/env bash
# Stop the wineserver of our wine prefix (and the wine service processes it keeps), and wait
# until it is gone. Harmless when none runs. Only this prefix's server: other prefixes'
# wine sessions are left alone. Same prefix rule as wine-env.sh (CARGO_TARGET_DIR,
# MMSG_WINEPREFIX).
set -u
# shellcheck source=wine-env.sh
. "$(dirname "${BASH_SOURCE[0]}")/wine-env.sh"
[ -d "$WINEPREFIX" ] || exit 0
[ -x "$MMSG_WINESERVER" ] || exit 0
"$MMSG_WINESERVER" -k 2>/dev/null
"$MMSG_WINESERVER" -w 2>/dev/null
exit 0
