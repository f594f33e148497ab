/* Moving work to the workers: what callers queued and the iterators' chunks into the pool
 * thread's queue, each function defined once to each worker, tasks written to the least loaded
 * worker, and unstarted tasks taken back from a busy worker for an idle one. */
#include "engine.h"
#include "runtime.h"
#include "ring.h"
#include "wire.h"

#include <string.h>

/* How many tasks may wait in one worker's pipe beyond the one it runs. Deep pipelining makes
 * trivial tasks cost a fraction of a round trip; it is only used when the backlog is deep, so
 * a few long tasks still spread over every worker.
 *
 * Python's workers share one queue, so no task waits behind a running one while a worker is
 * free. Ours each have a pipe, and a task written into it cannot be unsent; but it can be
 * taken back before it starts: the worker claims each task in shared memory before it runs it
 * (ring.h), and the pool thread can claim the unstarted ones first, which the worker then
 * skips. So the pipes stay deep (a task costs a fraction of a round trip, which a depth that
 * adapts to measured task time would give up every time the measure lags) and a worker that
 * runs out of work takes back what waits behind a busy one (rebalance). A worker whose task
 * has run for STALE_MS gets nothing more written behind it. */
#define MAX_DEPTH 64
#define STALE_MS 20
/* Tasks of small frames go deeper: with trivial ones, 64 a worker meant a wake-up of the pool
 * thread and of each worker every 64 tasks, and 13 000 context switches per 300 000 tasks;
 * 256 deep took 4 000, and a quarter less CPU (bench/mproc_bench apply_async). Deeper still
 * cost more than it saved (bigger buffers). The frames stay well inside a pipe's 64 KiB. */
#define SMALL_DEPTH 256
#define SMALL_FRAME_BYTES 128

static void append_private(mproc_pool *p, mproc__task *t)
{
    mproc__tasks_append(&p->pq_head, &p->pq_tail, t);
    p->pq_len++;
}

/* Lock held. Moves what callers queued to the private queue, and enough chunks of the
 * iterators to keep every worker's pipeline full. */
void mproc__dispatch_take(mproc_pool *p)
{
    size_t want = (size_t)p->nworkers * MAX_DEPTH * 2;
    mproc_iter **link;

    if (p->purge || p->purge_queue) {
        /* Chunks of an abandoned iterator are dropped before they cost a worker anything, and
         * those a worker holds are skipped from its next item on. */
        mproc__task **tp = &p->pq_head;
        int i;
        for (i = 0; i < p->nworkers && p->purge; i++) {
            mproc__worker *w = &p->workers[i];
            mproc__task *t;
            if (!w->alive)
                continue;
            for (t = w->head; t != NULL; t = t->next)
                if (t->iter != NULL && t->iter->abandoned)
                    mproc__ring_cancel(w->shm.addr, t->tag, &w->cancel_pos);
        }
        p->purge = p->purge_queue = 0;
        p->pq_tail = NULL;
        while (*tp != NULL) {
            mproc__task *t = *tp;
            if (t->iter != NULL && t->iter->abandoned) {
                *tp = t->next;
                p->pq_len--;
                mproc__stats_outcome(p, MPROC_ECANCELED, t->count); /* never reported */
                mproc__iter_unref(t->iter);
                mproc__chunk_free(t->result); /* what an earlier flight gathered */
                mproc__free(t);
            } else {
                p->pq_tail = t;
                tp = &t->next;
            }
        }
    }
    if (p->qhead != NULL) {
        /* Counted as they came (a walk here touched every task, lock held, while submitters
         * waited for it). */
        mproc__tasks_splice(&p->pq_head, &p->pq_tail, p->qhead, p->qtail);
        p->pq_len += p->qlen;
        p->qhead = p->qtail = NULL;
        p->qlen = 0;
    }
    if (p->cancels) {
        /* Canceled while queued (mproc_async_cancel): they fail now, their error callbacks run
         * this turn. */
        mproc__task **tp = &p->pq_head;
        p->cancels = 0;
        p->pq_tail = NULL;
        while (*tp != NULL) {
            mproc__task *t = *tp;
            if (t->async != NULL && mproc__os_load(&t->async->claim) == MPROC__CLAIM_CANCELED) {
                *tp = t->next;
                t->next = NULL;
                p->pq_len--;
                mproc__task_fail(p, t, MPROC_ECANCELED, 0, MPROC__CANCELED_MSG);
            } else {
                p->pq_tail = t;
                tp = &t->next;
            }
        }
    }
    link = &p->sources;
    /* With max_pending, no chunk is made while that many items are unfinished. */
    while (*link != NULL && p->pq_len < want && mproc__stats_room(p)) {
        mproc_iter *it = *link;
        mproc__task *t;
        if (it->abandoned || it->canceled || it->submitted == it->nchunks) {
            *link = it->next_source;
            continue;
        }
        t = mproc__iter_next_task(it);
        if (t == NULL) {
            link = &it->next_source;
            continue;
        }
        t->id = ++p->next_id;
        append_private(p, t);
    }
}

