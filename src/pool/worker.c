/* The worker loop: read task frames, run their items, answer each item with one RESULT frame.
 *
 * Each item's result is written before the next item starts. That costs one copy into the ring
 * per item, and buys exact crash accounting: when a worker dies, the parent knows every item
 * before the oldest unanswered one is done, so only the item that was running fails and the
 * rest are re-run elsewhere. */
#include "backend.h"
#include "ring.h"
#include "wire.h"
#include "worker.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MESSAGE_MAX 4096

struct mproc_output {
    mproc__buf data;
    int failed;
    int error; /* a code of our own (ETOOBIG) that overrides the task's outcome */
    /* A large result goes straight into the result area of the worker's shared memory (ring.h)
     * when it is free: in_area, and area_len its size (data is empty then). */
    mproc__ring *ring;
    int in_area;
    size_t area_len;
    char message[MESSAGE_MAX];
};

int mproc_output_set(mproc_output *r, const void *data, size_t len)
{
    if (r == NULL || (data == NULL && len > 0))
        return MPROC_EINVAL;
    if (len > MPROC__WIRE_MAX_ITEM) {
        r->error = MPROC_ETOOBIG;
        return MPROC_ETOOBIG;
    }
    r->error = 0;
    r->data.len = r->data.pos = 0;
    r->in_area = 0;
    if (len >= MPROC__RESULT_AREA_MIN) {
        unsigned char *area = mproc__ring_result_area(r->ring, len);
        if (area != NULL) {
            mproc__ring_result_fill(r->ring, area, data, len);
            r->in_area = 1;
            r->area_len = len;
            return MPROC_OK;
        }
    }
    if (mproc__buf_append(&r->data, data, len) < 0) {
        r->error = MPROC_ENOMEM;
        return MPROC_ENOMEM;
    }
    return MPROC_OK;
}

int mproc_output_fail(mproc_output *r, const char *fmt, ...)
{
    va_list ap;
    if (r == NULL || fmt == NULL)
        return MPROC_EINVAL;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    r->failed = 1;
    return MPROC_OK;
}

typedef struct fn_entry {
    uint64_t id;
    mproc__fn fn; /* NULL: could not be resolved */
} fn_entry;

typedef struct worker {
    const mproc__worker_cfg *cfg;
    fn_entry *fns;
    size_t nfns, capfns;
    void *scratch; /* aligned home of the current item */
    size_t scratch_cap;
    mproc_output res;
    mproc__buf out;
    int stamps;              /* the ring wants each item's start (ring.h) */
    uint64_t max_bytes;      /* max_memory_per_child (0: none) */
    int retire;              /* passed it: end after this item */
    mproc__ring_batch batch; /* the answers gathered in the ring, not yet published */
} worker;

static int define_fn(worker *w, const unsigned char *body, size_t len)
{
    mproc__rd r;
    mproc__fnref ref;
    fn_entry e;

    mproc__rd_init(&r, body, len);
    e.id = mproc__rd_u64(&r);
    mproc__rd_fn(&r, &ref);
    if (r.err || r.left != 0)
        return MPROC_EPROTO;
    if (w->cfg->fork && ref.module_len == 0 && ref.offset == MPROC__SAME_ADDRESS)
        e.fn = (mproc__fn)(uintptr_t)e.id; /* the parent checked it, and its module predates us */
    else if (mproc__fn_resolve(&ref, &e.fn) < 0)
        e.fn = NULL;
    if (w->nfns == w->capfns) {
        fn_entry *fns = mproc__grow(w->fns, &w->capfns, w->nfns + 1, sizeof *fns, 8);
        if (fns == NULL)
            return MPROC_ENOMEM;
        w->fns = fns;
    }
    w->fns[w->nfns++] = e;
    return MPROC_OK;
}

