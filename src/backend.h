/* The backend contract: what src/posix and src/win32 each implement, once per directory (CMake
 * compiles one of them). Every function is named mproc__os_*. Nothing here names an OS type.
 * Internal preconditions (a NULL where the caller guarantees an object) are assert()s in both
 * backends: the front end checks what a user passes before it gets here. */
#ifndef MPROC_BACKEND_H
#define MPROC_BACKEND_H

#include "util.h"

/* An OS handle: a file descriptor on POSIX, a HANDLE on Windows. INVALID_HANDLE_VALUE is also
 * (HANDLE)-1, so one sentinel serves both. */
typedef intptr_t mproc__handle;
#define MPROC__INVALID_HANDLE ((mproc__handle)-1)

/* Exit codes a Windows child reports for "ended by signal N" (see mproc__os_wait). */
#define MPROC__SIGNAL_EXIT_BASE 0x10000
#define MPROC__SIGKILL 9
#define MPROC__SIGTERM 15

/* What ties a child's life to ours (mproc__spawn_spec.daemon, the BOOT record's daemon byte). */
enum {
    MPROC__DAEMON_NONE = 0,
    /* Dies with this process. The thread that started it may end long before (a daemon
     * mproc_process started from a short-lived thread) and the child must live on. */
    MPROC__DAEMON_PROCESS = 1,
    /* The same, started by a thread that outlives the child (the pool's thread, which reaps its
     * workers before it ends). */
    MPROC__DAEMON_WORKER = 2
};

/* -- errors and time -- */
long mproc__os_errno(void);              /* errno / GetLastError() now */
void mproc__os_restore_errno(long err);  /* sets it back: destroy preserves it */
void mproc__os_set_last_error(long err); /* per-thread store behind mproc_last_os_error() */
long mproc__os_get_last_error(void);
uint64_t mproc__os_now_ms(void); /* monotonic milliseconds */
void mproc__os_sleep_ms(long ms);
/* A moment's pause in a spin (the CPU's pause instruction where there is one), so the spinner
 * does not starve the process or thread it waits for of the cache line. */
void mproc__os_relax(void);
/* A hint that the cache lines of [addr, addr + bytes) are wanted soon (memory another thread
 * wrote): never faults, whatever the address, and does nothing where the CPU takes no such hint.
 * An integer address, so that a guess next to an object is no pointer arithmetic out of it. */
void mproc__os_prefetch(uintptr_t addr, size_t bytes);
/* A hint that the len bytes at p (a fresh buffer for a big message or result) are about to be
 * written whole: Linux backs them with huge pages where it can, 512 times fewer page faults. */
void mproc__os_big_buffer(void *p, size_t len);

/* -- defaults (src/<backend>/defaults.c) -- */
int mproc__os_default_method(void); /* MPROC_START_FORK on POSIX, MPROC_START_SPAWN on Windows */

/* -- identity -- */
long mproc__os_getpid(void);
long mproc__os_getppid(void);
int mproc__os_cpu_count(void);
/* This process's resident memory now, in bytes (Linux /proc/self/statm, Windows
 * GetProcessMemoryInfo); 0 where the system does not say. */
size_t mproc__os_rss_bytes(void);

/* -- the guard (src/marker.c scans, the backend checks and adopts) -- */
/* A marker as written: "--mproc-child=<in>,<out>,<extra><tail>"; -1 for an absent handle. */
typedef struct mproc__marker {
    intptr_t in, out, extra;
    const char *tail; /* what followed the three values (POSIX: its daemon flag) */
} mproc__marker;
/* The i-th place the OS keeps a marker, after main's argv[1]: 1 with its text in buf (cut to
 * cap - 1 bytes), 0 when that place holds none or the system does not tell, -1 past the last.
 * POSIX: 0 the process's own argv[1] (/proc/self/cmdline), 1 the environment the parent set;
 * Windows: 0 the second argument of GetCommandLineW. */
int mproc__os_marker_text(int i, char *buf, size_t cap);
/* 1 when m names handles this process was given, which it then adopts (not inheritable, the
 * rest of what was inherited closed) and returns as the channel; 0 when m is not ours. */
int mproc__os_marker_take(const mproc__marker *m, mproc__handle *in, mproc__handle *out,
                          mproc__handle *extra);
/* Called in a spawned child once it knows it is one: daemon setup (PDEATHSIG on Linux, with the
 * parent pid checked), crash-to-exit-code mapping on Windows. */
void mproc__os_child_setup(int daemon, long parent_pid);
/* Ends this process with `code` after flushing stdio; never returns. */
void mproc__os_exit(int code);

/* -- pipes: one-way, blocking, close-on-exec / non-inheritable -- */
int mproc__os_pipe(mproc__handle *rd, mproc__handle *wr);
/* >0 bytes read, 0 at end of file, or a negative MPROC_E* code; retries on EINTR. */
long mproc__os_read(mproc__handle h, void *buf, size_t cap);
/* Writes all bytes or returns a negative code (never raises SIGPIPE). */
int mproc__os_write_all(mproc__handle h, const void *buf, size_t len);
void mproc__os_close(mproc__handle h); /* MPROC__INVALID_HANDLE is fine */
/* A pool worker calls it once: it ignores SIGPIPE from then on (as every Python process does),
 * so a parent that went away shows as a failed write, and writes cost one system call. */
