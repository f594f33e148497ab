/* Rank 0's side: one thread moves every remote worker's frames between the core's stubs and the
 * serving ranks, and places new workers on the ranks (the least loaded first). In dynamic mode
 * it is also where the serving ranks are spawned. */
#define _GNU_SOURCE
#include "transport.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* As serve.c: poll a while after news, then wait 1 ms a turn, and 4 ms after a second idle. */
#define IDLE_WAIT_MS 1
#define SPIN_TURNS 64
#define LONG_IDLE_TURNS 1000
#define LONG_IDLE_WAIT_MS 4

typedef struct placed {
    uint32_t id;
    int peer; /* rank in comm */
} placed;

static struct {
    pthread_t thread;
    int running;
    volatile int stop;
    pthread_mutex_t lock; /* the spawn in dynamic mode */
    placed *map;
    size_t nmap, capmap;
    int *load;        /* workers per peer */
    double *heard_at; /* when each peer last sent anything */
    int *dead;        /* silent for MPROC__MPI_DEAD_MS */
    int busy;
} M = {0, 0, 0, PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, NULL, NULL, NULL, 0};

static int place(uint32_t id)
{
    int i, best = -1;
    for (i = 0; i < mproc__mpi.peers; i++)
        if (!M.dead[i] && (best < 0 || M.load[i] < M.load[best]))
            best = i;
    if (best < 0)
        return -1; /* every serving rank is gone */
    if (M.nmap == M.capmap) {
        size_t cap = M.capmap ? 2 * M.capmap : 16;
        placed *m = realloc(M.map, cap * sizeof *m);
        if (m == NULL)
            return -1;
        M.map = m;
        M.capmap = cap;
    }
    M.map[M.nmap].id = id;
    M.map[M.nmap].peer = mproc__mpi.peer_base + best;
    M.nmap++;
    M.load[best]++;
    return mproc__mpi.peer_base + best;
}

static int peer_of(uint32_t id)
{
    size_t i;
    for (i = 0; i < M.nmap; i++)
        if (M.map[i].id == id)
            return M.map[i].peer;
    return -1;
}

static void unplace(uint32_t id)
{
    size_t i;
    for (i = 0; i < M.nmap; i++)
        if (M.map[i].id == id) {
            M.load[M.map[i].peer - mproc__mpi.peer_base]--;
            M.map[i] = M.map[--M.nmap];
            return;
        }
}

static void ev_begin(void *ctx, uint32_t id, const unsigned char *boot, size_t len)
{
    int peer = place(id);
    (void)ctx;
    M.busy = 1;
    if (peer < 0 || mproc__mpi_send(peer, MSG_START, id, boot, len, NULL, 0) < 0) {
        unplace(id);
        mproc__mpi_core->stub_end(id, 120); /* it could not boot (worker.h MPROC__EXIT_BOOT) */
    }
}

static void ev_frames(void *ctx, uint32_t id, const unsigned char *data, size_t len)
{
    int peer = peer_of(id);
    (void)ctx;
    M.busy = 1;
    if (peer >= 0 && mproc__mpi_send(peer, MSG_FRAMES, id, data, len, NULL, 0) < 0)
        (void)mproc__mpi_send(peer, MSG_KILL, id, NULL, 0, NULL, 0); /* its tasks run elsewhere */
}

static void ev_stop(void *ctx, uint32_t id)
{
    int peer = peer_of(id);
    (void)ctx;
    M.busy = 1;
    if (peer >= 0)
        (void)mproc__mpi_send(peer, MSG_STOP, id, NULL, 0, NULL, 0);
}

static void ev_kill(void *ctx, uint32_t id)
{
    int peer = peer_of(id);
    (void)ctx;
    M.busy = 1;
    if (peer >= 0)
        (void)mproc__mpi_send(peer, MSG_KILL, id, NULL, 0, NULL, 0);
}

static void receive(void)
{
    const mproc__remote_api *core = mproc__mpi_core;
    unsigned char *data;
    size_t len;
    int src, tag;

    while (mproc__mpi_recv(&src, &tag, &data, &len)) {
        uint32_t id = len >= 4 ? mproc__mpi_get32(data) : 0;
        int peer = src - mproc__mpi.peer_base;
        if (peer >= 0 && peer < mproc__mpi.peers)
            M.heard_at[peer] = mproc__mpi_now_ms();
        if (tag != MSG_ALIVE)
            M.busy = 1;
        /* Only the rank a worker was placed on speaks for it. */
        if (len >= 4 && peer_of(id) == src) {
            if (tag == MSG_FRAMES && len >= 8)
                (void)core->stub_give(id, mproc__mpi_get32(data + 4), data + 8, len - 8);
            else if (tag == MSG_READY)
                core->stub_ready(id);
            else if (tag == MSG_DIED && len >= 8) {
                core->stub_end(id, (int)(int32_t)mproc__mpi_get32(data + 4));
                unplace(id);
            }
        }
        free(data);
    }
}

/* Open MPI ends the job when a rank dies. Under --enable-recovery it does not, and tells
 * nobody: a serving rank silent for MPROC__MPI_DEAD_MS (it says it lives every second) is taken
 * for dead, its workers for lost (their tasks fail with MPROC_EWORKER_LOST, as a local worker's
 * death), and no worker is placed there again. */
