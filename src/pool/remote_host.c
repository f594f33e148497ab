/* Remote workers' serving side (remote.h): a host per worker, an ordinary forked pool worker
 * that the transport feeds with its stub's frames, and whose answers, readiness and death it
 * reports back. */
#include "remote.h"
#include "ring.h"
#include "wire.h"
#include "worker.h"

#include <string.h>

typedef struct host {
    struct host *next;
    uint32_t id;
    int ready_told;
    uint32_t started_told;
    mproc__chan chan; /* rd: the worker's result pipe; wr: its task pipe */
    mproc__proc proc;
    mproc__shm shm;
    uint32_t ring_tail;
    mproc__buf ring_in;
    mproc__worker_cfg cfg;
    unsigned char *initarg;
} host;

static struct {
    mproc__loop *loop;
    host *list;
    mproc__buf frames;
    /* Workers that could not start, reported at the next turn. */
    uint32_t failed[16];
    int nfailed;
} H;

static host *host_find(uint32_t id)
{
    host *h;
    for (h = H.list; h != NULL; h = h->next)
        if (h->id == id)
            return h;
    return NULL;
}

static int host_fork_main(void *ctx)
{
    return mproc__worker_main(ctx);
}

static void host_free(host *h)
{
    if (h->chan.os != NULL)
        mproc__os_loop_remove(H.loop, &h->chan);
    mproc__buf_free(&h->chan.in);
    mproc__buf_free(&h->chan.out);
    mproc__buf_free(&h->ring_in);
    mproc__os_shm_destroy(&h->shm);
    mproc__os_proc_close(&h->proc);
    mproc__free(h->initarg);
    mproc__free(h);
}

static int host_begin(host *h, const unsigned char *boot, size_t len)
{
    mproc__handle task_rd = MPROC__INVALID_HANDLE, task_wr = MPROC__INVALID_HANDLE;
    mproc__handle res_rd = MPROC__INVALID_HANDLE, res_wr = MPROC__INVALID_HANDLE;
    const unsigned char *body;
    size_t body_len, total, need;
    mproc__spawn_spec spec;
    mproc__boot b;
    mproc__fn init = NULL;
    int type, r;

    if (H.loop == NULL && (r = mproc__os_loop_create(&H.loop)) < 0)
        return r;
    r = mproc__wire_frame(boot, len, &type, &body, &body_len, &total, &need);
    if (r <= 0 || type != MPROC__MSG_BOOT || total != len)
        return MPROC_EPROTO;
    if ((r = mproc__boot_decode(body, body_len, &b)) < 0 || b.kind != MPROC__BOOT_WORKER)
        return MPROC_EPROTO;
    if ((r = mproc__fn_resolve(&b.init, &init)) < 0)
        return r;
    if (b.initarg_len > 0) {
        h->initarg = mproc__malloc(b.initarg_len);
        if (h->initarg == NULL)
            return MPROC_ENOMEM;
        memcpy(h->initarg, b.initarg, b.initarg_len);
    }
    if ((r = mproc__os_shm_create(&h->shm, sizeof(mproc__ring))) < 0)
        return r;
    mproc__os_store(&((mproc__ring *)h->shm.addr)->drained, 1);
    if ((r = mproc__os_pipe(&task_rd, &task_wr)) < 0 || (r = mproc__os_pipe(&res_rd, &res_wr)) < 0)
        goto fail;
    h->cfg.in = task_rd;
    h->cfg.out = res_wr;
    h->cfg.fork = 0; /* functions come as (module, offset) from another process's view */
    h->cfg.init = (mproc_initializer)init;
    h->cfg.initarg = h->initarg;
    h->cfg.initarg_len = b.initarg_len;
    h->cfg.max_tasks = b.max_tasks;
    h->cfg.ring = h->shm.addr;
    memset(&spec, 0, sizeof spec);
    spec.method = MPROC_START_FORK;
    spec.daemon = MPROC__DAEMON_WORKER;
    spec.child_in = task_rd;
    spec.child_out = res_wr;
    spec.child_extra = MPROC__INVALID_HANDLE;
    spec.fork_main = host_fork_main;
    spec.fork_ctx = &h->cfg;
    r = mproc__os_spawn(&spec, &h->proc);
    mproc__os_close(task_rd);
    mproc__os_close(res_wr);
    task_rd = res_wr = MPROC__INVALID_HANDLE;
    if (r < 0)
        goto fail;
    r = mproc__os_loop_add(H.loop, &h->chan, res_rd, task_wr);
    res_rd = task_wr = MPROC__INVALID_HANDLE;
    if (r == MPROC_OK)
        r = mproc__os_loop_watch(H.loop, &h->chan, &h->proc);
    if (r < 0) {
        mproc__os_signal(&h->proc, 1);
        mproc__os_wait(&h->proc, MPROC_FOREVER);
        goto fail;
    }
    return MPROC_OK;

fail:
    mproc__os_close(task_rd);
    mproc__os_close(task_wr);
    mproc__os_close(res_rd);
    mproc__os_close(res_wr);
    return r;
}

