/* The pool thread: one thread in the parent moves tasks out to the workers and results back
 * in, notices workers that die and runs the callbacks.
 *
 * Each turn has a short locked phase (take what callers queued, hand finished work back) and an
 * unlocked phase (dispatch, I/O, results, callbacks) on state only this thread touches. Callers
 * and the thread so meet once a turn, not once a task. */
#include "pool.h"
#include "ring.h"
#include "wire.h"

#include <stdio.h>
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
/* A worker that dies before it is ready (its initializer returned nonzero, crashed or exited)
 * failed to boot. Such failures are counted in rounds: the first death of a round counts, and
 * until a worker boots again only one worker at a time is started, after a back-off that
 * doubles from BOOT_BACKOFF_MS up to BOOT_BACKOFF_MAX_MS. After MAX_BOOT_FAILURES rounds in a
 * row (about 3 s) the pool gives up: it is broken and tasks fail at once. A worker that boots
 * ends the count, so a cause that goes away within that time costs nothing but the wait. */
#define MAX_BOOT_FAILURES 6
#define BOOT_BACKOFF_MS 100
#define BOOT_BACKOFF_MAX_MS 1600
/* While a worker started after boot failures boots, the thread looks this often whether it
 * has (it says so in shared memory only). */
#define BOOT_POLL_MS 20
/* How soon the loop tries again a chunk it had no memory for (mproc__iter_next_task). */
#define ALLOC_RETRY_MS 10
/* Wait before trying again to start a worker the OS refused. */
#define RESPAWN_DELAY_MS 100

/* Lock held. */
static int work_remains(const mproc_pool *p)
{
    int i;
    if (p->qhead != NULL || p->sources != NULL || p->pq_head != NULL)
        return 1;
    for (i = 0; i < p->nworkers; i++)
        if (p->workers[i].inflight > 0 || p->workers[i].lent)
            return 1;
    return 0;
}

/* ---- worker start and stop ---- */

static int worker_fork_main(void *ctx)
{
    return mproc__worker_main(ctx);
}

static int encode_worker_boot(const mproc_pool *p, mproc__buf *b)
{
    mproc__wr w;
    size_t start;
    int fnstatus = MPROC_OK;
    static const char name[] = "PoolWorker";

    w.b = b;
    w.err = 0;
    start = mproc__wr_frame_begin(&w, MPROC__MSG_BOOT);
    mproc__wr_u8(&w, MPROC__BOOT_WORKER);
    mproc__wr_u8(&w, MPROC__DAEMON_WORKER); /* see mproc__pool_start_worker */
    mproc__wr_u32(&w, (uint32_t)(p->max_tasks > 0 ? p->max_tasks : 0));
    mproc__wr_u64(&w, (uint64_t)(int64_t)mproc__os_getpid());
    mproc__wr_blob(&w, name, sizeof name - 1);
    mproc__wr_fn(&w, NULL, &fnstatus);
    mproc__wr_blob(&w, NULL, 0);
    mproc__wr_fn(&w, (mproc__fn)p->init, &fnstatus);
    mproc__wr_blob(&w, p->initarg, p->initarg_len);
    if (fnstatus < 0)
        return fnstatus;
    return mproc__wr_frame_end(&w, start);
}

int mproc__pool_start_worker(mproc_pool *p, mproc__worker *w)
{
    mproc__handle task_rd = MPROC__INVALID_HANDLE, task_wr = MPROC__INVALID_HANDLE;
    mproc__handle res_rd = MPROC__INVALID_HANDLE, res_wr = MPROC__INVALID_HANDLE;
    mproc__spawn_spec spec;
    int r;

    memset(&w->chan, 0, sizeof w->chan);
    memset(&w->proc, 0, sizeof w->proc);
    w->proc.h = w->proc.aux = MPROC__INVALID_HANDLE;
    w->head = w->tail = NULL;
    w->inflight = 0;
    w->sent = 0;
    w->ndefined = 0;
    w->shutdown = 0;
    w->kill_reason = 0;
    w->answered = 0;
    w->ring_tail = 0;
    w->seq = 0;
    w->booted = 0;
    w->boot_round = p->boot_round;
    w->cancel_pos = 0;
    memset(&w->ring_in, 0, sizeof w->ring_in);

    /* The ring, and after it the payload areas (ring.h) where there are any. */
    r = MPROC__AREAS_ON
            ? mproc__os_shm_create_reserved(&w->shm, MPROC__RING_SHM_SIZE, sizeof(mproc__ring))
            : MPROC_ENOMEM;
    if (r == MPROC_OK)
        mproc__os_store(&((mproc__ring *)w->shm.addr)->areas, 1);
    else
        r = mproc__os_shm_create(&w->shm, sizeof(mproc__ring));
    if (r < 0)
        goto fail;
    /* Each item's start costs the worker a clock read: only when a timeout needs it. */
    mproc__os_store(&((mproc__ring *)w->shm.addr)->stamps, p->task_timeout_ms > 0);
    mproc__os_store(&((mproc__ring *)w->shm.addr)->drained, 1);
    r = mproc__os_pipe(&task_rd, &task_wr);
    if (r < 0)
        goto fail;
    r = mproc__os_pipe(&res_rd, &res_wr);
    if (r < 0)
        goto fail;
    if (p->method == MPROC_START_SPAWN) {
        r = encode_worker_boot(p, &w->chan.out);
        if (r < 0)
            goto fail;
    }

    memset(&spec, 0, sizeof spec);
    spec.method = p->method;
    /* A busy worker would notice its parent's death only at its next read: as a daemon it goes
     * with the parent at once (PR_SET_PDEATHSIG on Linux, a job object on Windows). */
    spec.daemon = MPROC__DAEMON_WORKER;
    spec.child_in = task_rd;
    spec.child_out = res_wr;
    spec.child_extra = w->shm.h;
    memset(&w->cfg, 0, sizeof w->cfg);
    w->cfg.ring = w->shm.addr;
    w->cfg.fork = p->method == MPROC_START_FORK;
    if (w->cfg.fork)
        mproc__os_fn_gen(&w->fn_gen);
    w->cfg.in = task_rd;
    w->cfg.out = res_wr;
    w->cfg.init = p->init;
    w->cfg.initarg = p->initarg;
    w->cfg.initarg_len = p->initarg_len;
    w->cfg.max_tasks = (uint32_t)(p->max_tasks > 0 ? p->max_tasks : 0);
    spec.fork_main = worker_fork_main;
    spec.fork_ctx = &w->cfg;
    r = mproc__os_spawn(&spec, &w->proc);
    mproc__os_close(task_rd);
    mproc__os_close(res_wr);
    task_rd = res_wr = MPROC__INVALID_HANDLE;
    if (r < 0)
        goto fail;
    r = mproc__loop_add(p->loop, &w->chan, res_rd, task_wr);
    res_rd = task_wr = MPROC__INVALID_HANDLE; /* the loop's now, even on failure */
    /* A worker is dead when its process is, whatever holds its pipes: a process a task forked
     * keeps them open for as long as it lives. */
    if (r == MPROC_OK) {
        r = mproc__loop_watch(p->loop, &w->chan, &w->proc);
        if (r < 0)
            mproc__loop_remove(p->loop, &w->chan);
    }
    if (r < 0) {
        mproc__os_signal(&w->proc, 1);
        mproc__os_wait(&w->proc, MPROC_FOREVER);
        mproc__os_proc_close(&w->proc);
        goto fail;
    }
    w->alive = 1;
    return MPROC_OK;

fail:
    mproc__os_close(task_rd);
    mproc__os_close(task_wr);
    mproc__os_close(res_rd);
    mproc__os_close(res_wr);
    mproc__buf_free(&w->chan.out);
    mproc__os_shm_destroy(&w->shm);
    return r;
}

