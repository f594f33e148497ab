/* Lock and RLock: a robust lock of the backend's in a region of shared memory of its own. */
#include "sync.h"

#include <string.h>

/* The region: the header, then the backend's lock, aligned for it. */
#define LOCK_AREA_OFFSET 64
#define LOCK_REGION_BYTES (LOCK_AREA_OFFSET + MPROC__OSLOCK_BYTES)

typedef struct lockobj {
    mproc__sync_base base;
    mproc__oslock os;
    int recursive;
} lockobj;

struct mproc_lock {
    lockobj o;
};
struct mproc_rlock {
    lockobj o;
};

static int create(lockobj **out, int recursive)
{
    lockobj *o = mproc__calloc(1, sizeof(struct mproc_lock));
    int r;
    if (o == NULL)
        return MPROC_ENOMEM;
    o->recursive = recursive;
    o->os.h = MPROC__INVALID_HANDLE;
    r = mproc__sync_region(&o->base, recursive ? MPROC__SYNC_RLOCK : MPROC__SYNC_LOCK,
                           LOCK_REGION_BYTES);
    if (r < 0) {
        mproc__free(o);
        return r;
    }
    o->os.area = (unsigned char *)o->base.shm.addr + LOCK_AREA_OFFSET;
    r = mproc__os_lock_init(&o->os, recursive);
    if (r < 0) {
        mproc__sync_region_close(&o->base);
        mproc__free(o);
        return r;
    }
    *out = o;
    return MPROC_OK;
}

static void destroy(lockobj *o)
{
    if (o == NULL)
        return;
    if (!mproc__sync_copy(&o->base))
        mproc__os_lock_close(&o->os);
    mproc__sync_region_close(&o->base);
    mproc__free(o);
}

int mproc_lock_create(mproc_lock **out)
{
    lockobj *o;
    int r;
    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    r = create(&o, 0);
    if (r == MPROC_OK)
        *out = (mproc_lock *)o;
    return r;
}

int mproc_lock_acquire(mproc_lock *l, long timeout_ms)
{
    if (l == NULL || timeout_ms < MPROC_FOREVER)
        return MPROC_EINVAL;
    return mproc__os_lock_acquire(&l->o.os, 0, timeout_ms);
}

int mproc_lock_release(mproc_lock *l)
{
    if (l == NULL)
        return MPROC_EINVAL;
    return mproc__os_lock_release(&l->o.os, 0);
}

void mproc_lock_destroy(mproc_lock *l)
{
    destroy(l == NULL ? NULL : &l->o);
}

int mproc_rlock_create(mproc_rlock **out)
{
    lockobj *o;
    int r;
    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    r = create(&o, 1);
    if (r == MPROC_OK)
        *out = (mproc_rlock *)o;
    return r;
}

int mproc_rlock_acquire(mproc_rlock *l, long timeout_ms)
{
    if (l == NULL || timeout_ms < MPROC_FOREVER)
        return MPROC_EINVAL;
    return mproc__os_lock_acquire(&l->o.os, 1, timeout_ms);
}

int mproc_rlock_release(mproc_rlock *l)
{
    if (l == NULL)
        return MPROC_EINVAL;
    return mproc__os_lock_release(&l->o.os, 1);
}

void mproc_rlock_destroy(mproc_rlock *l)
{
    destroy(l == NULL ? NULL : &l->o);
}

mproc__oslock *mproc__lock_os(mproc_lock *l)
{
    return &l->o.os;
}

/* ---- handing to a child: [0] the region, [1] the backend's handle (Windows) ---- */

static void export_at(const lockobj *o, mproc__sync_export *e, int first)
{
    mproc__sync_put(e, first, &o->base);
    mproc__sync_put_handle(e, first + 1, o->os.h);
}

int mproc__lock_export(void *obj, int kind, mproc__sync_export *e)
{
    lockobj *o = obj;
    if ((kind == MPROC__SYNC_RLOCK) != o->recursive)
        return MPROC_EINVAL;
    export_at(o, e, 0);
    return MPROC_OK;
}

static int adopt_at(const mproc__sync_export *e, int first, int recursive, lockobj **out)
{
    lockobj *o = mproc__calloc(1, sizeof(struct mproc_lock));
    int r;
    if (o == NULL)
        return MPROC_ENOMEM;
    if (first + 1 >= e->nhandles) {
        mproc__free(o);
        return MPROC_EINVAL;
    }
    r = mproc__sync_attach(e, first, recursive ? MPROC__SYNC_RLOCK : MPROC__SYNC_LOCK, &o->base);
    if (r < 0) {
        mproc__free(o);
        return r;
    }
    o->recursive = recursive;
    o->os.area = (unsigned char *)o->base.shm.addr + LOCK_AREA_OFFSET;
    o->os.h = e->handles[first + 1];
    *out = o;
    return MPROC_OK;
}

int mproc__lock_adopt(const mproc__sync_export *e, void **out)
{
    lockobj *o;
    int r = adopt_at(e, 0, e->kind == MPROC__SYNC_RLOCK, &o);
    if (r == MPROC_OK)
        *out = o;
    return r;
}

int mproc__lock_export_at(mproc_lock *l, mproc__sync_export *e, int first)
{
    export_at(&l->o, e, first);
    return MPROC_OK;
}

int mproc__lock_from(const mproc__sync_export *e, int first, mproc_lock **out)
{
    lockobj *o;
    int r = adopt_at(e, first, 0, &o);
    if (r == MPROC_OK)
        *out = (mproc_lock *)o;
    return r;
}
