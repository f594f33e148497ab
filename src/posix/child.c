/* The spawned child's side: recognising the marker, daemon setup, and the way out. */
#define _GNU_SOURCE
#include "posix.h"

#include "../ipc/share.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__linux__)
    #include <sys/prctl.h>
    #include <sys/syscall.h>
#endif

/* The marker said the thread that started us outlives us (see mproc__os_child_setup). */
static int owner_lasts;
/* Test hook (mproc__guard_test_no_cmdline): the OS's command line is not read, as on a system
 * that does not show it, so the environment's channel is the one left. */
static int test_no_cmdline;

extern char **environ;

void mproc__guard_test_no_cmdline(int on)
{
    test_no_cmdline = on != 0;
}

/* Takes over a descriptor the parent handed down: close-on-exec again, so a program this child
 * runs does not hold our pipe, and registered, so a child it forks closes it. */
static int adopt(int fd)
{
    int flags = fcntl(fd, F_GETFD);
    int r;

    if (flags < 0)
        return -1;
    if (!(flags & FD_CLOEXEC))
        fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    mproc__posix_reg_lock();
    r = mproc__posix_reg_add_locked(fd);
    mproc__posix_reg_unlock();
    /* Unregistered, the descriptor still works; only a fork from this child would keep it. */
    (void)r;
    return 0;
}

/* A spawned child starts clean, as Python's spawn does: descriptors the parent opened without
 * close-on-exec (its files, another library's pipes, what its own parent passed on) are closed,
 * all but stdio, the channel and the descriptors of the objects handed to it. keep[] is sorted,
 * each entry 3 or above. */
/* close_range(2) (Linux 5.9) around the descriptors to keep: no directory walk, no buffer. 1
 * when it did the job. */
static int close_ranges(const int *keep, size_t n)
{
#if defined(__linux__) && defined(SYS_close_range)
    unsigned int from = 3;
    size_t i;
    for (i = 0; i <= n; i++) {
        unsigned int last = i < n ? (unsigned int)keep[i] - 1u : ~0u;
        if (i < n && (unsigned int)keep[i] < from)
            continue;
        if ((i == n || (unsigned int)keep[i] > from) &&
            syscall(SYS_close_range, from, last, 0u) != 0)
            return 0;
        if (i < n)
            from = (unsigned int)keep[i] + 1u;
    }
    return 1;
#else
    (void)keep;
    (void)n;
    return 0;
#endif
}

static int kept(const int *keep, size_t n, long fd)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (keep[i] == fd)
            return 1;
    return 0;
}

static void close_inherited(const int *keep, size_t nkeep)
{
    long max = sysconf(_SC_OPEN_MAX), fd;
    DIR *d;

    if (close_ranges(keep, nkeep))
        return;
    d = opendir("/proc/self/fd");
    if (d != NULL) {
        int fds[1024], n = 0, i, dfd = dirfd(d);
        struct dirent *e;
        int more = 1;
        /* Collected first: closing while reading the directory would disturb the walk. */
        while (more) {
            n = 0;
            more = 0;
            rewinddir(d);
            while ((e = readdir(d)) != NULL) {
                long v = strtol(e->d_name, NULL, 10);
                if (e->d_name[0] < '0' || e->d_name[0] > '9' || v < 3 || v == dfd ||
                    kept(keep, nkeep, v))
                    continue;
                if (n == (int)(sizeof fds / sizeof fds[0])) {
                    more = 1;
                    break;
                }
                fds[n++] = (int)v;
            }
            for (i = 0; i < n; i++)
                close(fds[i]);
        }
        closedir(d);
        return;
    }
    if (max < 0 || max > 65536)
        max = 65536;
    for (fd = 3; fd < max; fd++)
        if (!kept(keep, nkeep, fd))
            close((int)fd);
}

/* The channel take_marker found, kept by mproc__os_child_clean. */
static int chan_fd[3] = {-1, -1, -1};

