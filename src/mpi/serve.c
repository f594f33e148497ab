/* The serving ranks: run the workers rank 0 starts here (each a forked pool worker, through the
 * core's hosts), until rank 0 says the job is over. */
#define _GNU_SOURCE
#include "transport.h"

#include <stdlib.h>
#include <string.h>

/* Idle turns wait this long for a worker's answer before looking for messages again: MPI has
 * nothing to poll on, so a message waits up to this. */
#define IDLE_WAIT_MS 1
/* Turns without news before the loop starts waiting (it polls until then). */
#define SPIN_TURNS 64
/* After about a second without news, turns wait longer: an idle job costs little CPU. */
#define LONG_IDLE_TURNS 1000
#define LONG_IDLE_WAIT_MS 4

static int master_rank;
static int busy;

static void ev_frames(void *ctx, uint32_t id, uint32_t started, const unsigned char *data,
                      size_t len)
{
    unsigned char c[4];
    (void)ctx;
    busy = 1;
    mproc__mpi_put32(c, started);
    (void)mproc__mpi_send(master_rank, MSG_FRAMES, id, c, sizeof c, data, len);
}

static void ev_ready(void *ctx, uint32_t id)
{
    (void)ctx;
    busy = 1;
    (void)mproc__mpi_send(master_rank, MSG_READY, id, NULL, 0, NULL, 0);
}

static void ev_died(void *ctx, uint32_t id, int exitcode)
{
    unsigned char c[4];
    (void)ctx;
    busy = 1;
    mproc__mpi_put32(c, (uint32_t)exitcode);
    (void)mproc__mpi_send(master_rank, MSG_DIED, id, c, sizeof c, NULL, 0);
}

void mproc__mpi_serve(MPI_Comm comm, int master)
{
    const mproc__remote_api *core = mproc__mpi_core;
    mproc__host_events ev;
    int idle = 0, done = 0;
    double alive_at = 0;

    (void)comm;
    master_rank = master;
    memset(&ev, 0, sizeof ev);
    ev.frames = ev_frames;
    ev.ready = ev_ready;
    ev.died = ev_died;
    while (!done) {
        unsigned char *data;
        size_t len;
        int src, tag;

        busy = 0;
        (void)core->hosts_run(idle >= LONG_IDLE_TURNS ? LONG_IDLE_WAIT_MS
                              : idle >= SPIN_TURNS    ? IDLE_WAIT_MS
                                                      : 0,
                              &ev);
        if (mproc__mpi_progress())
            busy = 1;
        while (mproc__mpi_recv(&src, &tag, &data, &len)) {
            uint32_t id = len >= 4 ? mproc__mpi_get32(data) : 0;
            busy = 1;
            if (src == master && len >= 4) {
                if (tag == MSG_START)
                    core->host_start(id, data + 4, len - 4);
                else if (tag == MSG_FRAMES)
                    core->host_feed(id, data + 4, len - 4);
                else if (tag == MSG_STOP)
                    core->host_stop(id);
                else if (tag == MSG_KILL)
                    core->host_kill(id);
                else if (tag == MSG_EXIT)
                    done = 1;
            }
            free(data);
        }
        idle = busy ? 0 : idle + 1;
        if (mproc__mpi_now_ms() >= alive_at) {
            alive_at = mproc__mpi_now_ms() + MPROC__MPI_ALIVE_MS;
            (void)mproc__mpi_send(master_rank, MSG_ALIVE, 0, NULL, 0, NULL, 0);
        }
    }
    core->hosts_close();
    mproc__mpi_flush(10000);
}
