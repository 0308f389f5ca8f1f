#!/usr/bin/env bash
# Prepare this machine (Debian 12, Rust via rustup) to run the x86_64-pc-windows-gnu build's
# tests under wine, then use scripts/wine-env.sh / wine-run.sh (see their headers).
#
#   scripts/wine-setup.sh            # as root when the packages still have to be installed
#   CARGO_TARGET_DIR=/abs/dir scripts/wine-setup.sh     # prefix under another target dir
#
# Idempotent; each step is skipped when already done:
#   1. apt: gcc-mingw-w64-x86-64 (the linker) and wine64 (the loader, /usr/lib/wine/wine64;
#      not on PATH), without recommends (~50 s, ~1.2 GB).
#   2. rustup target add x86_64-pc-windows-gnu.
#   3. A wine prefix at ${CARGO_TARGET_DIR:-<repo>/target}/wine-prefix (wineboot --init,
#      headless, ~10 s, ~700 MB), with wine's crash debugger turned off (it can make a
#      crashed test binary exit 0: see step 3). Run this as the user who will run the
#      tests: wine refuses a prefix owned by someone else.
#   4. bcryptprimitives.dll built from scripts/wine/processprng.c with the MinGW gcc, copied
#      into the prefix's system32. Debian 12's wine 8.0 lacks ProcessPrng (wine >= 8.13 has
#      it), which Rust >= 1.78's std imports: without the DLL every Rust .exe exits with 53.
#      Rebuilt/recopied when the source changes.
# It leaves no wineserver running.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=wine-env.sh
. "$here/wine-env.sh"
unset DISPLAY WAYLAND_DISPLAY
say() { echo "wine-setup: $*"; }

# 1. Packages.
missing=()
for pkg in gcc-mingw-w64-x86-64 wine64; do
    if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]; then
        missing+=("$pkg")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "wine-setup: missing packages: ${missing[*]}; run this as root" \
            "(or: apt-get install --no-install-recommends ${missing[*]})" >&2
        exit 1
    fi
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    say "packages present (gcc-mingw-w64-x86-64, wine64)"
fi
for f in /usr/bin/x86_64-w64-mingw32-gcc "$MMSG_WINE64" "$MMSG_WINESERVER"; do
    [ -x "$f" ] || { echo "wine-setup: $f missing after install" >&2; exit 1; }
done

# 2. Rust target (for the toolchain this repo builds with: run rustup from its root).
if ! command -v rustup >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/rustup" ]; then
    PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
command -v rustup >/dev/null 2>&1 || { echo "wine-setup: rustup not found" >&2; exit 1; }
installed_targets=$(cd "$here/.." && rustup target list --installed)
if grep -qx x86_64-pc-windows-gnu <<<"$installed_targets"; then
    say "rust target x86_64-pc-windows-gnu present"
else
    say "adding rust target x86_64-pc-windows-gnu"
    (cd "$here/.." && rustup target add x86_64-pc-windows-gnu)
fi

# 3. Wine prefix, without crash debugger.
#
# No crash debugger: by default wine answers an unhandled exception (access violation, ...)
# by starting `winedbg --auto`, which prints a backtrace and then kills the program,
# sometimes with exit status 0 (measured: a test binary writing through a null pointer made
# `cargo test` exit 0 in 4 runs out of 10). With an empty AeDebug\Debugger, starting the
# debugger fails and the process ends with the exception code (0xC0000005 -> status 5)
# every time, as on Windows. wine.inf sets this value only when absent, so a wine update
# keeps ours. To see winedbg's backtrace of a crash: /usr/lib/wine/wine64 winedbg prog.exe
aedebug_key='HKLM\Software\Microsoft\Windows NT\CurrentVersion\AeDebug'
debugger_off() {
    awk '/^\[/ { s = ($0 ~ /^\[Software.*Windows NT.*CurrentVersion.*AeDebug\]/) }
         s && $0 == "\"Debugger\"=\"\"" { found = 1 }
         END { exit !found }' "$WINEPREFIX/system.reg"
}
# system.reg is written when the wineserver shuts down, so its presence means an earlier
# --init ran to the end.
if [ -f "$WINEPREFIX/system.reg" ] && [ -d "$WINEPREFIX/drive_c/windows/system32" ]; then
    say "wine prefix present: $WINEPREFIX"
    changed=
else
    say "creating wine prefix $WINEPREFIX"
    mkdir -p "$WINEPREFIX"
    # (On a 64-bit-only wine, wineboot says it failed to open syswow64\rundll32.exe: harmless.)
    "$MMSG_WINE64" wineboot --init
    changed=1
fi
if [ -z "$changed" ] && debugger_off; then
    say "crash debugger (winedbg --auto) already off"
else
    say "turning off the crash debugger (winedbg --auto)"
    "$MMSG_WINE64" reg add "$aedebug_key" /v Debugger /t REG_SZ /d "" /f >/dev/null
    changed=1
fi
# Wait for the server to write the registry and exit (also: nothing left running).
if [ -n "$changed" ]; then "$MMSG_WINESERVER" -w; fi
[ -f "$WINEPREFIX/system.reg" ] || { echo "wine-setup: wineboot made no prefix" >&2; exit 1; }
debugger_off || { echo "wine-setup: could not clear AeDebug\\Debugger" >&2; exit 1; }

# 4. bcryptprimitives.dll (built next to the prefix, copied in when it differs).
src="$here/wine/processprng.c"
dll_dir=$(dirname "$WINEPREFIX")/wine-dll
dll="$dll_dir/bcryptprimitives.dll"
dest="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
if [ ! -f "$dll" ] || [ "$src" -nt "$dll" ]; then
    say "building $dll"
    mkdir -p "$dll_dir"
    x86_64-w64-mingw32-gcc -O2 -Wall -Wextra -shared -nostdlib -e DllMain \
        -Wl,--no-insert-timestamp -s -o "$dll.tmp" "$src" -ladvapi32
    mv "$dll.tmp" "$dll"
fi
if cmp -s "$dll" "$dest"; then
    say "bcryptprimitives.dll present in the prefix"
else
    say "installing bcryptprimitives.dll into $dest"
    cp "$dll" "$dest"
fi
say "ready. Now: . scripts/wine-env.sh && cargo test --target x86_64-pc-windows-gnu;" \
    "afterwards scripts/wine-stop.sh"
