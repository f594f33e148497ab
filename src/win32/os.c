/* Errors, time, identity and the CPU count on Windows. */
#include "win32.h"

#include <psapi.h>
#include <string.h>
#include <tlhelp32.h>

/* ---- errors ---- */

long mproc__os_errno(void)
{
    return (long)GetLastError();
}

void mproc__os_restore_errno(long err)
{
    SetLastError((DWORD)err);
}

/* The per-thread store behind mproc_last_os_error(): one TLS slot, allocated once. */
static INIT_ONCE tls_once = INIT_ONCE_STATIC_INIT;
static DWORD tls_slot = TLS_OUT_OF_INDEXES;
/* Where the error goes when no TLS slot could be had (never seen in practice). */
static volatile LONG tls_fallback;

static BOOL CALLBACK tls_init(PINIT_ONCE once, PVOID param, PVOID *context)
{
    (void)once;
    (void)param;
    (void)context;
    tls_slot = TlsAlloc();
    return TRUE;
}

static DWORD tls_get_slot(void)
{
    InitOnceExecuteOnce(&tls_once, tls_init, NULL, NULL);
    return tls_slot;
}

void mproc__os_set_last_error(long err)
{
    /* TlsSetValue and TlsGetValue clear GetLastError(); callers may still want it. */
    DWORD saved = GetLastError();
    DWORD slot = tls_get_slot();
    if (slot == TLS_OUT_OF_INDEXES)
        InterlockedExchange(&tls_fallback, (LONG)err);
    else
        TlsSetValue(slot, (LPVOID)(intptr_t)err);
    SetLastError(saved);
}

long mproc__os_get_last_error(void)
{
    DWORD saved = GetLastError();
    DWORD slot = tls_get_slot();
    long err;
    if (slot == TLS_OUT_OF_INDEXES)
        err = (long)tls_fallback;
    else
        err = (long)(intptr_t)TlsGetValue(slot);
    SetLastError(saved);
    return err;
}

/* ---- time ---- */

/* QueryPerformanceCounter rather than GetTickCount64: the tick is 15.6 ms, too coarse to tell
 * whether a wait that the kernel ended a little early has really used up its timeout. */
uint64_t mproc__w32_now_ms(void)
{
    static volatile LONGLONG freq;
    LARGE_INTEGER f, c;
    LONGLONG hz = freq;
    if (hz == 0) {
        if (!QueryPerformanceFrequency(&f) || f.QuadPart <= 0)
            return (uint64_t)GetTickCount64();
        hz = f.QuadPart;
        freq = hz;
    }
    if (!QueryPerformanceCounter(&c))
        return (uint64_t)GetTickCount64();
    /* Split so that counter * 1000 cannot overflow. */
    return (uint64_t)(c.QuadPart / hz) * 1000u + (uint64_t)(c.QuadPart % hz) * 1000u / (uint64_t)hz;
}

uint64_t mproc__os_now_ms(void)
{
    return mproc__w32_now_ms();
}

DWORD mproc__w32_remaining(uint64_t start, long timeout_ms)
{
    uint64_t elapsed;
    if (timeout_ms < 0)
        return INFINITE;
    elapsed = mproc__w32_now_ms() - start;
    if (elapsed >= (uint64_t)timeout_ms)
        return 0;
    return (DWORD)((uint64_t)timeout_ms - elapsed);
}

void mproc__os_sleep_ms(long ms)
{
    uint64_t start = mproc__w32_now_ms();
    DWORD left;
    if (ms <= 0) {
        Sleep(0);
        return;
    }
    /* Sleep may end up to a tick early; sleep again for what is left. */
    while ((left = mproc__w32_remaining(start, ms)) > 0)
        Sleep(left);
}

/* ---- a holder that died ---- */

/* Under Wine a killed thread's mutexes pass to their next taker, and its thread object is
 * signaled, before the server sends the signal that stops the thread (wineserver's kill_thread
 * abandons, wakes, then signals): for a moment a holder seen dead can still store into shared
 * memory, and could undo a repair made at once. Windows itself runs a killed thread's rundown on
 * that thread, after it left user mode, so there the wait is skipped. The settle is paid once per
 * death found, never on a lock's ordinary path. */