/* ---- task outcomes ---- */

static void push_done(mproc_pool *p, mproc__task *t)
{
    mproc__tasks_append(&p->done_head, &p->done_tail, t);
}

static void free_task(mproc__task *t)
{
    mproc__free(t);
}

static void push_delivery(mproc_pool *p, mproc__task *t)
{
    /* The delivery list is read in the locked phase; this thread only appends to it, and only
     * while it holds the lock or before the next locked phase, which is the same thread. */
    mproc__tasks_append(&p->dlv_head, &p->dlv_tail, t);
}

/* Fails every item of t that has no outcome yet with one error; those that have keep it. */
static void fail_task(mproc_pool *p, mproc__task *t, int code, int exitcode, const char *msg)
{
    mproc__chunk *c = t->result;
    mproc_error *e;
    size_t i;

    if (t->async != NULL) {
        mproc__async_complete(t->async, code, 0, exitcode, msg, strlen(msg));
        push_done(p, t);
        return;
    }
    if (c == NULL) {
        t->result = mproc__chunk_failed(t->chunk, t->count, code, exitcode, msg);
        push_delivery(p, t);
        return;
    }
    e = mproc__chunk_error(c, code, 0, exitcode, msg, strlen(msg));
    if (e == NULL) {
        /* No memory even for the failure record: the iterator reports it as canceled. */
        mproc__chunk_free(c);
        t->result = NULL;
        push_delivery(p, t);
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
    push_delivery(p, t);
}

static void fail_list(mproc_pool *p, mproc__task *t, int code, const char *msg)
{
    while (t != NULL) {
        mproc__task *next = t->next;
        /* A map cut short says so (lock held: terminate runs in the locked phase). */
        if (code == MPROC_ECANCELED && t->iter != NULL)
            t->iter->canceled = 1;
        fail_task(p, t, code, 0, msg);
        t = next;
    }
}

/* Puts a list of unstarted tasks back at the front of the private queue, in order. */
static void requeue(mproc_pool *p, mproc__task *first, mproc__task *last, size_t n)
{
    if (first == NULL)
        return;
    mproc__tasks_prepend(&p->pq_head, &p->pq_tail, first, last);
    p->pq_len += n;
}

static mproc__task *pop_head(mproc__worker *w)
{
    mproc__task *t = mproc__tasks_pop(&w->head, &w->tail);
    w->inflight--;
    return t;
}

/* The in-flight task an answer names, and the one before it in w's list. Answers come in order
 * through each channel, but a worker may send one through the pipe (too large for the ring)
 * and the next through the ring, so the parent can see them out of order: the id decides. */
static mproc__task *find_answered(mproc__worker *w, const unsigned char *body, size_t len,
                                  mproc__task **prev)
{
    mproc__task *t;
    uint64_t id = mproc__result_task(body, len);

    *prev = NULL;
    for (t = w->head; t != NULL && t->id != id; t = t->next)
        *prev = t;
    return t;
}

static void unlink_task(mproc__worker *w, mproc__task *t, mproc__task *prev)
{
    mproc__tasks_unlink(&w->head, &w->tail, t, prev);
    w->inflight--;
}

int mproc__answer_resolve(mproc__worker *w, mproc__result_item *item)
{
    return mproc__ring_item_resolve(w->shm.addr, item);
}

void mproc__task_single_item(void *ctx, size_t i, const mproc__result_item *item)
{
    mproc__single_ctx *x = ctx;
    mproc__result_item it = *item;
    (void)i;
    if (mproc__answer_resolve(x->w, &it) < 0) {
        x->err = MPROC_EPROTO;
        return;
    }
    mproc__async_complete(x->t->async, it.code, it.status, 0, it.data, it.len);
    if (it.in_area)
        mproc__ring_result_done(x->w->shm.addr, it.len);
}

typedef struct chunk_ctx {
    mproc__task *t;
    mproc__worker *w;
    int err; /* an answer for an item not in flight, or no memory */
} chunk_ctx;

static void chunk_item_at(chunk_ctx *x, size_t i, const mproc__result_item *item);

static void chunk_item(void *ctx, size_t i, const mproc__result_item *item)
{
    chunk_ctx *x = ctx;
    mproc__result_item it = *item;

    if (x->err != 0)
        return;
    if (mproc__answer_resolve(x->w, &it) < 0) {
        x->err = MPROC_EPROTO;
        return;
    }
    chunk_item_at(x, i, &it);
    if (it.in_area)
        mproc__ring_result_done(x->w->shm.addr, it.len);
}

static void chunk_item_at(chunk_ctx *x, size_t i, const mproc__result_item *item)
{
    mproc__chunk *c = x->t->result;

    if (i < x->t->from || i >= x->t->end || c->at[i] != 0) {
        x->err = MPROC_EPROTO;
        return;
    }
    c->items[i].code = item->code;
    if (item->code == MPROC_OK) {
        c->items[i].len = item->len;
        /* Room for a store block's header in front: map can then keep the bytes as they are
         * (map.c, store_chunk). */
        if (c->bytes.len == 0 && item->len > 0) {
            static const mproc__block none = {NULL, 0, 0};
            if (mproc__buf_append(&c->bytes, &none, sizeof none) < 0) {
                x->err = MPROC_ENOMEM;
                return;
            }
        }
        c->at[i] = 1 + c->bytes.len;
        /* take_result reserved room for the whole frame: a small item is a plain copy, the
         * hot path of a map of a million small results. */
        if (c->bytes.cap - c->bytes.len >= item->len) {
            memcpy(c->bytes.data + c->bytes.len, item->data, item->len);
            c->bytes.len += item->len;
        } else if (mproc__buf_append(&c->bytes, item->data, item->len) < 0) {
            c->at[i] = 0;
            x->err = MPROC_ENOMEM;
            return;
        }
    } else {
        static const char skipped[] = "the iterator was destroyed before the item ran";
        const char *msg = (const char *)item->data;
        size_t len = item->len;
        if (len == 0 && item->code == MPROC_ECANCELED) {
            msg = skipped;
            len = sizeof skipped - 1;
        }
        c->items[i].err = mproc__chunk_error(c, item->code, item->status, 0, msg, len);
        if (c->items[i].err == NULL) {
            x->err = MPROC_ENOMEM;
            return;
        }
        c->at[i] = 1;
    }
    x->t->got++;
}

/* The common frame, one item answered, decoded in one pass (this runs once per item): 1 when
 * it was one and is taken (x->err says how), 0 when it is another kind (the general decoder's
 * business), MPROC_EPROTO when it is garbage. The id was matched by the caller. */
static int one_item(const unsigned char *body, size_t len, chunk_ctx *x)
{
    mproc__rd r;
    mproc__result_item item;
    size_t first;

    mproc__rd_init(&r, body, len);
    (void)mproc__rd_u64(&r);
    first = mproc__rd_u32(&r);
    if (mproc__rd_u32(&r) != 1)
        return 0;
    item.code = (int32_t)mproc__rd_u32(&r);
    item.status = (int32_t)mproc__rd_u32(&r);
    item.len = mproc__rd_u32(&r);
    item.in_area = (item.len & MPROC__WIRE_RESULT_IN_AREA) != 0;
    if (item.in_area) {
        item.len &= ~(size_t)MPROC__WIRE_RESULT_IN_AREA;
        item.data = NULL;
        if (item.code != MPROC_OK)
            return MPROC_EPROTO;
    } else {
        item.data = mproc__rd_bytes(&r, item.len);
    }
    if (r.err || r.left != 0 || item.code > 0 || item.code < MPROC__ERRNO_LAST ||
        first >= x->t->count)
        return MPROC_EPROTO;
    chunk_item(x, first, &item);
    return 1;
}

/* Decodes one RESULT frame (one item, or a run of skipped ones) for one of w's tasks. */
static int take_result(mproc_pool *p, mproc__worker *w, const unsigned char *body, size_t len)
{
    mproc__task *prev, *t = find_answered(w, body, len, &prev);
    chunk_ctx x;
    int r;

    if (t == NULL)
        return MPROC_EPROTO;
    if (t->async != NULL) {
        mproc__single_ctx sx;
        sx.t = t;
        sx.w = w;
        sx.err = 0;
        r = mproc__result_decode(body, len, t->id, 1, mproc__task_single_item, &sx);
        if (r == MPROC_OK)
            r = sx.err;
        if (r < 0)
            return r;
        t->slot = 0;
        unlink_task(w, t, prev);
        push_done(p, t);
        return MPROC_OK;
    }
    x.t = t;
    x.w = w;
    x.err = 0;
    /* One reservation for the frame (its body bounds the bytes it carries, and a store block's
     * header may go first): chunk_item then copies each item without a call. A failure here
     * only leaves chunk_item to grow the buffer itself. */
    if (t->result != NULL && len <= SIZE_MAX - sizeof(mproc__block))
        (void)mproc__buf_reserve(&t->result->bytes, len + sizeof(mproc__block));
    r = one_item(body, len, &x);
    if (r == 0)
        r = mproc__result_decode(body, len, t->id, t->count, chunk_item, &x);
    else if (r > 0)
        r = MPROC_OK;
    if (r < 0 || x.err < 0)
        return r < 0 ? r : x.err;
    if (t->got < t->end)
        return MPROC_OK;
    /* The flight is over: the chunk is whole, or its rest goes out again (used-up worker). */
    unlink_task(w, t, prev);
    if (t->got == t->count) {
        mproc__chunk_seal(t->result);
        push_delivery(p, t);
    } else {
        t->from = t->end;
        requeue(p, t, t, 1);
    }
    return MPROC_OK;
}

static void kill_worker(mproc__worker *w, int reason)
{
    if (w->kill_reason == 0)
        w->kill_reason = reason;
    mproc__os_signal(&w->proc, 1);
}

/* Decodes the whole frames in `in` (the pipe's bytes or the ring's copies). */
static void decode_frames(mproc_pool *p, mproc__worker *w, mproc__buf *in)
{
    while (w->kill_reason == 0) {
        const unsigned char *body;
        size_t body_len, total, need;
        mproc__task *head = w->head;
        int type;
        int r = mproc__wire_frame(mproc__buf_head(in), mproc__buf_avail(in), &type, &body,
                                  &body_len, &total, &need);
        if (r == 0) {
            /* Make room for the whole frame now, so a large result is read in big pieces. */
            if (need > mproc__buf_avail(in))
                (void)mproc__buf_reserve(in, need - mproc__buf_avail(in));
            return;
        }
        if (r > 0 && type == MPROC__MSG_RESULT)
            r = take_result(p, w, body, body_len);
        else if (r > 0 && type != MPROC__MSG_BELL)
            r = MPROC_EPROTO;
        if (r < 0) {
            /* Whatever a child sends is untrusted: garbage costs that worker, nothing else. */
            kill_worker(w, r == MPROC_ENOMEM ? MPROC_ENOMEM : MPROC_EPROTO);
            return;
        }
        mproc__buf_consume(in, total);
        if (type == MPROC__MSG_BELL)
            continue;
        w->answered = 1;
        p->early_deaths = 0;
        if (w->head != NULL && w->head != head)
            w->head_since = mproc__os_now_ms();
    }
}

/* Everything w has answered so far: the ring first, then the pipe. */
static void read_results(mproc_pool *p, mproc__worker *w)
{
    if (w->kill_reason == 0 && w->shm.addr != NULL) {
        int r = mproc__ring_drain(w->shm.addr, &w->ring_tail, &w->ring_in);
        if (r < 0)
            kill_worker(w, r == MPROC_ENOMEM ? MPROC_ENOMEM : MPROC_EPROTO);
        else if (r > 0 || mproc__buf_avail(&w->ring_in) > 0) /* or what a borrower left */
            decode_frames(p, w, &w->ring_in);
    }
    decode_frames(p, w, &w->chan.in);
}

/* Lets go of what a dead (and reaped) worker held. */
static void release_worker(mproc_pool *p, mproc__worker *w)
{
    mproc__loop_remove(p->loop, &w->chan);
    mproc__buf_free(&w->chan.in);
    mproc__buf_free(&w->chan.out);
    mproc__buf_free(&w->ring_in);
    mproc__os_shm_destroy(&w->shm);
    mproc__os_proc_close(&w->proc);
    w->alive = 0;
}

/* Workers that have become ready since last looked end a run of boot failures. */
static void note_boots(mproc_pool *p)
{
    int i;
    for (i = 0; i < p->nworkers; i++) {
        mproc__worker *w = &p->workers[i];
        if (w->alive && !w->booted && mproc__os_load(&((mproc__ring *)w->shm.addr)->ready)) {
            w->booted = 1;
            p->early_deaths = 0;
        }
    }
}

/* w died while booting: one more failure in a row (once per round), then a back-off before
 * the next start, or the pool gives up. */
static void boot_failed(mproc_pool *p, const mproc__worker *w, int exitcode)
{
    long delay = BOOT_BACKOFF_MS;
    int i;

    if (w->boot_round != p->boot_round)
        return; /* started before the failure that counted for its round */
    p->boot_round++;
    p->broken_exit = exitcode;
    if (++p->early_deaths < MAX_BOOT_FAILURES) {
        for (i = 1; i < p->early_deaths && delay < BOOT_BACKOFF_MAX_MS; i++)
            delay *= 2;
        p->respawn_at = mproc__os_now_ms() + (uint64_t)delay;
        return;
    }
    p->broken = 1;
    if (exitcode == MPROC__EXIT_INIT)
        snprintf(p->broken_msg, sizeof p->broken_msg,
                 "the pool gave up starting workers: the initializer returned nonzero (exit code "
                 "%d), %d times in a row",
                 exitcode, p->early_deaths);
    else if (exitcode == MPROC__EXIT_BOOT && p->init == NULL)
        snprintf(p->broken_msg, sizeof p->broken_msg,
                 "the pool gave up starting workers: a worker could not boot (exit code %d), %d "
                 "times in a row",
                 exitcode, p->early_deaths);
    else
        snprintf(p->broken_msg, sizeof p->broken_msg,
                 "the pool gave up starting workers: %s (exit code %d), %d times in a row",
                 exitcode == MPROC__EXIT_BOOT ? "the initializer could not be run"
                 : p->init != NULL            ? "the initializer died"
                                              : "a worker died while booting",
                 exitcode, p->early_deaths);
}

/* The first item of t's flight without an outcome: the one its worker was running. */
static size_t running_item(const mproc__task *t)
{
    size_t i = t->from;
    while (i < t->end && t->result->at[i] != 0)
        i++;
    return i;
}

/* Fails the item t's dead worker was running; those before it keep their outcomes. */
static int fail_running(mproc__task *t, int code, int exitcode, const char *msg)
{
    mproc__chunk *c = t->result;
    size_t i = running_item(t);
    if (i >= t->end)
        return MPROC_OK; /* it died between two flights' items: none was running */
    c->items[i].err = mproc__chunk_error(c, code, 0, exitcode, msg, strlen(msg));
    if (c->items[i].err == NULL)
        return MPROC_ENOMEM;
    c->items[i].code = code;
    c->at[i] = 1;
    t->got++;
    return MPROC_OK;
}

/* Makes a task that goes out again start at its first item without an outcome. Items after
 * it can only have one if the worker sent garbage: they are forgotten and run again. */
static void rewind_task(mproc__task *t)
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

/* The answers a dead worker finished but had not published: what it wrote to the ring since
 * the last read, and the frame it was filling. A worker we killed for a timeout answered its
 * earlier items honestly; one that sent garbage is not believed any further. */
static void recover_answers(mproc_pool *p, mproc__worker *w)
{
    int reason = w->kill_reason, r;
    if (w->shm.addr == NULL || (reason != 0 && reason != MPROC_ETIMEDOUT))
        return;
    w->kill_reason = 0;
    r = mproc__ring_drain(w->shm.addr, &w->ring_tail, &w->ring_in);
    if (r >= 0)
        r = mproc__ring_drain_open(w->shm.addr, w->ring_tail, &w->ring_in);
    if (r >= 0)
        decode_frames(p, w, &w->ring_in);
    if (reason != 0)
        w->kill_reason = reason;
}

static void worker_died(mproc_pool *p, mproc__worker *w)
{
    mproc__task *t, *last;
    size_t n = 0;
    int exitcode, booting;
    char msg[128];

    /* End of file comes as the process exits; reaping it cannot take long, but a child that
     * closed its end and lives on is killed rather than waited for. */
    if (mproc__os_wait(&w->proc, 2000) != MPROC_OK) {
        mproc__os_signal(&w->proc, 1);
        mproc__os_wait(&w->proc, MPROC_FOREVER);
    }
    /* The application may have taken the status (its own waitpid, SIGCHLD ignored): then a
     * distinct code, never a false 0. */
    exitcode = w->proc.status_lost ? MPROC_ENOSTATUS : w->proc.exitcode;
    recover_answers(p, w);
    /* A worker that never said it was ready failed to boot, whatever its exit code (an
     * initializer that aborts is such a failure): no task of it ran. */
    note_boots(p);
    booting = w->kill_reason == 0 && !w->booted &&
              mproc__os_load(&((mproc__ring *)w->shm.addr)->ready) == 0;

    /* Garbage read from the pipe cannot be placed exactly: the worker's answers also come
     * through the ring, so the item that wrote it may have answered already, and the oldest
     * unanswered item be an innocent one. That item runs once more elsewhere; if garbage
     * comes again while it is the oldest, it is the one. */
    if (w->head != NULL && w->kill_reason == MPROC_EPROTO && !w->head->suspect) {
        w->head->suspect = 1;
    } else if (w->head != NULL && !booting) {
        int code = w->kill_reason ? w->kill_reason : MPROC_EWORKER_LOST;
        if (code == MPROC_ETIMEDOUT)
            sprintf(msg, "the task ran past the pool's task timeout; its worker was killed");
        else if (code == MPROC_EPROTO)
            sprintf(msg, "the worker sent a malformed message and was killed");
        else if (exitcode == MPROC_ENOSTATUS)
            sprintf(msg, "the worker running the task died (its exit status was taken by "
                         "someone else)");
        else
            sprintf(msg, "the worker running the task died (exit code %d)", exitcode);
        t = w->head;
        if (t->async != NULL || t->result == NULL) {
            fail_task(p, pop_head(w), code, exitcode, msg);
        } else if (fail_running(t, code, exitcode, msg) < 0) {
            /* No memory left to say which item failed: all those without an outcome do. */
            fail_task(p, pop_head(w), MPROC_ENOMEM, exitcode, mproc_strerror(MPROC_ENOMEM));
        } else if (t->got == t->count) {
            /* The chunk's other items are done. */
            (void)pop_head(w);
            mproc__chunk_seal(t->result);
            push_delivery(p, t);
        }
    }
    /* The rest were never started (the head's items after the one that failed included):
     * they run elsewhere. */
    for (t = w->head; t != NULL; t = t->next)
        rewind_task(t);
    for (last = w->head; last != NULL && last->next != NULL; last = last->next)
        n++;
    if (last != NULL)
        requeue(p, w->head, last, n + 1);
    w->head = w->tail = NULL;
    w->inflight = 0;
    release_worker(p, w);

    if (booting)
        boot_failed(p, w, exitcode);
}

/* ---- dispatch ---- */

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
    h.slot = t->slot;
    h.items = t->slot != 0 ? NULL : t->items + first * t->item_size;
    return mproc__task_write(&wr, &h);
}

