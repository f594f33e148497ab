/* The sync objects' part of the share contract (src/ipc/share.h): the handles of an object's
 * export (its region, and on Windows its kernel objects) travel as handles, their positions and
 * the regions' sizes in the blob; the child rebuilds the object with the kind's adopt. */
#include "../ipc/share.h"
#include "sync.h"

#include <string.h>

/* The blob: version, kind, positions, the mask of the positions that hold a handle, then one
 * size per position; each a 32-bit little-endian word. */
#define BLOB_VERSION 1u
#define BLOB_WORDS (4 + MPROC__SYNC_MAX_HANDLES)

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int describe(void *obj, mproc__share_rec *rec)
{
    mproc__sync_base *b = obj;
    mproc__sync_export e;
    uint32_t mask = 0;
    int i, r = mproc__sync_export_of(b->kind, obj, &e);
    if (r < 0)
        return r;
    rec->nh = 0;
    for (i = 0; i < e.nhandles; i++) {
        if (e.handles[i] == MPROC__INVALID_HANDLE)
            continue;
        mask |= 1u << i;
        rec->h[rec->nh++] = e.handles[i];
    }
    put32(rec->blob, BLOB_VERSION);
    put32(rec->blob + 4, (uint32_t)e.kind);
    put32(rec->blob + 8, (uint32_t)e.nhandles);
    put32(rec->blob + 12, mask);
    for (i = 0; i < MPROC__SYNC_MAX_HANDLES; i++)
        put32(rec->blob + 16 + 4 * i, i < e.nhandles ? (uint32_t)e.sizes[i] : 0);
    rec->blob_len = 4 * BLOB_WORDS;
    return MPROC_OK;
}

/* The share kind of each sync kind. */
static int sync_kind(int share_kind)
{
    switch (share_kind) {
    case MPROC__SHARE_LOCK:
        return MPROC__SYNC_LOCK;
    case MPROC__SHARE_RLOCK:
        return MPROC__SYNC_RLOCK;
    case MPROC__SHARE_SEM:
        return MPROC__SYNC_SEM;
    case MPROC__SHARE_EVENT:
        return MPROC__SYNC_EVENT;
    case MPROC__SHARE_BARRIER:
        return MPROC__SYNC_BARRIER;
    case MPROC__SHARE_COND:
        return MPROC__SYNC_COND;
    default:
        return 0;
    }
}

static int adopt(mproc__share_rec *rec, mproc_shared **out)
{
    mproc__sync_export e;
    size_t used[MPROC__SYNC_MAX_HANDLES];
    uint32_t mask;
    size_t k = 0;
    void *obj = NULL;
    int i, r;

    memset(&e, 0, sizeof e);
    if (rec->blob_len != 4 * BLOB_WORDS || get32(rec->blob) != BLOB_VERSION)
        return MPROC_EPROTO;
    e.kind = (int)get32(rec->blob + 4);
    if (e.kind != sync_kind(rec->kind))
        return MPROC_EPROTO;
    if (get32(rec->blob + 8) > MPROC__SYNC_MAX_HANDLES)
        return MPROC_EPROTO;
    e.nhandles = (int)get32(rec->blob + 8);
    mask = get32(rec->blob + 12);
    if (mask >> e.nhandles != 0)
        return MPROC_EPROTO;
    for (i = 0; i < e.nhandles; i++) {
        e.sizes[i] = get32(rec->blob + 16 + 4 * i);
        e.handles[i] = MPROC__INVALID_HANDLE;
        if (mask & (1u << i)) {
            if (k >= rec->nh)
                return MPROC_EPROTO;
            used[k] = k;
            e.handles[i] = rec->h[k++];
        }
    }
    if (k != rec->nh)
        return MPROC_EPROTO;
    r = mproc__sync_adopt(&e, &obj);
    if (r < 0)
        return r == MPROC_EINVAL ? MPROC_EPROTO : r;
    for (i = 0; i < (int)k; i++)
        rec->h[used[i]] = MPROC__INVALID_HANDLE; /* the object's now */
    *out = &((mproc__sync_base *)obj)->shared;
    return MPROC_OK;
}