void mproc__os_worker_signals(void);

/* -- shared memory between the parent and one child -- */
typedef struct mproc__shm {
    void *addr;
    size_t size;
    mproc__handle h; /* what a spawned child attaches with (close-on-exec, not inheritable) */
} mproc__shm;
/* A zeroed region of size bytes mapped here; a forked child inherits the mapping. */
int mproc__os_shm_create(mproc__shm *s, size_t size);
/* In a spawned child: maps the region the parent handed down. */
int mproc__os_shm_attach(mproc__shm *s, mproc__handle h, size_t size);
/* Unmaps and closes; a zeroed one is fine. */
void mproc__os_shm_destroy(mproc__shm *s);
/* As mproc__os_shm_create, for a large region of which only the first `usable` bytes are
 * usable at once, the rest after mproc__os_shm_commit (Windows: reserved, not charged to the
 * paging file; POSIX: all of it, pages allocated as touched). */
int mproc__os_shm_create_reserved(mproc__shm *s, size_t size, size_t usable);
/* Makes [addr, addr+len) of a region usable in this process (both sides call it). */
int mproc__os_shm_commit(void *addr, size_t len);
/* Gives the memory of the whole pages in [addr, addr+len) back (they read as zeros after);
 * where the OS cannot, nothing. */
void mproc__os_shm_release(void *addr, size_t len);
/* Sequentially consistent loads and stores of a word shared between processes. */
uint32_t mproc__os_load(const volatile uint32_t *p);
void mproc__os_store(volatile uint32_t *p, uint32_t v);
/* Adds v and returns the old value (sequentially consistent). */
uint32_t mproc__os_add(volatile uint32_t *p, uint32_t v);
/* Stores desired if *p == expected; returns the old value either way (sequentially consistent). */
uint32_t mproc__os_cas(volatile uint32_t *p, uint32_t expected, uint32_t desired);
/* Sleeping on a word of shared memory until another process changes it: 1 where the OS offers
 * that across processes (a Linux futex), else 0 and the two calls below do nothing. */
int mproc__os_word_wait_works(void);
/* Sleeps while *p == expected, until mproc__os_word_wake(p) from any process or a signal;
 * returns at once when *p differs. Callers check their condition again after it returns. */
void mproc__os_word_wait(volatile uint32_t *p, uint32_t expected);
void mproc__os_word_wake(volatile uint32_t *p);

/* -- function pointers across processes -- */
typedef void (*mproc__fn)(void);
/* Where fn lives: module is "" for the main executable, else the path of the shared library /
 * DLL as the loader knows it (UTF-8); offset from the module's base. */
int mproc__os_fn_locate(mproc__fn fn, char *module, size_t module_cap, uint64_t *offset);
/* The inverse, in the child; loads the module when needed. MPROC_ENOFUNC when impossible. */
int mproc__os_fn_resolve(const char *module, uint64_t offset, mproc__fn *fn);
/* The loader's state at one moment, taken just before a fork: which modules a fork child made
 * after it has at the parent's addresses. */
typedef struct mproc__fn_gen {
    int valid;
    int nmods;     /* modules loaded then */
    uint64_t subs; /* unloads so far */
} mproc__fn_gen;
void mproc__os_fn_gen(mproc__fn_gen *g);
/* 1 when fn lives in a module loaded already at g, with nothing unloaded since: a fork child
 * made after g has fn at the same address, and need not ask its own loader (whose lock another
 * thread of the parent may have held at the fork). 0 when unsure. */
int mproc__os_fn_same_in_fork(mproc__fn fn, const mproc__fn_gen *g);

/* -- processes -- */
typedef struct mproc__proc {
    long pid;
    mproc__handle h;   /* pidfd or process HANDLE; may be invalid */
    mproc__handle aux; /* exit pipe (POSIX without pidfd) or job object (Windows) */
    int reaped;        /* status collected */
    int exitcode;      /* valid once reaped, unless status_lost */
    /* Reaped, but the status was taken by someone else (POSIX: SIGCHLD ignored, or the
     * application's own waitpid): exitcode means nothing. */
    int status_lost;
} mproc__proc;

typedef struct mproc__spawn_spec {
    int method; /* MPROC_START_FORK or MPROC_START_SPAWN (already resolved) */
    int daemon; /* MPROC__DAEMON_*: whether and how the child dies with this process */
    /* spawn: handed to the child, which finds them with mproc__marker_child_args. in is required,
     * out may be invalid. fork: the only descriptors of the library's the child keeps. */
    mproc__handle child_in;
    mproc__handle child_out;
    mproc__handle child_extra; /* optional, as out: a pool worker's shared memory */
    /* fork: what the child runs; its return is the exit code (stdio flushed, then _exit). */
    int (*fork_main)(void *ctx);
    void *fork_ctx;
} mproc__spawn_spec;

