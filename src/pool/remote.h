/* Remote workers: how a start method outside the core library (the MPI component, src/mpi) gives
 * the pool engine workers that run elsewhere, with the engine unchanged.
 *
 * The engine talks to a worker through a task pipe, a result pipe and a result ring in shared
 * memory, and watches its process. A remote worker has all four on the pool's side: a stub (one
 * per worker, here) reads the task pipe as a worker would, claims each task in the ring as a
 * worker does before it runs it, and hands the frames to the transport; the frames the remote
 * side answers go into the ring (or the pipe when they do not fit) as a worker would write them.
 * The stub forwards only a window of tasks beyond those the remote worker has started, so the
 * engine can still take back the rest for an idle worker (its rebalance), as it does from a
 * local worker's pipe. The process is a stand-in: a small forked child whose life mirrors the
 * remote worker's. It ends with the remote worker's exit code once its answers are in, and when the
 * engine kills it (terminate, a task timeout, garbage) the stub tells the transport to kill the
 * remote worker.
 *
 * On the serving side a host (one per remote worker, here too) is an ordinary forked pool
 * worker (worker.c) that the transport feeds with the stub's frames, and whose answers, readiness
 * and death it reports back. The transport only moves bytes: every frame is checked where it is
 * used, by the engine and by the worker, as between local processes.
 *
 * A shared libmproc exports internal names to nobody, so the transport reaches all of this
 * through one exported table, mproc__remote_core(), whose layout is versioned by its size. */
#ifndef MPROC_REMOTE_H
#define MPROC_REMOTE_H

#include "backend.h"

struct mproc__worker_cfg;

/* What the transport tells the core at install. */
typedef struct mproc__remote_method {
    /* The default number of workers of a pool with this method (its workers <= 0); a negative
     * code refuses the pool. Called on the pool creator's thread. */
    int (*workers)(int asked);
    /* Ends the calling process by signal sig (a stand-in mirroring a worker killed by one). */
    void (*die)(int sig);
} mproc__remote_method;

/* What the stub side reports to the transport, on the thread that runs mproc__stubs_run. */
typedef struct mproc__stub_events {
    void *ctx;
    /* A new worker: start it from this boot record (a BOOT frame's body). */
    void (*begin)(void *ctx, uint32_t id, const unsigned char *boot, size_t len);
    /* Frames for the worker (DEFINE and TASK frames, whole, claimed). */
    void (*frames)(void *ctx, uint32_t id, const unsigned char *data, size_t len);
    /* The engine closed the worker's input: the worker ends once it has run what it got. */
    void (*stop)(void *ctx, uint32_t id);
    /* The engine killed the stand-in: kill the worker; its answers are not wanted any more. */
    void (*kill)(void *ctx, uint32_t id);
} mproc__stub_events;

/* What the host side reports, on the thread that runs mproc__hosts_run. */
typedef struct mproc__host_events {
    void *ctx;
    /* Answers, and how many tasks the worker has started so far (for the stub's window). */
    void (*frames)(void *ctx, uint32_t id, uint32_t started, const unsigned char *data, size_t len);
    void (*ready)(void *ctx, uint32_t id); /* its initializer returned 0 */
    /* The worker ended, after its last frames were reported; exitcode in Python's form. */
    void (*died)(void *ctx, uint32_t id, int exitcode);
} mproc__host_events;

typedef struct mproc__remote_api {
    size_t size; /* sizeof(mproc__remote_api) of the core that filled it */

    /* Makes MPROC_START_MPI pools use remote workers (m stays the caller's). */
    void (*install)(const mproc__remote_method *m);

    /* ---- the pool's side: every stub of the process, served by one thread ---- */
    /* Runs one turn: new stubs, then their pipes for up to timeout_ms (0 polls), then events.
     * Returns the number of live stubs, or a negative code. */
    int (*stubs_run)(long timeout_ms, const mproc__stub_events *ev);
    /* Wakes a stubs_run that waits (any thread). */
    void (*stubs_wake)(void);
    /* Frames the worker answered (anything: the engine checks them as a worker's), and the
     * number of tasks it has started. */
    int (*stub_give)(uint32_t id, uint32_t started, const unsigned char *data, size_t len);
    void (*stub_ready)(uint32_t id);
    /* The worker ended with exitcode: the stand-in follows once the answers are in. */
    void (*stub_end)(uint32_t id, int exitcode);
    /* Ends every stub's stand-in with exitcode (the transport is going away) and frees them. */
    void (*stubs_close)(int exitcode);

    /* ---- the serving side ---- */
    /* Starts worker id from a boot record; its failure is reported as a death. */
    void (*host_start)(uint32_t id, const unsigned char *boot, size_t len);
    void (*host_feed)(uint32_t id, const unsigned char *data, size_t len);
    void (*host_stop)(uint32_t id);
    void (*host_kill)(uint32_t id);
    /* One turn, as stubs_run; returns the number of live workers. */
    int (*hosts_run)(long timeout_ms, const mproc__host_events *ev);
    /* Kills and reaps every worker (the transport ends). */
    void (*hosts_close)(void);

    /* mproc_init's work for the transport's process (the guard included). */
    int (*init)(int argc, char **argv);
} mproc__remote_api;

/* The one exported internal name (MPROC_API, so a shared libmproc has it): the table above. */
MPROC_API const mproc__remote_api *mproc__remote_core(void);

/* The engine's side (pool start): starts a remote worker for cfg, whose ring is ring_h. Takes
 * *task_rd and *res_wr (set to invalid), fills proc with the stand-in. MPROC_ENOTSUP when no
 * transport is installed. */
int mproc__remote_start(const struct mproc__worker_cfg *cfg, mproc__handle ring_h,
                        mproc__handle *task_rd, mproc__handle *res_wr, mproc__proc *proc);
/* The default worker count of a remote pool (method's workers), or a negative code. */
int mproc__remote_workers(int asked);

/* The serving side (remote_host.c), reached through the table's host_* entries. */
void mproc__host_start(uint32_t id, const unsigned char *boot, size_t len);
void mproc__host_feed(uint32_t id, const unsigned char *data, size_t len);
void mproc__host_stop(uint32_t id);
void mproc__host_kill(uint32_t id);
int mproc__hosts_run(long timeout_ms, const mproc__host_events *ev);
void mproc__hosts_close(void);

#endif /* MPROC_REMOTE_H */
