/* Starting a worker process and letting go of a dead one: its pipes, its result ring, its boot
 * record under spawn. */
#include "engine.h"
#include "remote.h"
#include "ring.h"
#include "wire.h"

#include <stdlib.h>
#include <string.h>

static int worker_fork_main(void *ctx)
{
    const mproc__worker_cfg *cfg = ctx;
    /* The pool's objects (only their descriptors survived the fork), and none of what a table
     * this process inherited named. */
    if (mproc__share_child_begin(cfg->shares) < 0)
        return MPROC__EXIT_SHARE;
    return mproc__worker_main(cfg);
}

int mproc__worker_boot_encode(mproc__buf *b, uint32_t max_tasks, mproc_initializer init,
                              const void *initarg, size_t initarg_len,
                              const struct mproc__share_list *shares)
{
    mproc__wr w;
    size_t start;
    int fnstatus = MPROC_OK;
    static const char name[] = "PoolWorker";

    w.b = b;
    w.err = 0;
    start = mproc__wr_frame_begin(&w, MPROC__MSG_BOOT);
    mproc__wr_u8(&w, MPROC__BOOT_WORKER);
    mproc__wr_u8(&w, MPROC__DAEMON_WORKER); /* see mproc__worker_start */
    mproc__wr_u32(&w, max_tasks);
    mproc__wr_u64(&w, (uint64_t)(int64_t)mproc__os_getpid());
    mproc__wr_blob(&w, name, sizeof name - 1);
    mproc__wr_fn(&w, NULL, &fnstatus);
    mproc__wr_blob(&w, NULL, 0);
    mproc__wr_fn(&w, (mproc__fn)init, &fnstatus);
    mproc__wr_blob(&w, initarg, initarg_len);
    if (shares != NULL)
        mproc__share_list_write(&w, shares);
    if (fnstatus < 0)
        return fnstatus;
    return mproc__wr_frame_end(&w, start);
}

/* The limit in KiB for the ring: at least 1 (a limit under 1 KiB is still a limit), at most
 * what the word holds. */
static uint32_t max_kib(size_t bytes)
{
    size_t kib = bytes / 1024;
    if (bytes == 0)
        return 0;
    if (kib == 0)
        return 1;
    return kib > UINT32_MAX ? UINT32_MAX : (uint32_t)kib;
}

/* mproc__os_spawn with the pool's objects handed to the worker. */
static int start_shared(const mproc_pool *p, const mproc__spawn_spec *spec, mproc__proc *proc)
{
    mproc__handle small[16], *h = small;
    size_t n;
    int r;

    if (p->shares.n * MPROC__SHARE_MAX_HANDLES > sizeof small / sizeof small[0]) {
        h = mproc__malloc(p->shares.n * MPROC__SHARE_MAX_HANDLES * sizeof *h);
        if (h == NULL)
            return MPROC_ENOMEM;
    }
    n = mproc__share_list_handles(&p->shares, h);
    r = mproc__os_spawn_shared(spec, h, n, proc);
    if (h != small)
        mproc__free(h);
    return r;
}

/* MPROC_NO_PAYLOAD_AREAS set (to anything but "" or "0"): workers get no payload areas, so
 * large payloads take the pipe as when the reservation fails. For where a worker's 512 MiB of
 * reserved address space costs: valgrind shadows every mapped byte of it (a pool start there
 * took three times as long), and a strict overcommit policy may refuse it. */
static int areas_refused(void)
{
    const char *v = getenv("MPROC_NO_PAYLOAD_AREAS");
    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

int mproc__worker_start(mproc_pool *p, mproc__worker *w)
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

    /* The ring, and after it the payload areas (ring.h) where there are any: not for a remote
     * worker, which shares no memory with us (its frames carry every byte). */
    r = MPROC__AREAS_ON && p->method != MPROC_START_MPI && !areas_refused()
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
    mproc__os_store(&((mproc__ring *)w->shm.addr)->max_kib, max_kib(p->max_memory));
    r = mproc__os_pipe(&task_rd, &task_wr);
    if (r < 0)
        goto fail;
    r = mproc__os_pipe(&res_rd, &res_wr);
    if (r < 0)
        goto fail;
    if (p->method == MPROC_START_SPAWN) {
        r = mproc__worker_boot_encode(&w->chan.out, (uint32_t)(p->max_tasks > 0 ? p->max_tasks : 0),
                                      p->init, p->initarg, p->initarg_len, &p->shares);
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
    w->cfg.shares = &p->shares;
    spec.fork_main = worker_fork_main;
    spec.fork_ctx = &w->cfg;
    if (p->method == MPROC_START_MPI) /* a remote worker: its stub takes the two ends */
        r = mproc__remote_start(&w->cfg, w->shm.h, &task_rd, &res_wr, &w->proc);
    else
        r = start_shared(p, &spec, &w->proc);
    mproc__os_close(task_rd);
    mproc__os_close(res_wr);
    task_rd = res_wr = MPROC__INVALID_HANDLE;
    if (r < 0)
        goto fail;
    r = mproc__os_loop_add(p->loop, &w->chan, res_rd, task_wr);
    res_rd = task_wr = MPROC__INVALID_HANDLE; /* the loop's now, even on failure */
    /* A worker is dead when its process is, whatever holds its pipes: a process a task forked
     * keeps them open for as long as it lives. */
    if (r == MPROC_OK) {
        r = mproc__os_loop_watch(p->loop, &w->chan, &w->proc);
        if (r < 0)
            mproc__os_loop_remove(p->loop, &w->chan);
    }
    if (r < 0) {
        mproc__os_signal(&w->proc, 1);
        mproc__os_wait(&w->proc, MPROC_FOREVER);
        mproc__os_proc_close(&w->proc);
        goto fail;
    }
    w->alive = 1;
    p->started++;
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

/* Lets go of what a dead (and reaped) worker held. */
void mproc__worker_release(mproc_pool *p, mproc__worker *w)
{
    mproc__os_loop_remove(p->loop, &w->chan);
    mproc__buf_free(&w->chan.in);
    mproc__buf_free(&w->chan.out);
    mproc__buf_free(&w->ring_in);
    mproc__os_shm_destroy(&w->shm);
    mproc__os_proc_close(&w->proc);
    w->alive = 0;
}

void mproc__worker_kill(mproc__worker *w, int reason)
{
    if (w->kill_reason == 0)
        w->kill_reason = reason;
    mproc__os_signal(&w->proc, 1);
}

int mproc__worker_used_up(const mproc_pool *p, const mproc__worker *w)
{
    return p->max_tasks > 0 && w->sent >= p->max_tasks;
}
