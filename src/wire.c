/* Framing, bounds checks and the bootstrap record (see wire.h for the format). */
#include "wire.h"

#include <string.h>

size_t mproc__wire_max_item = MPROC__WIRE_DEFAULT_MAX_ITEM;

void mproc__wire_set_max_item(size_t n)
{
    if (n < 4096)
        n = 4096;
    mproc__wire_max_item = n > MPROC__WIRE_DEFAULT_MAX_ITEM ? MPROC__WIRE_DEFAULT_MAX_ITEM : n;
}

void mproc__rd_init(mproc__rd *r, const void *data, size_t len)
{
    r->p = data;
    r->left = len;
    r->err = 0;
}

const unsigned char *mproc__rd_bytes(mproc__rd *r, size_t n)
{
    const unsigned char *p;
    if (r->err || n > r->left) {
        r->err = 1;
        return NULL;
    }
    p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

uint8_t mproc__rd_u8(mproc__rd *r)
{
    const unsigned char *p = mproc__rd_bytes(r, 1);
    return p ? p[0] : 0;
}

uint32_t mproc__rd_u32(mproc__rd *r)
{
    const unsigned char *p = mproc__rd_bytes(r, 4);
    if (p == NULL)
        return 0;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t mproc__rd_u64(mproc__rd *r)
{
    uint64_t lo = mproc__rd_u32(r);
    uint64_t hi = mproc__rd_u32(r);
    return lo | hi << 32;
}

const unsigned char *mproc__rd_blob(mproc__rd *r, size_t *len)
{
    size_t n = mproc__rd_u32(r);
    const unsigned char *p = mproc__rd_bytes(r, n);
    *len = p ? n : 0;
    return p;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

void mproc__put_u64(unsigned char *p, uint64_t v)
{
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

void mproc__wr_bytes(mproc__wr *w, const void *data, size_t n)
{
    if (!w->err && mproc__buf_append(w->b, data, n) < 0)
        w->err = MPROC_ENOMEM;
}

void mproc__wr_u8(mproc__wr *w, uint8_t v)
{
    mproc__wr_bytes(w, &v, 1);
}

void mproc__wr_u32(mproc__wr *w, uint32_t v)
{
    unsigned char p[4];
    put_u32(p, v);
    mproc__wr_bytes(w, p, 4);
}

void mproc__wr_u64(mproc__wr *w, uint64_t v)
{
    unsigned char p[8];
    mproc__put_u64(p, v);
    mproc__wr_bytes(w, p, 8);
}

void mproc__wr_blob(mproc__wr *w, const void *data, size_t n)
{
    if (n > MPROC__WIRE_MAX_ITEM) {
        if (!w->err)
            w->err = MPROC_ETOOBIG;
        return;
    }
    mproc__wr_u32(w, (uint32_t)n);
    mproc__wr_bytes(w, data, n);
}

size_t mproc__wr_frame_begin(mproc__wr *w, int type)
{
    size_t start = w->b->len - w->b->pos;
    unsigned char h[MPROC__WIRE_HEADER] = {0};
    h[4] = (unsigned char)type;
    h[5] = MPROC__WIRE_VERSION;
    mproc__wr_bytes(w, h, sizeof h);
    return start;
}

int mproc__wr_frame_end(mproc__wr *w, size_t start)
{
    size_t body;
    if (w->err)
        return w->err;
    body = w->b->len - w->b->pos - start - MPROC__WIRE_HEADER;
    if (body > MPROC__WIRE_MAX_BODY)
        return w->err = MPROC_ETOOBIG;
    put_u32(w->b->data + w->b->pos + start, (uint32_t)body);
    return MPROC_OK;
}

int mproc__wire_frame(const unsigned char *p, size_t avail, int *type, const unsigned char **body,
                      size_t *body_len, size_t *total, size_t *need)
{
    size_t len;
    *need = 0;
    if (avail < MPROC__WIRE_HEADER)
        return 0;
    len = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
    if (len > MPROC__WIRE_MAX_BODY || p[4] < MPROC__MSG_BOOT || p[4] > MPROC__MSG_BELL ||
        p[5] != MPROC__WIRE_VERSION || p[6] != 0 || p[7] != 0)
        return MPROC_EPROTO;
    *need = MPROC__WIRE_HEADER + len;
    if (avail < *need)
        return 0;
    *type = p[4];
    *body = p + MPROC__WIRE_HEADER;
    *body_len = len;
    *total = *need;
    return 1;
}

void mproc__wr_fn(mproc__wr *w, mproc__fn fn, int *status)
{
    char module[4096];
    uint64_t offset = MPROC__NO_OFFSET;
    size_t n;

    module[0] = '\0';
    if (fn != NULL) {
        int r = mproc__os_fn_locate(fn, module, sizeof module, &offset);
        if (r < 0) {
            *status = r;
            module[0] = '\0';
            offset = MPROC__NO_OFFSET;
        }
    }
    n = strlen(module);
    mproc__wr_blob(w, module, n);
    mproc__wr_u64(w, offset);
}

void mproc__rd_fn(mproc__rd *r, mproc__fnref *ref)
{
    ref->module = (const char *)mproc__rd_blob(r, &ref->module_len);
    ref->offset = mproc__rd_u64(r);
}

int mproc__fn_resolve(const mproc__fnref *ref, mproc__fn *fn)
{
    char module[4096];
    *fn = NULL;
    if (ref->module_len == 0 && ref->offset == MPROC__NO_OFFSET)
        return MPROC_OK;
    if (ref->module_len >= sizeof module || memchr(ref->module, '\0', ref->module_len) != NULL)
        return MPROC_ENOFUNC;
    memcpy(module, ref->module, ref->module_len);
    module[ref->module_len] = '\0';
    return mproc__os_fn_resolve(module, ref->offset, fn);
}

int mproc__boot_decode(const unsigned char *body, size_t len, mproc__boot *b)
{
    mproc__rd r;
    mproc__rd_init(&r, body, len);
    b->kind = mproc__rd_u8(&r);
    b->daemon = mproc__rd_u8(&r);
    b->max_tasks = mproc__rd_u32(&r);
    b->parent_pid = (long)(int64_t)mproc__rd_u64(&r);
    b->name = (const char *)mproc__rd_blob(&r, &b->name_len);
    mproc__rd_fn(&r, &b->target);
    b->arg = mproc__rd_blob(&r, &b->arg_len);
    mproc__rd_fn(&r, &b->init);
    b->initarg = mproc__rd_blob(&r, &b->initarg_len);
    if (r.err)
        return MPROC_EPROTO;
    b->shares = r.p;
    b->shares_len = r.left;
    if (b->kind != MPROC__BOOT_PROCESS && b->kind != MPROC__BOOT_WORKER)
        return MPROC_EPROTO;
    return MPROC_OK;
}

int mproc__wire_read_frame(mproc__handle h, mproc__buf *b, int *type, const unsigned char **body,
                           size_t *body_len, size_t *total)
{
    for (;;) {
        size_t need;
        long n;
        int r = mproc__wire_frame(mproc__buf_head(b), mproc__buf_avail(b), type, body, body_len,
                                  total, &need);
        if (r != 0)
            return r;
        /* Read at least what the frame still lacks, and 64 KiB when we can, so a burst of small
         * frames arrives in one call. */
        need = need > mproc__buf_avail(b) ? need - mproc__buf_avail(b) : 0;
        r = mproc__buf_reserve(b, need > 65536 ? need : 65536);
        if (r < 0)
            return r;
        n = mproc__os_read(h, b->data + b->len, b->cap - b->len);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return mproc__buf_avail(b) == 0 ? 0 : MPROC_EPROTO;
        b->len += (size_t)n;
    }
}

static int read_item(mproc__rd *r, mproc__result_item *item)
{
    item->code = (int32_t)mproc__rd_u32(r);
    item->status = (int32_t)mproc__rd_u32(r);
    item->data = mproc__rd_blob(r, &item->len);
    return !r->err && item->code <= 0 && item->code >= MPROC__ERRNO_LAST;
}

uint64_t mproc__result_task(const unsigned char *body, size_t len)
{
    mproc__rd r;
    uint64_t id;
    mproc__rd_init(&r, body, len);
    id = mproc__rd_u64(&r);
    return r.err ? 0 : id;
}

int mproc__result_decode(const unsigned char *body, size_t len, uint64_t id, size_t count,
                         void (*each)(void *ctx, size_t i, const mproc__result_item *item),
                         void *ctx)
{
    mproc__rd r;
    mproc__result_item item;
    size_t i, first, n;

    mproc__rd_init(&r, body, len);
    if (mproc__rd_u64(&r) != id)
        return MPROC_EPROTO;
    first = mproc__rd_u32(&r);
    n = mproc__rd_u32(&r);
    if (r.err || n == 0 || first >= count || n > count - first)
        return MPROC_EPROTO;
    for (i = 0; i < n; i++)
        if (!read_item(&r, &item))
            return MPROC_EPROTO;
    if (r.left != 0)
        return MPROC_EPROTO;
    mproc__rd_init(&r, body, len);
    mproc__rd_u64(&r);
    mproc__rd_u32(&r);
    mproc__rd_u32(&r);
    for (i = 0; i < n; i++) {
        read_item(&r, &item);
        each(ctx, first + i, &item);
    }
    return MPROC_OK;
}

#define TASK_HEADER 36 /* id, fn, tag, first, count, item size */

int mproc__task_decode(const unsigned char *body, size_t len, mproc__task_hdr *h)
{
    mproc__rd r;
    uint64_t size;

    mproc__rd_init(&r, body, len);
    h->id = mproc__rd_u64(&r);
    h->fn = mproc__rd_u64(&r);
    h->tag = mproc__rd_u32(&r);
    h->first = mproc__rd_u32(&r);
    h->count = mproc__rd_u32(&r);
    size = mproc__rd_u64(&r);
    if (r.err || size > MPROC__WIRE_MAX_ITEM || h->count == 0 || size > r.left / h->count ||
        size * h->count != r.left || h->first > UINT32_MAX - h->count)
        return MPROC_EPROTO;
    h->item_size = (size_t)size;
    h->items = r.p;
    return MPROC_OK;
}

int mproc__task_write(mproc__wr *w, const mproc__task_hdr *h)
{
    size_t per = h->item_size > 0 ? (MPROC__WIRE_MAX_BODY - TASK_HEADER) / h->item_size : h->count;
    size_t done = 0;

    if (h->item_size > MPROC__WIRE_MAX_ITEM)
        return MPROC_ETOOBIG;
    if (per == 0)
        per = 1;
    while (done < h->count) {
        size_t n = h->count - done < per ? h->count - done : per;
        size_t start = mproc__wr_frame_begin(w, MPROC__MSG_TASK);
        int r;
        mproc__wr_u64(w, h->id);
        mproc__wr_u64(w, h->fn);
        mproc__wr_u32(w, h->tag);
        mproc__wr_u32(w, h->first + (uint32_t)done);
        mproc__wr_u32(w, (uint32_t)n);
        mproc__wr_u64(w, (uint64_t)h->item_size);
        mproc__wr_bytes(w, h->items + done * h->item_size, n * h->item_size);
        r = mproc__wr_frame_end(w, start);
        if (r < 0)
            return r;
        done += n;
    }
    return MPROC_OK;
}