static mproc_task find_fn(const worker *w, uint64_t id)
{
    size_t i;
    for (i = w->nfns; i-- > 0;)
        if (w->fns[i].id == id)
            return (mproc_task)w->fns[i].fn;
    return NULL;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

#define ANSWER_HEAD (MPROC__WIRE_HEADER + 28) /* id, first, count, code, status, length */

static const unsigned char ring_bell[MPROC__WIRE_HEADER] = {
    0, 0, 0, 0, MPROC__MSG_BELL, MPROC__WIRE_VERSION, 0, 0};

/* Publishes the answers gathered in the ring; notify: wake a borrower (lend.c), which waits
 * for the whole answer of its one task. */
static int flush_answers(worker *w, int notify)
{
    int bell;
    mproc__ring_batch_flush(w->cfg->ring, &w->batch, &bell);
    if (notify)
        mproc__ring_notify(w->cfg->ring);
    return bell ? mproc__os_write_all(w->cfg->out, ring_bell, sizeof ring_bell) : MPROC_OK;
}

/* One item's answer. Into the ring when it fits, gathered with the items before it in one
 * frame (published at the end of the task frame, or when the ring fills); a large one, or any
 * when there is no ring, as its own frame down the pipe. */
static int answer_item(worker *w, uint64_t id, uint32_t index, int code, int status,
                       const void *data, size_t len)
{
    mproc__ring *ring = w->cfg->ring;
    unsigned char *p;
    int r, bell;

    if (len > MPROC__WIRE_MAX_ITEM)
        return MPROC_ETOOBIG;
    while (ring != NULL) {
        if (mproc__ring_batch_add(ring, &w->batch, id, index, code, status, data, len))
            return mproc__ring_batch_pressure(ring, &w->batch) ? flush_answers(w, 0) : MPROC_OK;
        if (w->batch.open) {
            r = flush_answers(w, 0);
            if (r < 0)
                return r;
            continue;
        }
        /* Many small answers through the pipe cost a system call each; waiting for the parent
         * to drain costs one wake-up for many. */
        if (!mproc__ring_wait_room(ring, ANSWER_HEAD + len, &bell))
            break;
        if (bell && (r = mproc__os_write_all(w->cfg->out, ring_bell, sizeof ring_bell)) < 0)
            return r;
    }
    w->out.len = w->out.pos = 0;
    if (mproc__buf_reserve(&w->out, ANSWER_HEAD + len) < 0)
        return MPROC_ENOMEM;
    p = w->out.data;
    put32(p, (uint32_t)(ANSWER_HEAD - MPROC__WIRE_HEADER + len));
    p[4] = MPROC__MSG_RESULT;
    p[5] = MPROC__WIRE_VERSION;
    p[6] = p[7] = 0;
    mproc__put_u64(p + 8, id);
    put32(p + 16, index);
    put32(p + 20, 1);
    put32(p + 24, (uint32_t)code);
    put32(p + 28, (uint32_t)status);
    put32(p + 32, (uint32_t)len);
    if (len > 0)
        memcpy(p + ANSWER_HEAD, data, len);
    w->out.len = ANSWER_HEAD + len;
    return mproc__os_write_all(w->cfg->out, w->out.data, w->out.len);
}

/* A success whose bytes are in the result area: a small frame, through the ring when there is
 * room, else the pipe. The area is the parent's to read from the moment the frame can be seen. */
static int answer_in_area(worker *w, uint64_t id, uint32_t index, size_t len)
{
    mproc__ring *ring = w->cfg->ring;
    unsigned char *p;
    int r;

    mproc__os_store(&ring->result_busy, 1);
    for (;;) {
        if (mproc__ring_batch_add_area(ring, &w->batch, id, index, len))
            return mproc__ring_batch_pressure(ring, &w->batch) ? flush_answers(w, 0) : MPROC_OK;
        if (!w->batch.open)
            break;
        if ((r = flush_answers(w, 0)) < 0)
            return r;
    }
    w->out.len = w->out.pos = 0;
    if (mproc__buf_reserve(&w->out, ANSWER_HEAD) < 0) {
        mproc__os_store(&ring->result_busy, 0); /* nothing announced it */
        return MPROC_ENOMEM;
    }
    p = w->out.data;
    put32(p, (uint32_t)(ANSWER_HEAD - MPROC__WIRE_HEADER));
    p[4] = MPROC__MSG_RESULT;
    p[5] = MPROC__WIRE_VERSION;
    p[6] = p[7] = 0;
    mproc__put_u64(p + 8, id);
    put32(p + 16, index);
    put32(p + 20, 1);
    put32(p + 24, (uint32_t)MPROC_OK);
    put32(p + 28, 0);
    put32(p + 32, (uint32_t)len | MPROC__WIRE_RESULT_IN_AREA);
    w->out.len = ANSWER_HEAD;
    return mproc__os_write_all(w->cfg->out, w->out.data, w->out.len);
}

/* Runs one item and answers it. */
static int run_item(worker *w, uint64_t id, uint32_t index, mproc_task fn,
                    const unsigned char *item, size_t size, int slot)
{
    mproc_output *res = &w->res;
    const void *arg = NULL;
    int status;

    if (fn == NULL) {
        static const char msg[] = "the task function cannot be found in the worker";
        if (slot > 0)
            mproc__ring_arg_done(w->cfg->ring, slot - 1, size);
        return answer_item(w, id, index, MPROC_ENOFUNC, 0, msg, sizeof msg - 1);
    }
    if (slot > 0) {
        arg = item; /* in its slot, aligned: used in place */
    } else if (size > 0) {
        memcpy(w->scratch, item, size);
        arg = w->scratch;
    }
    res->data.len = res->data.pos = 0;
    res->failed = 0;
    res->error = 0;
    res->in_area = 0;
    res->ring = w->cfg->ring;
    res->message[0] = '\0';
    status = fn(arg, size, res);
    if (slot > 0)
        mproc__ring_arg_done(w->cfg->ring, slot - 1, size);
    if (res->error != 0)
        return answer_item(w, id, index, res->error, status, mproc_strerror(res->error),
                           strlen(mproc_strerror(res->error)));
    if (status != 0 || res->failed) {
        if (res->message[0] == '\0')
            snprintf(res->message, sizeof res->message, "task returned %d", status);
        return answer_item(w, id, index, MPROC_ETASK, status, res->message, strlen(res->message));
    }
    if (res->in_area)
        return answer_in_area(w, id, index, res->area_len);
    return answer_item(w, id, index, MPROC_OK, 0, res->data.data, res->data.len);
}

/* Runs a TASK frame's items one by one, each answered before the next starts: a crash or a
 * timeout so costs the running item only, and the parent learns of each start through the
 * ring. Items of an iterator that is gone are skipped, answered in one frame. */
static int run_task(worker *w, const unsigned char *body, size_t len, uint32_t *count)
{
    mproc__task_hdr h;
    mproc_task fn;
    uint32_t i;
    int r;

    if (mproc__task_decode(body, len, &h) < 0)
        return MPROC_EPROTO;
    *count = h.count;
    if (h.slot > 0) {
        /* The argument waits in its slot of our shared memory. */
        if (w->cfg->ring == NULL || !mproc__os_load(&w->cfg->ring->areas) ||
            h.item_size > MPROC__AREA_ARG ||
            mproc__os_shm_commit(mproc__ring_area(w->cfg->ring, h.slot - 1), h.item_size) < 0)
            return MPROC_EPROTO;
        h.items = mproc__ring_area(w->cfg->ring, h.slot - 1);
    } else if (h.item_size > w->scratch_cap) {
        void *s = mproc__realloc(w->scratch, h.item_size);
        if (s == NULL) {
            /* No room for an argument's copy: each item fails with MPROC_ENOMEM and the worker
             * goes on (returning the error would end the worker, and so every task queued on
             * it, for one task's lack). */
            const char *msg = mproc_strerror(MPROC_ENOMEM);
            for (i = 0; i < h.count; i++)
                if ((r = answer_item(w, h.id, h.first + i, MPROC_ENOMEM, 0, msg, strlen(msg))) < 0)
                    return r;
            return w->cfg->ring != NULL ? flush_answers(w, 1) : MPROC_OK;
        }
        w->scratch = s;
        w->scratch_cap = h.item_size;
    }
    fn = find_fn(w, h.fn);
    for (i = 0; i < h.count; i++) {
        if (w->cfg->ring != NULL) {
            if (mproc__ring_canceled(w->cfg->ring, h.tag)) {
                /* Its iterator is gone: the rest are answered as skipped, nothing runs. */
                if (h.slot > 0)
                    mproc__ring_arg_done(w->cfg->ring, h.slot - 1, h.item_size);
                for (; i < h.count; i++)
                    if ((r = answer_item(w, h.id, h.first + i, MPROC_ECANCELED, 0, NULL, 0)) < 0)
                        return r;
                break;
            }
            if (w->stamps)
                mproc__os_store(&w->cfg->ring->item_ms, (uint32_t)mproc__os_now_ms());
        }
        r = run_item(w, h.id, h.first + i, fn, h.items + h.item_size * i, h.item_size, h.slot);
        if (r == MPROC_ENOMEM || r == MPROC_ETOOBIG) {
            /* No memory for the answer: the item says so. */
            const char *msg = mproc_strerror(r);
            r = answer_item(w, h.id, h.first + i, r, 0, msg, strlen(msg));
        }
        if (r < 0)
            return r;
        /* Above max_memory_per_child after an item: it keeps its answer, and the worker ends
         * before the next one; the parent starts another and sends it what is left. */
        if (w->max_bytes > 0 && (uint64_t)mproc__os_rss_bytes() > w->max_bytes) {
            w->retire = 1;
            break;
        }
    }
    return w->cfg->ring != NULL ? flush_answers(w, 1) : MPROC_OK;
}

/* The channel this worker answers on: tests use it to play a worker that sends garbage. */
static mproc__handle channel = MPROC__INVALID_HANDLE;

mproc__handle mproc__worker_channel(void)
{
    return channel;
}

int mproc__worker_main(const mproc__worker_cfg *cfg)
{
    worker w;
    mproc__buf own = {0};
    mproc__buf *in = cfg->in_buf ? cfg->in_buf : &own;
    uint32_t done = 0, seen = 0;
    int code = 0;

    memset(&w, 0, sizeof w);
    w.cfg = cfg;
    channel = cfg->out;
    mproc__os_worker_signals();
    if (cfg->init != NULL && cfg->init(cfg->initarg_len ? cfg->initarg : NULL, cfg->initarg_len))
        return MPROC__EXIT_INIT;
    /* From here on an exit is the tasks' doing, whatever its code. */
    if (cfg->ring != NULL) {
        w.stamps = (int)mproc__os_load(&cfg->ring->stamps);
        w.max_bytes = (uint64_t)mproc__os_load(&cfg->ring->max_kib) * 1024u;
        mproc__os_store(&cfg->ring->ready, 1);
    }
    for (;;) {
        const unsigned char *body;
        size_t body_len, total;
        uint32_t items = 0;
        int type, r;

        r = mproc__wire_read_frame(cfg->in, in, &type, &body, &body_len, &total);
        if (r == 0)
            break; /* the parent closed our input (or died): a normal end */
        if (r < 0) {
            code = MPROC__EXIT_BOOT;
            break;
        }
        if (type == MPROC__MSG_DEFINE)
            r = define_fn(&w, body, body_len);
        else if (type == MPROC__MSG_TASK &&
                 (cfg->ring == NULL || mproc__ring_claim(cfg->ring, ++seen)))
            r = run_task(&w, body, body_len, &items);
        else if (type == MPROC__MSG_TASK)
            r = MPROC_OK; /* the parent took it back before it started: it runs elsewhere */
        else
            r = MPROC_EPROTO;
        if (r < 0) {
            code = MPROC__EXIT_BOOT;
            break;
        }
        mproc__buf_consume(in, total);
        /* max_tasks counts items: the parent sends no more than that, so this ends on a frame.
         * A task taken back ran none. */
        done += items;
        if (type == MPROC__MSG_TASK && cfg->max_tasks > 0 && done >= cfg->max_tasks)
            break;
        if (w.retire) {
            /* After the answers (run_task flushed them): the parent reads retired only once
             * it sees this process end. */
            mproc__os_store(&cfg->ring->retired, 1);
            break;
        }
    }
    mproc__free(w.fns);
    mproc__free(w.scratch);
    mproc__buf_free(&w.res.data);
    mproc__buf_free(&w.out);
    mproc__buf_free(&own);
    return code;
}
