/* Condition over a Lock: a sequence number in shared memory that every notify bumps; a waiter
 * notes it, releases the lock, sleeps while it is unchanged, and takes the lock again. Nothing
 * is kept per waiter, so a waiter that dies or times out leaves nothing behind. */
#include "sync.h"

typedef struct cond_region {
    mproc__sync_hdr hdr;
    volatile uint32_t seq;
    volatile uint32_t nwait;
} cond_region;

struct mproc_cond {
    mproc__sync_base base;
    cond_region *r;
    mproc__waitq q;
    mproc_lock *lock;
    int own_lock; /* made by mproc_cond_create(NULL) or by the adopt: destroyed with it */
};

static void destroy(mproc_cond *c)
{
    if (!mproc__sync_copy(&c->base))
        mproc__os_waitq_close(&c->q);
    mproc__sync_region_close(&c->base);
    if (c->own_lock)
        mproc_lock_destroy(c->lock);
    mproc__free(c);
}

int mproc_cond_create(mproc_cond **out, mproc_lock *l)
{
    mproc_cond *c;
    int r;
    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    c = mproc__calloc(1, sizeof *c);
    if (c == NULL)
        return MPROC_ENOMEM;
    c->q.h = MPROC__INVALID_HANDLE;
    r = mproc__sync_region(&c->base, MPROC__SYNC_COND, sizeof(cond_region));
    if (r < 0) {
        mproc__free(c);
        return r;
    }
    c->r = c->base.shm.addr;
    c->q.nwait = &c->r->nwait;
    r = mproc__os_waitq_init(&c->q);
    if (r == MPROC_OK && l == NULL) {
        r = mproc_lock_create(&l);
        c->own_lock = r == MPROC_OK;
    }
    c->lock = l;
    if (r < 0) {
        destroy(c);
        return r;
    }
    *out = c;
    return MPROC_OK;
}

mproc_lock *mproc_cond_lock(mproc_cond *c)
{
    return c == NULL ? NULL : c->lock;
}

int mproc_cond_wait(mproc_cond *c, long timeout_ms)
{
    mproc__oslock *lk;
    uint64_t start;
    uint32_t seq;
    int r, timed_out = 0;

    if (c == NULL || timeout_ms < MPROC_FOREVER)
        return MPROC_EINVAL;
    lk = mproc__lock_os(c->lock);
    if (!mproc__os_lock_held(lk))
        return MPROC_ESTATE;
    start = mproc__os_now_ms();
    /* Read under the lock: a notify made after we let go of it changes it. */
    seq = mproc__os_load(&c->r->seq);
    r = mproc_lock_release(c->lock);
    if (r < 0)
        return r;
    while (mproc__os_load(&c->r->seq) == seq) {
        long left = mproc__sync_left(start, timeout_ms);
        if (left == 0) {
            timed_out = 1;
            break;
        }
        (void)mproc__os_waitq_wait(&c->q, &c->r->seq, seq, left);
    }
    r = mproc_lock_acquire(c->lock, MPROC_FOREVER);
    if (r == MPROC_EOWNERDEAD)
        return r;
    if (r < 0)
        return r;
    return timed_out ? MPROC_ETIMEDOUT : MPROC_OK;
}

static int notify(mproc_cond *c, unsigned n)
{
    if (c == NULL)
        return MPROC_EINVAL;
    if (!mproc__os_lock_held(mproc__lock_os(c->lock)))
        return MPROC_ESTATE;
    mproc__os_add(&c->r->seq, 1);
    mproc__os_waitq_wake(&c->q, &c->r->seq, n);
    return MPROC_OK;
}

int mproc_cond_notify(mproc_cond *c)
{
    return notify(c, 1);
}

int mproc_cond_notify_all(mproc_cond *c)
{
    return notify(c, 0);
}

void mproc_cond_destroy(mproc_cond *c)
{
    if (c != NULL)
        destroy(c);
}

/* ---- handing to a child: [0] the region, [1] the waitq's handle, [2] and [3] the lock's ---- */

int mproc__cond_export(void *obj, mproc__sync_export *e)
{
    mproc_cond *c = obj;
    mproc__sync_put(e, 0, &c->base);
    mproc__sync_put_handle(e, 1, c->q.h);
    return mproc__lock_export_at(c->lock, e, 2);
}

int mproc__cond_adopt(const mproc__sync_export *e, void **out)
{
    mproc_cond *c;
    int r;
    if (e->nhandles != 4)
        return MPROC_EINVAL;
    c = mproc__calloc(1, sizeof *c);
    if (c == NULL)
        return MPROC_ENOMEM;
    r = mproc__sync_attach(e, 0, MPROC__SYNC_COND, &c->base);
    if (r < 0) {
        mproc__free(c);
        return r;
    }
    r = mproc__lock_from(e, 2, &c->lock);
    if (r < 0) {
        c->base.shm.h = MPROC__INVALID_HANDLE; /* still the caller's */
        mproc__os_shm_destroy(&c->base.shm);
        mproc__free(c);
        return r;
    }
    c->own_lock = 1;
    c->r = c->base.shm.addr;
    c->q.nwait = &c->r->nwait;
    c->q.h = e->handles[1];
    *out = c;
    return MPROC_OK;
}
