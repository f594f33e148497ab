/**
 * @file mproc.h
 * @brief mproc: run C functions in child processes and process pools, on POSIX and Windows.
 *
 * The only public header. It includes no OS header. Every call that can fail returns an `int`:
 * `MPROC_OK` (0) or a negative `MPROC_E*` code (see mproc_strerror()). Getters return their value
 * directly. No call prints, aborts or exits on bad input.
 *
 * Portability rules: call mproc_init() before starting any process or pool (first thing in `main`
 * where possible); arguments and results travel as
 * copied bytes (never pointers into the parent's memory); a function is named by its pointer and
 * the library finds it again in a spawned child.
 *
 * Ownership: a pointer the caller passes in is only read during the call, unless its parameter
 * says otherwise (bytes are copied). An object the library hands out (`*out`) belongs to the
 * caller until the matching `*_destroy` or `*_release`; bytes it hands out either belong to the
 * caller (freed with mproc_free()) or stay valid as long as the object they came from, as each
 * call says.
 *
 * Threads: mproc_init() is the one exception: call it from `main`'s thread, before any other
 * thread makes an mproc call. Every other global call (mproc_strerror(), mproc_error_name(),
 * mproc_version(), mproc_getpid(), mproc_getppid(), mproc_cpu_count(), mproc_free(),
 * mproc_last_os_error(), which is per thread) may be made from any thread, several at once. One
 * pool (and the handles, results and iterators it hands out) may be used from several threads at
 * once. One process object must be used by one thread at a time; different process objects are
 * independent.
 */
#ifndef MPROC_H
#define MPROC_H

#include <stddef.h>

/**
 * @def MPROC_API
 * Marks the library's calls for export. Empty for a static library. For a shared library
 * (the build defines `MPROC_SHARED` for its users: the CMake target and mproc.pc carry it) it is
 * `__declspec(dllimport)` on Windows, or default visibility with GCC and clang, so that only the
 * `mproc_` calls are exported.
 */
#if defined(_WIN32) && defined(MPROC_SHARED)
    #ifdef MPROC_BUILDING
        #define MPROC_API __declspec(dllexport)
    #else
        #define MPROC_API __declspec(dllimport)
    #endif
#elif defined(MPROC_SHARED) && defined(__GNUC__) && __GNUC__ >= 4
    #define MPROC_API __attribute__((visibility("default")))
#else
    #define MPROC_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** @name Version */
/**@{*/
/** The major version: a change of it may break programs built against an earlier one. */
#define MPROC_VERSION_MAJOR 0
/** The minor version: new calls; programs built against an earlier minor version still work. */
#define MPROC_VERSION_MINOR 1
/** The patch version: fixes only. */
#define MPROC_VERSION_PATCH 0
/** The version this header belongs to, as "major.minor.patch". */
#define MPROC_VERSION_STRING "0.1.0"
/**@}*/

/**
 * The error list: name, value, sentence. One list generates the enum, mproc_strerror() and
 * mproc_error_name(). Values are the same on every platform.
 *
 * @param X a macro taking `(name, value, text)`: `name` without its `MPROC_` prefix (`EINVAL`),
 *          `value` the negative code, `text` the sentence mproc_strerror() gives.
 */
#define MPROC_ERRNO_MAP(X)                                                                         \
    X(EINVAL, -1,                                                                                  \
      "invalid argument (or MPROC_START_METHOD names no start method: fork, spawn or mpi)")        \
    X(ENOMEM, -2, "out of memory")                                                                 \
    X(ESTATE, -3, "operation not valid in the object's current state")                             \
    X(ETIMEDOUT, -4, "timed out")                                                                  \
    X(ENOINIT, -5,                                                                                 \
      "mproc_init() was not called: call mproc_init(argc, argv) first thing in main(), before "    \
      "starting any process or pool")                                                              \
    X(ENOTSUP, -6, "not supported on this platform")                                               \
    X(ESYS, -7, "an operating system call failed (see mproc_last_os_error())")                     \
    X(ETASK, -8, "the task reported a failure")                                                    \
    X(EWORKER_LOST, -9, "the worker process running the task died")                                \
    X(ECANCELED, -10, "the pool was terminated before the task completed")                         \
    X(ENOFUNC, -11, "the function is not code that the child process can find")                    \
    X(EPROTO, -12, "a child process sent a malformed message")                                     \
    X(EEND, -13, "no more results")                                                                \
    X(ETOOBIG, -14, "data too large to send between processes")                                    \
    X(EDEADLK, -15,                                                                                \
      "called from a callback on the pool's own thread, where waiting would deadlock")             \
    X(EGUARD, -16,                                                                                 \
      "this process was started by mproc as a child, but mproc_init() did not run the child's "    \
      "work: starting processes here would cascade")                                               \
    X(EFOREIGN, -17,                                                                               \
      "the object belongs to another process (a copy inherited through the application's fork)")   \
    X(ENOSTATUS, -18,                                                                              \
      "the child's exit status was taken by someone else (SIGCHLD ignored, or another waiter)")    \
    X(EOWNERDEAD, -19,                                                                             \
      "acquired, but the previous holder died holding it: what it guarded may be half-written")    \
    X(EBROKEN, -20, "the barrier is broken: a party timed out, died or reset it while waiting")    \
    X(EMISMATCH, -21,                                                                              \
      "the MPI ranks do not all run the same build of the program (mproc_mpi_init() refused)")

/**
 * Error codes: what every call that can fail returns. `MPROC_OK` is 0 and every error is
 * negative, so `if (rc < 0)` tests for failure; the values are the same on every platform.
 */
enum mproc_errno {
    MPROC_OK = 0, /**< success */
#define MPROC__ERRNO_ENUM(name, value, text) MPROC_##name = value,
    MPROC_ERRNO_MAP(MPROC__ERRNO_ENUM)
#undef MPROC__ERRNO_ENUM
        MPROC__ERRNO_LAST = -21 /**< internal: the lowest code in use (the build checks it) */
};

/** @var MPROC_EINVAL
 * An argument is invalid: a NULL where an object is needed, NULL bytes with a nonzero length,
 * an unknown start method, a negative option, a timeout below MPROC_FOREVER. Also the start of a
 * process or pool of the default method while `MPROC_START_METHOD` is set to something other
 * than `fork`, `spawn` or `mpi` (in any case; unset or empty means no override). */
/** @var MPROC_ENOMEM
 * Memory ran out; nothing was done. */
/** @var MPROC_ESTATE
 * Not valid in the object's current state: start twice, join a process never started, the exit
 * code before join, submit to a pool after close or terminate, join a pool before close. */
/** @var MPROC_ETIMEDOUT
 * The wait ended before the event (join, wait, get, next); or a pool task ran past
 * mproc_pool_options::task_timeout_ms and its worker was killed. */
/** @var MPROC_ENOINIT
 * A process or pool was started before mproc_init(). */
/** @var MPROC_ENOTSUP
 * Not supported here, e.g. MPROC_START_FORK on Windows. */
/** @var MPROC_ESYS
 * An operating system call failed; mproc_last_os_error() gives errno or GetLastError(). */
/** @var MPROC_ETASK
 * The task returned nonzero; mproc_error::status holds that value and mproc_error::message the
 * text given to mproc_output_fail(). */
/** @var MPROC_EWORKER_LOST
 * The worker running the task died (crash, abort(), killed); mproc_error::exitcode holds its exit
 * code (MPROC_ENOSTATUS when the application took its status: see mproc_process_exitcode()).
 * The pool replaced it and goes on. */
