/**
 * @file mproc.h
 * @brief mproc: run C functions in child processes and process pools, on POSIX and Windows.
 *
 * The only public header. It includes no OS header. Every call that can fail returns an `int`:
 * `MPROC_OK` (0) or a negative `MPROC_E*` code (see mproc_strerror()). Getters return their value
 * directly. No call prints, aborts or exits on bad input.
 *
 * Portability rules: call mproc_init() first thing in `main`; arguments and results travel as
 * copied bytes (never pointers into the parent's memory); a function is named by its pointer and
 * the library finds it again in a spawned child.
 */
#ifndef MPROC_H
#define MPROC_H

#include <stddef.h>

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
#define MPROC_VERSION_MAJOR 0
#define MPROC_VERSION_MINOR 1
#define MPROC_VERSION_PATCH 0
/** The version this header belongs to, as "major.minor.patch". */
#define MPROC_VERSION_STRING "0.1.0"
/**@}*/

/**
 * The error list: name, value, sentence. One list generates the enum, mproc_strerror() and
 * mproc_err_name(). Values are the same on every platform.
 */
#define MPROC_ERRNO_MAP(X)                                                                         \
    X(EINVAL, -1, "invalid argument")                                                              \
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
    X(ENOFUNC, -11, "the function cannot be found in the child process")                           \
    X(EPROTO, -12, "a child process sent a malformed message")                                     \
    X(EEND, -13, "no more results")                                                                \
    X(ETOOBIG, -14, "data too large to send between processes")

/** Error codes. */
enum mproc_errno {
    MPROC_OK = 0,
#define MPROC__ERRNO_ENUM(name, value, text) MPROC_##name = value,
    MPROC_ERRNO_MAP(MPROC__ERRNO_ENUM)
#undef MPROC__ERRNO_ENUM
        MPROC__ERRNO_LAST = -14
};

/** Wait without limit (timeouts are milliseconds; 0 polls). */
#define MPROC_FOREVER (-1L)

/** How a child process is started. */
typedef enum mproc_start_method {
    /** fork on POSIX, spawn on Windows; `MPROC_START_METHOD=fork|spawn` in the environment
     * overrides it for the whole run. */
    MPROC_START_DEFAULT = 0,
    /** fork(): the child is a copy of the parent (POSIX only; MPROC_ENOTSUP on Windows). */
    MPROC_START_FORK = 1,
    /** A fresh run of the same executable that enters through mproc_init(): CreateProcessW on
     * Windows, posix_spawn on POSIX. */
    MPROC_START_SPAWN = 2
} mproc_start_method;

/* ---------------------------------------------------------------------------------------- */
/** @name Library */
/**@{*/

/**
 * The guard: call it first thing in `main`, on every platform.
 *
 * In the parent it returns MPROC_OK. In a child the library spawned it runs the child's work and
 * ends the process: it does not return there. Starting a process or a pool before it fails with
 * MPROC_ENOINIT. Returns MPROC_EINVAL when argc < 0 or argv is NULL with argc > 0.
 * Call it once, from the main thread; a second call returns MPROC_OK and changes nothing.
 */
MPROC_API int mproc_init(int argc, char **argv);

/** A constant sentence for an error code; "unknown error" for a code not in the list. */
MPROC_API const char *mproc_strerror(int code);

/** The code's name, e.g. "MPROC_EINVAL"; "MPROC_E?" for an unknown code. */
MPROC_API const char *mproc_err_name(int code);

/** The OS error (errno or GetLastError()) behind the calling thread's last MPROC_ESYS. */
MPROC_API long mproc_last_os_error(void);

/** Frees memory the library handed out (results of mproc_pool_apply()). NULL is fine. */
MPROC_API void mproc_free(void *ptr);

/** The library's version, as MPROC_VERSION_STRING. */
MPROC_API const char *mproc_version(void);

/** This process's id. */
MPROC_API long mproc_getpid(void);

/** The parent process's id (on Windows, the creator's id as recorded by the system). */
MPROC_API long mproc_getppid(void);

