/* mproc_wait()'s OS part on POSIX: one poll() over every descriptor the items gave (no cap but
 * the process's descriptor limit), or on Linux past EPOLL_FROM descriptors an epoll set made for
 * the sleep (a wake then costs what fired, not a second pass over all of them, so a wait on 1000
 * objects wakes about as fast as one on a single one); and a pipe as the notifier of a sleeping
 * wait. */
#define _GNU_SOURCE
#include "posix.h"
#include "../sync/waitable.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
    #include <sys/epoll.h>
    #define EPOLL_FROM 64
#endif

struct mproc__notifier {
    mproc__handle rd, wr;
};

int mproc__os_notifier_create(mproc__notifier **out)
{
    mproc__notifier *n = mproc__malloc(sizeof *n);
    int r;
    if (n == NULL)
        return MPROC_ENOMEM;
    r = mproc__os_pipe(&n->rd, &n->wr);
    if (r < 0) {
        mproc__free(n);
        return r;
    }
    /* Never blocks: a full pipe already says "look again". */
    fcntl((int)n->rd, F_SETFL, fcntl((int)n->rd, F_GETFL) | O_NONBLOCK);
    fcntl((int)n->wr, F_SETFL, fcntl((int)n->wr, F_GETFL) | O_NONBLOCK);
    *out = n;
    return MPROC_OK;
}

mproc__handle mproc__os_notifier_handle(mproc__notifier *n)
{
    return n->rd;
}

void mproc__os_notifier_signal(mproc__notifier *n)
{
    char c = 1;
    ssize_t w;
    int saved = errno;
    do
        w = write((int)n->wr, &c, 1);
    while (w < 0 && errno == EINTR);
    errno = saved;
}

void mproc__os_notifier_clear(mproc__notifier *n)
{
    char buf[64];
    int saved = errno;
    while (read((int)n->rd, buf, sizeof buf) > 0) {
    }
    errno = saved;
}

void mproc__os_notifier_destroy(mproc__notifier *n)
{
    if (n == NULL)
        return;
    mproc__os_close(n->rd);
    mproc__os_close(n->wr);
    mproc__free(n);
}

static int poll_left(uint64_t start, long timeout_ms)
{
    long left = timeout_ms;
    if (timeout_ms > 0) {
        uint64_t spent = mproc__os_now_ms() - start;
        left = spent >= (uint64_t)timeout_ms ? 0 : (long)((uint64_t)timeout_ms - spent);
    }
    return left > INT_MAX ? INT_MAX : (int)left;
}

#if defined(__linux__)
/* ---- closing an epoll set off the caller's path ----
 * Closing a set of 1000 descriptors costs about a millisecond and a half (the kernel unhooks
 * each), more than the wake itself: a thread of the library's closes them instead, started when
 * needed and gone after CLOSER_IDLE_MS without work. It is not woken for each set: woken at
 * once, the scheduler tends to run it on the waker's CPU, and the wait that just woke then
 * returns only after the close (measured: 1.9 ms for 1000 processes against 0.6 ms). It closes
 * what has queued CLOSER_DELAY_MS after its last round (CLOSER_IDLE_MS when it was idle), or at
 * once past CLOSER_BATCH sets, which bounds the descriptors a loop of waits holds. */
    #define CLOSER_IDLE_MS 200
    #define CLOSER_DELAY_MS 10
    #define CLOSER_BATCH 16

static pthread_mutex_t closer_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t closer_cv = PTHREAD_COND_INITIALIZER;
static int *closer_q;
static size_t closer_n, closer_cap;
static int closer_running;
/* The process whose thread it is: a fork child has no such thread, and leaves the whole closer
 * alone (its mutex may have been held at the fork): it closes its sets itself. */
static volatile pid_t closer_pid;

static void *closer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&closer_mu);
    for (;;) {
        /* A short nap when there is work (the wait that queued it has returned by then), a
         * long one when there is none, after which the thread ends. */
        long ms = closer_n > 0 ? CLOSER_DELAY_MS : CLOSER_IDLE_MS;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += ms * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (closer_n < CLOSER_BATCH)
            pthread_cond_timedwait(&closer_cv, &closer_mu, &ts);
        if (closer_n == 0) {
            closer_running = 0;
            break;
        }
        while (closer_n > 0) {
            int fd = closer_q[--closer_n];
            pthread_mutex_unlock(&closer_mu);
            mproc__os_close(fd);
            pthread_mutex_lock(&closer_mu);
        }
    }
    pthread_mutex_unlock(&closer_mu);
    return NULL;
}

