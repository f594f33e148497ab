/* A task on its way: its TASK frames, its place in a worker's in-flight list, its return to the
 * queue, and the outcome it gets when its worker cannot give one (death, terminate, no memory). */
#include "engine.h"

#include <string.h>

int mproc__task_encode(mproc__buf *b, const mproc__task *t, size_t first, size_t n)
{
    mproc__wr wr;
    mproc__task_hdr h;

    wr.b = b;
    wr.err = 0;
    h.id = t->id;
    h.fn = (uint64_t)(uintptr_t)(mproc__fn)t->fn;
    h.tag = t->tag;
    h.first = (uint32_t)first;
    h.count = (uint32_t)n;
    h.item_size = t->item_size;
    h.items = t->items + first * t->item_size;
    return mproc__task_write(&wr, &h);
}

void mproc__task_done(mproc_pool *p, mproc__task *t)
{
    mproc__tasks_append(&p->done_head, &p->done_tail, t);
}

void mproc__task_deliver(mproc_pool *p, mproc__task *t)
{
    /* The delivery list is read in the locked phase; this thread only appends to it, and only
     * while it holds the lock or before the next locked phase, which is the same thread. */
    mproc__tasks_append(&p->dlv_head, &p->dlv_tail, t);
}

/* Fails every item of t that has no outcome yet with one error; those that have keep it. */
void mproc__task_fail(mproc_pool *p, mproc__task *t, int code, int exitcode, const char *msg)
{
    mproc__chunk *c = t->result;
    mproc_error *e;
    size_t i;

    if (t->async != NULL) {
        mproc__async_complete(t->async, code, 0, exitcode, msg, strlen(msg));
        mproc__task_done(p, t);
        return;
    }
    if (c == NULL) {
        t->result = mproc__chunk_failed(t->chunk, t->count, code, exitcode, msg);
        mproc__task_deliver(p, t);
        return;
    }
    e = mproc__chunk_error(c, code, 0, exitcode, msg, strlen(msg));
    if (e == NULL) {
        /* No memory even for the failure record: the iterator reports it as canceled. */
        mproc__chunk_free(c);
        t->result = NULL;
        mproc__task_deliver(p, t);
        return;
    }
    for (i = 0; i < c->n; i++) {
        if (c->at[i] == 0) {
            c->items[i].code = code;
            c->items[i].err = e;
            c->at[i] = 1;
        }
    }
    t->got = t->count;
    mproc__chunk_seal(c);
    mproc__task_deliver(p, t);
}

void mproc__task_fail_list(mproc_pool *p, mproc__task *t, int code, const char *msg)
{
    while (t != NULL) {
        mproc__task *next = t->next;
        /* A map cut short says so (lock held: terminate runs in the locked phase). */
        if (code == MPROC_ECANCELED && t->iter != NULL)
            t->iter->canceled = 1;
        mproc__task_fail(p, t, code, 0, msg);
        t = next;
    }
}

/* Puts a list of unstarted tasks back at the front of the private queue, in order. */
void mproc__task_requeue(mproc_pool *p, mproc__task *first, mproc__task *last, size_t n)
{
    if (first == NULL)
        return;
    mproc__tasks_prepend(&p->pq_head, &p->pq_tail, first, last);
    p->pq_len += n;
}

/* Makes a task that goes out again start at its first item without an outcome. Items after
 * it can only have one if the worker sent garbage: they are forgotten and run again. */
void mproc__task_rewind(mproc__task *t)
{
    size_t i;
    if (t->result == NULL)
        return;
    while (t->from < t->count && t->result->at[t->from] != 0)
        t->from++;
    for (i = t->from; i < t->count; i++) {
        if (t->result->at[i] != 0) {
            t->result->at[i] = 0;
            t->result->items[i].code = 0;
            t->result->items[i].err = NULL;
            t->result->items[i].len = 0;
            t->got--;
        }
    }
    t->end = t->from;
}

mproc__task *mproc__inflight_pop(mproc__worker *w)
{
    mproc__task *t = mproc__tasks_pop(&w->head, &w->tail);
    w->inflight--;
    return t;
}

void mproc__inflight_unlink(mproc__worker *w, mproc__task *t, mproc__task *prev)
{
    mproc__tasks_unlink(&w->head, &w->tail, t, prev);
    w->inflight--;
}