/** @var MPROC_ECANCELED
 * The pool was terminated (or destroyed) before the task completed, or the task was withdrawn
 * with mproc_async_cancel(). */
/** @var MPROC_ENOFUNC
 * The target, task or initializer is not code of a module loaded in this process (the
 * executable, or a shared library / DLL), or cannot be found again in the child (e.g. it lives
 * in a library the child cannot load). Checked the same way under every start method, fork
 * included: a pointer that is not code fails with this code, it never crashes a child. */
/** @var MPROC_EPROTO
 * A child process sent a malformed message. */
/** @var MPROC_EEND
 * mproc_iter_next(): every result has been returned. */
/** @var MPROC_ETOOBIG
 * Bytes too large to send between processes (more than 1 GiB, 2^30 bytes, in one argument or
 * result; exactly 1 GiB is accepted). */
/** @var MPROC_EDEADLK
 * A blocking call made from a callback (or error callback) on the thread of the pool it would
 * wait for: that thread is the one that would have to finish the wait. Given at once by
 * mproc_pool_apply(), mproc_pool_map() and mproc_pool_join(), and by mproc_async_wait(),
 * mproc_async_get() and mproc_iter_next() when the result is not there yet and the timeout is
 * not 0. mproc_pool_terminate() and mproc_pool_destroy() from a callback do not wait instead;
 * mproc_pool_apply_async(), mproc_pool_imap(), mproc_pool_imap_unordered() and
 * mproc_pool_close() work as anywhere. */
/** @var MPROC_EGUARD
 * The cascade breaker: this process was started by mproc as a child, yet its child role was
 * never taken up (its mproc_init() did not run the child's work), so it may not start processes
 * or pools of its own: mproc_process_start() and mproc_pool_create() give this code instead of
 * spawning a copy of the program that would do the same. A real child (a worker that starts a
 * nested pool, a target that starts processes) is not affected. */
/** @var MPROC_EFOREIGN
 * A pool or process handle used in a process other than the one that created it: a copy the
 * application's own fork() inherited (or a forked child of the library's, such as a fork-method
 * worker or target). Every call on the copy that returns a code gives this one at once; in the
 * copy mproc_process_is_alive() and mproc_async_ready() give 0, and mproc_pool_destroy(),
 * mproc_process_destroy(), mproc_async_release() and mproc_iter_destroy() release the copy's own
 * memory and descriptors only (handles and iterators of a copy are left to its exit), never
 * stopping the creator's workers or child. */
/** @var MPROC_ENOSTATUS
 * The child ended, but its exit status is gone: the application ignores SIGCHLD or reaped it
 * itself (waitpid(-1, ...) in a SIGCHLD handler), and neither the kernel (a pidfd on Linux 6.15
 * and later) nor the child (which reports its target's return value before it exits) kept it:
 * a child ended by a signal, or a pool worker that died. POSIX only. */
/** @var MPROC_EOWNERDEAD
 * A lock (or re-entrant lock) was acquired, but the process that held it died holding it: the
 * data it guarded may be half-written. The caller holds the lock now and may repair that data;
 * the lock works normally afterwards. */
/** @var MPROC_EBROKEN
 * A barrier is broken: a party timed out or died while waiting, or the barrier was reset. Every
 * waiter gets this code instead of waiting on; the barrier's reset makes it usable again. */
/** @var MPROC_EMISMATCH
 * mproc_mpi_init() (mproc_mpi.h) found that the MPI ranks do not all run the same build of the
 * program (their build ids differ): functions cross between ranks as module and offset, which
 * would call the wrong code. Every rank gets this code, and MPI is finalized. */

/** Wait without limit (timeouts are milliseconds; 0 polls). */
#define MPROC_FOREVER (-1L)

/** How a child process is started. */
typedef enum mproc_start_method {
    /** fork on POSIX, spawn on Windows; `MPROC_START_METHOD=fork|spawn` in the environment
     * overrides it for the whole run (on Windows `fork` there makes every start that uses the
     * default fail with MPROC_ENOTSUP, as an explicit MPROC_START_FORK does; any other value
     * fails it with MPROC_EINVAL). */
    MPROC_START_DEFAULT = 0,
    /** fork(): the child is a copy of the parent (POSIX only; MPROC_ENOTSUP on Windows). */
    MPROC_START_FORK = 1,
    /** A fresh run of the same executable that enters through mproc_init(): CreateProcessW on
     * Windows, posix_spawn on POSIX. */
    MPROC_START_SPAWN = 2,
    /** Pools only: the workers are MPI ranks (the separate mproc_mpi library, mproc_mpi.h; the
     * program calls mproc_mpi_init() instead of mproc_init()). `MPROC_START_METHOD=mpi` selects
     * it for every pool of the run (processes then use the OS default). A pool gives
     * MPROC_ENOTSUP when mproc_mpi_init() did not run; a process refuses it (MPROC_EINVAL). */
    MPROC_START_MPI = 3
} mproc_start_method;

/* ---------------------------------------------------------------------------------------- */
/** @name Library */
/**@{*/

/**
 * The guard: call it before starting any process or pool, on every platform; first thing in
 * `main` where possible, since a spawned child runs `main` (and whatever precedes the call) again
 * up to this point.
 *
 * In the parent it returns MPROC_OK. In a child the library spawned it runs the child's work and
 * ends the process: it does not return there. The child recognises itself from its own command
 * line as the operating system keeps it (/proc/self/cmdline on Linux, GetCommandLineW() on
 * Windows; on other POSIX systems, which do not show a process its command line, from a variable
 * the parent sets in the child's environment), so `mproc_init(0, NULL)` is valid (a library or
 * plugin without `main`'s argv) and an argv without the marker (a copy, or one an option parser
 * rewrote) does no harm; argv is only looked at first.
 *
 * Starting a process or a pool before it fails with MPROC_ENOINIT; in a spawned child whose
 * mproc_init() did not run the child's work, with MPROC_EGUARD. Returns MPROC_EINVAL when
 * argc < 0 or argv is NULL with argc > 0 (such a call does not count). Every later call gives
 * the same answer: MPROC_OK in the parent, and in a spawned child the first call that
 * recognises it runs its work. Call it from `main`'s thread, before any other thread makes an
 * mproc call: it is the one global call that is not thread-safe.
 *
 * @param argc `main`'s argc, or 0.
 * @param argv `main`'s argv, or NULL with argc 0; read during the call only.
 * @return MPROC_OK in the parent (a spawned child never returns); MPROC_EINVAL.
 */
MPROC_API int mproc_init(int argc, char **argv);

/**
 * A constant sentence for an error code; "unknown error" for a code not in the list.
 * Thread-safe.
 *
 * @param code an `MPROC_*` code (MPROC_OK gives "success").
 * @return a static string: never NULL, never to be freed.
 */
MPROC_API const char *mproc_strerror(int code);

/**
 * The code's name, e.g. "MPROC_EINVAL"; "MPROC_E?" for an unknown code. Thread-safe.
 *
 * @param code an `MPROC_*` code.
 * @return a static string: never NULL, never to be freed.
 */
MPROC_API const char *mproc_error_name(int code);

/**
 * The OS error (errno or GetLastError()) behind the calling thread's last MPROC_ESYS.
 *
 * @return the error number; kept per thread, so another thread's failures do not change it.
 */
MPROC_API long mproc_last_os_error(void);

/**
 * Frees memory the library handed out (results of mproc_pool_apply()). NULL is fine.
 * Use it, not free(): the library and its caller may use different C runtimes (a DLL).
 *
 * @param ptr what the library handed out, or NULL; invalid after the call.
 */
