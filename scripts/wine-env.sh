# shellcheck shell=bash
# Source this (bash) to run the Windows build's tests under wine:
#
#   scripts/wine-setup.sh                 # once per machine / target dir (as root if apt must install)
#   . scripts/wine-env.sh                 # in each shell
#   nice -n 10 cargo test --target x86_64-pc-windows-gnu
#   scripts/wine-stop.sh                  # at the end: stop this prefix's wineserver
#
# It exports:
#   CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER  this directory's wine-run.sh (absolute), so cargo
#                                              runs unit tests, integration tests, examples
#                                              (cargo run) and doctests through wine
#   MMSG_WINEPREFIX, WINEPREFIX                the prefix, ${CARGO_TARGET_DIR:-<repo>/target}/wine-prefix
#                                              made absolute now (set MMSG_WINEPREFIX first to
#                                              use another one; a WINEPREFIX of your own is ignored)
#   WINEDEBUG=-all                             no fixme/err chatter on stderr (a WINEDEBUG
#                                              already set is kept, for debugging wine)
#   WINEDLLOVERRIDES="mscoree,mshtml="         no Mono/Gecko install prompts
#
# Without sourcing, the same by hand (the runner computes the prefix the same way):
#   export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=/abs/path/to/scripts/wine-run.sh
#
# Cleanup: after the last wine program exits, its prefix's wineserver (/usr/lib/wine/
# wineserver64 -p0) and the services it started (services.exe, explorer.exe /desktop,
# winedevice.exe x2, plugplay.exe, svchost.exe, rpcss.exe) stay about 3.5 s, then all exit
# by themselves (measured). To stop them at once and wait (~0.5 s): scripts/wine-stop.sh,
# or by hand
#   WINEPREFIX=<the prefix> /usr/lib/wine/wineserver -k
# That stops this prefix's server only (one per prefix), but also kills every wine program
# running in it, so not while a cargo test on the same prefix is still running.
# Start-up cost: ~0.6 s for the first program when no server runs, ~0.07 s while it does.

# Also used by wine-setup.sh, wine-run.sh and wine-stop.sh, so all agree on the prefix.

mmsg_wine_scripts=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
if [ -z "${MMSG_WINEPREFIX:-}" ]; then
    if [ -n "${CARGO_TARGET_DIR:-}" ]; then
        # A relative CARGO_TARGET_DIR is relative to where cargo was started; resolve it now.
        MMSG_WINEPREFIX=$(realpath -m -- "$CARGO_TARGET_DIR")/wine-prefix
    else
        MMSG_WINEPREFIX=$(dirname "$mmsg_wine_scripts")/target/wine-prefix
    fi
fi
export MMSG_WINEPREFIX
export WINEPREFIX="$MMSG_WINEPREFIX"
export WINEDEBUG="${WINEDEBUG:--all}"
export WINEDLLOVERRIDES="mscoree,mshtml="
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$mmsg_wine_scripts/wine-run.sh"
# Debian's wine64 package: the loader and the server are not on PATH (only the optional
# `wine` package adds /usr/bin/wine and /usr/bin/wineserver).
MMSG_WINE64=/usr/lib/wine/wine64
MMSG_WINESERVER=/usr/lib/wine/wineserver
unset mmsg_wine_scripts
