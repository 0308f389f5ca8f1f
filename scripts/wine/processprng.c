/*
 * bcryptprimitives.dll for wine < 8.13: just enough of it for Rust programs to start.
 *
 * Rust >= 1.78's std (for x86_64-pc-windows-gnu/msvc) imports ProcessPrng from
 * bcryptprimitives.dll to seed HashMap keys and the like. Debian 12's wine 8.0 has no such
 * DLL (wine added it in 8.13), so every Rust .exe fails at load with exit status 53. This
 * DLL, copied into $WINEPREFIX/drive_c/windows/system32/, supplies the one function, on
 * top of advapi32's SystemFunction036 (RtlGenRandom), which wine 8.0 has.
 *
 * Build (scripts/wine-setup.sh does this):
 *   x86_64-w64-mingw32-gcc -O2 -shared -nostdlib -e DllMain -Wl,--no-insert-timestamp -s \
 *       -o bcryptprimitives.dll processprng.c -ladvapi32
 * (-nostdlib: no C runtime, the DLL imports only advapi32; no timestamp: the same source
 * gives the same bytes, so wine-setup.sh can tell by comparing whether to copy it again.)
 * No .def file is needed: on x86-64 there is a single calling convention, so the
 * dllexport'ed name is exported undecorated, and it is the only export.
 */
#include <windows.h>

/* ntsecapi.h spells it RtlGenRandom (a macro); declare the real export directly. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/*
 * BOOL ProcessPrng(PBYTE pbData, SIZE_T cbData): fill pbData with cbData random bytes.
 * Windows documents it as always returning TRUE; RtlGenRandom takes a ULONG length, so a
 * larger request is filled in pieces. If RtlGenRandom ever failed we say FALSE rather than
 * hand back unrandom bytes as if they were random (Rust's std ignores the result anyway).
 */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG piece = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, piece))
            return FALSE;
        data += piece;
        len -= piece;
    }
    return TRUE;
}

/* Entry point: built with -nostdlib, so there is no C runtime to start up. */
BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return TRUE;
}