MPROC_API void mproc_free(void *ptr);

/**
 * The library's version, as MPROC_VERSION_STRING.
 *
 * @return a static string, e.g. "0.1.0": the version of the library linked, which may differ
 *         from the header's MPROC_VERSION_STRING when a shared library was replaced.
 */
MPROC_API const char *mproc_version(void);

/**
 * This process's id.
 *
 * @return the pid (os.getpid()).
 */
MPROC_API long mproc_getpid(void);

/**
 * The parent process's id (on Windows, the creator's id as recorded by the system).
 *
 * After the parent has died, Linux gives 1 (or a subreaper's pid) and Windows still the dead
 * parent's pid: `mproc_getppid() == 1` is no portable test for "orphaned". A child that must
 * know should be a daemon (it then dies with its parent) or watch a pipe from it.
 *
 * @return the parent's pid (os.getppid()).
 */
MPROC_API long mproc_getppid(void);

/**
 * How many CPUs this process may use: the affinity mask and a cgroup CPU quota are honoured.
 *
 * @return the count, always >= 1; what a pool of `workers <= 0` starts.
 */
MPROC_API int mproc_cpu_count(void);
/**@}*/

/* ---------------------------------------------------------------------------------------- */
/** @name Process */
/**@{*/

/**
 * What a child process runs. `arg` points to an aligned copy of the bytes given at creation
 * (NULL when arg_len is 0). The return value is the process's exit code.
 *
 * The function must be one the child can find again: a function of the executable or of a shared
 * library / DLL (module + offset; a library loaded at run time is loaded in the child too), never
 * a pointer made at run time. Under every start method, fork included, anything else fails with
 * MPROC_ENOFUNC.
 *
 * @param arg the child's own copy of the argument bytes, valid for the whole call.
 * @param arg_len their number.
 * @return the child's exit code, of which the low byte is kept (`rc & 255`, POSIX's rule) on
 *         every OS: 256 gives 0, 1000 gives 232, -1 gives 255. Only 0..255 mean the same
 *         before and after; a return never reads as "ended by signal N".
 */
typedef int (*mproc_target)(const void *arg, size_t arg_len);

/** A child process handle (opaque): Python's multiprocessing.Process. */
typedef struct mproc_process mproc_process;

/** An object that may be handed to a child (opaque): what mproc_shm_shared(), mproc_pipe_shared()
 * and the like give, for mproc_process_options::share and mproc_pool_options::share (see
 * mproc/ipc.h). */
typedef struct mproc_shared mproc_shared;

/** Options for mproc_process_create_ex(); a zero field means its default. */
typedef struct mproc_process_options {
    mproc_target target;             /**< required */
    const void *arg;                 /**< bytes copied at creation; may be NULL when arg_len is 0 */
    size_t arg_len;                  /**< the number of bytes at arg (at most 1 GiB) */
    const char *name;                /**< copied; NULL gives "Process-N" */
    mproc_start_method start_method; /**< MPROC_START_DEFAULT, _FORK or _SPAWN */
    /** nonzero: the child is killed when its parent process ends, even by a crash, and not
     * when the thread that started it ends. On Linux a daemon started from a thread other than
     * the main one handles `SIGRTMAX - 1` for this notice: do not block, ignore or handle that
     * signal in such a child.
     *
     * The rule is the same on every OS and only ties a child to its own parent: a daemon's
     * daemon child dies with the daemon, while a non-daemon child of a daemon or of a pool
     * worker (started in a task) outlives them, as POSIX reparents it. On Windows such a child
     * breaks away from the job object that holds daemons and workers; where an outer job the
     * application runs in forbids breaking away, it stays in that job and dies with them. */
    int daemon;
    /** The objects the child may use (at most 64), which it takes back by position with
     * mproc_child_shm(), mproc_child_pipe(), ...; nothing else crosses. The process holds a
     * hold of its own on each from mproc_process_create_ex() until the start (the caller may
     * destroy its objects after creating the process). May be NULL when share_count is 0. */
    mproc_shared *const *share;
    size_t share_count; /**< the number of entries at share */
} mproc_process_options;

/**
 * Creates a process object (not started). `arg` is copied. `*out` is set on success and must be
 * freed with mproc_process_destroy().
 *
 * Thread-safe (the new object is the caller's).
 *
 * @param out receives the new object; set to NULL on failure.
 * @param target what the child runs (see ::mproc_target).
 * @param arg bytes copied into the object: the caller keeps ownership and may reuse them at
 *            once. NULL when arg_len is 0.
 * @param arg_len the number of bytes at arg.
 * @return MPROC_OK, MPROC_EINVAL (out or target NULL, arg NULL with arg_len > 0), MPROC_ENOMEM,
 *         MPROC_ETOOBIG (arg_len past 1 GiB).
 */
MPROC_API int mproc_process_create(mproc_process **out, mproc_target target, const void *arg,
                                   size_t arg_len);

/**
 * As mproc_process_create() with options. MPROC_EINVAL also for an unknown start method.
 *
 * @param out receives the new object; set to NULL on failure.
 * @param opts read during the call only: its bytes and name are copied.
 * @return MPROC_OK, MPROC_EINVAL (out, opts or opts->target NULL; arg NULL with arg_len > 0; an
 *         unknown start method), MPROC_ENOMEM, MPROC_ETOOBIG.
 */
MPROC_API int mproc_process_create_ex(mproc_process **out, const mproc_process_options *opts);

/**
 * Starts the child. Returns MPROC_ESTATE when already started, MPROC_ENOINIT before
 * mproc_init(), MPROC_EGUARD in a spawned child whose mproc_init() did not run its work,
 * MPROC_ENOTSUP for fork on Windows, MPROC_EINVAL for the default method while
 * `MPROC_START_METHOD` names none, MPROC_ENOFUNC when the target is not code of a loaded module
 * or the spawned child cannot find it (under every start method: see ::MPROC_ENOFUNC; the object
 * is then still not started), MPROC_ESYS when the OS refuses.
 *
 * Every start (of a process, and of each pool worker) first flushes every stdio stream
 * (`fflush(NULL)`), as Python does: the parent's earlier output comes before the child's with
 * every start method, and a forked child does not write it again.
 *
 * On Windows the executable may lie at a path of MAX_PATH (260) characters or more: it is then
 * started by its short (8.3) name where CreateProcessW refuses the long one; where the volume
 * keeps no short names either, MPROC_ESYS with mproc_last_os_error() ERROR_FILENAME_EXCED_RANGE
 * (206, "the filename or extension is too long"): the path limit, not a missing file.
 *
 * Not thread-safe for one object: start and destroy it from one thread at a time, and not
 * while another thread uses it. Join, is_alive, terminate, kill and exitcode may be called from
 * several threads at once.
 * Like every call on a process object but the getters, it gives MPROC_EFOREIGN in a process
 * other than the object's creator (a copy inherited through fork()).
 *
 * @param p the process object.
 * @return MPROC_OK, MPROC_EINVAL (p NULL; MPROC_START_METHOD), MPROC_ENOINIT, MPROC_EGUARD,
 *         MPROC_ESTATE, MPROC_ENOTSUP, MPROC_ENOFUNC, MPROC_ESYS, MPROC_ENOMEM, MPROC_EFOREIGN.
 */
MPROC_API int mproc_process_start(mproc_process *p);