static mproc__defined *definition(mproc_pool *p, mproc_task fn)
{
    size_t i;
    mproc__defined *d;
    mproc__wr w;
    size_t start;

    for (i = 0; i < p->ndefs; i++)
        if (p->defs[i].fn == fn)
            return &p->defs[i];
    if (p->ndefs == p->capdefs) {
        d = mproc__grow(p->defs, &p->capdefs, p->ndefs + 1, sizeof *d, 8);
        if (d == NULL)
            return NULL;
        p->defs = d;
    }
    d = &p->defs[p->ndefs];
    memset(d, 0, sizeof *d);
    d->fn = fn;
    /* Checked here, once per function, as a process target is: the worker checks again. */
    d->status = mproc__fn_check((mproc__fn)fn);
    w.b = &d->body;
    w.err = 0;
    start = mproc__wr_frame_begin(&w, MPROC__MSG_DEFINE);
    mproc__wr_u64(&w, (uint64_t)(uintptr_t)(mproc__fn)fn);
    mproc__wr_fn(&w, (mproc__fn)fn, &d->status);
    if (mproc__wr_frame_end(&w, start) < 0) {
        mproc__buf_free(&d->body);
        return NULL;
    }
    p->ndefs++;
    return d;
}

/* Workers learn each function once, before its first task. */
static int define_to(mproc_pool *p, mproc__worker *w, mproc_task fn)
{
    mproc__defined *d;
    size_t i;

    for (i = 0; i < w->ndefined; i++)
        if (w->defined[i] == fn)
            return MPROC_OK;
    d = definition(p, fn);
    if (d == NULL)
        return MPROC_ENOMEM;
    if (d->status < 0)
        return d->status;
    if (w->ndefined == w->capdefined) {
        mproc_task *fns = mproc__grow(w->defined, &w->capdefined, w->ndefined + 1, sizeof *fns, 8);
        if (fns == NULL)
            return MPROC_ENOMEM;
        w->defined = fns;
    }
    if (w->cfg.fork && mproc__os_fn_same_in_fork((mproc__fn)fn, &w->fn_gen)) {
        /* Its module was there when the worker was forked: no loader call in the worker. */
        mproc__wr wr;
        size_t start, mark = w->chan.out.len;
        wr.b = &w->chan.out;
        wr.err = 0;
        start = mproc__wr_frame_begin(&wr, MPROC__MSG_DEFINE);
        mproc__wr_u64(&wr, (uint64_t)(uintptr_t)(mproc__fn)fn);
        mproc__wr_blob(&wr, NULL, 0);
        mproc__wr_u64(&wr, MPROC__SAME_ADDRESS);
        if (mproc__wr_frame_end(&wr, start) < 0) {
            w->chan.out.len = mark; /* no half frame left behind */
            return wr.err;
        }
    } else if (mproc__buf_append(&w->chan.out, d->body.data, d->body.len) < 0) {
        return MPROC_ENOMEM;
    }
    w->defined[w->ndefined++] = fn;
    return MPROC_OK;
}

