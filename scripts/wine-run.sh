#!/usr/bin/env bash
# Cargo runner for x86_64-pc-windows-gnu: runs a Windows .exe under wine 8.0 (Debian 12's
# wine64 package), in the prefix that scripts/wine-setup.sh made, which holds our
# bcryptprimitives.dll (ProcessPrng; without it every Rust >= 1.78 program exits with 53).
#
#   export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=/abs/path/to/scripts/wine-run.sh
#   cargo test --target x86_64-pc-windows-gnu          # unit, integration and doc tests
# or `. scripts/wine-env.sh`, which exports that and the wine variables (see its header,
# also for stopping the wineserver afterwards).
#
# Exit status: exec keeps the program's own, as wine's loader passes it on (measured, wine
# 8.0): a test binary that passes exits 0; one with a failed test (or a bad flag) exits 101,
# libtest's code, so cargo reports the failure and exits non-zero itself. Wine gives only
# the low 8 bits of the 32-bit Windows exit code, but never turns a failure into 0: a code
# whose low byte is 0 comes out as 1 (exit(256) -> 1, exit(512) -> 1, exit(258) -> 2).
# Crashes: abort() (0xC0000409, fast fail) -> 9, access violation (0xC0000005) -> 5,
# stack overflow (0xC00000FD) -> 253. A missing bcryptprimitives.dll would give 53 (with
# WINEDEBUG=-all, silently): this script checks for it first and exits 127 instead.
# Wine's chatter is off (WINEDEBUG=-all) unless WINEDEBUG is already set, e.g. WINEDEBUG=err+all.
set -u
# shellcheck source=wine-env.sh
. "$(dirname "${BASH_SOURCE[0]}")/wine-env.sh"
if [ ! -f "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" ]; then
    echo "wine-run.sh: no prepared wine prefix at $WINEPREFIX;" \
        "run scripts/wine-setup.sh (with the same CARGO_TARGET_DIR) first" >&2
    exit 127
fi
if [ ! -x "$MMSG_WINE64" ]; then
    echo "wine-run.sh: $MMSG_WINE64 missing: run scripts/wine-setup.sh" >&2
    exit 127
fi
# Headless: tests never need a window, and a stale DISPLAY would only slow wine down.
unset DISPLAY WAYLAND_DISPLAY
exec "$MMSG_WINE64" "$@"