/**
 * Waits for the child to end, up to timeout_ms (MPROC_FOREVER: no limit, 0: poll). Returns
 * MPROC_OK once it has ended (again at every later call), MPROC_ETIMEDOUT while it still runs,
 * MPROC_ESTATE when not started. Sleeps; never busy-waits; a signal does not end the wait.
 *
 * Thread-safe: several threads may join (or poll with is_alive) one process at once; each gets
 * MPROC_OK once it has ended, and mproc_process_exitcode() gives every one the same true code.
 *
 * @param p the process object.
 * @param timeout_ms milliseconds, MPROC_FOREVER or 0.
 * @return MPROC_OK, MPROC_ETIMEDOUT, MPROC_ESTATE, MPROC_EINVAL (p NULL, timeout_ms below
 *         MPROC_FOREVER), MPROC_ESYS, MPROC_EFOREIGN.
 */
MPROC_API int mproc_process_join(mproc_process *p, long timeout_ms);

/**
 * 1 while the started child runs, 0 otherwise (also for NULL). A child found ended is reaped, as
 * Python's is_alive() does: the exit code is then available as after a join.
 *
 * @param p the process object, or NULL.
 * @return 1 or 0.
 */
MPROC_API int mproc_process_is_alive(mproc_process *p);

/**
 * Asks the child to end, as Python's terminate() does: SIGTERM on POSIX, TerminateProcess on
 * Windows. On POSIX the child may handle or ignore SIGTERM: a child that handles it ends (or
 * not) as its handler decides, with the handler's exit code; one that ignores it goes on
 * running. A child that keeps SIGTERM's default action ends at once with exit code -15 (-SIGTERM),
 * running no cleanup (no atexit handler, no stdio flush). On Windows the child ends at once, with
 * -15, whatever it does. For an unconditional stop, use mproc_process_kill(). MPROC_ESTATE when
 * not started; MPROC_OK if already ended. The child is not waited for: join it next.
 *
 * @param p the process object.
 * @return MPROC_OK, MPROC_ESTATE, MPROC_EINVAL (p NULL), MPROC_ESYS, MPROC_EFOREIGN.
 */
MPROC_API int mproc_process_terminate(mproc_process *p);

/**
 * Ends the child now, whatever it does (SIGKILL cannot be handled or ignored): SIGKILL on POSIX,
 * TerminateProcess on Windows; exit code -9 on every platform.
 * The child is not waited for: join it next.
 *
 * @param p the process object.
 * @return MPROC_OK (also when it had already ended), MPROC_ESTATE, MPROC_EINVAL, MPROC_ESYS,
 *         MPROC_EFOREIGN.
 */
MPROC_API int mproc_process_kill(mproc_process *p);

/**
 * The exit code, by Python's rules: `n & 255` for a return of n (and for exit(n); on Windows
 * for n in -256..65535), the same value on every OS; -N when ended by signal N (on Windows:
 * -SIGSEGV for an access violation, -SIGABRT for abort(), -SIGTERM after terminate, -SIGKILL
 * after kill). MPROC_ESTATE before the child has been joined.
 *
 * When the application set SIGCHLD to SIG_IGN, or reaps children itself (waitpid(-1, ...) in a
 * handler, a common server idiom), the OS keeps no status for the library. What can still be
 * known is reported: the target's return value, which the child sends over its channel before
 * it exits, and on Linux 6.15 and later any status (signals too), which the process's pidfd
 * keeps. Where nothing is left (a child ended by a signal or by exit() with no pidfd to ask):
 * MPROC_ENOSTATUS, never a false 0.
 *
 * @param p the process object.
 * @param exitcode receives the exit code; left unchanged on failure.
 * @return MPROC_OK, MPROC_ESTATE, MPROC_EINVAL (p or exitcode NULL), MPROC_ENOSTATUS,
 *         MPROC_EFOREIGN.
 */
MPROC_API int mproc_process_exitcode(const mproc_process *p, int *exitcode);

/**
 * The child's pid once started, else 0 (also for NULL).
 *
 * @param p the process object, or NULL.
 * @return the pid, or 0.
 */
MPROC_API long mproc_process_pid(const mproc_process *p);

/**
 * The process's name; valid until destroy. NULL for NULL.
 *
 * @param p the process object, or NULL.
 * @return the object's own copy of the name ("Process-N" by default): do not free it.
 */
MPROC_API const char *mproc_process_name(const mproc_process *p);

/**
 * Frees the object. A child still running is killed and reaped first (join it before destroy to
 * let it finish); no zombie, handle or descriptor is left. NULL is fine. Preserves errno. In a
 * process other than the creator (a fork's copy) it frees the copy only: the child is not
 * touched.
 *
 * @param p the process object, or NULL; invalid after the call.
 */
MPROC_API void mproc_process_destroy(mproc_process *p);
/**@}*/

/* ---------------------------------------------------------------------------------------- */
/** @name Pool */
/**@{*/

/** Where a task writes its answer (opaque; valid only during the task call). */
typedef struct mproc_output mproc_output;

/**
 * A task run in a worker: `arg` is an aligned copy of the submitted bytes. Return 0 for success;
 * a nonzero return fails the task with MPROC_ETASK and that status (with the message given to
 * mproc_output_fail(), if any).
 *
 * As for ::mproc_target, the function must be one a worker can find again (under every start
 * method: a fork worker started before the library was loaded loads it too).
 *
 * @param arg the worker's copy of the argument bytes, valid for the whole call.
 * @param arg_len their number.
 * @param out where the task puts its result with mproc_output_set() (no result: zero bytes).
 * @return 0, or a nonzero status.
 */
typedef int (*mproc_task)(const void *arg, size_t arg_len, mproc_output *out);

/** Why a task failed. Valid as long as the object that handed it out. */
typedef struct mproc_error {
    int code;            /**< MPROC_ETASK, MPROC_EWORKER_LOST, MPROC_ECANCELED, ... */
    int status;          /**< the task's return value (MPROC_ETASK: nonzero, or 0 when it
                              called mproc_output_fail() and returned 0), else 0 */
    int exitcode;        /**< the exit code of the worker that ran the task, when the task
                              failed because that worker ended: MPROC_EWORKER_LOST and
                              MPROC_EPROTO (its exit code; -9 when the pool killed it for
                              garbage), MPROC_ETIMEDOUT (-9: the pool killed it);
                              MPROC_ENOSTATUS when the application took its status; else 0
                              (MPROC_ECANCELED included) */
    const char *message; /**< never NULL */
} mproc_error;

/**
 * Called in the parent with a task's result; `result` is valid during the call only.
 * It runs on the pool's own thread, one callback at a time, in completion order.
 *
 * @param user the `user` pointer given to mproc_pool_apply_async(), as it was.
 * @param result the result bytes, owned by the library: copy them to keep them.
 * @param result_len their number.
 */
typedef void (*mproc_callback)(void *user, const void *result, size_t result_len);

/**
 * Called in the parent when a task fails; `err` is valid during the call only.
 * It runs on the pool's own thread, as ::mproc_callback does.
 *
 * @param user the `user` pointer given to mproc_pool_apply_async(), as it was.
 * @param err why the task failed, owned by the library.
 */
typedef void (*mproc_error_callback)(void *user, const mproc_error *err);

typedef struct mproc_pool mproc_pool;       /**< a pool of worker processes (opaque) */
typedef struct mproc_async mproc_async;     /**< one submitted task's handle (opaque) */
typedef struct mproc_results mproc_results; /**< the results of mproc_pool_map() (opaque) */
typedef struct mproc_iter mproc_iter;       /**< the iterator of the imap calls (opaque) */