static int send_task(mproc_pool *p, mproc__worker *w, mproc__task *t)
{
    size_t mark, n = t->count - t->from;
    int r;

    /* Every worker, forked ones too, learns fn as (module, offset) and finds it again itself:
     * a fork worker may predate the dlopen that brought fn, and a pointer that is not code then
     * fails with MPROC_ENOFUNC under every start method instead of crashing the worker. */
    r = define_to(p, w, t->fn);
    if (r < 0)
        return r;
    /* max_tasks_per_child counts items: a worker near its end takes part of a chunk, and the
     * rest goes out again once that part is answered (results.c, take_result). */
    if (p->max_tasks > 0 && (long)n > p->max_tasks - w->sent)
        n = (size_t)(p->max_tasks - w->sent);
    /* A chunk gathers its outcomes item by item from its first flight on. */
    if (t->iter != NULL && t->result == NULL) {
        t->result = mproc__chunk_new(t->chunk, t->count);
        if (t->result == NULL)
            return MPROC_ENOMEM;
    }
    /* Counted from the read cursor, which compaction moves along with the bytes. */
    mark = w->chan.out.len - w->chan.out.pos;
    mproc__task_place(w, t, t->from, n);
    r = mproc__task_encode(&w->chan.out, t, t->from, n);
    if (r < 0) {
        w->chan.out.len = w->chan.out.pos + mark;
        if (t->slot != 0)
            mproc__ring_arg_unused(w->shm.addr, t->slot - 1);
        t->slot = 0;
        return r;
    }
    t->end = t->from + n;
    t->seq = ++w->seq;
    mproc__tasks_append(&w->head, &w->tail, t);
    if (w->inflight++ == 0)
        w->head_since = mproc__os_now_ms();
    w->sent += (long)n;
    return MPROC_OK;
}

static mproc__task *next_task(mproc_pool *p)
{
    mproc__task *t = mproc__tasks_pop(&p->pq_head, &p->pq_tail);
    if (t != NULL)
        p->pq_len--;
    /* The next task was written by the submitting thread, on another core: each first touch of
     * it was a cache miss, about half of this thread's time with trivial tasks. Asked for now,
     * its lines come while this one goes out (15 % less CPU in bench/mproc_bench apply_async).
     * An apply's task follows its handle in one block (async.c): the line before it holds the
     * claim, and a small argument follows it. */
    if (p->pq_head != NULL)
        mproc__os_prefetch((uintptr_t)p->pq_head - 64, 64 + sizeof(mproc__task) + 64);
    return t;
}

/* w's running task has lasted STALE_MS (as far as this thread has seen): nothing more waits
 * behind it. */
static int stale(const mproc__worker *w, uint64_t now)
{
    return w->inflight > 0 && now - w->head_since >= STALE_MS;
}

/* Whether t's next flight makes a small frame (its items' bytes). */
static int small_frame(const mproc__task *t)
{
    size_t n = t->count - t->from;
    return t->item_size == 0 || n <= SMALL_FRAME_BYTES / t->item_size;
}

/* payload: the task's argument goes to a slot. Then a long task does not stop the next one
 * from waiting in the other slot: without it, each worker with tasks of 80 ms waited 1-4 ms
 * after each for the pool thread to copy the next argument in. It is not stuck there if the
 * running task never ends: a worker that runs dry takes it back (rebalance). */
static mproc__worker *least_loaded(mproc_pool *p, int depth, int payload, uint64_t now)
{
    mproc__worker *best = NULL;
    int i;
    for (i = 0; i < p->nworkers; i++) {
        mproc__worker *w = &p->workers[i];
        if (!w->alive || w->parked || w->shutdown || w->kill_reason || w->inflight >= depth ||
            (!payload && stale(w, now)))
            continue;
        if (mproc__worker_used_up(p, w))
            continue;
        if (best == NULL || w->inflight < best->inflight)
            best = w;
    }
    return best;
}

