/* Handing a queue to a child (share.h): the mapping's handle and the backend's, its size. */
#include "queue_in.h"
#include "../wire.h"

MPROC_API mproc_shared *mproc_queue_shared(mproc_queue *q)
{
    return q != NULL ? &q->shared : NULL;
}

MPROC_API int mproc_child_queue(size_t index, mproc_queue **out)
{
    void *v = NULL;
    int r;
    if (out == NULL)
        return MPROC_EINVAL;
    r = mproc__share_child_get(index, MPROC__SHARE_QUEUE, &v);
    *out = (mproc_queue *)v;
    return r;
}

static int describe(void *obj, mproc__share_rec *rec)
{
    mproc_queue *q = (mproc_queue *)obj;
    mproc__handle os[MPROC__QLOCK_COUNT + MPROC__QWAIT_COUNT];
    size_t n = mproc__qos_handles(&q->os, os), i;
    if (1 + n > MPROC__SHARE_MAX_HANDLES)
        return MPROC_ENOTSUP;
    rec->nh = 1 + n;
    rec->h[0] = q->shm.h;
    for (i = 0; i < n; i++)
        rec->h[1 + i] = os[i];
    rec->blob_len = 8;
    mproc__put_u64(rec->blob, (uint64_t)q->shm.size);
    return MPROC_OK;
}

static int adopt(mproc__share_rec *rec, mproc_shared **out)
{
    mproc__rd rd;
    uint64_t size;
    mproc_queue *q;
    size_t i;
    int r;

    mproc__rd_init(&rd, rec->blob, rec->blob_len);
    size = mproc__rd_u64(&rd);
    if (rd.err || rd.left != 0 || rec->nh < 1 || size != QHDR_BYTES + QRING_CAP + QBIG_CAP)
        return MPROC_EPROTO;
    q = (mproc_queue *)mproc__calloc(1, sizeof *q);
    if (q == NULL)
        return MPROC_ENOMEM;
    r = mproc__qos_adopt(&q->os, rec->h + 1, rec->nh - 1);
    if (r < 0) {
        mproc__free(q);
        return r;
    }
    /* Until it succeeds every handle stays rec's (the machinery closes what is left). */
    r = mproc__os_shm_attach(&q->shm, rec->h[0], (size_t)size);
    if (r == MPROC_OK) {
        q->h = (mproc__qhdr *)q->shm.addr;
        if (q->h->magic != MPROC__QUEUE_MAGIC || q->h->version != MPROC__QUEUE_VERSION ||
            q->h->ring_cap != QRING_CAP || q->h->big_cap != QBIG_CAP)
            r = MPROC_EPROTO;
    }
    if (r < 0) {
        q->shm.h = MPROC__INVALID_HANDLE;
        mproc__os_shm_destroy(&q->shm);
        mproc__free(q);
        return r;
    }
    for (i = 0; i < rec->nh; i++)
        rec->h[i] = MPROC__INVALID_HANDLE;
    q->ring = (unsigned char *)q->shm.addr + QHDR_BYTES;
    q->big = q->ring + QRING_CAP;
    mproc__share_init(&q->shared, &mproc__queue_share_ops, q);
    *out = &q->shared;
    return MPROC_OK;
}

static void share_destroy(void *obj)
{
    mproc_queue_destroy((mproc_queue *)obj);
}

const mproc__share_ops mproc__queue_share_ops = {MPROC__SHARE_QUEUE, "queue", describe, adopt,
                                                 share_destroy};
