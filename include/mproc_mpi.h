/**
 * @file mproc_mpi.h
 * @brief mproc's MPI component: a pool whose workers are the ranks of an MPI job.
 *
 * The separate library `mproc_mpi` (CMake: `find_package(mproc COMPONENTS mpi)`, target
 * `mproc::mpi`; pkg-config: `mproc-mpi`), built where CMake finds a C MPI. The core library
 * never links MPI: a program that does not call mproc_mpi_init() is unchanged.
 *
 * Static mode, `mpiexec -n N ./app`: every rank runs the same executable and calls
 * mproc_mpi_init() first thing in main(), instead of mproc_init(). On ranks 1..N-1 it does not
 * return: they serve tasks until rank 0's program ends, then finalize MPI and exit 0. On rank 0
 * it returns, and a pool created with MPROC_START_MPI (or any pool of the default method when
 * `MPROC_START_METHOD=mpi`) has workers on the other ranks, with every pool call behaving as
 * with local processes (apply, apply_async and callbacks, map, imap, close, join, terminate,
 * initializer, max_tasks_per_child, task timeouts). Its default size is N-1, one worker per
 * other rank; more are spread over the ranks round robin.
 *
 * Each worker is a process the serving rank forks for it, as a local pool forks one: a task that
 * crashes costs that worker (MPROC_EWORKER_LOST, the rank starts another) and terminate kills
 * the running tasks on every rank. Functions travel as module and offset, as under spawn, so
 * every rank must run the same build: mproc_mpi_init() checks the build id of every rank's
 * executable against rank 0's and fails with MPROC_EMISMATCH on every rank otherwise.
 *
 * A rank that dies (killed, its node lost) is Open MPI's business: with the default error
 * handler, and with MPI_ERRORS_RETURN too (Open MPI 4 has no fault tolerance), `mpiexec` ends
 * every rank at once and exits nonzero with a message naming the rank. Under
 * `mpiexec --enable-recovery` (with MPI_ERRORS_RETURN) the job lives on: rank 0 takes a serving
 * rank that has been silent for 10 s for dead (each says it lives every second), its workers'
 * tasks fail with MPROC_EWORKER_LOST, and no worker is placed there again. See the README,
 * "More than one machine".
 *
 * Dynamic mode: a program started without `mpiexec` (a singleton) gets its workers from
 * MPI_Comm_spawn of its own executable when it first creates an MPI pool; see
 * mproc_mpi_init().
 */
#ifndef MPROC_MPI_H
#define MPROC_MPI_H

#include "mproc.h"

/**
 * @def MPROC_MPI_API
 * Marks the calls of the mproc_mpi library: default visibility in a shared build (the library is
 * built with hidden visibility), nothing otherwise.
 */
#if defined(__GNUC__)
    #define MPROC_MPI_API __attribute__((visibility("default")))
#else
    #define MPROC_MPI_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Initialises MPI (MPI_Init_thread at MPI_THREAD_MULTIPLE, unless the program did already) and
 * mproc (mproc_init()), checks that every rank runs the same build, and on ranks other than 0
 * serves tasks and exits without returning.
 *
 * mproc needs MPI_THREAD_MULTIPLE: rank 0's pool thread talks MPI while the program may do so
 * too. An MPI library that cannot give it is refused with MPROC_ENOTSUP (after MPI_Finalize).
 *
 * On rank 0 of a job of one rank (started without `mpiexec -n N`, or with `-n 1`), pools of
 * the MPI method spawn their workers with MPI_Comm_spawn (dynamic mode): `workers` ranks the
 * first time (mproc_cpu_count() for <= 0), running the same executable with the same
 * arguments; their mproc_mpi_init() serves as the static ranks' does.
 *
 * Rank 0 tells the other ranks to end, and finalizes MPI, at exit() (or at mproc_mpi_finalize()).
 *
 * @param argc main()'s argc, passed to MPI_Init_thread.
 * @param argv main()'s argv.
 * @return MPROC_OK on rank 0; MPROC_EINVAL (a NULL argument), MPROC_ENOTSUP (thread level),
 *         MPROC_EMISMATCH (another build on some rank), MPROC_ESYS (MPI failed). Never returns on
 *         the serving ranks.
 */
MPROC_MPI_API int mproc_mpi_init(int *argc, char ***argv);

/**
 * On rank 0: tells the serving ranks to finalize and exit, then finalizes MPI (if
 * mproc_mpi_init() initialized it). Every pool must be destroyed first. It runs at exit() when
 * not called; a second call does nothing. A program that initialized MPI itself calls it before
 * its own MPI_Finalize (after that, the serving ranks cannot be told).
 *
 * @return MPROC_OK; MPROC_ESTATE before mproc_mpi_init().
 */
MPROC_MPI_API int mproc_mpi_finalize(void);

/**
 * This process's rank in the job (MPI_COMM_WORLD), or a negative code before mproc_mpi_init().
 * A rank spawned in dynamic mode gives 1 + its rank among the spawned ones, so serving ranks
 * are 1..n in both modes. A pool worker gives the rank it serves on (it is a fork of it).
 * @return the rank, or MPROC_ESTATE.
 */
MPROC_MPI_API int mproc_mpi_rank(void);

/**
 * The serving ranks a pool can use now: N-1 in static mode, the ranks spawned so far in
 * dynamic mode (0 before the first pool).
 * @return their number, or MPROC_ESTATE before mproc_mpi_init().
 */
MPROC_MPI_API int mproc_mpi_ranks(void);

/**
 * A sentence on the last failure of mproc_mpi_init() (the thread level granted, the ranks whose
 * build differs, the MPI call that failed), or "" when there was none.
 * @return a static string.
 */
MPROC_MPI_API const char *mproc_mpi_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_MPI_H */