/** How many CPUs this process may use: the affinity mask and a cgroup CPU quota are honoured.
 * Always >= 1. */
MPROC_API int mproc_cpu_count(void);
/**@}*/

/* ---------------------------------------------------------------------------------------- */
/** @name Process */
/**@{*/

/**
 * What a child process runs. `arg` points to an aligned copy of the bytes given at creation
 * (NULL when arg_len is 0). The return value is the process's exit code.
 */
typedef int (*mproc_target)(const void *arg, size_t arg_len);

/** A child process handle (opaque). */
typedef struct mproc_process mproc_process;

/** Options for mproc_process_create_ex(); a zero field means its default. */
typedef struct mproc_process_options {
    mproc_target target; /**< required */
    const void *arg;     /**< bytes copied at creation; may be NULL when arg_len is 0 */
    size_t arg_len;
    const char *name;                /**< copied; NULL gives "Process-N" */
    mproc_start_method start_method; /**< MPROC_START_DEFAULT, _FORK or _SPAWN */
    int daemon; /**< nonzero: the child is killed when its parent ends, even by a crash */
} mproc_process_options;

/**
 * Creates a process object (not started). `arg` is copied. `*out` is set on success and must be
 * freed with mproc_process_destroy().
 * @return MPROC_OK, MPROC_EINVAL (out or target NULL, arg NULL with arg_len > 0), MPROC_ENOMEM.
 */
MPROC_API int mproc_process_create(mproc_process **out, mproc_target target, const void *arg,
                                   size_t arg_len);

/** As mproc_process_create() with options. MPROC_EINVAL also for an unknown start method. */
MPROC_API int mproc_process_create_ex(mproc_process **out, const mproc_process_options *opts);

/**
 * Starts the child. Returns MPROC_ESTATE when already started, MPROC_ENOINIT before
 * mproc_init(), MPROC_ENOTSUP for fork on Windows, MPROC_ESYS when the OS refuses.
 */
MPROC_API int mproc_process_start(mproc_process *p);

/**
 * Waits for the child to end, up to timeout_ms (MPROC_FOREVER: no limit, 0: poll). Returns
 * MPROC_OK once it has ended (again at every later call), MPROC_ETIMEDOUT while it still runs,
 * MPROC_ESTATE when not started. Sleeps; never busy-waits; a signal does not end the wait.
 */
MPROC_API int mproc_process_join(mproc_process *p, long timeout_ms);

/** 1 while the started child runs, 0 otherwise (also for NULL). */
MPROC_API int mproc_process_is_alive(mproc_process *p);

/** Asks the child to end: SIGTERM on POSIX, TerminateProcess on Windows. The exit code is then
 * -SIGTERM (-15) on every platform. MPROC_ESTATE when not started; MPROC_OK if already ended. */
MPROC_API int mproc_process_terminate(mproc_process *p);

/** Ends the child now: SIGKILL on POSIX, TerminateProcess on Windows; exit code -9. */
MPROC_API int mproc_process_kill(mproc_process *p);

/**
 * The exit code, by Python's rules: n for a return of n or exit(n) (0..255 on POSIX); -N when
 * ended by signal N (on Windows: -SIGSEGV for an access violation, -SIGABRT for abort(), -SIGTERM
 * after terminate, -SIGKILL after kill). MPROC_ESTATE before the child has been joined.
 */
MPROC_API int mproc_process_exitcode(const mproc_process *p, int *code);

/** The child's pid once started, else 0 (also for NULL). */
MPROC_API long mproc_process_pid(const mproc_process *p);

/** The process's name; valid until destroy. NULL for NULL. */
MPROC_API const char *mproc_process_name(const mproc_process *p);

/**
 * Frees the object. A child still running is killed and reaped first (join it before destroy to
 * let it finish); no zombie, handle or descriptor is left. NULL is fine. Preserves errno.
 */
MPROC_API void mproc_process_destroy(mproc_process *p);
/**@}*/

/* ---------------------------------------------------------------------------------------- */
/** @name Pool */
/**@{*/