int mproc__os_child_clean(const mproc__handle *keep, size_t n)
{
    int small[16], *all = small;
    size_t i, j, m = 0;
    int r = MPROC_OK;

    if (n + 3 > sizeof small / sizeof small[0]) {
        all = mproc__malloc((n + 3) * sizeof *all);
        if (all == NULL)
            return MPROC_ENOMEM;
    }
    for (i = 0; i < 3; i++)
        if (chan_fd[i] >= 3)
            all[m++] = chan_fd[i];
    for (i = 0; i < n; i++) {
        /* An object's descriptor must be one we were given, and not the channel. */
        if (keep[i] < 3 || keep[i] > INT_MAX || fcntl((int)keep[i], F_GETFD) < 0 ||
            kept(all, m, (long)keep[i])) {
            r = MPROC_EPROTO;
            goto finish;
        }
        all[m++] = (int)keep[i];
    }
    /* Sorted, for close_range. */
    for (i = 1; i < m; i++) {
        int v = all[i];
        for (j = i; j > 0 && all[j - 1] > v; j--)
            all[j] = all[j - 1];
        all[j] = v;
    }
    close_inherited(all, m);
    for (i = 0; i < n; i++)
        adopt((int)keep[i]);

finish:
    if (all != small)
        mproc__free(all);
    return r;
}

/* A descriptor of the marker: -1 (allowed only when optional) or one that fits an int. */
static int fd_value(intptr_t v, int optional)
{
    return (v >= 0 || (optional && v == -1)) && v <= INT_MAX;
}

int mproc__os_marker_take(const mproc__marker *m, mproc__handle *in, mproc__handle *out,
                          mproc__handle *extra)
{
    int fin, fout, fextra, lasting;

    assert(m != NULL && in != NULL && out != NULL && extra != NULL);
    if (!fd_value(m->in, 0) || !fd_value(m->out, 1) || !fd_value(m->extra, 1))
        return 0;
    fin = (int)m->in;
    fout = (int)m->out;
    fextra = (int)m->extra;
    lasting = strcmp(m->tail, MPROC__POSIX_MARKER_LASTING) == 0;
    if (!lasting && *m->tail != '\0')
        return 0;
    if (fin == fout || (fextra >= 0 && (fextra == fin || fextra == fout)))
        return 0;
    /* A marker naming descriptors we were not given is not ours (someone typed it). */
    if (fcntl(fin, F_GETFD) < 0 || (fout >= 0 && fcntl(fout, F_GETFD) < 0) ||
        (fextra >= 0 && fcntl(fextra, F_GETFD) < 0))
        return 0;
    /* What else it inherited is closed once the bootstrap record has said which descriptors
     * of objects handed to it to keep (mproc__os_child_clean). */
    chan_fd[0] = fin;
    chan_fd[1] = fout;
    chan_fd[2] = fextra;
    adopt(fin);
    if (fout >= 0)
        adopt(fout);
    if (fextra >= 0)
        adopt(fextra);
    owner_lasts = lasting;
    /* The role is taken: what this child runs (system(), a program it spawns) must not find the
     * variable and take it for a channel of its own. */
    unsetenv(MPROC__POSIX_CHILD_ENV);
    *in = fin;
    *out = fout >= 0 ? (mproc__handle)fout : MPROC__INVALID_HANDLE;
    *extra = fextra >= 0 ? (mproc__handle)fextra : MPROC__INVALID_HANDLE;
    return 1;
}

/* The process's own argv[1] as the kernel keeps it, whatever main's argv has become: 1 with it
 * in buf (cut to cap - 1 bytes), 0 when there is none or the system does not tell. mproc__os_spawn
 * puts the marker there, and a marker is short, so only its first bytes matter. */
