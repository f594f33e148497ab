/* What the files of the MPI component share: the job's shape, the messages between rank 0 and
 * the serving ranks, and the outbox that sends them without blocking.
 *
 * This component is POSIX only (it is built where CMake finds a C MPI, and Open MPI and MPICH
 * are POSIX): it calls pthreads and the loader directly, and the core only through
 * mproc__remote_api() (src/pool/remote.h).
 *
 * Every message is one MPI message on the component's own communicator (a duplicate of
 * MPI_COMM_WORLD, or the intercommunicator of a dynamic job): the tag says its kind, the body
 * starts with the worker's id (u32, little-endian), then what the kind carries. */
#ifndef MPROC_MPI_TRANSPORT_H
#define MPROC_MPI_TRANSPORT_H

#include "mproc_mpi.h"
#include "pool/remote.h"

#include <mpi.h>

enum {
    MSG_START = 1,  /* rank 0 -> server: id, boot record */
    MSG_FRAMES = 2, /* both ways: id, frames; from a server: id, u32 tasks started, frames */
    MSG_STOP = 3,   /* rank 0 -> server: id; the worker's input is closed */
    MSG_KILL = 4,   /* rank 0 -> server: id */
    MSG_EXIT = 5,   /* rank 0 -> server: 0; finalize and exit */
    MSG_READY = 6,  /* server -> rank 0: id */
    MSG_DIED = 7,   /* server -> rank 0: id, i32 exit code */
    MSG_BUILD = 8,  /* rank 0 -> spawned server: build id; the reply is the same tag, one byte */
    MSG_ALIVE = 9   /* server -> rank 0: 0; once a second (see master.c) */
};

/* A serving rank says it lives this often; rank 0 takes one silent for DEAD_MS for dead. */
#define MPROC__MPI_ALIVE_MS 1000
#define MPROC__MPI_DEAD_MS 10000

extern const mproc__remote_api *mproc__mpi_core;

/* The job as the component sees it. */
typedef struct mproc__mpi_job {
    MPI_Comm comm; /* ours: world's duplicate, or the intercommunicator to the spawned ranks */
    int rank;      /* in MPI_COMM_WORLD */
    int size;      /* of MPI_COMM_WORLD */
    int peers;     /* serving ranks reachable through comm */
    int peer_base; /* their first rank in comm: 1 (static) or 0 (spawned) */
    int dynamic;   /* comm is an intercommunicator to spawned ranks */
    int own_init;  /* we called MPI_Init_thread, so we finalize */
    char **argv;   /* the program's, for MPI_Comm_spawn */
} mproc__mpi_job;

extern mproc__mpi_job mproc__mpi;

/* The outbox: nonblocking sends, each with its own copy of the bytes until MPI is done. Both
 * sides keep receiving while a send is under way, so two large messages crossing never wait for
 * each other. */
int mproc__mpi_send(int dest, int tag, uint32_t id, const void *a, size_t alen, const void *b,
                    size_t blen);
/* Completes what it can; 1 when sends remain. */
int mproc__mpi_progress(void);
/* Waits for every send, up to limit_ms (then drops what is left: a peer that does not receive). */
void mproc__mpi_flush(long limit_ms);
/* Drops the sends to dest that are not done (a peer known dead). */
void mproc__mpi_forget(int dest);
double mproc__mpi_now_ms(void);

/* One received message, or 0 when none is waiting. *data is malloc'd (free it). */
int mproc__mpi_recv(int *source, int *tag, unsigned char **data, size_t *len);

/* The serving ranks' loop (serve.c): never returns. */
void mproc__mpi_serve(MPI_Comm comm, int master);

/* Rank 0's side (master.c). */
int mproc__mpi_master_start(void);
void mproc__mpi_master_stop(void);
/* The method's default worker count (also spawns, in dynamic mode). */
int mproc__mpi_workers(int asked);

/* init.c: the build id of this executable, 1 + up to 40 bytes (the first is the length). */
void mproc__mpi_build_id(unsigned char id[41]);
void mproc__mpi_set_error(const char *fmt, ...);

uint32_t mproc__mpi_get32(const unsigned char *p);
void mproc__mpi_put32(unsigned char *p, uint32_t v);

#endif /* MPROC_MPI_TRANSPORT_H */
