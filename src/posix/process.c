/* Starting children (fork or posix_spawn), waiting for them, signalling them. */
#define _GNU_SOURCE
#include "posix.h"

#include "../ipc/share.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
    #include <sys/syscall.h>
#endif

/* How long a wait on an exit pipe sleeps before asking waitpid anyway: a grandchild that
 * inherited the write end keeps the pipe open after the child has ended. */
#define EXIT_PIPE_SLICE_MS 200
/* The longest nap of a wait that has nothing to poll. */
#define BACKOFF_MAX_MS 100

/* ---- pidfd ---- */

/* Whether pidfd_open works here: 0 not tried yet, 1 yes, -1 no. Guarded by the registry lock,
 * under which every pidfd is opened. */
static int pidfd_state;

static int pidfd_disabled(void)
{
    const char *v = getenv("MPROC_NO_PIDFD");
    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

static int pidfd_known_good(void)
{
    int s;
    mproc__posix_reg_lock();
    s = pidfd_state;
    mproc__posix_reg_unlock();
    return s == 1;
}

/* A registered pidfd for pid, or -1. */
static int pidfd_open_reg(pid_t pid)
{
    int fd = -1;
#if defined(__linux__) && defined(SYS_pidfd_open)
    mproc__posix_reg_lock();
    fd = (int)syscall(SYS_pidfd_open, pid, 0); /* always close-on-exec */
    if (fd >= 0) {
        pidfd_state = 1;
        if (mproc__posix_reg_add_locked(fd) != MPROC_OK) {
            close(fd);
            fd = -1;
        }
    } else if (errno == ENOSYS || errno == EPERM || errno == EINVAL) {
        /* An old kernel, or a seccomp filter that does not know the call. */
        pidfd_state = -1;
    }
    mproc__posix_reg_unlock();
#else
    (void)pid;
#endif
    return fd;
}

/* ---- fork ---- */

/* Whether the calling thread lasts as long as the process (the main thread). */
static int thread_lasts(void)
{
#if defined(__linux__) && defined(SYS_gettid)
    return (long)syscall(SYS_gettid) == (long)getpid();
#else
    return 1;
#endif
}

/* The daemon kind the child sets up: a process daemon started by the main thread can take the
 * unblockable SIGKILL, since that thread ends only with the process. */
static int daemon_kind(const mproc__spawn_spec *spec)
{
    if (spec->daemon == MPROC__DAEMON_PROCESS && thread_lasts())
        return MPROC__DAEMON_WORKER;
    return spec->daemon;
}

/* The calls a fork child makes on its way out (the exit code's write and its signal mask
 * dance) that the parent may never have made. Without -z now a function is bound on its first
 * call, and a child's binding dies with it: every child looked them up again, which took
 * 9 of the 15 page faults a start + join had beyond a bare fork + waitpid (perf here). Made
 * here, before the fork, the parent's bindings are what the children inherit. (_exit cannot be
 * called here: child.c calls it through a pointer.) */
static void bind_child_calls(void)
{
    static volatile uint32_t bound; /* once is enough: two threads racing only bind twice */
    sigset_t s;
    ssize_t n;

    if (mproc__os_load(&bound))
        return;
    mproc__os_store(&bound, 1);
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    (void)sigismember(&s, SIGPIPE);
    (void)sigpending(&s);
    n = write(-1, "", 0); /* EBADF, and bound */
    (void)n;
    (void)close(-1); /* the registry's closing of the parent's descriptors */
}

static int start_fork(const mproc__spawn_spec *spec, int exit_wr, const mproc__handle *share,
                      size_t nshare, pid_t *out)
{
    sigset_t all, old, child_mask;
    int keep_small[8], *keep = keep_small;
    pid_t parent, pid;
    int err, daemon = daemon_kind(spec);
    size_t i, nkeep = 3 + nshare;

    /* Made before the fork: the child may not allocate. */
    if (nkeep > sizeof keep_small / sizeof keep_small[0]) {
        keep = mproc__malloc(nkeep * sizeof *keep);
        if (keep == NULL)
            return MPROC_ENOMEM;
    }
    keep[0] = spec->child_in >= 0 && spec->child_in <= INT_MAX ? (int)spec->child_in : -1;
    keep[1] = spec->child_out >= 0 && spec->child_out <= INT_MAX ? (int)spec->child_out : -1;
    keep[2] = exit_wr;
    for (i = 0; i < nshare; i++)
        keep[3 + i] = share[i] >= 0 && share[i] <= INT_MAX ? (int)share[i] : -1;
    bind_child_calls();
    /* No handler may run in the child before it is set up, nor in the parent while the registry
     * is locked. The mask this returns is the one the child starts from. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    mproc__posix_child_sigmask(&old, &child_mask);
    parent = (pid_t)mproc__os_getpid();
    mproc__posix_reg_lock();
    pid = fork();
    if (pid == 0) {
        mproc__posix_reg_close_others_locked(keep, (int)nkeep);
        mproc__posix_reg_unlock();
        mproc__os_child_setup(daemon, (long)parent);
        pthread_sigmask(SIG_SETMASK, &child_mask, NULL);
        mproc__os_exit(spec->fork_main(spec->fork_ctx));
    }
    err = errno;
    mproc__posix_reg_unlock();
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (keep != keep_small)
        mproc__free(keep);
    if (pid < 0)
        return mproc__sys_error(err);
    *out = pid;
    return MPROC_OK;
}

/* ---- posix_spawn ---- */

/* The child must get in and out without close-on-exec, but clearing the flag here would leak
 * them into whatever another thread starts meanwhile. So each goes to a fresh close-on-exec
 * copy's number, and the child's file actions dup2 the original onto that number: the dup2
 * result never carries close-on-exec, whatever the C library does with dup2(fd, fd). */
static int start_spawn(const mproc__spawn_spec *spec, int exit_wr, const mproc__handle *share,
                       size_t nshare, pid_t *out)
{
    int tin = -1, tout = -1, textra = -1, txw = -1;
    int tshare_small[8], *tshare = tshare_small;
    size_t i, nt = 0;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int fa_ok = 0, attr_ok = 0, e, r;
    sigset_t mask;
    char marker[64];
    char *argv[3];
    char **envp = NULL;
    const char *path = mproc__posix_exe_path();

    if (path == NULL)
        return mproc__sys_error(errno);
    if (spec->child_in < 0 || spec->child_in > INT_MAX || spec->child_out > INT_MAX ||
        spec->child_extra > INT_MAX)
        return MPROC_EINVAL;
    r = mproc__posix_dup((int)spec->child_in, &tin);
    if (r == MPROC_OK && spec->child_out >= 0)
        r = mproc__posix_dup((int)spec->child_out, &tout);
    if (r == MPROC_OK && spec->child_extra >= 0)
        r = mproc__posix_dup((int)spec->child_extra, &textra);
    if (r == MPROC_OK && exit_wr >= 0)
        r = mproc__posix_dup(exit_wr, &txw);
    if (r < 0)
        goto finish;
    for (i = 0; i < nshare; i++)
        if (share[i] < 0 || share[i] > INT_MAX) {
            r = MPROC_EINVAL;
            goto finish;
        }
    if (nshare > sizeof tshare_small / sizeof tshare_small[0]) {
        tshare = mproc__malloc(nshare * sizeof *tshare);
        if (tshare == NULL) {
            r = MPROC_ENOMEM;
            goto finish;
        }
    }
    for (nt = 0; nt < nshare; nt++) {
        r = mproc__posix_dup((int)share[nt], &tshare[nt]);
        if (r < 0)
            goto finish;
    }

    e = posix_spawn_file_actions_init(&fa);
    if (e != 0)
        goto fail;
    fa_ok = 1;
    e = posix_spawn_file_actions_adddup2(&fa, (int)spec->child_in, tin);
    if (e == 0 && tout >= 0)
        e = posix_spawn_file_actions_adddup2(&fa, (int)spec->child_out, tout);
    if (e == 0 && textra >= 0)
        e = posix_spawn_file_actions_adddup2(&fa, (int)spec->child_extra, textra);
    if (e == 0 && txw >= 0)
        e = posix_spawn_file_actions_adddup2(&fa, exit_wr, txw);
    /* A shared object's descriptor keeps its number in the child (the bootstrap record names
     * it): through a fresh number and back, which leaves it without close-on-exec. */
    for (i = 0; e == 0 && i < nshare; i++) {
        e = posix_spawn_file_actions_adddup2(&fa, (int)share[i], tshare[i]);
        if (e == 0)
            e = posix_spawn_file_actions_adddup2(&fa, tshare[i], (int)share[i]);
        if (e == 0)
            e = posix_spawn_file_actions_addclose(&fa, tshare[i]);
    }
    if (e != 0)
        goto fail;

    e = posix_spawnattr_init(&attr);
    if (e != 0)
        goto fail;
    attr_ok = 1;
    mproc__posix_child_sigmask(NULL, &mask);
    e = posix_spawnattr_setsigmask(&attr, &mask);
    if (e == 0)
        e = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    if (e != 0)
        goto fail;

    snprintf(marker, sizeof marker, "--mproc-child=%d,%d,%d%s", tin, tout, textra,
             daemon_kind(spec) == MPROC__DAEMON_WORKER ? MPROC__POSIX_MARKER_LASTING : "");
    argv[0] = (char *)mproc__posix_argv0();
    argv[1] = marker;
    argv[2] = NULL;
    /* The marker also travels in the environment, for systems that do not show a process its
     * own command line (posix/child.c). */
    envp = mproc__posix_spawn_env(marker);
    if (envp == NULL) {
        r = MPROC_ENOMEM;
        goto finish;
    }
    e = posix_spawn(out, path, &fa, &attr, argv, envp);
    if (e != 0)
        goto fail;
    r = MPROC_OK;
    goto finish;

fail:
    r = mproc__sys_error(e);
finish:
    if (attr_ok)
        posix_spawnattr_destroy(&attr);
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    mproc__free(envp);
    mproc__os_close(tin);
    mproc__os_close(tout);
    mproc__os_close(textra);
    mproc__os_close(txw);
    for (i = 0; i < nt; i++)
        mproc__os_close(tshare[i]);
    if (tshare != tshare_small)
        mproc__free(tshare);
    return r;
}

/* ---- the front door ---- */

int mproc__os_spawn(const mproc__spawn_spec *spec, mproc__proc *p)
{
    return mproc__os_spawn_shared(spec, NULL, 0, p);
}

int mproc__os_spawn_shared(const mproc__spawn_spec *spec, const mproc__handle *share, size_t nshare,
                           mproc__proc *p)
{
    mproc__handle xr = MPROC__INVALID_HANDLE, xw = MPROC__INVALID_HANDLE;
    int want_pidfd, r;
    pid_t pid = -1;
    assert(spec != NULL && p != NULL);

    p->pid = 0;
    p->h = p->aux = MPROC__INVALID_HANDLE;
    p->reaped = p->exitcode = p->status_lost = 0;
    if (spec->method == MPROC_START_FORK) {
        if (spec->fork_main == NULL)
            return MPROC_EINVAL;
    } else if (spec->method != MPROC_START_SPAWN || spec->child_in == MPROC__INVALID_HANDLE) {
        return MPROC_EINVAL;
    }

    /* Flushed before every start, as Python does: under fork, whatever sits in a stdio buffer
     * would be written twice, by the parent and the child; under spawn, the parent's earlier
     * output would come after the child's, as it does not on Windows. */
    fflush(NULL);

    /* A pidfd can only be had after the start, an exit pipe only before: the pipe is made
     * unless pidfds are known to work, and dropped if the pidfd comes. */
    want_pidfd = !pidfd_disabled();
    if (!want_pidfd || !pidfd_known_good()) {
        r = mproc__os_pipe(&xr, &xw);
        if (r < 0)
            return r;
    }
    if (spec->method == MPROC_START_FORK)
        r = start_fork(spec, (int)xw, share, nshare, &pid);
    else
        r = start_spawn(spec, (int)xw, share, nshare, &pid);
    /* Only the child may hold the write end, or its end would never show. */
    mproc__os_close(xw);
    if (r < 0) {
        mproc__os_close(xr);
        return r;
    }
    p->pid = (long)pid;
    if (want_pidfd) {
        int fd = pidfd_open_reg(pid);
        if (fd >= 0) {
            p->h = fd;
            mproc__os_close(xr);
            xr = MPROC__INVALID_HANDLE;
        }
    }
    p->aux = xr;
    return MPROC_OK;
}

/* ---- waiting ---- */

/* Reaping is one step under one lock, so two threads waiting for the same child (or a join and
 * an is_alive) never both ask the kernel: the second would get ECHILD for a status the first
 * already took. Only non-blocking calls run under it. */
static pthread_mutex_t reap_lock = PTHREAD_MUTEX_INITIALIZER;

#if defined(__linux__)
/* PIDFD_GET_INFO (Linux 6.15): a pidfd keeps its process's wait status after anyone reaped it.
 * Defined here, as the C library's headers may predate it; the first 64 bytes of the kernel's
 * struct pidfd_info (its first version), which the kernel accepts as they are. */
struct mproc__pidfd_info {
    uint64_t mask;
    uint64_t cgroupid;
    uint32_t ids[11]; /* pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid */
    int32_t exit_code;
};
    #define MPROC__PIDFD_GET_INFO _IOWR(0xFF, 11, struct mproc__pidfd_info)
    /* waitid's idtype for a pidfd (Linux 5.4); glibc names it in an enum only, if at all. */
    #define MPROC__P_PIDFD 3
    #define MPROC__PIDFD_INFO_EXIT (1ull << 3)
#endif

/* A wait status in Python's form: n for exit(n), -N for signal N. 1 when it says "ended". */
static int take_status(mproc__proc *p, int status)
{
    if (WIFEXITED(status))
        p->exitcode = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        p->exitcode = -WTERMSIG(status);
    else
        return 0;
    p->reaped = 1;
    return 1;
}

/* The child has ended, and someone else collected its status: the application set SIGCHLD to
 * SIG_IGN (or SA_NOCLDWAIT) and the kernel dropped it, or a handler of its own reaped with
 * waitpid(-1, ...). A pidfd still knows it on Linux 6.15 and later; otherwise the status is
 * lost, never read as a false 0 (the front end may still have the child's own report). */
static int status_lost(mproc__proc *p)
{
#if defined(__linux__)
    if (p->h != MPROC__INVALID_HANDLE) {
        struct mproc__pidfd_info info;
        memset(&info, 0, sizeof info);
        info.mask = MPROC__PIDFD_INFO_EXIT;
        if (ioctl((int)p->h, MPROC__PIDFD_GET_INFO, &info) == 0 &&
            (info.mask & MPROC__PIDFD_INFO_EXIT) && take_status(p, info.exit_code))
            return 1;
    }
#endif
    p->exitcode = 0;
    p->status_lost = 1;
    p->reaped = 1;
    return 1;
}

/* Collects the status if the child has ended, without blocking: 1 reaped, 0 still running, or
 * MPROC_ESYS. Lock held. */
static int reap_locked(mproc__proc *p)
{
    int status, e;
    pid_t r;

    if (p->reaped)
        return 1;
#if defined(__linux__)
    if (p->h != MPROC__INVALID_HANDLE) {
        /* By the pidfd, not the pid: once someone else reaped the child, its pid may already
         * name another child of ours. */
        siginfo_t si;
        int w;
        memset(&si, 0, sizeof si);
        do
            w = waitid((idtype_t)MPROC__P_PIDFD, (id_t)p->h, &si, WEXITED | WNOHANG);
        while (w < 0 && errno == EINTR);
        if (w == 0) {
            if (si.si_pid == 0)
                return 0;
            if (si.si_code == CLD_EXITED)
                p->exitcode = si.si_status & 0xff;
            else
                p->exitcode = -si.si_status;
            p->reaped = 1;
            return 1;
        }
        if (errno == ECHILD)
            return status_lost(p);
        /* EINVAL: a kernel with pidfd_open but not yet P_PIDFD (5.3); the pid serves. */
        if (errno != EINVAL)
            return mproc__sys_error(errno);
    }
#endif
    do
        r = waitpid((pid_t)p->pid, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        e = errno;
        if (e == ECHILD)
            return status_lost(p);
        return mproc__sys_error(e);
    }
    if (r == 0)
        return 0;
    return take_status(p, status);
}

static int reap(mproc__proc *p)
{
    int r;
    pthread_mutex_lock(&reap_lock);
    r = reap_locked(p);
    pthread_mutex_unlock(&reap_lock);
    return r;
}

static long remaining(long timeout_ms, uint64_t deadline)
{
    uint64_t now;

    if (timeout_ms < 0)
        return -1;
    now = mproc__os_now_ms();
    return now >= deadline ? 0 : (long)(deadline - now);
}

/* Safe from several threads at once for one child: each polls on its own and the reap is under
 * the lock. The descriptors stay open until mproc__os_proc_close, so no waiter ever polls a
 * number another one closed. */
int mproc__os_wait(mproc__proc *p, long timeout_ms)
{
    uint64_t deadline = 0;
    long backoff = 1;
    /* With a pidfd the first look is the poll: it returns at once for a child that has ended,
     * and a join of a running child then costs one waitid, not two. */
    int pipe_done = 0, r, polled_first;
    assert(p != NULL);

    polled_first = p->h != MPROC__INVALID_HANDLE && timeout_ms != 0;
    if (p->pid <= 0)
        return MPROC_EINVAL;
    if (timeout_ms > 0)
        deadline = mproc__os_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        long left;

        if (!polled_first) {
            r = reap(p);
            if (r != 0)
                return r < 0 ? r : MPROC_OK;
        }
        polled_first = 0;
        left = remaining(timeout_ms, deadline);
        if (left == 0)
            return MPROC_ETIMEDOUT;

        if (p->h != MPROC__INVALID_HANDLE && backoff == 1) {
            /* The pidfd turns readable once the child has ended; should the status lag behind
             * it a moment, the naps below take over. */
            r = mproc__posix_poll_one((int)p->h, POLLIN, left);
            if (r < 0)
                return r;
            if (r > 0)
                backoff = 2;
        } else if (p->aux != MPROC__INVALID_HANDLE && !pipe_done) {
            long slice = left < 0 || left > EXIT_PIPE_SLICE_MS ? EXIT_PIPE_SLICE_MS : left;
            r = mproc__posix_poll_one((int)p->aux, POLLIN, slice);
            if (r < 0)
                return r;
            if (r > 0) {
                char c;
                ssize_t n;
                do
                    n = read((int)p->aux, &c, 1);
                while (n < 0 && errno == EINTR);
                /* End of file: the child's descriptors are gone, it is ending. The status may lag
                 * a moment behind, or the child exec'd something that now runs without our pipe:
                 * naps from here on. */
                if (n <= 0)
                    pipe_done = 1;
            }
        } else {
            long nap = left >= 0 && left < backoff ? left : backoff;
            mproc__os_sleep_ms(nap);
            if (backoff < BACKOFF_MAX_MS)
                backoff *= 2;
        }
    }
}

long mproc__os_read_ready(mproc__handle h, void *buf, size_t cap)
{
    ssize_t n;
    int r;

    if (h < 0 || h > INT_MAX || cap == 0)
        return 0;
    r = mproc__posix_poll_one((int)h, POLLIN, 0);
    if (r <= 0)
        return r;
    do
        n = read((int)h, buf, cap);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return mproc__sys_error(errno);
    return (long)n;
}

int mproc__os_signal(mproc__proc *p, int hard)
{
    int r;
    assert(p != NULL);

    if (p->pid <= 0)
        return MPROC_EINVAL;
    /* After the reap the pid may already name another process. */
    pthread_mutex_lock(&reap_lock);
    r = p->reaped;
    pthread_mutex_unlock(&reap_lock);
    if (r)
        return MPROC_OK;
#if defined(__linux__) && defined(SYS_pidfd_send_signal)
    /* By the pidfd where there is one: an application that reaps children itself may already
     * have freed the pid for another process. */
    if (p->h != MPROC__INVALID_HANDLE) {
        if (syscall(SYS_pidfd_send_signal, (int)p->h, hard ? SIGKILL : SIGTERM, NULL, 0u) == 0 ||
            errno == ESRCH)
            return MPROC_OK;
        if (errno != ENOSYS && errno != EPERM)
            return mproc__sys_error(errno);
    }
#endif
    if (kill((pid_t)p->pid, hard ? SIGKILL : SIGTERM) != 0) {
        if (errno == ESRCH)
            return MPROC_OK;
        return mproc__sys_error(errno);
    }
    return MPROC_OK;
}

void mproc__os_proc_close(mproc__proc *p)
{
    if (p == NULL)
        return;
    mproc__os_close(p->h);
    mproc__os_close(p->aux);
    p->h = p->aux = MPROC__INVALID_HANDLE;
}
