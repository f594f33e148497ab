/* What every sync object shares: its region of shared memory, the fork-copy rule, the deadline
 * arithmetic, and the dispatch of handing an object to a child by kind. */
#include "sync.h"

#include <string.h>

int mproc__sync_region(mproc__sync_base *b, int kind, size_t size)
{
    mproc__sync_hdr *h;
    int r;
    b->kind = kind;
    b->creator_pid = mproc__os_getpid();
    mproc__sync_share_init(b, b);
    r = mproc__os_shm_create(&b->shm, size);
    if (r < 0)
        return r;
    h = b->shm.addr;
    h->magic = MPROC__SYNC_MAGIC;
    h->kind = (uint32_t)kind;
    h->size = (uint32_t)size;
    return MPROC_OK;
}

int mproc__sync_copy(const mproc__sync_base *b)
{
    return b->creator_pid != mproc__os_getpid();
}

void mproc__sync_region_close(mproc__sync_base *b)
{
    mproc__sync_share_forget(b);
    if (mproc__sync_copy(b)) {
        /* A forked child's copy: the child's registry closed the descriptor at the fork, and
         * its number may name something else now. Only the mapping is ours. */
        b->shm.h = MPROC__INVALID_HANDLE;
    }
    mproc__os_shm_destroy(&b->shm);
}

long mproc__sync_left(uint64_t start, long timeout_ms)
{
    uint64_t now;
    if (timeout_ms < 0)
        return MPROC_FOREVER;
    now = mproc__os_now_ms();
    if (now - start >= (uint64_t)timeout_ms)
        return 0;
    return (long)((uint64_t)timeout_ms - (now - start));
}

int mproc__sync_export_of(int kind, void *obj, mproc__sync_export *e)
{
    if (obj == NULL || e == NULL)
        return MPROC_EINVAL;
    memset(e, 0, sizeof *e);
    e->kind = kind;
    switch (kind) {
    case MPROC__SYNC_LOCK:
    case MPROC__SYNC_RLOCK:
        return mproc__lock_export(obj, kind, e);
    case MPROC__SYNC_SEM:
        return mproc__sem_export(obj, e);
    case MPROC__SYNC_EVENT:
        return mproc__event_export(obj, e);
    case MPROC__SYNC_BARRIER:
        return mproc__barrier_export(obj, e);
    case MPROC__SYNC_COND:
        return mproc__cond_export(obj, e);
    default:
        return MPROC_EINVAL;
    }
}

int mproc__sync_adopt(const mproc__sync_export *e, void **out)
{
    if (e == NULL || out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    switch (e->kind) {
    case MPROC__SYNC_LOCK:
    case MPROC__SYNC_RLOCK:
        return mproc__lock_adopt(e, out);
    case MPROC__SYNC_SEM:
        return mproc__sem_adopt(e, out);
    case MPROC__SYNC_EVENT:
        return mproc__event_adopt(e, out);
    case MPROC__SYNC_BARRIER:
        return mproc__barrier_adopt(e, out);
    case MPROC__SYNC_COND:
        return mproc__cond_adopt(e, out);
    default:
        return MPROC_EINVAL;
    }
}

/* Maps handle i of e as a region of `kind` and checks its header: what a child was handed must
 * be what it asked for, of the size the header says. */
int mproc__sync_attach(const mproc__sync_export *e, int i, int kind, mproc__sync_base *b)
{
    mproc__sync_hdr *h;
    int r;
    if (i >= e->nhandles || e->sizes[i] < sizeof(mproc__sync_hdr))
        return MPROC_EINVAL;
    b->kind = kind;
    b->creator_pid = mproc__os_getpid();
    mproc__sync_share_init(b, b);
    r = mproc__os_shm_attach(&b->shm, e->handles[i], e->sizes[i]);
    if (r < 0) {
        b->shm.h = MPROC__INVALID_HANDLE;
        return r;
    }
    h = b->shm.addr;
    if (h->magic != MPROC__SYNC_MAGIC || h->kind != (uint32_t)kind || h->size != e->sizes[i]) {
        b->shm.h = MPROC__INVALID_HANDLE; /* still the caller's */
        mproc__os_shm_destroy(&b->shm);
        return MPROC_EINVAL;
    }
    return MPROC_OK;
}

/* Puts b's region at position i of e. */
void mproc__sync_put(mproc__sync_export *e, int i, const mproc__sync_base *b)
{
    e->handles[i] = b->shm.h;
    e->sizes[i] = b->shm.size;
    if (e->nhandles < i + 1)
        e->nhandles = i + 1;
}

void mproc__sync_put_handle(mproc__sync_export *e, int i, mproc__handle h)
{
    e->handles[i] = h;
    e->sizes[i] = 0;
    if (e->nhandles < i + 1)
        e->nhandles = i + 1;
}