/**
 * Runs once in every worker when it starts (replacements too); nonzero makes that worker exit.
 *
 * A worker whose initializer returns nonzero, crashes or exits has failed to boot; none of its
 * tasks ran, and they wait for another worker. After such a failure the pool starts one worker
 * at a time, after 100, 200, 400, 800 and 1600 ms; the first one that boots ends the count and
 * the pool goes on as before (a cause that goes away costs only the wait). After 6 failures in a
 * row with no worker booting (about 3 s) the pool gives up: every waiting and later task fails
 * at once with MPROC_EWORKER_LOST, mproc_error::exitcode the last failed worker's exit code and
 * a message that names the initializer ("the initializer returned nonzero" or "the initializer
 * died", with the exit code); close, join and terminate still work. mproc_pool_create_ex()
 * returns before any initializer has run, so it gives MPROC_OK all the same.
 *
 * @param arg the worker's copy of mproc_pool_options::initarg.
 * @param arg_len their number.
 * @return 0 to go on; nonzero ends the worker.
 */
typedef int (*mproc_initializer)(const void *arg, size_t arg_len);

/** Options for mproc_pool_create_ex(); zero means default. */
typedef struct mproc_pool_options {
    int workers;                     /**< <= 0: mproc_cpu_count() */
    mproc_start_method start_method; /**< as for processes */
    mproc_initializer initializer;   /**< optional */
    const void *initarg;             /**< bytes copied for the initializer */
    size_t initarg_len;              /**< the number of bytes at initarg */
    int max_tasks_per_child; /**< > 0: a worker is replaced after that many tasks; each item of a
                                  map or imap chunk counts as one task (a chunk may so be split
                                  between a worker and its replacement) */
    long task_timeout_ms;    /**< > 0: a task running longer has its worker killed and fails with
                                  MPROC_ETIMEDOUT. Each item of a map or imap chunk is a task of its
                                  own: the limit applies to each item, not to the chunk (there is
                                  no chunk timeout); the chunk's finished items keep their results,
                                  the item running fails, and the items after it run on another
                                  worker */
    long max_pending;        /**< > 0: backpressure. At most this many items (an apply is one, each
                                  item of a map or imap chunk one) are unfinished at once:
                                  mproc_pool_apply_async() and mproc_pool_apply() wait for room
                                  (mproc_pool_apply_async_timed() up to a timeout), and map and
                                  imap send no new chunk while the pool is full, so the parent's
                                  memory for N submitted tasks is bounded by this, not N. 0: no
                                  bound (Python's eager pool) */
    size_t max_memory_per_child; /**< > 0: a worker whose resident memory (Linux
                                      /proc/self/statm, Windows GetProcessMemoryInfo) is above
                                      this many bytes after an item ends before its next one and
                                      is replaced; the item that crossed the limit keeps its
                                      result, the items it had not started run elsewhere. A
                                      forked worker's RSS counts the parent's pages it touched.
                                      Counted in mproc_pool_stats::workers_replaced. 0: none */
    /** The objects every worker may use (Python's initargs for a Queue or Lock; at most 64),
     * which the initializer and each task take back by position with mproc_child_shm(),
     * mproc_child_pipe(), ...; nothing else crosses. The pool holds a hold of its own on each for
     * its whole life (replacement workers get them too): the caller may destroy its objects
     * after mproc_pool_create_ex(). May be NULL when share_count is 0. */
    mproc_shared *const *share;
    size_t share_count; /**< the number of entries at share */
} mproc_pool_options;

/**
 * Gives the items of mproc_pool_imap_lazy(), one a call, on the thread that reads the iterator.
 *
 * @param user the `user` pointer given to mproc_pool_imap_lazy(), as it was.
 * @param index the item's number: 0, 1, 2, ...
 * @param item receives the item's bytes, read before the next call (they are copied).
 * @param len receives their number (at most 1 GiB).
 * @return 0 with an item, 1 at the end (no item), or a negative code: the stream ends, and
 *         mproc_iter_next() gives that code once after the results of the items before it.
 */
typedef int (*mproc_producer)(void *user, size_t index, const void **item, size_t *len);

/** A snapshot of a pool's work, in items (an apply is one, each item of a map or imap one). */
typedef struct mproc_pool_stats {
    size_t submitted;        /**< made into tasks so far (a map's items as its chunks are sent) */
    size_t done;             /**< ended with MPROC_OK */
    size_t failed;           /**< ended with another error (MPROC_ETASK, MPROC_ETIMEDOUT, ...) */
    size_t lost;             /**< ended with MPROC_EWORKER_LOST: their worker died */
    size_t canceled;         /**< ended with MPROC_ECANCELED (canceled, terminated, iterator
                                  destroyed early) */
    size_t running;          /**< sent to a worker, no outcome handed out yet */
    size_t queued;           /**< waiting in the pool; submitted = done + failed + lost +
                                  canceled + running + queued, in every snapshot */
    size_t workers_started;  /**< worker processes started, the first ones included */
    size_t workers_replaced; /**< of those, the ones started in place of one that ended (death,
                                  max_tasks_per_child, a failed boot) */
} mproc_pool_stats;

/**
 * Sets the task's result bytes (copied); a later call replaces them. MPROC_EINVAL for NULL out
 * or NULL result with result_len > 0; MPROC_ETOOBIG past 1 GiB. Called in the worker, from the
 * task. After MPROC_ETOOBIG or MPROC_ENOMEM the task fails with that code, unless a later call
 * succeeds.
 *
 * @param out the task's `out`.
 * @param result the result bytes, copied: the task keeps ownership. NULL when result_len is 0.
 * @param result_len their number.
 * @return MPROC_OK, MPROC_EINVAL, MPROC_ETOOBIG, MPROC_ENOMEM.
 */
MPROC_API int mproc_output_set(mproc_output *out, const void *result, size_t result_len);

/**
 * Marks the task failed with a printf-style message the caller receives (cut at 4 KiB).
 * The task fails with MPROC_ETASK whatever it returns; its return value becomes
 * mproc_error::status.
 *
 * @param out the task's `out`.
 * @param fmt a printf format, read during the call only; then its arguments.
 * @return MPROC_OK, MPROC_EINVAL (out or fmt NULL).
 */
MPROC_API int mproc_output_fail(mproc_output *out, const char *fmt, ...);

/**
 * Creates a pool of `workers` processes (<= 0: mproc_cpu_count()). MPROC_ENOINIT before
 * mproc_init(); MPROC_EGUARD in a spawned child whose mproc_init() did not run its work;
 * MPROC_EINVAL for NULL out (or `MPROC_START_METHOD` naming no method); MPROC_ESYS when a worker
 * cannot be started, with the OS error (e.g. EMFILE) in the calling thread's
 * mproc_last_os_error(), although the workers are started on the pool's own thread.
 *
 * The pool starts its own thread, which starts the workers, reads their results and runs the
 * callbacks. Every pool call may be made from any thread, several at once.
 *
 * @param out receives the pool, freed with mproc_pool_destroy(); NULL on failure.
 * @param workers the number of worker processes.
 * Pools are not shared across fork(): every call on a pool, or on a handle or iterator it
 * handed out, gives MPROC_EFOREIGN in a process other than the pool's creator (see there).
 *
 * @return MPROC_OK, MPROC_EINVAL, MPROC_ENOINIT, MPROC_EGUARD, MPROC_ENOMEM, MPROC_ESYS.
 */
MPROC_API int mproc_pool_create(mproc_pool **out, int workers);

