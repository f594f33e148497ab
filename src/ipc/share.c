/* Handing objects to a child: the parent's list of what crosses, its part of the bootstrap
 * record, and the child's table that mproc_child_<kind>() reads (the contract is in share.h). */
#include "share.h"

#include <string.h>

static const mproc__share_ops *const registry[] = {
#define MPROC__SHARE_ENTRY(ops) &ops,
    MPROC__SHARE_REGISTRY(MPROC__SHARE_ENTRY)
#undef MPROC__SHARE_ENTRY
};

static const mproc__share_ops *find_kind(int kind)
{
    size_t i;
    for (i = 0; i < sizeof registry / sizeof registry[0]; i++)
        if (registry[i]->kind == kind)
            return registry[i];
    return NULL;
}

void mproc__share_init(mproc_shared *s, const mproc__share_ops *ops, void *obj)
{
    s->ops = ops;
    s->obj = obj;
    s->pid = mproc__os_self_pid();
    s->slot = -1;
}

/* ---- the parent's list ---- */

static void rec_close(mproc__share_rec *r)
{
    size_t i;
    for (i = 0; i < r->nh; i++) {
        mproc__os_close(r->h[i]);
        r->h[i] = MPROC__INVALID_HANDLE;
    }
}

void mproc__share_list_free(mproc__share_list *l)
{
    size_t i;
    if (l == NULL)
        return;
    for (i = 0; i < l->n && l->recs != NULL; i++)
        rec_close(&l->recs[i]);
    mproc__free(l->recs);
    l->recs = NULL;
    l->n = 0;
}

int mproc__share_list_make(mproc__share_list *l, mproc_shared *const *objs, size_t n)
{
    size_t i, j;
    int r = MPROC_OK;

    l->n = 0;
    l->recs = NULL;
    if (n == 0)
        return MPROC_OK;
    if (objs == NULL || n > MPROC__SHARE_MAX_OBJECTS)
        return MPROC_EINVAL;
    for (i = 0; i < n; i++) {
        if (objs[i] == NULL || objs[i]->ops == NULL || find_kind(objs[i]->ops->kind) == NULL)
            return MPROC_EINVAL;
        for (j = 0; j < i; j++)
            if (objs[j] == objs[i])
                return MPROC_EINVAL;
        if (objs[i]->pid != mproc__os_self_pid())
            return MPROC_EFOREIGN;
    }
    l->recs = mproc__calloc(n, sizeof *l->recs);
    if (l->recs == NULL)
        return MPROC_ENOMEM;
    for (i = 0; i < n; i++) {
        mproc__share_rec *rec = &l->recs[i];
        mproc__share_rec mine;
        memset(&mine, 0, sizeof mine);
        r = objs[i]->ops->describe(objs[i]->obj, &mine);
        if (r == MPROC_OK &&
            (mine.nh > MPROC__SHARE_MAX_HANDLES || mine.blob_len > MPROC__SHARE_MAX_BLOB))
            r = MPROC_EINVAL;
        if (r < 0)
            break;
        rec->kind = objs[i]->ops->kind;
        rec->blob_len = mine.blob_len;
        memcpy(rec->blob, mine.blob, mine.blob_len);
        /* Duplicates: the object may be destroyed after the process or pool is created, and
         * the list (a pool's replacements) still hands it on. */
        for (j = 0; j < mine.nh; j++) {
            r = mproc__os_handle_dup(mine.h[j], &rec->h[j]);
            if (r < 0)
                break;
            rec->nh = j + 1;
        }
        l->n = i + 1;
        if (r < 0)
            break;
    }
    if (r < 0)
        mproc__share_list_free(l);
    return r;
}

size_t mproc__share_list_handles(const mproc__share_list *l, mproc__handle *out)
{
    size_t i, j, n = 0;
    for (i = 0; i < l->n; i++)
        for (j = 0; j < l->recs[i].nh; j++)
            out[n++] = l->recs[i].h[j];
    return n;
}

void mproc__share_list_write(mproc__wr *w, const mproc__share_list *l)
{
    size_t i, j;
    mproc__wr_u32(w, (uint32_t)(l != NULL ? l->n : 0));
    for (i = 0; l != NULL && i < l->n; i++) {
        const mproc__share_rec *rec = &l->recs[i];
        mproc__wr_u8(w, (uint8_t)rec->kind);
        mproc__wr_u8(w, (uint8_t)rec->nh);
        for (j = 0; j < rec->nh; j++)
            mproc__wr_u64(w, (uint64_t)rec->h[j]);
        mproc__wr_blob(w, rec->blob, rec->blob_len);
    }
}