static void check_peers(void)
{
    double now = mproc__mpi_now_ms();
    int i;
    for (i = 0; i < mproc__mpi.peers; i++) {
        size_t k = 0;
        if (M.dead[i] || now - M.heard_at[i] < MPROC__MPI_DEAD_MS)
            continue;
        M.dead[i] = 1;
        mproc__mpi_forget(mproc__mpi.peer_base + i);
        while (k < M.nmap) {
            if (M.map[k].peer == mproc__mpi.peer_base + i) {
                uint32_t id = M.map[k].id;
                unplace(id);
                mproc__mpi_core->stub_end(id, -9);
            } else {
                k++;
            }
        }
    }
}

static void *pump(void *arg)
{
    mproc__stub_events ev;
    int idle = 0;

    (void)arg;
    memset(&ev, 0, sizeof ev);
    ev.begin = ev_begin;
    ev.frames = ev_frames;
    ev.stop = ev_stop;
    ev.kill = ev_kill;
    double check_at = 0;
    while (!M.stop) {
        M.busy = 0;
        (void)mproc__mpi_core->stubs_run(idle >= LONG_IDLE_TURNS ? LONG_IDLE_WAIT_MS
                                         : idle >= SPIN_TURNS    ? IDLE_WAIT_MS
                                                                 : 0,
                                         &ev);
        if (mproc__mpi_progress())
            M.busy = 1;
        receive();
        idle = M.busy ? 0 : idle + 1;
        if (mproc__mpi_now_ms() >= check_at) {
            check_at = mproc__mpi_now_ms() + MPROC__MPI_ALIVE_MS;
            check_peers();
        }
    }
    return NULL;
}

int mproc__mpi_master_start(void)
{
    sigset_t all, old;
    size_t n, i;
    int r;

    if (M.running)
        return MPROC_OK;
    n = (size_t)(mproc__mpi.peers > 0 ? mproc__mpi.peers : 1);
    M.load = calloc(n, sizeof *M.load);
    M.heard_at = calloc(n, sizeof *M.heard_at);
    M.dead = calloc(n, sizeof *M.dead);
    if (M.load == NULL || M.heard_at == NULL || M.dead == NULL)
        return MPROC_ENOMEM;
    for (i = 0; i < n; i++)
        M.heard_at[i] = mproc__mpi_now_ms();
    /* Signals are the program's: the pump thread takes none. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    r = pthread_create(&M.thread, NULL, pump, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0)
        return MPROC_ESYS;
    M.running = 1;
    return MPROC_OK;
}

void mproc__mpi_master_stop(void)
{
    int i;
    if (!M.running)
        return;
    M.stop = 1;
    mproc__mpi_core->stubs_wake();
    pthread_join(M.thread, NULL);
    M.running = 0;
    /* Pools left alive at exit: their stand-ins end; their workers end with the job. */
    mproc__mpi_core->stubs_close(-9);
    for (i = 0; i < mproc__mpi.peers; i++)
        if (!M.dead[i])
            (void)mproc__mpi_send(mproc__mpi.peer_base + i, MSG_EXIT, 0, NULL, 0, NULL, 0);
    mproc__mpi_flush(10000);
}

/* Dynamic mode: n serving ranks from MPI_Comm_spawn of this executable, with its arguments. */
static int spawn(int n)
{
    unsigned char id[41], ok;
    char exe[4096];
    ssize_t k;
    int i, bad = 0, *codes;
    MPI_Comm inter;

    k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k <= 0)
        return MPROC_ENOTSUP;
    exe[k] = '\0';
    codes = malloc((size_t)n * sizeof *codes);
    if (codes == NULL)
        return MPROC_ENOMEM;
    if (MPI_Comm_spawn(exe,
                       mproc__mpi.argv != NULL && mproc__mpi.argv[0] != NULL ? mproc__mpi.argv + 1
                                                                             : MPI_ARGV_NULL,
                       n, MPI_INFO_NULL, 0, MPI_COMM_SELF, &inter, codes) != MPI_SUCCESS) {
        free(codes);
        mproc__mpi_set_error("MPI_Comm_spawn of %d ranks of %s failed", n, exe);
        return MPROC_ESYS;
    }
    free(codes);
    /* The same build check as at a static start, rank by rank. */
    mproc__mpi_build_id(id);
    for (i = 0; i < n; i++)
        MPI_Send(id, (int)sizeof id, MPI_BYTE, i, MSG_BUILD, inter);
    for (i = 0; i < n; i++) {
        MPI_Recv(&ok, 1, MPI_BYTE, i, MSG_BUILD, inter, MPI_STATUS_IGNORE);
        bad += ok != 1;
    }
    mproc__mpi.comm = inter;
    mproc__mpi.peers = n;
    mproc__mpi.peer_base = 0;
    mproc__mpi.dynamic = 1;
    if (bad > 0) {
        mproc__mpi_set_error("%d of the %d spawned ranks run another build", bad, n);
        return MPROC_EMISMATCH;
    }
    return mproc__mpi_master_start();
}

int mproc__mpi_workers(int asked)
{
    int r = MPROC_OK;
    pthread_mutex_lock(&M.lock);
    if (mproc__mpi.peers == 0 && !mproc__mpi.dynamic && mproc__mpi.size == 1)
        r = spawn(asked > 0 ? asked : mproc_cpu_count());
    else if (mproc__mpi.peers == 0 || (mproc__mpi.dynamic && !M.running))
        r = MPROC_ENOTSUP; /* a job of serving ranks only, or a failed spawn */
    pthread_mutex_unlock(&M.lock);
    if (r < 0)
        return r;
    return asked > 0 ? asked : mproc__mpi.peers;
}