void mproc__task_place(mproc__worker *w, mproc__task *t, size_t first, size_t n)
{
    int slot;

    t->slot = 0;
    if (n != 1 || t->item_size < MPROC__PAYLOAD_MIN || w->shm.addr == NULL)
        return;
    slot = mproc__ring_arg_slot(w->shm.addr, t->item_size);
    if (slot < 0)
        return;
    memcpy(mproc__ring_area(w->shm.addr, slot), t->items + first * t->item_size, t->item_size);
    t->slot = slot + 1;
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
     * rest goes out again once that part is answered (take_result). */
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
    return t;
}

/* w's running task has lasted STALE_MS (as far as this thread has seen): nothing more waits
 * behind it. */
static int stale(const mproc__worker *w, uint64_t now)
{
    return w->inflight > 0 && now - w->head_since >= STALE_MS;
}

static mproc__worker *least_loaded(mproc_pool *p, int depth, uint64_t now)
{
    mproc__worker *best = NULL;
    int i;
    for (i = 0; i < p->nworkers; i++) {
        mproc__worker *w = &p->workers[i];
        if (!w->alive || w->parked || w->shutdown || w->kill_reason || w->inflight >= depth ||
            stale(w, now))
            continue;
        if (mproc__worker_used_up(p, w))
            continue;
        if (best == NULL || w->inflight < best->inflight)
            best = w;
    }
    return best;
}

