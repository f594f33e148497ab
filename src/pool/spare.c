/* Big blocks a pool keeps once freed, for the next argument copy or result of apply_async. */
#include "engine.h"

/* A copy into fresh memory faults in every page it touches, and on this project's VMs a page
 * fault costs more than copying the page (0.3-3.7 us against 0.1-0.2 us): a caller submitting
 * 256 KiB arguments spent a fifth more CPU on its copies than the bytes needed, and the pool
 * thread as much on 150 KB results. The allocator gives such blocks back to the system as soon
 * as they are freed (a big block is a mapping of its own, or the top of the heap past its trim
 * threshold), so the pool keeps them: up to SPARE_ALL bytes, blocks of SPARE_MIN to SPARE_ONE,
 * until it is freed. */
#define SPARE_MIN ((size_t)64 << 10)
#define SPARE_ONE ((size_t)16 << 20)
#define SPARE_ALL ((size_t)64 << 20)
/* A take looks at this many kept blocks at most, the lock held. */
#define SPARE_LOOK 8

typedef struct mproc__spare {
    struct mproc__spare *next;
    size_t cap;
} mproc__spare;

void *mproc__spare_alloc(mproc_pool *p, size_t n, size_t *cap)
{
    mproc__spare **link, *s, *found = NULL;
    void *b;
    int k;

    *cap = 0;
    if (n < SPARE_MIN || n > SPARE_ONE)
        return mproc__malloc(n);
    mproc__os_mutex_lock(p->lock);
    for (link = &p->spares, k = 0; (s = *link) != NULL && k < SPARE_LOOK; link = &s->next, k++) {
        /* Not more than twice the size: a small copy does not take a large block away. */
        if (s->cap >= n && s->cap / 2 <= n) {
            *link = s->next;
            p->spare_bytes -= s->cap;
            found = s;
            break;
        }
    }
    mproc__os_mutex_unlock(p->lock);
    if (found != NULL) {
        *cap = found->cap;
        return found;
    }
    b = mproc__malloc(n);
    *cap = b != NULL ? n : 0;
    return b;
}

void mproc__spare_put(mproc_pool *p, void *b, size_t cap)
{
    mproc__spare *s = b;

    if (cap < SPARE_MIN || cap > SPARE_ONE || p->spare_bytes + cap > SPARE_ALL) {
        mproc__free(b);
        return;
    }
    s->cap = cap;
    s->next = p->spares;
    p->spares = s;
    p->spare_bytes += cap;
}

void mproc__spare_free_all(mproc_pool *p)
{
    while (p->spares != NULL) {
        mproc__spare *s = p->spares;
        p->spares = s->next;
        mproc__free(s);
    }
    p->spare_bytes = 0;
}