size_t mproc__dispatch(mproc_pool *p)
{
    uint64_t now = mproc__os_now_ms();
    size_t sent = 0;
    for (;;) {
        size_t backlog = p->pq_len;
        size_t d = backlog > (size_t)p->nworkers ? 1 + backlog / (size_t)p->nworkers : 1;
        mproc__worker *w;
        mproc__task *t;
        int r;

        /* A large argument waits in one of the worker's two slots (ring.h), not in its pipe:
         * two a worker, the one it runs and the next. Deeper, the rest would crawl through the
         * pipe 64 KiB a wake-up, with the worker waiting on it, and stay there when another
         * worker runs dry at the end. */
        int big = p->pq_head != NULL && p->pq_head->item_size >= MPROC__PAYLOAD_MIN;
        int payload = big && p->pq_head->count - p->pq_head->from == 1;
        if (big)
            d = 2;
        if (d > MAX_DEPTH && (p->pq_head == NULL || !small_frame(p->pq_head)))
            d = MAX_DEPTH;
        w = least_loaded(p, d > SMALL_DEPTH ? SMALL_DEPTH : (int)d, payload, now);

        if (w == NULL && !p->broken)
            return sent;
        t = next_task(p);
        if (t == NULL)
            return sent;
        if (t->iter != NULL && t->iter->abandoned) {
            /* Back after the purge (a death, a take-back): its items are the caller's, who may
             * have freed them. The next locked phase drops it; nothing is read meanwhile. */
            mproc__tasks_prepend(&p->pq_head, &p->pq_tail, t, t);
            p->pq_len++;
            p->purge_queue = 1;
            p->dispatch_more = 1;
            return sent;
        }
        /* An apply canceled since the last locked phase loses the race here. A task that went
         * out before (taken back, or re-queued after a death) stays SENT. */
        if (t->async != NULL && mproc__os_cas(&t->async->claim, MPROC__CLAIM_QUEUED,
                                              MPROC__CLAIM_SENT) == MPROC__CLAIM_CANCELED) {
            mproc__task_fail(p, t, MPROC_ECANCELED, 0, MPROC__CANCELED_MSG);
            continue;
        }
        if (p->broken) {
            mproc__task_fail(p, t, MPROC_EWORKER_LOST, p->broken_exit, p->broken_msg);
            continue;
        }
        r = send_task(p, w, t);
        sent += r == MPROC_OK;
        if (r == MPROC_OK && t->slot != 0) {
            p->dispatch_more = 1;
            return sent;
        }
        if (r < 0)
            mproc__task_fail(p, t, r, 0,
                             r == MPROC_ENOFUNC ? "the task function is not code of a loaded module"
                                                : mproc_strerror(r));
    }
}

/* Whether w has booted: then it has its ring and claims each task before it runs it. */
static int ready(const mproc__worker *w)
{
    return w->booted || mproc__os_load(&((mproc__ring *)w->shm.addr)->ready);
}

/* Lock held (park_workers must see what it puts back). A worker with nothing to do takes back
 * the tasks that wait, unstarted, behind another's running one: from every worker when the
 * queue is empty, else only from those whose task has run for STALE_MS (the queued tasks are
 * younger than theirs). They go back to the front of the queue, and dispatch gives them to the
 * least loaded workers, not to one whose task has gone stale. */
void mproc__dispatch_rebalance(mproc_pool *p)
{
    uint64_t now = 0;
    int i, idle = 0;

    for (i = 0; i < p->nworkers && !idle; i++) {
        const mproc__worker *w = &p->workers[i];
        idle = w->alive && w->inflight == 0 && !w->lent && !w->shutdown && !w->kill_reason &&
               !mproc__worker_used_up(p, w) && ready(w);
    }
    if (!idle)
        return;
    for (i = 0; i < p->nworkers; i++) {
        mproc__worker *w = &p->workers[i];
        mproc__ring *ring = w->shm.addr;
        mproc__task *t, *prev = NULL, *last, *u;
        uint32_t started;
        size_t n = 0, items = 0;

        if (!w->alive || w->inflight == 0 || w->lent || w->parked || w->kill_reason || !ready(w))
            continue;
        /* Only what waits behind a running task: one not started yet is about to (the worker
         * may still be reading it), and taking it back would only send it round again. */
        started = mproc__os_load(&ring->claim);
        if (started == w->seq || (int32_t)(started - w->head->seq) < 0)
            continue;
        if (p->pq_head != NULL) {
            if (now == 0)
                now = mproc__os_now_ms();
            if (!stale(w, now))
                continue;
        }
        started = mproc__ring_take_back(ring, w->seq);
        for (t = w->head; t != NULL && (int32_t)(t->seq - started) <= 0; t = t->next)
            prev = t;
        if (t == NULL)
            continue;
        last = w->tail;
        for (u = t; u != NULL; u = u->next) {
            n++;
            items += u->end - u->from; /* max_tasks_per_child counts items */
            mproc__task_rewind(u);     /* its flight never started: none of it ran here */
            if (u->slot != 0)          /* nor will it: its argument's slot is free */
                mproc__ring_arg_unused(ring, u->slot - 1);
            u->slot = 0;
        }
        mproc__tasks_cut(&w->head, &w->tail, prev);
        w->inflight -= (int)n;
        w->sent -= (long)items;
        mproc__task_requeue(p, t, last, n);
    }
}