/** Where a task writes its answer (opaque; valid only during the task call). */
typedef struct mproc_result mproc_result;

/** Sets the task's result bytes (copied); a later call replaces them. MPROC_EINVAL for NULL r
 * or NULL data with len > 0; MPROC_ETOOBIG past 1 GiB. */
MPROC_API int mproc_result_set(mproc_result *r, const void *data, size_t len);

/** Marks the task failed with a printf-style message the caller receives (cut at 4 KiB). */
MPROC_API int mproc_result_fail(mproc_result *r, const char *fmt, ...);

/**
 * A task run in a worker: `arg` is an aligned copy of the submitted bytes. Return 0 for success;
 * a nonzero return fails the task with MPROC_ETASK and that status (with the message given to
 * mproc_result_fail(), if any).
 */
typedef int (*mproc_task)(const void *arg, size_t arg_len, mproc_result *out);

/** Why a task failed. Valid as long as the object that handed it out. */
typedef struct mproc_error {
    int code;            /**< MPROC_ETASK, MPROC_EWORKER_LOST, MPROC_ECANCELED, ... */
    int status;          /**< the task's nonzero return (MPROC_ETASK), else 0 */
    int exitcode;        /**< the worker's exit code (MPROC_EWORKER_LOST), else 0 */
    const char *message; /**< never NULL */
} mproc_error;

/** Called in the parent with a task's result; `result` is valid during the call only. */
typedef void (*mproc_callback)(void *user, const void *result, size_t len);
/** Called in the parent when a task fails; `err` is valid during the call only. */
typedef void (*mproc_error_callback)(void *user, const mproc_error *err);

typedef struct mproc_pool mproc_pool;       /**< a pool of worker processes (opaque) */
typedef struct mproc_async mproc_async;     /**< one submitted task's handle (opaque) */
typedef struct mproc_results mproc_results; /**< the results of mproc_pool_map() (opaque) */
typedef struct mproc_iter mproc_iter;       /**< the iterator of mproc_pool_imap() (opaque) */

/** Runs once in every worker when it starts (replacements too); nonzero makes that worker exit. */
typedef int (*mproc_initializer)(const void *arg, size_t arg_len);

/** Options for mproc_pool_create_ex(); zero means default. */
typedef struct mproc_pool_options {
    int workers;                     /**< <= 0: mproc_cpu_count() */
    mproc_start_method start_method; /**< as for processes */
    mproc_initializer initializer;   /**< optional */
    const void *initarg;             /**< bytes copied for the initializer */
    size_t initarg_len;
    int max_tasks_per_child; /**< > 0: a worker is replaced after that many tasks */
    long task_timeout_ms;    /**< > 0: a task running longer has its worker killed and fails with
                                  MPROC_ETIMEDOUT */
} mproc_pool_options;

/** Creates a pool of `workers` processes (<= 0: mproc_cpu_count()). MPROC_ENOINIT before
 * mproc_init(); MPROC_EINVAL for NULL out; MPROC_ESYS when a worker cannot be started. */
MPROC_API int mproc_pool_create(mproc_pool **out, int workers);

/** As mproc_pool_create() with options; MPROC_EINVAL for a bad field. */
MPROC_API int mproc_pool_create_ex(mproc_pool **out, const mproc_pool_options *opts);

/**
 * Runs fn(arg) in a worker and waits for it. On MPROC_OK `*result` (may be NULL when
 * *result_len is 0) is the task's result, freed with mproc_free(). On a task failure returns its
 * code (MPROC_ETASK, MPROC_EWORKER_LOST, MPROC_ETIMEDOUT, MPROC_ECANCELED); result and
 * result_len may be NULL when not wanted. MPROC_ESTATE after close or terminate.
 */
MPROC_API int mproc_pool_apply(mproc_pool *p, mproc_task fn, const void *arg, size_t len,
                               void **result, size_t *result_len);

/**
 * Submits fn(arg) and returns at once. When it ends, cb (success) or ecb (failure) runs on the
 * pool's own thread, one callback at a time, in completion order; callbacks must not block for
 * long nor call mproc_pool_join/terminate/destroy on the same pool. `out` may be NULL; else
 * `*out` is a handle the caller must release with mproc_async_release().
 */