/**
 * As mproc_pool_create() with options; MPROC_EINVAL for a bad field. It does not wait for the
 * initializers: one that fails shows in the tasks (see mproc_initializer).
 *
 * @param out receives the pool, freed with mproc_pool_destroy(); NULL on failure.
 * @param opts read during the call only: initarg's bytes are copied.
 * @return MPROC_OK, MPROC_EINVAL (opts NULL, initarg NULL with initarg_len > 0, a negative
 *         max_tasks_per_child, task_timeout_ms or max_pending, an unknown start method),
 * MPROC_ETOOBIG, MPROC_ENOFUNC (the initializer is not code of a loaded module, under every start
 *         method), MPROC_ENOINIT, MPROC_EGUARD, MPROC_ENOMEM, MPROC_ESYS.
 */
MPROC_API int mproc_pool_create_ex(mproc_pool **out, const mproc_pool_options *opts);

/**
 * Runs fn(arg) in a worker and waits for it. On MPROC_OK `*result` (may be NULL when
 * *result_len is 0) is the task's result, freed with mproc_free(). On a task failure returns its
 * code (MPROC_ETASK, MPROC_EWORKER_LOST, MPROC_ETIMEDOUT, MPROC_ECANCELED); result and
 * result_len may be NULL when not wanted. MPROC_ESTATE after close or terminate.
 *
 * Thread-safe. From a callback of the same pool it returns MPROC_EDEADLK at once (it would wait
 * for itself).
 *
 * @param p the pool.
 * @param fn the task.
 * @param arg bytes read during the call only: the caller keeps ownership, and keeps them
 *            unchanged until the call returns (a large one, 256 KiB or more, is copied straight
 *            into the worker's shared memory, not into a copy of the pool's first). NULL when
 *            arg_len is 0.
 * @param arg_len their number.
 * @param result receives the result, which then belongs to the caller (mproc_free()); NULL when
 *               not wanted, or set to NULL on failure.
 * @param result_len receives its length; may be NULL.
 * @return MPROC_OK, MPROC_EINVAL, MPROC_ETOOBIG, MPROC_ENOMEM, MPROC_ESTATE, MPROC_EDEADLK,
 *         MPROC_EFOREIGN, or the task's error: MPROC_ETASK, MPROC_EWORKER_LOST,
 *         MPROC_ETIMEDOUT, MPROC_ECANCELED, MPROC_ENOFUNC.
 */
MPROC_API int mproc_pool_apply(mproc_pool *p, mproc_task fn, const void *arg, size_t arg_len,
                               void **result, size_t *result_len);

/**
 * Submits fn(arg) and returns at once. When it ends, cb (success) or ecb (failure) runs on the
 * pool's own thread, one callback at a time, in completion order; callbacks must not block for
 * long. A callback may submit more work with this call; what would wait for the same pool there
 * gives MPROC_EDEADLK (see that code), and terminate or destroy take effect once the callback
 * returns. `out` may be NULL; else
 * `*out` is a handle the caller must release with mproc_async_release().
 *
 * Thread-safe. A pending task fails with MPROC_ECANCELED when the pool is terminated; its ecb
 * still runs, before mproc_pool_terminate() returns. A task that is not code of a loaded module
 * fails with MPROC_ENOFUNC (under every start method), the pool going on.
 *
 * @param p the pool.
 * @param fn the task.
 * @param arg bytes copied before the call returns: the caller keeps ownership. NULL when
 *            arg_len is 0.
 * @param arg_len their number.
 * @param cb called with the result; may be NULL.
 * @param ecb called with the error; may be NULL.
 * @param user handed to cb or ecb as it is; the library never reads it.
 * @param out receives a handle (which keeps the task's result after the callback), or NULL for
 *            none. The handle is the caller's: mproc_async_release() it, even after the pool
 *            was destroyed.
 * @return MPROC_OK, MPROC_EINVAL (p or fn NULL, arg NULL with arg_len > 0), MPROC_ETOOBIG,
 *         MPROC_ENOMEM, MPROC_ESTATE (after close or terminate), MPROC_EFOREIGN. The task's
 *         own outcome comes through cb, ecb or the handle.
 */
MPROC_API int mproc_pool_apply_async(mproc_pool *p, mproc_task fn, const void *arg, size_t arg_len,
                                     mproc_callback cb, mproc_error_callback ecb, void *user,
                                     mproc_async **out);

/**
 * As mproc_pool_apply_async(), waiting at most timeout_ms for room when the pool is full
 * (mproc_pool_options::max_pending); mproc_pool_apply_async() waits as long as it takes. A
 * submitter waiting for room is woken by mproc_pool_close(), mproc_pool_terminate() and
 * mproc_pool_destroy() from another thread, and returns MPROC_ESTATE; from a callback of the
 * pool a full pool gives MPROC_EDEADLK at once (room comes only from that thread).
 *
 * @param p the pool.
 * @param fn the task.
 * @param arg bytes copied before the call returns; NULL when len is 0.
 * @param len their number.
 * @param cb called with the result; may be NULL.
 * @param ecb called with the error; may be NULL.
 * @param user handed to cb or ecb as it is.
 * @param out receives a handle, or NULL for none (as for mproc_pool_apply_async()).
 * @param timeout_ms how long to wait for room: milliseconds, MPROC_FOREVER or 0 (no wait).
 * @return as mproc_pool_apply_async(), and MPROC_ETIMEDOUT (no room in time; nothing was
 *         submitted), MPROC_EDEADLK, MPROC_EINVAL for timeout_ms below MPROC_FOREVER.
 */
MPROC_API int mproc_pool_apply_async_timed(mproc_pool *p, mproc_task fn, const void *arg,
                                           size_t len, mproc_callback cb, mproc_error_callback ecb,
                                           void *user, mproc_async **out, long timeout_ms);

/**
 * Withdraws a task that has not been sent to a worker yet: it never runs, it fails with
 * MPROC_ECANCELED (its error callback runs once, on the pool's thread, soon after) and the
 * handle becomes ready. A task already sent to a worker (running, or waiting in the worker's
 * pipe behind another), or ended, cannot be withdrawn: MPROC_ESTATE, and it goes on. Asking
 * again for a task already withdrawn gives MPROC_OK and changes nothing. Thread-safe, from a
 * callback too.
 *
 * @param a the handle.
 * @return MPROC_OK (withdrawn), MPROC_ESTATE (too late), MPROC_EINVAL (a NULL),
 *         MPROC_EFOREIGN.
 */
MPROC_API int mproc_async_cancel(mproc_async *a);

/**
 * Waits for the task to end: MPROC_OK, or MPROC_ETIMEDOUT. Thread-safe. From a callback of the
 * task's own pool, a task not yet ended gives MPROC_EDEADLK at once unless timeout_ms is 0 (a
 * poll answers as usual).
 *
 * @param a the handle.
 * @param timeout_ms milliseconds, MPROC_FOREVER or 0.
 * @return MPROC_OK once the task has ended (successfully or not; see mproc_async_get()),
 *         MPROC_ETIMEDOUT, MPROC_EINVAL (a NULL, timeout_ms below MPROC_FOREVER),
 *         MPROC_EDEADLK, MPROC_EFOREIGN.
 */
MPROC_API int mproc_async_wait(mproc_async *a, long timeout_ms);

/**
 * 1 once the task has ended (success or failure), else 0. Thread-safe.
 *
 * @param a the handle, or NULL (0).
 * @return 1 or 0.
 */
MPROC_API int mproc_async_ready(mproc_async *a);

