/* Sổ Tiêm — the one export of Windows 10's bcryptprimitives.dll that Rust's standard library
 * imports since 1.78 (ProcessPrng), for Wine 8, which lacks the DLL: without it every Rust
 * program exits at once (code 53). It hands out the same system randomness as the real one,
 * through advapi32's RtlGenRandom (SystemFunction036). Built by scripts/windows into the test
 * prefix only: real Windows 10 and 11 have their own DLL and never see this file. */
#include <windows.h>

typedef BOOLEAN(WINAPI *GenRandom)(PVOID, ULONG);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    static GenRandom gen;
    if (!gen) {
        HMODULE advapi = LoadLibraryA("advapi32.dll");
        if (!advapi) return FALSE;
        gen = (GenRandom)GetProcAddress(advapi, "SystemFunction036");
        if (!gen) return FALSE;
    }
    while (len > 0) {
        ULONG chunk = len > 0x7fffffff ? 0x7fffffff : (ULONG)len;
        if (!gen(data, chunk)) return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
