/* Semaphore: a counter in shared memory; acquirers sleep on it while it is 0. */
#include "sync.h"
#include "waitable.h"

typedef struct sem_region {
    mproc__sync_hdr hdr;
    volatile uint32_t value;
    volatile uint32_t nwait;
} sem_region;

struct mproc_sem {
    mproc__sync_base base;
    sem_region *r;
    mproc__waitq q;
    mproc_waitable w;
};

static void destroy(mproc_sem *s)
{
    if (!mproc__sync_copy(&s->base))
        mproc__os_waitq_close(&s->q);
    mproc__sync_region_close(&s->base);
    mproc__free(s);
}

int mproc_sem_create(mproc_sem **out, unsigned initial)
{
    mproc_sem *s;
    int r;
    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (initial > MPROC_SEM_MAX)
        return MPROC_EINVAL;
    s = mproc__calloc(1, sizeof *s);
    if (s == NULL)
        return MPROC_ENOMEM;
    s->q.h = MPROC__INVALID_HANDLE;
    r = mproc__sync_region(&s->base, MPROC__SYNC_SEM, sizeof(sem_region));
    if (r < 0) {
        mproc__free(s);
        return r;
    }
    s->r = s->base.shm.addr;
    s->r->value = initial;
    s->q.nwait = &s->r->nwait;
    r = mproc__os_waitq_init(&s->q);
    if (r < 0) {
        destroy(s);
        return r;
    }
    *out = s;
    return MPROC_OK;
}

int mproc_sem_acquire(mproc_sem *s, long timeout_ms)
{
    uint64_t start;
    if (s == NULL || timeout_ms < MPROC_FOREVER)
        return MPROC_EINVAL;
    start = mproc__os_now_ms();
    for (;;) {
        uint32_t v = mproc__os_load(&s->r->value);
        long left;
        if (v > 0) {
            if (mproc__os_cas(&s->r->value, v, v - 1) == v)
                return MPROC_OK;
            continue;
        }
        left = mproc__sync_left(start, timeout_ms);
        if (left == 0)
            return MPROC_ETIMEDOUT;
        (void)mproc__os_waitq_wait(&s->q, &s->r->value, 0, left);
    }
}

int mproc_sem_release(mproc_sem *s)
{
    uint32_t v;
    if (s == NULL)
        return MPROC_EINVAL;
    do {
        v = mproc__os_load(&s->r->value);
        if (v >= MPROC_SEM_MAX)
            return MPROC_ESTATE;
    } while (mproc__os_cas(&s->r->value, v, v + 1) != v);
    mproc__os_waitq_wake(&s->q, &s->r->value, 1);
    return MPROC_OK;
}

int mproc_sem_value(mproc_sem *s, unsigned *value)
{
    if (s == NULL || value == NULL)
        return MPROC_EINVAL;
    *value = mproc__os_load(&s->r->value);
    return MPROC_OK;
}

void mproc_sem_destroy(mproc_sem *s)
{
    if (s != NULL)
        destroy(s);
}

/* ---- waitable: ready while the value is above 0 ---- */

static int sem_ready(void *obj)
{
    mproc_sem *s = obj;
    return mproc__os_load(&s->r->value) > 0;
}

static const mproc__waitable_kind sem_kind = {"semaphore", sem_ready, NULL, NULL, 0, 10, NULL};

mproc_waitable *mproc_sem_waitable(mproc_sem *s)
{
    return s == NULL ? NULL : mproc__waitable_init(&s->w, &sem_kind, s);
}

/* ---- handing to a child: [0] the region, [1] the waitq's handle ---- */

int mproc__sem_export(void *obj, mproc__sync_export *e)
{
    mproc_sem *s = obj;
    mproc__sync_put(e, 0, &s->base);
    mproc__sync_put_handle(e, 1, s->q.h);
    return MPROC_OK;
}

int mproc__sem_adopt(const mproc__sync_export *e, void **out)
{
    mproc_sem *s;
    int r;
    if (e->nhandles != 2)
        return MPROC_EINVAL;
    s = mproc__calloc(1, sizeof *s);
    if (s == NULL)
        return MPROC_ENOMEM;
    r = mproc__sync_attach(e, 0, MPROC__SYNC_SEM, &s->base);
    if (r < 0) {
        mproc__free(s);
        return r;
    }
    s->r = s->base.shm.addr;
    s->q.nwait = &s->r->nwait;
    s->q.h = e->handles[1];
    *out = s;
    return MPROC_OK;
}