static void destroy_any(void *obj)
{
    mproc__sync_base *b = obj;
    switch (b->kind) {
    case MPROC__SYNC_LOCK:
        mproc_lock_destroy(obj);
        break;
    case MPROC__SYNC_RLOCK:
        mproc_rlock_destroy(obj);
        break;
    case MPROC__SYNC_SEM:
        mproc_sem_destroy(obj);
        break;
    case MPROC__SYNC_EVENT:
        mproc_event_destroy(obj);
        break;
    case MPROC__SYNC_BARRIER:
        mproc_barrier_destroy(obj);
        break;
    case MPROC__SYNC_COND:
        mproc_cond_destroy(obj);
        break;
    default:
        break;
    }
}

const mproc__share_ops mproc__lock_share_ops = {MPROC__SHARE_LOCK, "lock", describe, adopt,
                                                destroy_any};
const mproc__share_ops mproc__rlock_share_ops = {MPROC__SHARE_RLOCK, "rlock", describe, adopt,
                                                 destroy_any};
const mproc__share_ops mproc__sem_share_ops = {MPROC__SHARE_SEM, "semaphore", describe, adopt,
                                               destroy_any};
const mproc__share_ops mproc__event_share_ops = {MPROC__SHARE_EVENT, "event", describe, adopt,
                                                 destroy_any};
const mproc__share_ops mproc__barrier_share_ops = {MPROC__SHARE_BARRIER, "barrier", describe, adopt,
                                                   destroy_any};
const mproc__share_ops mproc__cond_share_ops = {MPROC__SHARE_COND, "condition", describe, adopt,
                                                destroy_any};

void mproc__sync_share_init(mproc__sync_base *b, void *obj)
{
    const mproc__share_ops *ops = NULL;
    switch (b->kind) {
    case MPROC__SYNC_LOCK:
        ops = &mproc__lock_share_ops;
        break;
    case MPROC__SYNC_RLOCK:
        ops = &mproc__rlock_share_ops;
        break;
    case MPROC__SYNC_SEM:
        ops = &mproc__sem_share_ops;
        break;
    case MPROC__SYNC_EVENT:
        ops = &mproc__event_share_ops;
        break;
    case MPROC__SYNC_BARRIER:
        ops = &mproc__barrier_share_ops;
        break;
    default:
        ops = &mproc__cond_share_ops;
        break;
    }
    mproc__share_init(&b->shared, ops, obj);
}

void mproc__sync_share_forget(mproc__sync_base *b)
{
    mproc__share_forget(&b->shared);
}

/* ---- the public halves: an object as a share-list entry, and back in the child ---- */

#define SHARED_OF(T, x)                                                                            \
    mproc_shared *mproc_##x##_shared(T *o)                                                         \
    {                                                                                              \
        return o == NULL ? NULL : &((mproc__sync_base *)(void *)o)->shared;                        \
    }
#define CHILD_OF(T, x, K)                                                                          \
    int mproc_child_##x(size_t index, T **out)                                                     \
    {                                                                                              \
        void *v = NULL;                                                                            \
        int r;                                                                                     \
        if (out == NULL)                                                                           \
            return MPROC_EINVAL;                                                                   \
        r = mproc__share_child_get(index, K, &v);                                                  \
        *out = v;                                                                                  \
        return r;                                                                                  \
    }

SHARED_OF(mproc_lock, lock)
SHARED_OF(mproc_rlock, rlock)
SHARED_OF(mproc_sem, sem)
SHARED_OF(mproc_event, event)
SHARED_OF(mproc_barrier, barrier)
SHARED_OF(mproc_cond, cond)
CHILD_OF(mproc_lock, lock, MPROC__SHARE_LOCK)
CHILD_OF(mproc_rlock, rlock, MPROC__SHARE_RLOCK)
CHILD_OF(mproc_sem, sem, MPROC__SHARE_SEM)
CHILD_OF(mproc_event, event, MPROC__SHARE_EVENT)
CHILD_OF(mproc_barrier, barrier, MPROC__SHARE_BARRIER)
CHILD_OF(mproc_cond, cond, MPROC__SHARE_COND)