MPROC_API int mproc_pool_apply_async(mproc_pool *p, mproc_task fn, const void *arg, size_t len,
                                     mproc_callback cb, mproc_error_callback ecb, void *user,
                                     mproc_async **out);

/** Waits for the task to end: MPROC_OK, or MPROC_ETIMEDOUT. */
MPROC_API int mproc_async_wait(mproc_async *a, long timeout_ms);
/** 1 once the task has ended (success or failure), else 0. */
MPROC_API int mproc_async_ready(mproc_async *a);
/** Waits, then gives the result (valid until release): MPROC_OK, the task's error code, or
 * MPROC_ETIMEDOUT. data and len may be NULL. */
MPROC_API int mproc_async_get(mproc_async *a, long timeout_ms, const void **data, size_t *len);
/** The task's error once it has failed, else NULL. */
MPROC_API const mproc_error *mproc_async_error(mproc_async *a);
/** Releases the handle; the task itself still runs. NULL is fine. */
MPROC_API void mproc_async_release(mproc_async *a);

/**
 * Applies fn to each of `count` items of `item_size` bytes (contiguous in `items`) and waits.
 * chunksize 0 picks one as Python does (count / (4 * workers), rounded up). `*out` holds the
 * results in order, freed with mproc_results_destroy(); one item's failure fails only that item
 * (a lost worker fails its whole chunk).
 */
MPROC_API int mproc_pool_map(mproc_pool *p, mproc_task fn, const void *items, size_t item_size,
                             size_t count, size_t chunksize, mproc_results **out);

/**
 * As mproc_pool_map() but returns at once with an iterator; results are streamed (a bounded
 * number of chunks is in flight, so memory stays flat). ordered: results in item order, else in
 * completion order. `items` must stay valid until the iterator is destroyed.
 */
MPROC_API int mproc_pool_imap(mproc_pool *p, mproc_task fn, const void *items, size_t item_size,
                              size_t count, size_t chunksize, int ordered, mproc_iter **out);

/** The number of results. */
MPROC_API size_t mproc_results_count(const mproc_results *r);
/** Item i's result: MPROC_OK, or its error code (see mproc_results_error()). */
MPROC_API int mproc_results_get(const mproc_results *r, size_t i, const void **data, size_t *len);
/** Item i's error, or NULL when it succeeded. */
MPROC_API const mproc_error *mproc_results_error(const mproc_results *r, size_t i);
/** Frees the results. NULL is fine. */
MPROC_API void mproc_results_destroy(mproc_results *r);

/**
 * The next result: MPROC_OK (or that item's error code) with its index and bytes (valid until
 * the next call), MPROC_EEND after the last, MPROC_ETIMEDOUT when none arrived in time.
 */
MPROC_API int mproc_iter_next(mproc_iter *it, long timeout_ms, size_t *index, const void **data,
                              size_t *len);
/** The error of the item last returned, or NULL. */
MPROC_API const mproc_error *mproc_iter_error(mproc_iter *it);
/** Frees the iterator; items not yet done are dropped. NULL is fine. */
MPROC_API void mproc_iter_destroy(mproc_iter *it);

/** No new tasks; those inside still run. MPROC_OK again when already closed. */
MPROC_API int mproc_pool_close(mproc_pool *p);
/** After close (MPROC_ESTATE before): waits for every task and then every worker to end. */
MPROC_API int mproc_pool_join(mproc_pool *p);
/** Stops the workers now; every pending task fails with MPROC_ECANCELED. */
MPROC_API int mproc_pool_terminate(mproc_pool *p);
/** Frees the pool; an open pool is terminated first. NULL is fine. */
MPROC_API void mproc_pool_destroy(mproc_pool *p);
/** The number of worker processes. */
MPROC_API int mproc_pool_workers(const mproc_pool *p);
/**@}*/

#ifdef __cplusplus
}
#endif

#endif /* MPROC_H */