int mproc__share_list_decode(const unsigned char *p, size_t len, mproc__share_list *l)
{
    mproc__rd r;
    uint32_t n, i;
    size_t j, k, m;

    l->n = 0;
    l->recs = NULL;
    mproc__rd_init(&r, p, len);
    /* An empty part is no objects (a record written before there were any). */
    n = len == 0 ? 0 : mproc__rd_u32(&r);
    if (r.err || n > MPROC__SHARE_MAX_OBJECTS)
        return MPROC_EPROTO;
    if (n == 0)
        return r.left == 0 ? MPROC_OK : MPROC_EPROTO;
    l->recs = mproc__calloc(n, sizeof *l->recs);
    if (l->recs == NULL)
        return MPROC_ENOMEM;
    for (i = 0; i < n; i++) {
        mproc__share_rec *rec = &l->recs[i];
        const unsigned char *blob;
        rec->kind = mproc__rd_u8(&r);
        m = mproc__rd_u8(&r);
        if (r.err || find_kind(rec->kind) == NULL || m > MPROC__SHARE_MAX_HANDLES)
            goto bad;
        for (j = 0; j < m; j++) {
            uint64_t v = mproc__rd_u64(&r);
            /* Never stdio, never the invalid value, nothing past the handle's range. */
            if (r.err || v <= 2 || v > (uint64_t)INTPTR_MAX)
                goto bad;
            rec->h[j] = (mproc__handle)v;
        }
        blob = mproc__rd_blob(&r, &rec->blob_len);
        if (r.err || rec->blob_len > MPROC__SHARE_MAX_BLOB)
            goto bad;
        memcpy(rec->blob, blob, rec->blob_len);
        /* Only now does the record own its handles: a bad record closes nothing it named. */
        rec->nh = m;
        l->n = i + 1;
    }
    if (r.left != 0)
        goto bad;
    /* One handle named twice would be closed twice. */
    for (i = 0; i < n; i++)
        for (j = 0; j < l->recs[i].nh; j++)
            for (k = 0; k < n; k++)
                for (m = 0; m < l->recs[k].nh; m++)
                    if ((k != i || m != j) && l->recs[k].h[m] == l->recs[i].h[j])
                        goto bad;
    return MPROC_OK;

bad:
    /* Not closed: handles named by bytes that failed to decode may be anyone's. */
    for (i = 0; i < l->n; i++)
        l->recs[i].nh = 0;
    mproc__share_list_free(l);
    return MPROC_EPROTO;
}

/* ---- the child's table ---- */

typedef struct entry {
    int kind;
    mproc_shared *s; /* NULL once this child destroyed it */
} entry;

static entry table[MPROC__SHARE_MAX_OBJECTS];
static size_t table_n;

int mproc__share_child_begin(mproc__share_list *l)
{
    size_t i;
    int r = MPROC_OK;

    /* What a fork inherited of its parent's table belongs to the parent. */
    memset(table, 0, sizeof table);
    table_n = 0;
    for (i = 0; i < l->n && i < MPROC__SHARE_MAX_OBJECTS; i++) {
        mproc__share_rec *rec = &l->recs[i];
        const mproc__share_ops *ops = find_kind(rec->kind);
        mproc_shared *s = NULL;
        r = ops != NULL ? ops->adopt(rec, &s) : MPROC_EPROTO;
        if (r == MPROC_OK && s == NULL)
            r = MPROC_EPROTO;
        rec_close(rec);
        if (r < 0)
            break;
        s->slot = (long)i;
        table[i].kind = rec->kind;
        table[i].s = s;
        table_n = i + 1;
    }
    if (r < 0) {
        for (i = 0; i < table_n; i++)
            if (table[i].s != NULL)
                table[i].s->ops->destroy(table[i].s->obj);
        memset(table, 0, sizeof table);
        table_n = 0;
        for (i = 0; i < l->n; i++)
            rec_close(&l->recs[i]);
    }
    return r;
}

int mproc__share_child_get(size_t index, int kind, void **out)
{
    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (index >= table_n || table[index].kind != kind)
        return MPROC_EINVAL;
    if (table[index].s == NULL)
        return MPROC_ESTATE;
    *out = table[index].s->obj;
    return MPROC_OK;
}

void mproc__share_forget(mproc_shared *s)
{
    if (s == NULL || s->slot < 0 || (size_t)s->slot >= table_n || table[s->slot].s != s)
        return;
    table[s->slot].s = NULL;
    s->slot = -1;
}

size_t mproc_child_share_count(void)
{
    return table_n;
}
