/* Remote workers (remote.h): the stubs that stand for them in the pool's process, and the
 * exported table the transport calls (the serving side's hosts are in remote_host.c). */
#include "remote.h"
#include "ring.h"
#include "wire.h"
#include "worker.h"

#include <string.h>

#define BELL_LEN MPROC__WIRE_HEADER
static const unsigned char bell_frame[BELL_LEN] = {0, 0, 0, 0, MPROC__MSG_BELL, MPROC__WIRE_VERSION,
                                                   0, 0};

/* TASK frames a stub forwards beyond those its remote worker has started: enough to cover the
 * round trip to the worker when tasks are small, few enough that a backlog stays with the
 * engine, which hands it to whichever worker runs dry. */
#define WINDOW 32

static const mproc__remote_method *method;

/* ======================================================================================== */
/* The pool's side                                                                            */

enum { STUB_NEW, STUB_LIVE, STUB_ENDING, STUB_GONE };

typedef struct stub {
    struct stub *next;
    uint32_t id;
    int state;
    int stopped;       /* the transport was told the input closed */
    int end_code;      /* STUB_ENDING: the stand-in's exit code, sent once the answers are out */
    mproc__chan tasks; /* rd: what the engine writes to the worker; wr: the result pipe */
    mproc__chan life;  /* rd: end of file when the stand-in ends; wr: its exit code */
    mproc__shm ring;   /* our own mapping of the worker's ring: it outlives the engine's */
    mproc__buf boot;
    mproc__buf fwd; /* claimed frames for the transport, one turn's */
    /* Until the stubs' thread adds the channels to its loop: the task pipe's read end, the
     * result pipe's write end, the stand-in's life pipe (read) and control pipe (write). */
    mproc__handle ends[4];
    uint32_t seen;    /* TASK frames read: the claim numbers (ring.h) */
    uint32_t sent;    /* TASK frames forwarded */
    uint32_t started; /* of those, started by the remote worker, as it last said */
    int more;         /* frames wait for the window */
    int piped;        /* answers wait in tasks.out: later ones queue behind them */
} stub;

static struct {
    mproc__mutex *lock; /* guards incoming and next_id */
    mproc__loop *loop;
    stub *incoming; /* started by the engine, not yet taken by stubs_run */
    stub *live;     /* stubs_run's own */
    uint32_t next_id;
} S;

