/* Shared memory between the parent and one child, and the atomic word access it needs. */
#include "win32.h"

#include <stdlib.h>

static void region_add(const mproc__shm *s, unsigned long creator);
static void region_remove(const void *addr);

int mproc__os_shm_create(mproc__shm *s, size_t size)
{
    HANDLE h;
    void *addr;
    DWORD err;

    s->addr = NULL;
    s->size = 0;
    s->h = MPROC__INVALID_HANDLE;
    /* Backed by the paging file, not inheritable: a spawn lists it when it hands it down. */
    h = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE,
                           (DWORD)((unsigned long long)size >> 32), (DWORD)size, NULL);
    if (h == NULL)
        return mproc__sys_error((long)GetLastError());
    addr = MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, size);
    if (addr == NULL) {
        err = GetLastError();
        CloseHandle(h);
        return mproc__sys_error((long)err);
    }
    s->addr = addr;
    s->size = size;
    s->h = MPROC__HV(h);
    region_add(s, (unsigned long)GetCurrentProcessId());
    return MPROC_OK;
}

int mproc__os_shm_create_reserved(mproc__shm *s, size_t size, size_t usable)
{
    HANDLE h;
    void *addr;
    DWORD err;

    s->addr = NULL;
    s->size = 0;
    s->h = MPROC__INVALID_HANDLE;
    /* Reserved, not committed: the paging file is charged for what mproc__os_shm_commit makes
     * usable only, not for the whole (a worker's payload areas are hundreds of MiB). */
    h = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE | SEC_RESERVE,
                           (DWORD)((unsigned long long)size >> 32), (DWORD)size, NULL);
    if (h == NULL)
        return mproc__sys_error((long)GetLastError());
    addr = MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, size);
    if (addr == NULL ||
        (usable > 0 && VirtualAlloc(addr, usable, MEM_COMMIT, PAGE_READWRITE) == NULL)) {
        err = GetLastError();
        if (addr != NULL)
            UnmapViewOfFile(addr);
        CloseHandle(h);
        return mproc__sys_error((long)err);
    }
    s->addr = addr;
    s->size = size;
    s->h = MPROC__HV(h);
    region_add(s, (unsigned long)GetCurrentProcessId());
    return MPROC_OK;
}

int mproc__os_shm_commit(void *addr, size_t len)
{
    /* Each process commits in its own view what it is about to touch (again: a no-op then). */
    if (len > 0 && VirtualAlloc(addr, len, MEM_COMMIT, PAGE_READWRITE) == NULL)
        return mproc__sys_error((long)GetLastError());
    return MPROC_OK;
}

void mproc__os_shm_release(void *addr, size_t len)
{
    /* A section's committed pages cannot be decommitted: they stay until the region goes. */
    (void)addr;
    (void)len;
}

int mproc__os_shm_attach(mproc__shm *s, mproc__handle h, size_t size)
{
    void *addr;
    s->addr = NULL;
    s->size = 0;
    s->h = h;
    if (h == MPROC__INVALID_HANDLE || h == 0)
        return MPROC_EINVAL;
    addr = MapViewOfFile(MPROC__H(h), FILE_MAP_ALL_ACCESS, 0, 0, size);
    if (addr == NULL)
        return mproc__sys_error((long)GetLastError());
    s->addr = addr;
    s->size = size;
    region_add(s, (unsigned long)mproc__os_getppid());
    return MPROC_OK;
}

void mproc__os_shm_destroy(mproc__shm *s)
{
    if (s->addr != NULL) {
        region_remove(s->addr);
        UnmapViewOfFile(s->addr);
    }
    if (s->h != MPROC__INVALID_HANDLE && s->h != 0)
        CloseHandle(MPROC__H(s->h));
    s->addr = NULL;
    s->size = 0;
    s->h = MPROC__INVALID_HANDLE;
}

uint32_t mproc__os_load(const volatile uint32_t *p)
{
    /* An interlocked no-op is a full barrier and an atomic read, on every compiler. */
    return (uint32_t)InterlockedCompareExchange((volatile LONG *)p, 0, 0);
}

void mproc__os_store(volatile uint32_t *p, uint32_t v)
{
    InterlockedExchange((volatile LONG *)p, (LONG)v);
}

uint32_t mproc__os_add(volatile uint32_t *p, uint32_t v)
{
    return (uint32_t)InterlockedExchangeAdd((volatile LONG *)p, (LONG)v);
}

uint32_t mproc__os_cas(volatile uint32_t *p, uint32_t expected, uint32_t desired)
{
    return (uint32_t)InterlockedCompareExchange((volatile LONG *)p, (LONG)desired, (LONG)expected);
}