/**
 * Waits, then gives the result (valid until release): MPROC_OK, the task's error code, or
 * MPROC_ETIMEDOUT. result and result_len may be NULL. Thread-safe.
 *
 * @param a the handle.
 * @param timeout_ms milliseconds, MPROC_FOREVER or 0.
 * @param result receives the result bytes, owned by the handle (valid until
 *               mproc_async_release()); NULL on failure. May be NULL.
 * @param result_len receives their number; may be NULL.
 * @return MPROC_OK; the task's error (MPROC_ETASK, MPROC_EWORKER_LOST, MPROC_ETIMEDOUT,
 *         MPROC_ECANCELED, MPROC_ENOFUNC; details from mproc_async_error()); MPROC_ETIMEDOUT
 *         when it has not ended in time; MPROC_EINVAL; MPROC_EDEADLK and MPROC_EFOREIGN as
 *         for mproc_async_wait().
 */
MPROC_API int mproc_async_get(mproc_async *a, long timeout_ms, const void **result,
                              size_t *result_len);

/**
 * The task's error once it has failed, else NULL. Thread-safe.
 *
 * @param a the handle, or NULL.
 * @return the error, owned by the handle (valid until mproc_async_release()), or NULL while the
 *         task runs or when it succeeded.
 */
MPROC_API const mproc_error *mproc_async_error(mproc_async *a);

/**
 * Releases the handle; the task itself still runs. NULL is fine.
 *
 * @param a the handle, or NULL; invalid after the call, and so are the bytes and error it gave.
 */
MPROC_API void mproc_async_release(mproc_async *a);

/**
 * Fills *s with a consistent snapshot of the pool's counts (one lock, no system call: cheap
 * enough to call in a loop). The running count is the pool thread's view as of its last turn.
 * Thread-safe.
 *
 * @param p the pool.
 * @param s receives the counts (zeroed on failure).
 * @return MPROC_OK, MPROC_EINVAL (p or s NULL), MPROC_EFOREIGN.
 */
MPROC_API int mproc_pool_stats_get(mproc_pool *p, mproc_pool_stats *s);

/**
 * Applies fn to each of `count` items of `item_size` bytes (contiguous in `items`) and waits.
 * chunksize 0 picks one as Python does (count / (4 * workers), rounded up). `*out` holds the
 * results in order, freed with mproc_results_destroy(); one item's failure fails only that item.
 * The items of a chunk are separate tasks: a worker lost (or timed out) in the middle of a chunk
 * fails only the item it was running; the chunk's finished items keep their results and the
 * items after it run on another worker. Only an item (its argument, its result) is bounded, by
 * 1 GiB: a chunk's arguments and results cross in as many messages as they need.
 *
 * Thread-safe. From a callback of the same pool it returns MPROC_EDEADLK at once.
 *
 * @param p the pool.
 * @param fn the task, called once per item with that item's bytes.
 * @param items `count * item_size` bytes, read during the call only (keep them unchanged until
 *              it returns): each chunk is copied from them straight into its worker's shared
 *              memory or pipe, with no copy of the pool's in between.
 * @param item_size the size of one item (each item crosses to a worker as its own copy).
 * @param count the number of items (0 gives an empty result set).
 * @param chunksize items sent to a worker at a time; 0: automatic.
 * @param out receives the results, which belong to the caller (mproc_results_destroy()); NULL on
 *            failure.
 * @return MPROC_OK (even when items failed: see mproc_results_get()), MPROC_EINVAL,
 *         MPROC_ETOOBIG (item_size over 1 GiB), MPROC_ENOMEM, MPROC_ESTATE, MPROC_ECANCELED (the
 *         pool was terminated before every item was done; `*out` is then NULL), MPROC_EDEADLK,
 *         MPROC_EFOREIGN.
 */
MPROC_API int mproc_pool_map(mproc_pool *p, mproc_task fn, const void *items, size_t item_size,
                             size_t count, size_t chunksize, mproc_results **out);

/**
 * As mproc_pool_map() but returns at once with an iterator, which streams the results in item
 * order (Python's imap). `items` must stay valid until the iterator is destroyed: chunks are
 * copied from them as they go out, and mproc_iter_destroy() returns only once none is being
 * copied, so the caller may free them then.
 *
 * What is in flight (sent to the workers, or done and not yet read) is bounded, so memory stays
 * flat however many items and whatever the chunksize: at most 4096 items (a chunk is cut to
 * 4096 / (4 * workers) items when larger, so each worker has several), and no new chunk is sent
 * while more than 64 MiB of results wait to be read, nor, beyond one chunk per worker, while
 * the chunks already out are expected (from the size of those before) to bring it past that.
 * The parent so holds at most about 64 MiB of results plus those of a chunk per worker.
 *
 * Thread-safe.
 *
 * @param p the pool.
 * @param fn the task, called once per item.
 * @param items `count * item_size` bytes, still owned by the caller but borrowed by the iterator:
 *              keep them valid and unchanged until mproc_iter_destroy().
 * @param item_size the size of one item.
 * @param count the number of items.
 * @param chunksize items sent to a worker at a time; 0: automatic.
 * @param out receives the iterator, which belongs to the caller (mproc_iter_destroy()).
 * @return MPROC_OK, MPROC_EINVAL, MPROC_ETOOBIG, MPROC_ENOMEM, MPROC_ESTATE, MPROC_EFOREIGN.
 */
MPROC_API int mproc_pool_imap(mproc_pool *p, mproc_task fn, const void *items, size_t item_size,
                              size_t count, size_t chunksize, mproc_iter **out);

/**
 * As mproc_pool_imap(), but the iterator gives each result as soon as it is done, in completion
 * order (Python's imap_unordered); mproc_iter_next() says which item each one is. The same
 * bounds, arguments and codes.
 *
 * Thread-safe.
 *
 * @param p the pool.
 * @param fn the task, called once per item.
 * @param items `count * item_size` bytes, borrowed by the iterator until mproc_iter_destroy().
 * @param item_size the size of one item.
 * @param count the number of items.
 * @param chunksize items sent to a worker at a time; 0: automatic.
 * @param out receives the iterator, which belongs to the caller (mproc_iter_destroy()).
 * @return MPROC_OK, MPROC_EINVAL, MPROC_ETOOBIG, MPROC_ENOMEM, MPROC_ESTATE, MPROC_EFOREIGN.
 */
MPROC_API int mproc_pool_imap_unordered(mproc_pool *p, mproc_task fn, const void *items,
                                        size_t item_size, size_t count, size_t chunksize,
                                        mproc_iter **out);

/**
 * imap over items that a producer gives one at a time, as they are needed: at most
 * `buffersize` items are submitted and not yet read (Python 3.14's `buffersize`), so a billion
 * items cost the parent `buffersize` tasks. Each item is a task of its own (chunksize 1). The
 * producer runs on the thread that calls this and mproc_iter_next(), never on the pool's. The
 * results come in item order; mproc_iter_next() gives MPROC_EEND after the last. The stream
 * ends cleanly, with no waiter left blocked and no item run twice, when the producer ends (1),
 * when it fails (its code, once, after the results before it), when the pool is closed (the
 * items submitted still come, then MPROC_ESTATE once) or terminated (MPROC_ECANCELED), and when
 * the iterator is destroyed early (the producer is not called again). max_pending applies.
 *
 * @param p the pool.
 * @param fn the task, called once per item.
 * @param next the producer.
 * @param user handed to next as it is.
 * @param buffersize items ahead of the reader, at least 1.
 * @param out receives the iterator, which belongs to the caller (mproc_iter_destroy()).
 * @return MPROC_OK, MPROC_EINVAL (p, fn, next or out NULL, buffersize 0), MPROC_ENOMEM,
 *         MPROC_ESTATE, MPROC_EFOREIGN.
 */