#define DEAD_SETTLE_MS 50L

static volatile LONG wine_seen; /* 0 not looked yet, 1 Windows, 2 Wine */

void mproc__w32_dead_settle(void)
{
    LONG w = wine_seen;
    if (w == 0) {
        HMODULE nt = GetModuleHandleW(L"ntdll.dll");
        w = nt != NULL && GetProcAddress(nt, "wine_get_version") != NULL ? 2 : 1;
        InterlockedExchange(&wine_seen, w);
    }
    if (w == 2)
        mproc__os_sleep_ms(DEAD_SETTLE_MS);
}

/* ---- identity ---- */

/* Set once in a child we spawned, before any thread of the library's starts. */
static volatile LONG recorded_ppid;

void mproc__w32_set_parent_pid(long pid)
{
    InterlockedExchange(&recorded_ppid, (LONG)pid);
}

long mproc__os_getpid(void)
{
    return (long)GetCurrentProcessId();
}

/* The creator's pid as the system recorded it: one walk of the process list. */
static long snapshot_ppid(void)
{
    DWORD self = GetCurrentProcessId();
    PROCESSENTRY32W pe;
    HANDLE snap;
    long ppid = 0;
    BOOL more;

    snap = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
    if (snap == INVALID_HANDLE_VALUE)
        return 0;
    pe.dwSize = sizeof pe;
    for (more = Process32FirstW(snap, &pe); more; more = Process32NextW(snap, &pe)) {
        if (pe.th32ProcessID == self) {
            ppid = (long)pe.th32ParentProcessID;
            break;
        }
    }
    CloseHandle(snap);
    return ppid;
}

long mproc__os_getppid(void)
{
    static volatile LONG cached;
    long ppid = (long)recorded_ppid;
    if (ppid != 0)
        return ppid;
    /* The recorded parent never changes, so the first answer stands (a race only walks twice). */
    ppid = (long)cached;
    if (ppid == 0) {
        DWORD saved = GetLastError();
        ppid = snapshot_ppid();
        InterlockedExchange(&cached, (LONG)ppid);
        SetLastError(saved);
    }
    return ppid;
}

size_t mproc__os_rss_bytes(void)
{
    PROCESS_MEMORY_COUNTERS pmc;
    memset(&pmc, 0, sizeof pmc);
    pmc.cb = sizeof pmc;
    /* kernel32's own copy of psapi's call (Windows 7 on): no psapi.lib to link. */
    if (!K32GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc))
        return 0;
    return (size_t)pmc.WorkingSetSize;
}

int mproc__os_cpu_count(void)
{
    DWORD_PTR proc_mask = 0, sys_mask = 0;
    int n = 0;
    if (GetProcessAffinityMask(GetCurrentProcess(), &proc_mask, &sys_mask)) {
        while (proc_mask != 0) {
            proc_mask &= proc_mask - 1;
            n++;
        }
    }
    /* A zero mask means the process spans several processor groups. */
    if (n == 0)
        n = (int)GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
    return n > 0 ? n : 1;
}

/* ---- modules ---- */

wchar_t *mproc__w32_module_path(HMODULE mod)
{
    DWORD cap = MAX_PATH;
    for (;;) {
        wchar_t *path = mproc__malloc((size_t)cap * sizeof *path);
        DWORD n;
        if (path == NULL) {
            SetLastError(ERROR_NOT_ENOUGH_MEMORY);
            return NULL;
        }
        n = GetModuleFileNameW(mod, path, cap);
        if (n == 0) {
            DWORD err = GetLastError();
            mproc__free(path);
            SetLastError(err);
            return NULL;
        }
        /* n == cap means truncated (the terminator did not fit). NT paths end at 32767
         * characters, so stop growing past that. */
        if (n < cap)
            return path;
        mproc__free(path);
        if (cap >= 65536) {
            SetLastError(ERROR_FILENAME_EXCED_RANGE);
            return NULL;
        }
        cap *= 2;
    }
}