static void close_later(int fd)
{
    pid_t self = getpid(), owner = __atomic_load_n(&closer_pid, __ATOMIC_ACQUIRE);
    if (owner == 0 && __atomic_compare_exchange_n(&closer_pid, &owner, self, 0, __ATOMIC_ACQ_REL,
                                                  __ATOMIC_ACQUIRE))
        owner = self;
    if (owner != self) {
        mproc__os_close(fd);
        return;
    }
    pthread_mutex_lock(&closer_mu);
    if (closer_n == closer_cap) {
        void *g = mproc__grow(closer_q, &closer_cap, closer_n + 1, sizeof *closer_q, 8);
        if (g == NULL) {
            pthread_mutex_unlock(&closer_mu);
            mproc__os_close(fd);
            return;
        }
        closer_q = g;
    }
    closer_q[closer_n++] = fd;
    if (!closer_running) {
        pthread_t t;
        pthread_attr_t a;
        sigset_t all, old;
        int e;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        /* No signal of the application's lands on it. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        e = pthread_create(&t, &a, closer_main, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&a);
        if (e != 0) {
            closer_n--;
            pthread_mutex_unlock(&closer_mu);
            mproc__os_close(fd);
            return;
        }
        closer_running = 1;
    } else if (closer_n >= CLOSER_BATCH) {
        pthread_cond_signal(&closer_cv);
    }
    pthread_mutex_unlock(&closer_mu);
}

/* The epoll form: MPROC_ENOTSUP when the set cannot be made (poll then serves). */
static int wait_epoll(const mproc__handle *h, size_t n, long timeout_ms, unsigned char *fired)
{
    struct epoll_event ev[64];
    uint64_t start = mproc__os_now_ms();
    int ep, r, k;
    size_t i, j;

    mproc__posix_reg_lock();
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep >= 0 && mproc__posix_reg_add_locked(ep) != MPROC_OK) {
        close(ep);
        ep = -1;
    }
    mproc__posix_reg_unlock();
    if (ep < 0)
        return MPROC_ENOTSUP;
    for (i = 0; i < n; i++) {
        struct epoll_event e;
        if (h[i] < 0 || h[i] > INT_MAX)
            continue;
        memset(&e, 0, sizeof e);
        e.events = EPOLLIN;
        e.data.u64 = i;
        /* EEXIST: the same descriptor twice; both are marked below. */
        if (epoll_ctl(ep, EPOLL_CTL_ADD, (int)h[i], &e) != 0 && errno != EEXIST) {
            mproc__os_close(ep);
            return MPROC_ENOTSUP;
        }
    }
    do
        r = epoll_wait(ep, ev, (int)(sizeof ev / sizeof ev[0]), poll_left(start, timeout_ms));
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        r = mproc__sys_error(errno);
    } else if (fired != NULL) {
        for (k = 0; k < r; k++) {
            mproc__handle fd = h[ev[k].data.u64];
            fired[ev[k].data.u64] = 1;
            for (j = 0; j < n; j++)
                if (h[j] == fd)
                    fired[j] = 1;
        }
    }
    close_later(ep);
    return r;
}
#endif

int mproc__os_wait_handles(const mproc__handle *h, size_t n, long timeout_ms, unsigned char *fired)
{
    struct pollfd *p;
    uint64_t start = mproc__os_now_ms();
    size_t i;
    int r;

    if (n == 0) {
        if (timeout_ms < 0)
            return MPROC_EINVAL;
        mproc__os_sleep_ms(timeout_ms);
        return 0;
    }
#if defined(__linux__)
    if (n >= EPOLL_FROM && timeout_ms != 0) {
        r = wait_epoll(h, n, timeout_ms, fired);
        if (r != MPROC_ENOTSUP)
            return r;
    }
#endif
    if (n > (size_t)INT_MAX / sizeof *p)
        return MPROC_ENOMEM;
    p = mproc__malloc(n * sizeof *p);
    if (p == NULL)
        return MPROC_ENOMEM;
    for (i = 0; i < n; i++) {
        p[i].fd = h[i] >= 0 && h[i] <= INT_MAX ? (int)h[i] : -1;
        p[i].events = POLLIN;
        p[i].revents = 0;
    }
    for (;;) {
        r = poll(p, (nfds_t)n, poll_left(start, timeout_ms));
        if (r >= 0 || errno != EINTR)
            break;
    }
    if (r < 0) {
        r = mproc__sys_error(errno);
    } else if (r > 0 && fired != NULL) {
        for (i = 0; i < n; i++)
            fired[i] = p[i].revents != 0;
    }
    mproc__free(p);
    return r;
}