/* ---- waiting on a word of a region, across processes ----
 *
 * WaitOnAddress works within one process only. So each word of a region that someone waits on
 * gets an auto-reset event with a name both processes can make: the process that created the
 * region, the region's handle there (a child inherits it under the same value: process.c puts
 * it on the command line) and the word's offset. Made or opened on first use, closed with the
 * region. A wake sets the event after the word changed; a waiter looks at the word before it
 * waits: a wake in between leaves the event set, so none is lost, and a stale one only makes a
 * waiter look again (the callers loop). */
typedef struct word_event {
    size_t off;
    HANDLE ev;
} word_event;

typedef struct region {
    char *addr;
    size_t size;
    unsigned long creator;
    unsigned long long h;
    word_event ev[4]; /* the ring waits on two words */
    int nev;
} region;

static SRWLOCK regions_lock = SRWLOCK_INIT;
static region *regions;
static size_t nregions, capregions;

/* Remembers a region (create: made here; attach: by the parent). Without memory the region
 * still works, its words' waits only return at once (the callers poll then). */
static void region_add(const mproc__shm *s, unsigned long creator)
{
    AcquireSRWLockExclusive(&regions_lock);
    if (nregions == capregions) {
        size_t cap = capregions ? 2 * capregions : 16;
        region *r = realloc(regions, cap * sizeof *r);
        if (r != NULL) {
            regions = r;
            capregions = cap;
        }
    }
    if (nregions < capregions) {
        region *r = &regions[nregions++];
        r->addr = s->addr;
        r->size = s->size;
        r->creator = creator;
        r->h = (unsigned long long)s->h;
        r->nev = 0;
    }
    ReleaseSRWLockExclusive(&regions_lock);
}

static void region_remove(const void *addr)
{
    size_t i;
    int k;

    AcquireSRWLockExclusive(&regions_lock);
    for (i = 0; i < nregions; i++) {
        if (regions[i].addr != addr)
            continue;
        for (k = 0; k < regions[i].nev; k++)
            CloseHandle(regions[i].ev[k].ev);
        regions[i] = regions[--nregions];
        break;
    }
    ReleaseSRWLockExclusive(&regions_lock);
}

/* Appends text or a number to a name (96 characters hold the longest). */
static size_t append(wchar_t *name, size_t n, const wchar_t *text)
{
    while (*text != 0)
        name[n++] = *text++;
    return n;
}

static size_t append_num(wchar_t *name, size_t n, unsigned long long v)
{
    wchar_t digits[24];
    size_t k = 0;
    do {
        digits[k++] = (wchar_t)(L'0' + (int)(v % 10));
        v /= 10;
    } while (v != 0);
    while (k > 0)
        name[n++] = digits[--k];
    return n;
}

/* The event of the word at p, made on first use; NULL when p is in no region we know. */
static HANDLE word_event_of(const volatile uint32_t *p)
{
    const char *a = (const char *)(uintptr_t)p;
    HANDLE ev = NULL;
    size_t i, off;
    int k;

    AcquireSRWLockExclusive(&regions_lock);
    for (i = 0; i < nregions; i++) {
        region *r = &regions[i];
        if (a < r->addr || a >= r->addr + r->size)
            continue;
        off = (size_t)(a - r->addr);
        for (k = 0; k < r->nev && ev == NULL; k++)
            if (r->ev[k].off == off)
                ev = r->ev[k].ev;
        if (ev == NULL && r->nev < 4) {
            wchar_t name[96];
            size_t n = append(name, 0, L"Local\\mproc-word-");
            n = append_num(name, n, r->creator);
            n = append(name, n, L"-");
            n = append_num(name, n, r->h);
            n = append(name, n, L"-");
            n = append_num(name, n, (unsigned long long)off);
            name[n] = 0;
            ev = CreateEventW(NULL, FALSE, FALSE, name);
            if (ev != NULL) {
                r->ev[r->nev].off = off;
                r->ev[r->nev].ev = ev;
                r->nev++;
            }
        }
        break;
    }
    ReleaseSRWLockExclusive(&regions_lock);
    return ev;
}

int mproc__os_word_wait_works(void)
{
    return 1;
}

void mproc__os_word_wait(volatile uint32_t *p, uint32_t expected)
{
    HANDLE ev = word_event_of(p);
    if (ev == NULL || mproc__os_load(p) != expected)
        return;
    WaitForSingleObject(ev, INFINITE);
}

void mproc__os_word_wake(volatile uint32_t *p)
{
    HANDLE ev = word_event_of(p);
    if (ev != NULL)
        SetEvent(ev);
}