static int own_arg1(char *buf, size_t cap)
{
#if defined(__linux__)
    char chunk[512];
    size_t got = 0;
    int fd, arg = 0;
    ssize_t n;

    if (test_no_cmdline)
        return 0;
    do {
        fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return 0;
    /* argv[0] may be a long path: walk the NUL-separated list to the second entry. */
    while (arg < 2) {
        ssize_t i;
        n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (i = 0; i < n && arg < 2; i++) {
            if (arg == 0) {
                if (chunk[i] == '\0')
                    arg = 1;
            } else if (chunk[i] == '\0') {
                arg = 2;
            } else if (got + 1 < cap) {
                buf[got++] = chunk[i];
            }
        }
    }
    close(fd);
    if (arg == 0)
        return 0;
    buf[got] = '\0';
    return got > 0;
#else
    /* Other systems show another process's arguments only through calls of their own
     * (sysctl KERN_PROCARGS2): there argv is the channel, as before. */
    (void)buf;
    (void)cap;
    return 0;
#endif
}

/* The marker the parent put in the environment ("<parent pid>:<marker>"): 1 with it in buf. It
 * counts only while that parent is ours: a program our parent's child starts inherits the
 * variable, and that program's parent is another process. */
static int env_marker(char *buf, size_t cap)
{
    const char *v = getenv(MPROC__POSIX_CHILD_ENV);
    char *end;
    long pid;
    size_t n;

    if (v == NULL)
        return 0;
    pid = strtol(v, &end, 10);
    if (end == v || *end != ':' || pid <= 0 || pid != (long)getppid())
        return 0;
    n = strlen(end + 1);
    if (n == 0 || n >= cap)
        return 0;
    memcpy(buf, end + 1, n + 1);
    return 1;
}

int mproc__os_marker_text(int i, char *buf, size_t cap)
{
    if (i == 0)
        return own_arg1(buf, cap);
    if (i == 1)
        return env_marker(buf, cap);
    return -1;
}

char **mproc__posix_spawn_env(const char *marker)
{
    size_t name_len = sizeof MPROC__POSIX_CHILD_ENV - 1;
    size_t n = 0, i, k = 0, text;
    char **env, *var;
    int len;

    while (environ != NULL && environ[n] != NULL)
        n++;
    /* "NAME=" + pid (at most 20 digits) + ':' + marker + NUL */
    text = name_len + 1 + 21 + 1 + strlen(marker) + 1;
    env = mproc__malloc((n + 2) * sizeof *env + text);
    if (env == NULL)
        return NULL;
    var = (char *)(env + n + 2);
    len = snprintf(var, text, "%s=%ld:%s", MPROC__POSIX_CHILD_ENV, (long)getpid(), marker);
    if (len < 0 || (size_t)len >= text) {
        mproc__free(env);
        return NULL;
    }
    /* A value this process inherited itself (as a spawned child) is replaced, not repeated. */
    for (i = 0; i < n; i++)
        if (!(strncmp(environ[i], MPROC__POSIX_CHILD_ENV, name_len) == 0 &&
              environ[i][name_len] == '='))
            env[k++] = environ[i];
    env[k++] = var;
    env[k] = NULL;
    return env;
}

#if defined(__linux__)
/* The parent's pid, for the handler below (set before the handler is installed). */
static volatile long daemon_parent;

/* PR_SET_PDEATHSIG fires when the thread that started us ends, not the process: the kernel
 * hands us to another thread of the same process and signals us. Only a new parent process
 * (init or a subreaper) means the parent died. */
static void on_parent_thread_end(int sig)
{
    int saved = errno;
    (void)sig;
    if ((long)getppid() != daemon_parent)
        kill(getpid(), SIGKILL);
    errno = saved;
}
#endif

void mproc__os_child_setup(int daemon, long parent_pid)
{
#if defined(__linux__)
    int sig = SIGKILL;

    if (daemon == MPROC__DAEMON_NONE)
        return;
    if (daemon == MPROC__DAEMON_PROCESS && !owner_lasts) {
        /* Started by a thread that may end before us: the notice comes as a signal we can
         * check, and SIGKILL follows only when the process itself is gone. */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_parent_thread_end;
        sa.sa_flags = SA_RESTART;
        sigfillset(&sa.sa_mask);
        daemon_parent = parent_pid;
        sig = MPROC__POSIX_PDEATH_SIGNAL;
        sigaction(sig, &sa, NULL);
    }
    prctl(PR_SET_PDEATHSIG, sig);
    /* The parent may have ended before the request took effect: then nothing will signal us. */
    if (parent_pid > 0 && (long)getppid() != parent_pid) {
        kill(getpid(), SIGKILL);
        _exit(1);
    }
#else
    /* Other systems have no parent-death signal: there a daemon child outlives a parent that
     * ends without stopping it (a crash, _exit). */
    (void)daemon;
    (void)parent_pid;
#endif
}

void mproc__os_exit(int code)
{
    fflush(NULL);
    _exit(code & 0xff);
}
