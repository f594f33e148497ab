/* The worker loop: read task frames, run them, answer each with one RESULT frame.
 *
 * Each result is written before the next task starts. That costs one write per task, and buys
 * exact crash accounting: when a worker dies, the parent knows every task before the oldest
 * unanswered one is done, so only the task that was running fails and the rest are re-run. */
#include "internal.h"
#include "ring.h"
#include "wire.h"
#include "worker.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MESSAGE_MAX 4096

struct mproc_result {
    mproc__buf data;
    int failed;
    int error; /* a code of our own (ETOOBIG) that overrides the task's outcome */
    char message[MESSAGE_MAX];
};

int mproc_result_set(mproc_result *r, const void *data, size_t len)
{
    if (r == NULL || (data == NULL && len > 0))
        return MPROC_EINVAL;
    if (len > MPROC__WIRE_MAX_ITEM) {
        r->error = MPROC_ETOOBIG;
        return MPROC_ETOOBIG;
    }
    r->error = 0;
    r->data.len = r->data.pos = 0;
    if (mproc__buf_append(&r->data, data, len) < 0) {
        r->error = MPROC_ENOMEM;
        return MPROC_ENOMEM;
    }
    return MPROC_OK;
}

int mproc_result_fail(mproc_result *r, const char *fmt, ...)
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
    mproc_result res;
    mproc__buf out;
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
        size_t cap = w->capfns ? w->capfns * 2 : 8;
        fn_entry *fns = mproc__realloc(w->fns, cap * sizeof *fns);
        if (fns == NULL)
            return MPROC_ENOMEM;
        w->fns = fns;
        w->capfns = cap;
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

static void put_item(mproc__wr *wr, int code, int status, const void *data, size_t len)
{
    mproc__wr_u32(wr, (uint32_t)code);
    mproc__wr_u32(wr, (uint32_t)status);
    mproc__wr_blob(wr, data, len);
}

static void run_item(worker *w, mproc__wr *wr, mproc_task fn, const unsigned char *item,
                     size_t size)
{
    mproc_result *res = &w->res;
    const void *arg = NULL;
    int status;

    if (fn == NULL) {
        static const char msg[] = "the task function cannot be found in the worker";
        put_item(wr, MPROC_ENOFUNC, 0, msg, sizeof msg - 1);
        return;
    }
    if (size > 0) {
        memcpy(w->scratch, item, size);
        arg = w->scratch;
    }
    res->data.len = res->data.pos = 0;
    res->failed = 0;
    res->error = 0;
    res->message[0] = '\0';
    status = fn(arg, size, res);
    if (res->error != 0) {
        put_item(wr, res->error, status, mproc_strerror(res->error),
                 strlen(mproc_strerror(res->error)));
    } else if (status != 0 || res->failed) {
        if (res->message[0] == '\0')
            snprintf(res->message, sizeof res->message, "task returned %d", status);
        put_item(wr, MPROC_ETASK, status, res->message, strlen(res->message));
    } else {
        put_item(wr, MPROC_OK, 0, res->data.data, res->data.len);
    }
}

/* The answer goes into the shared ring when it fits (no system call), else down the pipe. */
static int send_answer(worker *w)
{
    int bell;
    if (w->cfg->ring != NULL && mproc__ring_put(w->cfg->ring, w->out.data, w->out.len, &bell)) {
        static const unsigned char ring_bell[MPROC__WIRE_HEADER] = {
            0, 0, 0, 0, MPROC__MSG_BELL, MPROC__WIRE_VERSION, 0, 0};
        mproc__ring_notify(w->cfg->ring);
        return bell ? mproc__os_write_all(w->cfg->out, ring_bell, sizeof ring_bell) : MPROC_OK;
    }
    return mproc__os_write_all(w->cfg->out, w->out.data, w->out.len);
}

static int run_task(worker *w, const unsigned char *body, size_t len)
{
    mproc__rd r;
    mproc__wr wr;
    uint64_t id, fnid, size;
    uint32_t count, i;
    const unsigned char *items;
    mproc_task fn;
    size_t start;

    mproc__rd_init(&r, body, len);
    id = mproc__rd_u64(&r);
    fnid = mproc__rd_u64(&r);
    count = mproc__rd_u32(&r);
    size = mproc__rd_u64(&r);
    if (r.err || size > MPROC__WIRE_MAX_ITEM || (count > 0 && size > r.left / count) ||
        size * count != r.left)
        return MPROC_EPROTO;
    items = r.p;
    if (size > w->scratch_cap) {
        void *s = mproc__realloc(w->scratch, (size_t)size);
        if (s == NULL)
            return MPROC_ENOMEM;
        w->scratch = s;
        w->scratch_cap = (size_t)size;
    }
    fn = find_fn(w, fnid);

    w->out.len = w->out.pos = 0;
    wr.b = &w->out;
    wr.err = 0;
    start = mproc__wr_frame_begin(&wr, MPROC__MSG_RESULT);
    mproc__wr_u64(&wr, id);
    mproc__wr_u32(&wr, count);
    for (i = 0; i < count; i++)
        run_item(w, &wr, fn, items + (size_t)size * i, (size_t)size);
    if (mproc__wr_frame_end(&wr, start) < 0) {
        /* The whole answer is too large (or memory ran out): send each item's failure. */
        int code = wr.err;
        w->out.len = w->out.pos = 0;
        wr.err = 0;
        start = mproc__wr_frame_begin(&wr, MPROC__MSG_RESULT);
        mproc__wr_u64(&wr, id);
        mproc__wr_u32(&wr, count);
        for (i = 0; i < count; i++)
            put_item(&wr, code, 0, mproc_strerror(code), strlen(mproc_strerror(code)));
        if (mproc__wr_frame_end(&wr, start) < 0)
            return wr.err;
    }
    return send_answer(w);
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
    if (cfg->ring != NULL)
        mproc__os_store(&cfg->ring->ready, 1);
    for (;;) {
        const unsigned char *body;
        size_t body_len, total;
        int type, r, ran = 0;

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
            r = run_task(&w, body, body_len), ran = 1;
        else if (type == MPROC__MSG_TASK)
            r = MPROC_OK; /* the parent took it back before it started: it runs elsewhere */
        else
            r = MPROC_EPROTO;
        if (r < 0) {
            code = MPROC__EXIT_BOOT;
            break;
        }
        mproc__buf_consume(in, total);
        if (ran && cfg->max_tasks > 0 && ++done >= cfg->max_tasks)
            break;
    }
    mproc__free(w.fns);
    mproc__free(w.scratch);
    mproc__buf_free(&w.res.data);
    mproc__buf_free(&w.out);
    mproc__buf_free(&own);
    return code;
}
