/* Event: a flag in shared memory; waiters sleep on it while it is clear. */
#include "sync.h"
#include "waitable.h"

typedef struct event_region {
    mproc__sync_hdr hdr;
    volatile uint32_t flag;
    volatile uint32_t nwait;
} event_region;

struct mproc_event {
    mproc__sync_base base;
    event_region *r;
    mproc__waitq q;
    mproc_waitable w;
};

static void destroy(mproc_event *e)
{
    if (!mproc__sync_copy(&e->base))
        mproc__os_waitq_close(&e->q);
    mproc__sync_region_close(&e->base);
    mproc__free(e);
}

int mproc_event_create(mproc_event **out)
{
    mproc_event *e;
    int r;
    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    e = mproc__calloc(1, sizeof *e);
    if (e == NULL)
        return MPROC_ENOMEM;
    e->q.h = MPROC__INVALID_HANDLE;
    r = mproc__sync_region(&e->base, MPROC__SYNC_EVENT, sizeof(event_region));
    if (r < 0) {
        mproc__free(e);
        return r;
    }
    e->r = e->base.shm.addr;
    e->q.nwait = &e->r->nwait;
    r = mproc__os_waitq_init(&e->q);
    if (r < 0) {
        destroy(e);
        return r;
    }
    *out = e;
    return MPROC_OK;
}

int mproc_event_set(mproc_event *e)
{
    if (e == NULL)
        return MPROC_EINVAL;
    mproc__os_store(&e->r->flag, 1);
    mproc__os_waitq_wake(&e->q, &e->r->flag, 0);
    return MPROC_OK;
}

int mproc_event_clear(mproc_event *e)
{
    if (e == NULL)
        return MPROC_EINVAL;
    mproc__os_store(&e->r->flag, 0);
    return MPROC_OK;
}

int mproc_event_is_set(mproc_event *e)
{
    return e != NULL && mproc__os_load(&e->r->flag) != 0;
}

int mproc_event_wait(mproc_event *e, long timeout_ms)
{
    uint64_t start;
    if (e == NULL || timeout_ms < MPROC_FOREVER)
        return MPROC_EINVAL;
    start = mproc__os_now_ms();
    for (;;) {
        long left;
        if (mproc__os_load(&e->r->flag) != 0)
            return MPROC_OK;
        left = mproc__sync_left(start, timeout_ms);
        if (left == 0)
            return MPROC_ETIMEDOUT;
        (void)mproc__os_waitq_wait(&e->q, &e->r->flag, 0, left);
    }
}

void mproc_event_destroy(mproc_event *e)
{
    if (e != NULL)
        destroy(e);
}

/* ---- waitable: ready while set ---- */

static int event_ready(void *obj)
{
    return mproc_event_is_set(obj);
}

static const mproc__waitable_kind event_kind = {"event", event_ready, NULL, NULL, 0, 10, NULL};

mproc_waitable *mproc_event_waitable(mproc_event *e)
{
    return e == NULL ? NULL : mproc__waitable_init(&e->w, &event_kind, e);
}

/* ---- handing to a child: [0] the region, [1] the waitq's handle ---- */

int mproc__event_export(void *obj, mproc__sync_export *x)
{
    mproc_event *e = obj;
    mproc__sync_put(x, 0, &e->base);
    mproc__sync_put_handle(x, 1, e->q.h);
    return MPROC_OK;
}

int mproc__event_adopt(const mproc__sync_export *x, void **out)
{
    mproc_event *e;
    int r;
    if (x->nhandles != 2)
        return MPROC_EINVAL;
    e = mproc__calloc(1, sizeof *e);
    if (e == NULL)
        return MPROC_ENOMEM;
    r = mproc__sync_attach(x, 0, MPROC__SYNC_EVENT, &e->base);
    if (r < 0) {
        mproc__free(e);
        return r;
    }
    e->r = e->base.shm.addr;
    e->q.nwait = &e->r->nwait;
    e->q.h = x->handles[1];
    *out = e;
    return MPROC_OK;
}