int mproc__os_spawn(const mproc__spawn_spec *spec, mproc__proc *p);
/* Waits up to timeout_ms (MPROC_FOREVER, 0 polls) and reaps: MPROC_OK with p->exitcode in
 * Python's form (or p->status_lost), MPROC_ETIMEDOUT, or MPROC_ESYS. Several threads may wait
 * for one child at once; each gets the same result. */
int mproc__os_wait(mproc__proc *p, long timeout_ms);
/* hard = 0: SIGTERM / TerminateProcess(-15 form); hard = 1: SIGKILL / TerminateProcess(-9). */
int mproc__os_signal(mproc__proc *p, int hard);
/* Releases handles; does not reap (callers wait first). */
void mproc__os_proc_close(mproc__proc *p);
/* Reads what a pipe holds now, without waiting: >0 bytes, 0 when nothing is there (or at end
 * of file), or a negative code. For what an ended child left in its channel. */
long mproc__os_read_ready(mproc__handle h, void *buf, size_t cap);

/* -- threads -- */
typedef struct mproc__thread mproc__thread;
typedef struct mproc__mutex mproc__mutex;
typedef struct mproc__cond mproc__cond;
/* The thread starts with every signal blocked (POSIX). */
int mproc__os_thread_start(mproc__thread **t, void (*fn)(void *), void *arg);
/* 1 when the calling thread is t (NULL: 0). */
int mproc__os_thread_is_self(const mproc__thread *t);
void mproc__os_thread_join(mproc__thread *t); /* frees t */
int mproc__os_mutex_create(mproc__mutex **m);
void mproc__os_mutex_destroy(mproc__mutex *m);
void mproc__os_mutex_lock(mproc__mutex *m);
void mproc__os_mutex_unlock(mproc__mutex *m);
int mproc__os_cond_create(mproc__cond **c);
void mproc__os_cond_destroy(mproc__cond *c);
/* MPROC_OK when signalled (or spuriously), MPROC_ETIMEDOUT after timeout_ms. */
int mproc__os_cond_wait(mproc__cond *c, mproc__mutex *m, long timeout_ms);
void mproc__os_cond_broadcast(mproc__cond *c);

/* -- the pool's event loop: one thread moves bytes between buffers and many children -- */
typedef struct mproc__loop mproc__loop;
typedef struct mproc__chan {
    mproc__buf in;  /* bytes received; the loop appends, the front end consumes */
    mproc__buf out; /* bytes to send; the front end appends, the loop writes and consumes */
    int eof;        /* the child's end closed (or reading failed): no more input */
    int news;       /* set by the loop when in grew or eof was set; the front end clears it */
    int exited;     /* the watched process has ended (mproc__os_loop_watch): what it sent is in */
    void *os;       /* backend state */
} mproc__chan;

int mproc__os_loop_create(mproc__loop **out);
void mproc__os_loop_destroy(mproc__loop *l);
/* Takes ownership of rd (child's output) and wr (child's input), also when it fails. */
int mproc__os_loop_add(mproc__loop *l, mproc__chan *c, mproc__handle rd, mproc__handle wr);
/* Also watches the process at the other end of c: once it has ended, c->exited is set (and
 * news), after what it wrote before it ended has been read into c->in, whatever still holds its
 * pipes (a process it forked without exec keeps them open). A pidfd or the process handle is
 * waited on; without one (POSIX without pidfd) waitpid is asked every few hundred ms. proc
 * stays the caller's and must outlive c's place in the loop; the loop may reap it. */
int mproc__os_loop_watch(mproc__loop *l, mproc__chan *c, mproc__proc *proc);
/* Stops watching c and closes its handles; c's buffers stay with the caller. */
void mproc__os_loop_remove(mproc__loop *l, mproc__chan *c);
/* Closes c's write side only (the child sees end of input once out has drained). */
void mproc__os_loop_shutdown(mproc__loop *l, mproc__chan *c);
/* Writes frame to c's child at once, from any thread, while the loop thread leaves c alone (a
 * pool worker lent to a caller, with nothing queued in c->out). All or nothing: MPROC_OK;
 * MPROC_ESTATE when it would block, c is closed or len > MPROC__SEND_NOW_MAX; MPROC_ENOTSUP
 * where the backend cannot. */
#define MPROC__SEND_NOW_MAX 4096u
int mproc__os_loop_send_now(mproc__loop *l, mproc__chan *c, const void *frame, size_t len);
/* Wakes a thread blocked in mproc__os_loop_run; callable from any thread. */
void mproc__os_loop_wake(mproc__loop *l);
/* Sends what each chan holds in out, then waits up to timeout_ms for input, end of file or a
 * wake; input is appended to in and news set. Returns >= 0, or a negative code. Only the loop's
 * own thread calls it (and add/remove/shutdown). */
int mproc__os_loop_run(mproc__loop *l, long timeout_ms);

#endif /* MPROC_BACKEND_H */