static stub *stub_find(uint32_t id)
{
    stub *s;
    for (s = S.live; s != NULL; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

/* The stand-in's body: it lives until told its exit code, or until the stubs' side is gone. */
static int stand_in_main(void *ctx)
{
    mproc__handle ctl = *(mproc__handle *)ctx;
    unsigned char b[4];
    size_t got = 0;
    int32_t code;

    while (got < sizeof b) {
        long n = mproc__os_read(ctl, b + got, sizeof b - got);
        if (n <= 0)
            return 1; /* the pool's process is ending */
        got += (size_t)n;
    }
    code = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                     (uint32_t)b[3] << 24);
    if (code < 0 && method != NULL && method->die != NULL)
        method->die((int)-code);
    return code < 0 ? 128 + (int)(-code & 127) : (int)(code & 255);
}

static void stub_free(stub *s)
{
    mproc__buf_free(&s->tasks.in);
    mproc__buf_free(&s->tasks.out);
    mproc__buf_free(&s->life.in);
    mproc__buf_free(&s->life.out);
    mproc__buf_free(&s->boot);
    mproc__buf_free(&s->fwd);
    mproc__os_shm_destroy(&s->ring);
    mproc__free(s);
}

int mproc__remote_workers(int asked)
{
    if (method == NULL || S.loop == NULL)
        return MPROC_ENOTSUP;
    return method->workers(asked);
}

int mproc__remote_start(const mproc__worker_cfg *cfg, mproc__handle ring_h, mproc__handle *task_rd,
                        mproc__handle *res_wr, mproc__proc *proc)
{
    mproc__handle ctl_rd = MPROC__INVALID_HANDLE, ctl_wr = MPROC__INVALID_HANDLE;
    mproc__handle life_rd = MPROC__INVALID_HANDLE, life_wr = MPROC__INVALID_HANDLE;
    mproc__spawn_spec spec;
    stub *s;
    int r;

    if (method == NULL || S.loop == NULL)
        return MPROC_ENOTSUP;
    s = mproc__calloc(1, sizeof *s);
    if (s == NULL)
        return MPROC_ENOMEM;
    s->ring.h = MPROC__INVALID_HANDLE;
    r = mproc__os_shm_attach(&s->ring, ring_h, sizeof(mproc__ring));
    s->ring.h = MPROC__INVALID_HANDLE; /* the engine's handle: the mapping is all we keep */
    if (r < 0)
        goto fail;
    if ((r = mproc__worker_boot_encode(&s->boot, cfg->max_tasks, cfg->init, cfg->initarg,
                                       cfg->initarg_len, NULL)) < 0)
        goto fail;
    if ((r = mproc__os_pipe(&ctl_rd, &ctl_wr)) < 0 || (r = mproc__os_pipe(&life_rd, &life_wr)) < 0)
        goto fail;
    memset(&spec, 0, sizeof spec);
    spec.method = MPROC_START_FORK;
    spec.daemon = MPROC__DAEMON_WORKER; /* it goes with the pool's process, like a worker */
    spec.child_in = ctl_rd;
    spec.child_out = life_wr;
    spec.child_extra = MPROC__INVALID_HANDLE;
    spec.fork_main = stand_in_main;
    spec.fork_ctx = &ctl_rd;
    r = mproc__os_spawn(&spec, proc);
    mproc__os_close(ctl_rd);
    mproc__os_close(life_wr);
    ctl_rd = life_wr = MPROC__INVALID_HANDLE;
    if (r < 0)
        goto fail;
    /* The loop's from here on (closed on failure too); the stubs' thread adds them. */
    s->state = STUB_NEW;
    s->ends[0] = *task_rd;
    s->ends[1] = *res_wr;
    s->ends[2] = life_rd;
    s->ends[3] = ctl_wr;
    *task_rd = *res_wr = MPROC__INVALID_HANDLE;
    mproc__os_mutex_lock(S.lock);
    s->id = ++S.next_id;
    s->next = S.incoming;
    S.incoming = s;
    mproc__os_mutex_unlock(S.lock);
    mproc__os_loop_wake(S.loop);
    return MPROC_OK;

fail:
    mproc__os_close(ctl_rd);
    mproc__os_close(ctl_wr);
    mproc__os_close(life_rd);
    mproc__os_close(life_wr);
    stub_free(s);
    return r;
}

/* New stubs join the loop. */
static int take_incoming(const mproc__stub_events *ev)
{
    stub *s, *list;
    mproc__os_mutex_lock(S.lock);
    list = S.incoming;
    S.incoming = NULL;
    mproc__os_mutex_unlock(S.lock);
    while ((s = list) != NULL) {
        int r;
        list = s->next;
        r = mproc__os_loop_add(S.loop, &s->tasks, s->ends[0], s->ends[1]);
        if (r == MPROC_OK) {
            r = mproc__os_loop_add(S.loop, &s->life, s->ends[2], s->ends[3]);
        } else {
            mproc__os_close(s->ends[2]);
            mproc__os_close(s->ends[3]);
        }
        s->next = S.live;
        S.live = s;
        if (r < 0) {
            /* The stand-in ends at once (its control pipe closed): the worker never began. */
            mproc__os_loop_remove(S.loop, &s->tasks);
            mproc__os_loop_remove(S.loop, &s->life);
            s->state = STUB_GONE;
            continue;
        }
        s->state = STUB_LIVE;
        if (ev != NULL)
            ev->begin(ev->ctx, s->id, mproc__buf_head(&s->boot), mproc__buf_avail(&s->boot));
        mproc__buf_free(&s->boot);
    }
    return MPROC_OK;
}

/* The engine's frames: whole ones are forwarded, TASK frames only once claimed. */
static int forward_tasks(stub *s, const mproc__stub_events *ev)
{
    mproc__buf *in = &s->tasks.in;
    mproc__ring *ring = s->ring.addr;

    s->fwd.len = s->fwd.pos = 0;
    s->more = 0;
    for (;;) {
        const unsigned char *body;
        size_t body_len, total, need;
        int type;
        int r = mproc__wire_frame(mproc__buf_head(in), mproc__buf_avail(in), &type, &body,
                                  &body_len, &total, &need);
        if (r == 0)
            break;
        if (r < 0)
            return r; /* the engine's own bytes: cannot happen */
        if (type == MPROC__MSG_TASK && s->sent - s->started >= WINDOW) {
            s->more = 1;
            break;
        }
        if (type != MPROC__MSG_TASK || mproc__ring_claim(ring, ++s->seen)) {
            if (mproc__buf_append(&s->fwd, mproc__buf_head(in), total) < 0)
                return MPROC_ENOMEM;
            s->sent += type == MPROC__MSG_TASK;
        }
        mproc__buf_consume(in, total);
    }
    if (mproc__buf_avail(&s->fwd) > 0 && ev != NULL)
        ev->frames(ev->ctx, s->id, mproc__buf_head(&s->fwd), mproc__buf_avail(&s->fwd));
    if (s->fwd.cap > 1u << 20) /* a large task's copy is not kept for the next */
        mproc__buf_free(&s->fwd);
    return MPROC_OK;
}

static void send_code(stub *s)
{
    unsigned char b[4];
    uint32_t v = (uint32_t)s->end_code;
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
    b[2] = (unsigned char)(v >> 16);
    b[3] = (unsigned char)(v >> 24);
    (void)mproc__buf_append(&s->life.out, b, sizeof b);
}

static int stubs_run(long timeout_ms, const mproc__stub_events *ev)
{
    stub **pp, *s;
    int r, n = 0;

    if (S.loop == NULL)
        return MPROC_ENOTSUP;
    take_incoming(ev);
    r = mproc__os_loop_run(S.loop, timeout_ms);
    if (r < 0)
        return r;
    for (pp = &S.live; (s = *pp) != NULL;) {
        if (s->state == STUB_LIVE && (s->tasks.news || s->more)) {
            s->tasks.news = 0;
            if (forward_tasks(s, ev) < 0) {
                s->tasks.eof = 1; /* out of memory: the worker is stopped rather than fed */
                s->more = 0;
            }
            /* The input ends for the worker once every task sent to it has gone out: those the
             * window holds back are the worker's too (the engine wrote them to it). */
            if (s->tasks.eof && !s->more && !s->stopped) {
                s->stopped = 1;
                if (ev != NULL)
                    ev->stop(ev->ctx, s->id);
            }
        }
        if (s->state == STUB_ENDING && mproc__buf_avail(&s->tasks.out) == 0 &&
            s->end_code != INT32_MIN) {
            /* Every answer is in the pipe: the stand-in may end now, and the engine sees the
             * worker's death after them. */
            send_code(s);
            s->end_code = INT32_MIN;
            mproc__os_loop_shutdown(S.loop, &s->life);
            mproc__os_loop_shutdown(S.loop, &s->tasks);
        }
        s->life.news = 0;
        if (s->life.eof && s->state == STUB_LIVE) {
            /* The engine killed the stand-in: the worker's answers are not wanted any more. */
            s->state = STUB_GONE;
            if (ev != NULL)
                ev->kill(ev->ctx, s->id);
        } else if (s->life.eof && s->state == STUB_ENDING) {
            s->state = STUB_GONE; /* its death is the engine's news now */
        }
        if (s->state == STUB_GONE) {
            if (s->tasks.os != NULL)
                mproc__os_loop_remove(S.loop, &s->tasks);
            if (s->life.os != NULL)
                mproc__os_loop_remove(S.loop, &s->life);
            *pp = s->next;
            stub_free(s);
            continue;
        }
        n++;
        pp = &s->next;
    }
    return n;
}

static void stubs_wake(void)
{
    if (S.loop != NULL)
        mproc__os_loop_wake(S.loop);
}

/* Answers go where a worker would put them: the ring, or the pipe when they do not fit (and
 * after anything already waiting for the pipe, so their order holds). */
static int stub_give(uint32_t id, uint32_t started, const unsigned char *data, size_t len)
{
    stub *s = stub_find(id);
    mproc__ring *ring;

    if (s == NULL || s->state != STUB_LIVE)
        return MPROC_OK; /* a worker the engine let go: nobody reads it */
    ring = s->ring.addr;
    /* The remote side's count, believed only within what was sent. */
    if (started - s->started <= s->sent - s->started)
        s->started = started;
    if (mproc__buf_avail(&s->tasks.out) == 0)
        s->piped = 0;
    while (len > 0) {
        const unsigned char *body;
        size_t body_len, total, need;
        int type, bell = 0;
        int r = mproc__wire_frame(data, len, &type, &body, &body_len, &total, &need);
        if (r <= 0) {
            /* Garbage or a torn frame: the engine judges it as a worker's, through the pipe. */
            s->piped = 1;
            return mproc__buf_append(&s->tasks.out, data, len);
        }
        if (type == MPROC__MSG_BELL) {
            data += total;
            len -= total;
            continue;
        }
        if (!s->piped && mproc__ring_put(ring, data, total, 0, &bell)) {
            mproc__ring_notify(ring);
            if (bell && mproc__buf_append(&s->tasks.out, bell_frame, BELL_LEN) < 0)
                return MPROC_ENOMEM;
        } else {
            s->piped = 1;
            if (mproc__buf_append(&s->tasks.out, data, total) < 0)
                return MPROC_ENOMEM;
        }
        data += total;
        len -= total;
    }
    return MPROC_OK;
}

static void stub_ready(uint32_t id)
{
    stub *s = stub_find(id);
    if (s != NULL && s->state == STUB_LIVE)
        mproc__os_store(&((mproc__ring *)s->ring.addr)->ready, 1);
}

static void stub_end(uint32_t id, int exitcode)
{
    stub *s = stub_find(id);
    if (s == NULL || s->state != STUB_LIVE)
        return;
    s->state = STUB_ENDING;
    s->end_code = exitcode == INT32_MIN ? -9 : exitcode;
}

static void stubs_close(int exitcode)
{
    stub *s;
    int turns;
    take_incoming(NULL);
    for (s = S.live; s != NULL; s = s->next)
        stub_end(s->id, exitcode);
    /* Each stand-in gets its code once its answers are written; a few turns, bounded, and
     * whatever is left goes with the process. */
    for (turns = 0; turns < 200 && S.live != NULL; turns++)
        if (stubs_run(10, NULL) < 0)
            break;
}

/* ======================================================================================== */

static void install(const mproc__remote_method *m)
{
    if (S.lock == NULL && mproc__os_mutex_create(&S.lock) < 0)
        return;
    if (S.loop == NULL && mproc__os_loop_create(&S.loop) < 0)
        return;
    method = m;
}

static const mproc__remote_api api = {sizeof(mproc__remote_api),
                                      install,
                                      stubs_run,
                                      stubs_wake,
                                      stub_give,
                                      stub_ready,
                                      stub_end,
                                      stubs_close,
                                      mproc__host_start,
                                      mproc__host_feed,
                                      mproc__host_stop,
                                      mproc__host_kill,
                                      mproc__hosts_run,
                                      mproc__hosts_close,
                                      mproc_init};

const mproc__remote_api *mproc__remote_core(void)
{
    return &api;
}