static void dispatch(mproc_pool *p)
{
    uint64_t now = mproc__os_now_ms();
    for (;;) {
        size_t backlog = p->pq_len;
        size_t d = backlog > (size_t)p->nworkers ? 1 + backlog / (size_t)p->nworkers : 1;
        mproc__worker *w;
        mproc__task *t;
        int r;

        /* A large argument waits in one of the worker's two slots (ring.h), not in its pipe:
         * two a worker, the one it runs and the next. Deeper, the rest would crawl through
         * the pipe 64 KiB a wake-up, with the worker waiting on it, and stay there when
         * another worker runs dry at the end. */
        if (p->pq_head != NULL && p->pq_head->item_size >= MPROC__PAYLOAD_MIN && d > 2)
            d = 2;
        w = least_loaded(p, d > MAX_DEPTH ? MAX_DEPTH : (int)d, now);

        if (w == NULL && !p->broken)
            return;
        t = next_task(p);
        if (t == NULL)
            return;
        if (p->broken) {
            fail_task(p, t, MPROC_EWORKER_LOST, p->broken_exit, p->broken_msg);
            continue;
        }
        r = send_task(p, w, t);
        if (r < 0)
            fail_task(p, t, r, 0,
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
static void rebalance(mproc_pool *p)
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
            rewind_task(u);            /* its flight never started: none of it ran here */
            if (u->slot != 0)          /* nor will it: its argument's slot is free */
                mproc__ring_arg_unused(ring, u->slot - 1);
            u->slot = 0;
        }
        mproc__tasks_cut(&w->head, &w->tail, prev);
        w->inflight -= (int)n;
        w->sent -= (long)items;
        requeue(p, t, last, n);
    }
}

