/* The async handle of an apply: its outcome as the pool thread delivers it, its callbacks, its
 * references. */
#include "pool.h"

#include <string.h>

void mproc__async_unref(mproc_async *a)
{
    if (--a->refs > 0)
        return;
    if (a->data != NULL && a->data != a->small.b && a->data_cap != 0)
        mproc__spare_put(a->pool, a->data, a->data_cap);
    else if (a->data != a->small.b)
        mproc__free(a->data);
    mproc__free(a->message);
    if (a->block != 0)
        mproc__spare_put(a->pool, a, a->block); /* the last use of a */
    else
        mproc__free(a);
}

void mproc__async_complete(mproc_async *a, int code, int status, int exitcode, const void *data,
                           size_t len)
{
    a->code = code;
    if (code == MPROC_OK) {
        a->len = len;
        a->data =
            len <= sizeof a->small.b ? a->small.b : mproc__spare_alloc(a->pool, len, &a->data_cap);
        /* A big result lands in fresh pages: huge ones where the OS gives them make the copy
         * run at the speed of warm memory (64 MiB: 512 page faults instead of 16 384). */
        if (a->data != NULL && len >= ((size_t)4 << 20))
            mproc__os_big_buffer(a->data, len);
        if (a->data == NULL) {
            code = a->code = MPROC_ENOMEM;
            data = mproc_strerror(MPROC_ENOMEM);
            len = strlen(data);
        } else {
            if (len > 0)
                memcpy(a->data, data, len);
            return;
        }
    }
    a->err.code = code;
    a->err.status = status;
    a->err.exitcode = exitcode;
    a->message = mproc__malloc(len + 1);
    if (a->message != NULL) {
        memcpy(a->message, data, len);
        a->message[len] = '\0';
    }
    /* Without memory for the text, the code still tells what happened. */
    a->err.message = a->message != NULL ? a->message : "";
}

void mproc__async_adopt(mproc_async *a, void *buf, size_t cap, size_t len)
{
    a->code = MPROC_OK;
    a->len = len;
    a->data = buf;
    a->data_cap = cap;
}

void mproc__async_callback(mproc_async *a)
{
    if (a->code == MPROC_OK && a->cb != NULL)
        a->cb(a->user, a->data, a->len);
    else if (a->code != MPROC_OK && a->ecb != NULL)
        a->ecb(a->user, &a->err);
}

void mproc__async_done(mproc_async *a)
{
    a->done = 1;
    /* A mproc_wait() on task handles looks again (one load while none sleeps). */
    mproc__wait_notify();
    mproc__async_unref(a);
}
