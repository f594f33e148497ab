/* Shared memory between the parent and one child, and the atomic word access it needs. */
#include "win32.h"

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
    return MPROC_OK;
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
    return MPROC_OK;
}

void mproc__os_shm_destroy(mproc__shm *s)
{
    if (s->addr != NULL)
        UnmapViewOfFile(s->addr);
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

/* WaitOnAddress works within one process only: a pool's workers answer through the pool
 * thread here (see src/pool/lend.c). */
int mproc__os_word_wait_works(void)
{
    return 0;
}

void mproc__os_word_wait(volatile uint32_t *p, uint32_t expected)
{
    (void)p;
    (void)expected;
}

void mproc__os_word_wake(volatile uint32_t *p)
{
    (void)p;
}