/* ---- the pool thread ---- */

/* Lock not held. The callbacks of finished tasks, in completion order; the tasks then wait
 * for the locked phase to become ready to waiters (Python's order: callback first). */
static void run_callbacks(mproc_pool *p)
{
    mproc__task *t;
    for (t = p->done_head; t != NULL; t = t->next)
        mproc__async_callback(t->async);
}

/* Lock held. Hands finished work to callers: one broadcast a turn. */
static void publish(mproc_pool *p)
{
    mproc__task *t;
    int any = p->done_head != NULL || p->dlv_head != NULL;

    while ((t = mproc__tasks_pop(&p->done_head, &p->done_tail)) != NULL) {
        mproc__async_done(t->async);
        free_task(t);
    }
    while ((t = mproc__tasks_pop(&p->dlv_head, &p->dlv_tail)) != NULL) {
        mproc__iter_deliver(t->iter, t->result);
        mproc__iter_unref(t->iter);
        free_task(t);
    }
    if (any)
        mproc__cond_broadcast(p->cv);
}

static void append_private(mproc_pool *p, mproc__task *t)
{
    mproc__tasks_append(&p->pq_head, &p->pq_tail, t);
    p->pq_len++;
}

/* Lock held. Moves what callers queued to the private queue, and enough chunks of the
 * iterators to keep every worker's pipeline full. */