MPROC_API int mproc_pool_imap_lazy(mproc_pool *p, mproc_task fn, mproc_producer next, void *user,
                                   size_t buffersize, mproc_iter **out);

/**
 * As mproc_pool_imap_lazy(), each result given as soon as it is done, in completion order;
 * mproc_iter_next() says which item each one is.
 *
 * @param p the pool.
 * @param fn the task, called once per item.
 * @param next the producer.
 * @param user handed to next as it is.
 * @param buffersize items ahead of the reader, at least 1.
 * @param out receives the iterator, which belongs to the caller (mproc_iter_destroy()).
 * @return as mproc_pool_imap_lazy().
 */
MPROC_API int mproc_pool_imap_lazy_unordered(mproc_pool *p, mproc_task fn, mproc_producer next,
                                             void *user, size_t buffersize, mproc_iter **out);

/**
 * The number of results.
 *
 * @param r the results, or NULL (0).
 * @return the number of items mapped.
 */
MPROC_API size_t mproc_results_count(const mproc_results *r);

/**
 * Item `index`'s result: MPROC_OK, or its error code (see mproc_results_error()).
 *
 * @param r the results.
 * @param index the item's index, < mproc_results_count().
 * @param result receives the item's bytes, owned by r (valid until mproc_results_destroy());
 *               may be NULL.
 * @param result_len receives their number; may be NULL.
 * @return MPROC_OK, the item's error code (MPROC_ETASK, MPROC_EWORKER_LOST, MPROC_ETIMEDOUT,
 *         ...), or MPROC_EINVAL (r NULL, index out of range).
 */
MPROC_API int mproc_results_get(const mproc_results *r, size_t index, const void **result,
                                size_t *result_len);

/**
 * Item `index`'s error, or NULL when it succeeded.
 *
 * @param r the results.
 * @param index the item's index.
 * @return the error, owned by r (valid until mproc_results_destroy()), or NULL (also for a bad r
 *         or index).
 */
MPROC_API const mproc_error *mproc_results_error(const mproc_results *r, size_t index);

/**
 * Frees the results. NULL is fine.
 *
 * @param r the results, or NULL; invalid after the call, with every byte and error they gave.
 */
MPROC_API void mproc_results_destroy(mproc_results *r);

/**
 * The next result: MPROC_OK (or that item's error code) with its index and bytes (valid until
 * the next call), MPROC_EEND after the last, MPROC_ETIMEDOUT when none arrived in time.
 *
 * One thread at a time per iterator. From a callback of the iterator's pool, a result already
 * there is handed out, but where it would wait (timeout_ms not 0) it returns MPROC_EDEADLK.
 *
 * @param it the iterator.
 * @param timeout_ms milliseconds, MPROC_FOREVER or 0.
 * @param index receives the item's index in `items`; may be NULL.
 * @param result receives the item's bytes, owned by the iterator (valid until the next call
 *               or mproc_iter_destroy()); may be NULL.
 * @param result_len receives their number; may be NULL.
 * @return MPROC_OK; the item's error code (see mproc_iter_error()); MPROC_EEND; MPROC_ETIMEDOUT;
 *         MPROC_ECANCELED (the pool was terminated: each item not done fails with it, then each
 *         chunk never sent says it once, then MPROC_EEND); MPROC_EINVAL; MPROC_EDEADLK;
 *         MPROC_EFOREIGN.
 */
MPROC_API int mproc_iter_next(mproc_iter *it, long timeout_ms, size_t *index, const void **result,
                              size_t *result_len);

/**
 * The error of the item last returned, or NULL.
 *
 * @param it the iterator, or NULL.
 * @return the error, owned by the iterator (valid until the next mproc_iter_next()), or NULL.
 */
MPROC_API const mproc_error *mproc_iter_error(mproc_iter *it);

/**
 * Frees the iterator; items not yet done are dropped: those not sent are never sent, and a worker
 * running a chunk of it skips the rest of that chunk after the item it is running. NULL is fine.
 *
 * @param it the iterator, or NULL; invalid after the call. The caller may then free `items`.
 */
MPROC_API void mproc_iter_destroy(mproc_iter *it);

/**
 * No new tasks; those inside still run. MPROC_OK again when already closed. Thread-safe.
 *
 * @param p the pool.
 * @return MPROC_OK, MPROC_EINVAL (p NULL), MPROC_EFOREIGN.
 */
MPROC_API int mproc_pool_close(mproc_pool *p);

/**
 * After close (MPROC_ESTATE before): waits for every task and then every worker to end.
 * Every callback has run when it returns. Thread-safe. From a callback of the same pool it
 * returns MPROC_EDEADLK at once (call it from another thread).
 *
 * @param p the pool.
 * @return MPROC_OK, MPROC_ESTATE (the pool is still open), MPROC_EINVAL (p NULL), MPROC_EDEADLK,
 *         MPROC_EFOREIGN.
 */
MPROC_API int mproc_pool_join(mproc_pool *p);

/**
 * Stops the workers now, unconditionally (SIGKILL on POSIX, TerminateProcess on Windows: unlike
 * Python's Pool.terminate(), which sends SIGTERM, a task cannot catch or ignore it); every
 * pending task fails with MPROC_ECANCELED. Returns once the workers are gone and the error callback
 * of every task it canceled has run. Thread-safe. From a callback of the same pool it returns
 * MPROC_OK at once and takes effect once the callback returns (the callbacks of tasks already done
 * still run; the pending ones fail with MPROC_ECANCELED).
 *
 * @param p the pool.
 * @return MPROC_OK (also when already terminated), MPROC_EINVAL (p NULL), MPROC_EFOREIGN.
 */
MPROC_API int mproc_pool_terminate(mproc_pool *p);

/**
 * Frees the pool. A pool not joined yet, open or closed, is terminated first (its pending tasks
 * fail with MPROC_ECANCELED, as with mproc_pool_terminate()): to let them finish, close and join
 * before destroy. NULL is fine. Handles and iterators it handed out stay valid until released.
 * From a callback of the same pool, which runs on the thread it would have to end, it only
 * terminates the pool (as mproc_pool_terminate() from a callback) and frees nothing: the pool
 * stays valid until a destroy from another thread. In a process other than the creator (a fork's
 * copy) it closes the copy's descriptors and frees its memory, returning at once; the creator's
 * workers are not touched.
 *
 * Memory: a pool keeps the blocks of freed argument copies and results of 64 KiB to 16 MiB
 * (apply_async, and apply's copies of arguments under 256 KiB), up to 64 MiB in all, for the
 * next ones, whose pages are then in already (a copy into fresh pages cost more in page faults
 * than in copying); they go back to the allocator here, with the pool's last handle.
 *
 * @param p the pool, or NULL; invalid after the call.
 */
MPROC_API void mproc_pool_destroy(mproc_pool *p);

/**
 * The number of worker processes.
 *
 * @param p the pool, or NULL (0).
 * @return the number of workers the pool keeps running.
 */
MPROC_API int mproc_pool_workers(const mproc_pool *p);
/**@}*/

#ifdef __cplusplus
}
#endif

/* The components' calls, in headers of their own (installed beside this one): objects
 * processes share (mproc/ipc.h), synchronisation and the wait on many objects (mproc/sync.h). */
#include "mproc/ipc.h"
#include "mproc/sync.h"

#endif /* MPROC_H */
