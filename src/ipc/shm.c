/* Shared memory (mproc_shm_*): an anonymous, zeroed block, and its part of the share contract. */
#include "share.h"

#include <string.h>

struct mproc_shm {
    mproc_shared shared;
    mproc__shm os;
};

static void shm_free(mproc_shm *s)
{
    long saved = mproc__os_errno();
    mproc__share_forget(&s->shared);
    /* A fork's copy (of a block this process was not handed) maps the parent's pages, but its
     * descriptor was closed at the fork and the number may be another's now. */
    if (s->shared.pid != mproc__os_self_pid())
        s->os.h = MPROC__INVALID_HANDLE;
    mproc__os_shm_destroy(&s->os);
    mproc__free(s);
    mproc__os_restore_errno(saved);
}

int mproc_shm_create(mproc_shm **out, size_t size)
{
    mproc_shm *s;
    int r;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (size == 0)
        return MPROC_EINVAL;
    s = mproc__calloc(1, sizeof *s);
    if (s == NULL)
        return MPROC_ENOMEM;
    mproc__share_init(&s->shared, &mproc__shm_share_ops, s);
    r = mproc__os_shm_create(&s->os, size);
    if (r < 0) {
        mproc__free(s);
        return r;
    }
    *out = s;
    return MPROC_OK;
}

void *mproc_shm_ptr(mproc_shm *s)
{
    return s != NULL ? s->os.addr : NULL;
}

size_t mproc_shm_size(const mproc_shm *s)
{
    return s != NULL ? s->os.size : 0;
}

mproc_shared *mproc_shm_shared(mproc_shm *s)
{
    return s != NULL ? &s->shared : NULL;
}

void mproc_shm_destroy(mproc_shm *s)
{
    if (s != NULL)
        shm_free(s);
}

int mproc_child_shm(size_t index, mproc_shm **out)
{
    void *v = NULL;
    int r;
    if (out == NULL)
        return MPROC_EINVAL;
    r = mproc__share_child_get(index, MPROC__SHARE_SHM, &v);
    *out = v;
    return r;
}

/* ---- the share contract: one handle (the memfd or the mapping), the size in the blob ---- */

static int describe(void *obj, mproc__share_rec *rec)
{
    mproc_shm *s = obj;
    rec->nh = 1;
    rec->h[0] = s->os.h;
    rec->blob_len = 8;
    mproc__put_u64(rec->blob, (uint64_t)s->os.size);
    return MPROC_OK;
}

static int adopt(mproc__share_rec *rec, mproc_shared **out)
{
    mproc__rd rd;
    uint64_t size;
    mproc_shm *s;
    int r;

    mproc__rd_init(&rd, rec->blob, rec->blob_len);
    size = mproc__rd_u64(&rd);
    if (rd.err || rd.left != 0 || rec->nh != 1 || size == 0 || size > (uint64_t)SIZE_MAX)
        return MPROC_EPROTO;
    s = mproc__calloc(1, sizeof *s);
    if (s == NULL)
        return MPROC_ENOMEM;
    mproc__share_init(&s->shared, &mproc__shm_share_ops, s);
    r = mproc__os_shm_attach(&s->os, rec->h[0], (size_t)size);
    if (r < 0) {
        mproc__free(s);
        return r;
    }
    rec->h[0] = MPROC__INVALID_HANDLE;
    *out = &s->shared;
    return MPROC_OK;
}

static void destroy(void *obj)
{
    mproc_shm_destroy(obj);
}

const mproc__share_ops mproc__shm_share_ops = {MPROC__SHARE_SHM, "shm", describe, adopt, destroy};