static void take_submissions(mproc_pool *p)
{
    size_t want = (size_t)p->nworkers * MAX_DEPTH * 2;
    mproc_iter **link;

    if (p->purge) {
        /* Chunks of an abandoned iterator are dropped before they cost a worker anything, and
         * those a worker holds are skipped from its next item on. */
        mproc__task **tp = &p->pq_head;
        int i;
        p->purge = 0;
        for (i = 0; i < p->nworkers; i++) {
            mproc__worker *w = &p->workers[i];
            mproc__task *t;
            if (!w->alive)
                continue;
            for (t = w->head; t != NULL; t = t->next)
                if (t->iter != NULL && t->iter->abandoned)
                    mproc__ring_cancel(w->shm.addr, t->tag, &w->cancel_pos);
        }
        p->pq_tail = NULL;
        while (*tp != NULL) {
            mproc__task *t = *tp;
            if (t->iter != NULL && t->iter->abandoned) {
                *tp = t->next;
                p->pq_len--;
                mproc__iter_unref(t->iter);
                mproc__chunk_free(t->result); /* what an earlier flight gathered */
                free_task(t);
            } else {
                p->pq_tail = t;
                tp = &t->next;
            }
        }
    }
    if (p->qhead != NULL) {
        mproc__task *t = p->qhead;
        size_t n = 0;
        while (t != NULL) {
            n++;
            t = t->next;
        }
        mproc__tasks_splice(&p->pq_head, &p->pq_tail, p->qhead, p->qtail);
        p->pq_len += n;
        p->qhead = p->qtail = NULL;
    }
    link = &p->sources;
    while (*link != NULL && p->pq_len < want) {
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

int mproc__worker_used_up(const mproc_pool *p, const mproc__worker *w)
{
    return p->max_tasks > 0 && w->sent >= p->max_tasks;
}

/* ---- lending idle workers to callers of apply (direct.c) ---- */

static void recall(mproc__worker *w)
{
    mproc__ring *ring = w->shm.addr;
    if (mproc__os_load(&w->recall))
        return;
    mproc__os_store(&w->recall, 1);
    mproc__os_add(&ring->seq, 1);
    mproc__os_word_wake(&ring->seq);
}

static void unpark(mproc__worker *w)
{
    w->parked = 0;
    w->attention = 0;
    mproc__os_store(&w->recall, 0);
}

static int parkable(const mproc_pool *p, const mproc__worker *w)
{
    return w->alive && !w->shutdown && !w->kill_reason && w->inflight == 0 && !w->attention &&
           mproc__buf_avail(&w->chan.out) == 0 && mproc__buf_avail(&w->chan.in) == 0 &&
           mproc__buf_avail(&w->ring_in) == 0 && !mproc__worker_used_up(p, w) &&
           mproc__os_load(&((mproc__ring *)w->shm.addr)->ready);
}

/* Lock held. Idle workers are parked while nothing waits for them; a parked one comes back
 * when work, news from it (input, end of file) or a task its borrower handed back is there.
 * One that is lent then is recalled (news) or awaited (work). 1 when one came back with news,
 * which this turn must read without waiting (an end of file is not polled again). */
static int park_workers(mproc_pool *p)
{
    int busy = p->pq_head != NULL || p->sources != NULL || p->state != POOL_OPEN;
    int i, news = 0;

    p->want_back = 0;
    for (i = 0; i < p->nworkers; i++) {
        mproc__worker *w = &p->workers[i];
        if (w->parked) {
            if (!busy && !w->attention && w->inflight == 0)
                continue;
            if (!w->lent) {
                news |= w->attention || w->inflight > 0;
                unpark(w);
                continue;
            }
            p->want_back = 1;
            if (w->attention)
                recall(w);
        } else if (!busy && p->can_lend && parkable(p, w)) {
            /* No doorbell from it any more: its borrower is woken through the ring. */
            mproc__ring_disarm(w->shm.addr);
            w->parked = 1;
        }
    }
    return news;
}

void mproc__pool_terminate_workers(mproc_pool *p)
{
    int i;
    mproc_iter *it;
    static const char msg[] = "the pool was terminated";

    /* A borrowed worker's task comes back first, to be failed with the rest. */
    p->want_back = 1;
    for (i = 0; i < p->nworkers; i++)
        if (p->workers[i].lent)
            recall(&p->workers[i]);
    for (i = 0; i < p->nworkers; i++)
        while (p->workers[i].lent)
            mproc__cond_wait(p->cv, p->lock, MPROC_FOREVER);
    for (i = 0; i < p->nworkers; i++)
        unpark(&p->workers[i]);
    for (i = 0; i < p->nworkers; i++)
        if (p->workers[i].alive)
            mproc__os_signal(&p->workers[i].proc, 1);
    for (i = 0; i < p->nworkers; i++) {
        mproc__worker *w = &p->workers[i];
        if (!w->alive)
            continue;
        mproc__os_wait(&w->proc, MPROC_FOREVER);
        fail_list(p, w->head, MPROC_ECANCELED, msg);
        w->head = w->tail = NULL;
        w->inflight = 0;
        release_worker(p, w);
    }
    fail_list(p, p->pq_head, MPROC_ECANCELED, msg);
    p->pq_head = p->pq_tail = NULL;
    p->pq_len = 0;
    fail_list(p, p->qhead, MPROC_ECANCELED, msg);
    p->qhead = p->qtail = NULL;
    for (it = p->sources; it != NULL; it = it->next_source)
        it->canceled = 1;
    p->sources = NULL;
}

/* needed: the pool is open, or work remains (decided in the locked phase). */
static void start_missing(mproc_pool *p, uint64_t now, int needed)
{
    int i;
    note_boots(p);
    if (p->broken || now < p->respawn_at || !needed)
        return;
    /* After boot failures one worker at a time tries, until one boots. */
    if (p->early_deaths > 0)
        for (i = 0; i < p->nworkers; i++)
            if (p->workers[i].alive && !p->workers[i].booted)
                return;
    for (i = 0; i < p->nworkers; i++) {
        if (p->workers[i].alive)
            continue;
        if (mproc__pool_start_worker(p, &p->workers[i]) < 0) {
            p->respawn_at = now + RESPAWN_DELAY_MS;
            return;
        }
        if (p->early_deaths > 0)
            return;
    }
}

/* When the item w runs started. The parent sees a task start (head_since) but not the items of
 * a chunk after its first: the worker notes each start in the ring. What the ring says is
 * believed only between head_since and now, so a worker cannot stretch its own deadline. */
static uint64_t item_since(const mproc__worker *w, uint64_t now)
{
    uint32_t stamp = mproc__os_load(&((const mproc__ring *)w->shm.addr)->item_ms);
    uint64_t ago = (uint32_t)((uint32_t)now - stamp);
    if (now < w->head_since || ago > now - w->head_since)
        return w->head_since;
    return now - ago;
}

/* How long the loop may sleep: until the next item deadline or respawn attempt. */
static long next_timeout(mproc_pool *p, uint64_t now)
{
    long t = MPROC_FOREVER;
    int i;
    for (i = 0; i < p->nworkers; i++) {
        const mproc__worker *w = &p->workers[i];
        if (!w->alive && p->respawn_at > now && !p->broken &&
            (t < 0 || (long)(p->respawn_at - now) < t))
            t = (long)(p->respawn_at - now);
        /* It says it has booted in shared memory only; others may wait for that to start
         * (start_missing) or to take back tasks (rebalance): look again soon. */
        if (w->alive && !w->booted && (t < 0 || t > BOOT_POLL_MS))
            t = BOOT_POLL_MS;
        if (w->alive && !w->parked && w->head != NULL && p->task_timeout_ms > 0 &&
            !w->kill_reason) {
            uint64_t due = item_since(w, now) + (uint64_t)p->task_timeout_ms;
            long left = due > now ? (long)(due - now) : 0;
            if (t < 0 || left < t)
                t = left;
        }
    }
    return t;
}

static void check_timeouts(mproc_pool *p, uint64_t now)
{
    int i;
    if (p->task_timeout_ms <= 0)
        return;
    for (i = 0; i < p->nworkers; i++) {
        mproc__worker *w = &p->workers[i];
        if (w->alive && !w->parked && w->head != NULL && !w->kill_reason &&
            now - item_since(w, now) >= (uint64_t)p->task_timeout_ms)
            kill_worker(w, MPROC_ETIMEDOUT);
    }
}

/* Tells every worker the thread is about to sleep, so the next answer rings the doorbell. 1
 * when answers wait already (then it must not sleep). */
static int arm_rings(mproc_pool *p)
{
    int i, waiting = 0;
    for (i = 0; i < p->nworkers; i++) {
        mproc__worker *w = &p->workers[i];
        if (w->alive && !w->parked && w->kill_reason == 0)
            waiting |= mproc__ring_arm(w->shm.addr, w->ring_tail);
    }
    return waiting;
}

static int any_alive(const mproc_pool *p)
{
    int i;
    for (i = 0; i < p->nworkers; i++)
        if (p->workers[i].alive)
            return 1;
    return 0;
}

void mproc__pool_thread(void *arg)
{
    mproc_pool *p = arg;
    int i, r = MPROC_OK;

    for (i = 0; i < p->nworkers && r == MPROC_OK; i++)
        r = mproc__pool_start_worker(p, &p->workers[i]);
    mproc__mutex_lock(p->lock);
    p->start_result = r < 0 ? r : 1;
    /* The OS error belongs to this thread; the creator's thread reports it (pool.c). */
    p->start_os_error = r == MPROC_ESYS ? mproc__os_get_last_error() : 0;
    if (r < 0) {
        mproc__pool_terminate_workers(p);
        p->thread_done = 1;
        p->state = POOL_DONE;
        mproc__cond_broadcast(p->cv);
        mproc__mutex_unlock(p->lock);
        return;
    }
    mproc__cond_broadcast(p->cv);
    for (;;) {
        uint64_t now;
        long timeout;
        int needed, unparked_news;

        /* ---- locked phase ---- */
        publish(p);
        if (p->state == POOL_TERMINATING) {
            mproc__pool_terminate_workers(p);
            mproc__mutex_unlock(p->lock);
            run_callbacks(p);
            mproc__mutex_lock(p->lock);
            publish(p);
            break;
        }
        take_submissions(p);
        rebalance(p);
        unparked_news = park_workers(p);
        needed = p->state == POOL_OPEN || work_remains(p);
        if (!needed) {
            /* Closed and drained: end of input tells every worker to exit. */
            for (i = 0; i < p->nworkers; i++) {
                mproc__worker *w = &p->workers[i];
                if (w->alive && !w->shutdown) {
                    w->shutdown = 1;
                    mproc__loop_shutdown(p->loop, &w->chan);
                }
            }
            if (!any_alive(p))
                break;
        }
        /* From here on a submitter wakes the loop; a wake that comes early only makes the next
         * wait return at once. */
        p->sleeping = 1;
        mproc__mutex_unlock(p->lock);

        /* ---- unlocked phase: this thread's own state ---- */
        now = mproc__os_now_ms();
        start_missing(p, now, needed);
        dispatch(p);
        timeout =
            p->done_head != NULL || p->dlv_head != NULL || unparked_news ? 0 : next_timeout(p, now);
        /* Set by this thread's locked phase (take_submissions), read and cleared here. */
        if (p->alloc_retry && (timeout < 0 || timeout > ALLOC_RETRY_MS))
            timeout = ALLOC_RETRY_MS;
        p->alloc_retry = 0;
        if (timeout != 0 && arm_rings(p))
            timeout = 0;
        (void)mproc__loop_run(p->loop, timeout);
        for (i = 0; i < p->nworkers; i++) {
            mproc__worker *w = &p->workers[i];
            if (!w->alive)
                continue;
            if (w->parked) {
                /* Its borrower, or the next locked phase, deals with it. */
                if (w->chan.news || w->chan.eof || w->chan.exited)
                    w->attention = 1;
                w->chan.news = 0;
                continue;
            }
            if (timeout != 0)
                mproc__ring_disarm(w->shm.addr);
            /* The ring says nothing when it fills, so every turn looks at it. */
            w->chan.news = 0;
            read_results(p, w);
            if (w->chan.eof || w->chan.exited) {
                read_results(p, w); /* what it put in the ring before it went */
                worker_died(p, w);
            }
        }
        check_timeouts(p, mproc__os_now_ms());
        run_callbacks(p);

        mproc__mutex_lock(p->lock);
        p->sleeping = 0;
    }
    p->thread_done = 1;
    p->state = POOL_DONE;
    mproc__cond_broadcast(p->cv);
    mproc__mutex_unlock(p->lock);
}