void mproc__host_start(uint32_t id, const unsigned char *boot, size_t len)
{
    host *h = mproc__calloc(1, sizeof *h);
    if (h != NULL) {
        h->id = id;
        h->proc.h = h->proc.aux = MPROC__INVALID_HANDLE;
        h->shm.h = MPROC__INVALID_HANDLE;
        if (host_begin(h, boot, len) == MPROC_OK) {
            h->next = H.list;
            H.list = h;
            return;
        }
        host_free(h);
    }
    /* It could not boot: reported as such at the next turn (the engine counts boot failures). */
    if (H.nfailed < (int)(sizeof H.failed / sizeof H.failed[0]))
        H.failed[H.nfailed++] = id;
}

void mproc__host_feed(uint32_t id, const unsigned char *data, size_t len)
{
    host *h = host_find(id);
    if (h != NULL && h->chan.os != NULL && mproc__buf_append(&h->chan.out, data, len) < 0)
        mproc__os_signal(&h->proc, 1); /* no memory for its tasks: it dies, they run elsewhere */
}

void mproc__host_stop(uint32_t id)
{
    host *h = host_find(id);
    if (h != NULL && h->chan.os != NULL)
        mproc__os_loop_shutdown(H.loop, &h->chan);
}

void mproc__host_kill(uint32_t id)
{
    host *h = host_find(id);
    if (h != NULL)
        mproc__os_signal(&h->proc, 1);
}

/* What h answered since the last turn, the ring before the pipe (as the engine reads them),
 * without the pipe's bells. final: the worker is dead, take what it left half-written too. */
static void collect(host *h, int final, const mproc__host_events *ev)
{
    mproc__ring *ring = h->shm.addr;
    mproc__buf *in = &h->chan.in;
    uint32_t started;
    int r;

    H.frames.len = H.frames.pos = 0;
    r = mproc__ring_drain(ring, &h->ring_tail, &H.frames);
    if (r >= 0 && final)
        (void)mproc__ring_drain_open(ring, h->ring_tail, &H.frames);
    for (;;) {
        const unsigned char *body;
        size_t body_len, total, need;
        int type;
        r = mproc__wire_frame(mproc__buf_head(in), mproc__buf_avail(in), &type, &body, &body_len,
                              &total, &need);
        if (r == 0 && final && mproc__buf_avail(in) > 0)
            r = -1; /* a torn last frame: the engine sees garbage, as from a local worker */
        if (r < 0) {
            (void)mproc__buf_append(&H.frames, mproc__buf_head(in), mproc__buf_avail(in));
            mproc__buf_consume(in, mproc__buf_avail(in));
            break;
        }
        if (r == 0)
            break;
        if (type != MPROC__MSG_BELL)
            (void)mproc__buf_append(&H.frames, mproc__buf_head(in), total);
        mproc__buf_consume(in, total);
    }
    /* The worker claims each task as it starts it, and nobody takes one back here. */
    started = mproc__os_load(&ring->claim);
    if (mproc__buf_avail(&H.frames) > 0 || started != h->started_told) {
        h->started_told = started;
        ev->frames(ev->ctx, h->id, started, mproc__buf_head(&H.frames),
                   mproc__buf_avail(&H.frames));
    }
    if (H.frames.cap > 1u << 20)
        mproc__buf_free(&H.frames);
}

int mproc__hosts_run(long timeout_ms, const mproc__host_events *ev)
{
    host **pp, *h;
    int n = 0, r, i;

    for (i = 0; i < H.nfailed; i++)
        ev->died(ev->ctx, H.failed[i], MPROC__EXIT_BOOT);
    H.nfailed = 0;
    if (H.loop == NULL)
        return 0;
    /* Sleep only when no ring holds answers, and have each worker ring its bell meanwhile. */
    if (timeout_ms != 0)
        for (h = H.list; h != NULL; h = h->next)
            if (mproc__ring_arm(h->shm.addr, h->ring_tail))
                timeout_ms = 0;
    r = mproc__os_loop_run(H.loop, timeout_ms);
    for (h = H.list; h != NULL; h = h->next)
        mproc__ring_disarm(h->shm.addr);
    if (r < 0)
        return r;
    for (pp = &H.list; (h = *pp) != NULL;) {
        mproc__ring *ring = h->shm.addr;
        if (!h->ready_told && mproc__os_load(&ring->ready)) {
            h->ready_told = 1;
            ev->ready(ev->ctx, h->id);
        }
        h->chan.news = 0;
        collect(h, h->chan.exited, ev);
        if (h->chan.exited) {
            int code;
            if (mproc__os_wait(&h->proc, 2000) != MPROC_OK) {
                mproc__os_signal(&h->proc, 1);
                mproc__os_wait(&h->proc, MPROC_FOREVER);
            }
            code = h->proc.status_lost ? MPROC_ENOSTATUS : h->proc.exitcode;
            *pp = h->next;
            ev->died(ev->ctx, h->id, code);
            host_free(h);
            continue;
        }
        n++;
        pp = &h->next;
    }
    return n;
}

void mproc__hosts_close(void)
{
    host *h;
    while ((h = H.list) != NULL) {
        H.list = h->next;
        mproc__os_signal(&h->proc, 1);
        mproc__os_wait(&h->proc, MPROC_FOREVER);
        host_free(h);
    }
    mproc__buf_free(&H.frames);
}
