/* The pool's event loop: one poll() over every worker's pipes and a wake descriptor. */
#define _GNU_SOURCE
#include "posix.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#if defined(__linux__)
    #include <sys/eventfd.h>
#endif

/* Room offered to each read: a whole default pipe buffer in one call. */
#define READ_CHUNK (64u * 1024u)
/* What one chan may read in one run, so a big result does not starve the other workers. */
#define READ_BUDGET (4u * 1024u * 1024u)
/* Without a pidfd, how often waitpid is asked whether a watched process has ended: its pipes
 * may be held open by a process it forked, so their end of file cannot tell. */
#define REAP_SLICE_MS 200
/* pollfd entries per chan: its read end, its write end, its process. */
#define PFDS_PER_CHAN 3

typedef struct chan_os {
    mproc__chan *c;
    int rd, wr;
    size_t index;      /* in the loop's table */
    int closing;       /* close wr once out has drained */
    int more;          /* the read budget ran out: input is probably waiting */
    mproc__proc *proc; /* watched (mproc__os_loop_watch), or NULL */
} chan_os;

struct mproc__loop {
    int wake_rd, wake_wr; /* one eventfd on Linux, else a self-pipe */
    pthread_mutex_t wake_lock;
    int wake_pending; /* a wake is written and not yet drained: later ones need not write */
    chan_os **chans;
    size_t n, cap;
    struct pollfd *pfds; /* 1 + PFDS_PER_CHAN * cap entries */
    uint64_t next_reap;  /* when to ask waitpid about processes without a pidfd */
    chan_os **pchan;     /* the chan of each pfds entry (NULL for the wake descriptor) */
};

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    if (fl & O_NONBLOCK)
        return 0;
    return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* A registered descriptor created under the registry lock, as every one of ours is. */
static int make_wake(mproc__loop *l)
{
    int r;

    mproc__posix_reg_lock();
#if defined(__linux__)
    l->wake_rd = l->wake_wr = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->wake_rd < 0) {
        r = mproc__sys_error(errno);
        goto finish;
    }
    r = mproc__posix_reg_add_locked(l->wake_rd);
    if (r < 0) {
        close(l->wake_rd);
        l->wake_rd = l->wake_wr = -1;
    }
#else
    {
        int fds[2];
        if (pipe(fds) != 0) {
            r = mproc__sys_error(errno);
            goto finish;
        }
        if (fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0 ||
            set_nonblock(fds[0]) != 0 || set_nonblock(fds[1]) != 0) {
            r = mproc__sys_error(errno);
            close(fds[0]);
            close(fds[1]);
            goto finish;
        }
        r = mproc__posix_reg_add_locked(fds[0]);
        if (r == MPROC_OK)
            r = mproc__posix_reg_add_locked(fds[1]);
        if (r < 0) {
            mproc__posix_reg_remove_locked(fds[0]);
            close(fds[0]);
            close(fds[1]);
            goto finish;
        }
        l->wake_rd = fds[0];
        l->wake_wr = fds[1];
    }
#endif
finish:
    mproc__posix_reg_unlock();
    return r;
}

int mproc__os_loop_create(mproc__loop **out)
{
    mproc__loop *l;
    int r;
    assert(out != NULL);

    *out = NULL;
    l = mproc__calloc(1, sizeof *l);
    if (l == NULL)
        return MPROC_ENOMEM;
    l->wake_rd = l->wake_wr = -1;
    r = pthread_mutex_init(&l->wake_lock, NULL);
    if (r != 0) {
        mproc__free(l);
        return mproc__sys_error(r);
    }
    l->pfds = mproc__malloc(sizeof *l->pfds);
    l->pchan = mproc__malloc(sizeof *l->pchan);
    if (l->pfds == NULL || l->pchan == NULL) {
        r = MPROC_ENOMEM;
        goto fail;
    }
    r = make_wake(l);
    if (r < 0)
        goto fail;
    *out = l;
    return MPROC_OK;

fail:
    mproc__free(l->pfds);
    mproc__free(l->pchan);
    pthread_mutex_destroy(&l->wake_lock);
    mproc__free(l);
    return r;
}

static void close_chan(chan_os *co)
{
    mproc__os_close(co->rd);
    mproc__os_close(co->wr);
    co->rd = co->wr = -1;
}

void mproc__os_loop_destroy(mproc__loop *l)
{
    size_t i;

    if (l == NULL)
        return;
    /* Chans still in: their descriptors are ours to close; the chans themselves are the
     * caller's and may be gone already, so they are not touched. */
    for (i = 0; i < l->n; i++) {
        close_chan(l->chans[i]);
        mproc__free(l->chans[i]);
    }
    mproc__os_close(l->wake_rd);
    if (l->wake_wr != l->wake_rd)
        mproc__os_close(l->wake_wr);
    pthread_mutex_destroy(&l->wake_lock);
    mproc__free(l->chans);
    mproc__free(l->pfds);
    mproc__free(l->pchan);
    mproc__free(l);
}

/* Room for one more chan in every table, so that run never allocates but for input. */
static int grow(mproc__loop *l)
{
    size_t cap;
    void *p;

    if (l->n < l->cap)
        return MPROC_OK;
    cap = l->cap ? l->cap * 2 : 8;
    if (cap > (SIZE_MAX / sizeof(struct pollfd) - 1) / PFDS_PER_CHAN)
        return MPROC_ENOMEM;
    p = mproc__realloc(l->chans, cap * sizeof *l->chans);
    if (p == NULL)
        return MPROC_ENOMEM;
    l->chans = p;
    p = mproc__realloc(l->pfds, (1 + PFDS_PER_CHAN * cap) * sizeof *l->pfds);
    if (p == NULL)
        return MPROC_ENOMEM;
    l->pfds = p;
    p = mproc__realloc(l->pchan, (1 + PFDS_PER_CHAN * cap) * sizeof *l->pchan);
    if (p == NULL)
        return MPROC_ENOMEM;
    l->pchan = p;
    l->cap = cap;
    return MPROC_OK;
}

static int handle_fd(mproc__handle h)
{
    return h >= 0 && h <= INT_MAX ? (int)h : -1;
}

/* On failure rd and wr are closed all the same: ownership passes at the call. */
int mproc__os_loop_add(mproc__loop *l, mproc__chan *c, mproc__handle rd, mproc__handle wr)
{
    chan_os *co = NULL;
    int r;
    assert(l != NULL && c != NULL);

    r = grow(l);
    if (r < 0)
        goto fail;
    co = mproc__malloc(sizeof *co);
    if (co == NULL) {
        r = MPROC_ENOMEM;
        goto fail;
    }
    co->c = c;
    co->rd = handle_fd(rd);
    co->wr = handle_fd(wr);
    co->closing = 0;
    co->more = 0;
    co->proc = NULL;
    /* Only our ends turn nonblocking: each end of a pipe is its own open file, so the child's
     * ends stay blocking. */
    if ((co->rd >= 0 && set_nonblock(co->rd) != 0) || (co->wr >= 0 && set_nonblock(co->wr) != 0)) {
        r = mproc__sys_error(errno);
        goto fail;
    }
    if (co->rd < 0)
        c->eof = 1;
    co->index = l->n;
    l->chans[l->n++] = co;
    c->os = co;
    return MPROC_OK;

fail:
    mproc__free(co);
    mproc__os_close(rd);
    mproc__os_close(wr);
    return r;
}

int mproc__os_loop_watch(mproc__loop *l, mproc__chan *c, mproc__proc *proc)
{
    assert(l != NULL && c != NULL && proc != NULL);
    if (c->os == NULL)
        return MPROC_EINVAL;
    ((chan_os *)c->os)->proc = proc;
    return MPROC_OK;
}

void mproc__os_loop_remove(mproc__loop *l, mproc__chan *c)
{
    chan_os *co;

    if (l == NULL || c == NULL || c->os == NULL)
        return;
    co = c->os;
    close_chan(co);
    l->chans[co->index] = l->chans[--l->n];
    l->chans[co->index]->index = co->index;
    mproc__free(co);
    c->os = NULL;
}

static void close_wr(chan_os *co)
{
    mproc__os_close(co->wr);
    co->wr = -1;
    co->closing = 0;
}

void mproc__os_loop_shutdown(mproc__loop *l, mproc__chan *c)
{
    chan_os *co;

    (void)l;
    if (c == NULL || c->os == NULL)
        return;
    co = c->os;
    if (co->wr < 0)
        return;
    if (mproc__buf_avail(&c->out) == 0)
        close_wr(co);
    else
        co->closing = 1;
}

int mproc__os_loop_send_now(mproc__loop *l, mproc__chan *c, const void *frame, size_t len)
{
    chan_os *co;

    (void)l;
    /* Up to PIPE_BUF bytes go into a pipe whole or not at all, so a frame is never torn; a
     * worker that has gone shows as EPIPE, without a SIGPIPE to the caller's thread. */
    if (c == NULL || (co = c->os) == NULL || co->wr < 0 || len > MPROC__SEND_NOW_MAX ||
        len > PIPE_BUF || mproc__buf_avail(&c->out) != 0)
        return MPROC_ESTATE;
    return mproc__os_write_all(co->wr, frame, len) == MPROC_OK ? MPROC_OK : MPROC_ESTATE;
}

void mproc__os_loop_wake(mproc__loop *l)
{
    int write_it;

    if (l == NULL)
        return;
    pthread_mutex_lock(&l->wake_lock);
    write_it = !l->wake_pending;
    l->wake_pending = 1;
    pthread_mutex_unlock(&l->wake_lock);
    if (write_it) {
#if defined(__linux__)
        uint64_t one = 1;
        ssize_t n;
        do
            n = write(l->wake_wr, &one, sizeof one);
        while (n < 0 && errno == EINTR);
#else
        char one = 1;
        ssize_t n;
        do
            n = write(l->wake_wr, &one, 1);
        while (n < 0 && errno == EINTR);
#endif
        /* EAGAIN: the counter or the pipe is full, so a wake is pending anyway. */
        (void)n;
    }
}

static void drain_wake(mproc__loop *l)
{
    pthread_mutex_lock(&l->wake_lock);
    /* A wake that comes between the drain and the flag's reset writes again: the worst is one
     * spurious return, never a lost wake. */
#if defined(__linux__)
    {
        uint64_t count; /* one read empties the counter */
        ssize_t n;
        do
            n = read(l->wake_rd, &count, sizeof count);
        while (n < 0 && errno == EINTR);
    }
#else
    {
        unsigned char buf[64];
        ssize_t n;
        do
            n = read(l->wake_rd, buf, sizeof buf);
        while (n > 0 || (n < 0 && errno == EINTR));
    }
#endif
    l->wake_pending = 0;
    pthread_mutex_unlock(&l->wake_lock);
}

/* Writes what the pipe takes now. A short write means the pipe is full: poll says when it has
 * room again, so no write is spent learning EAGAIN. */
static void flush_out(chan_os *co)
{
    mproc__buf *out = &co->c->out;
    size_t avail = mproc__buf_avail(out);

    if (co->wr < 0) {
        /* The child cannot read any more: what was meant for it goes nowhere. */
        if (avail > 0)
            mproc__buf_consume(out, avail);
        return;
    }
    while (avail > 0) {
        ssize_t n = write(co->wr, out->data + out->pos, avail > SSIZE_MAX ? SSIZE_MAX : avail);
        if (n > 0) {
            mproc__buf_consume(out, (size_t)n);
            if ((size_t)n < avail)
                break;
            avail = mproc__buf_avail(out);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        /* EPIPE (the child is gone) or worse: drop the output and the write side; reading
         * goes on, so the front end still gets what the child said and its end of file. */
        mproc__buf_consume(out, avail);
        close_wr(co);
        return;
    }
    if (co->closing && mproc__buf_avail(out) == 0)
        close_wr(co);
}

/* Reads what is there into in, up to the budget. MPROC_OK or MPROC_ENOMEM. */
static int fill_in(chan_os *co)
{
    mproc__chan *c = co->c;
    mproc__buf *in = &c->in;
    size_t budget = READ_BUDGET;
    int grew = 0, r = MPROC_OK;

    co->more = 0;
    for (;;) {
        size_t room;
        ssize_t n;

        r = mproc__buf_reserve(in, READ_CHUNK);
        if (r < 0)
            break;
        room = in->cap - in->len;
        if (room > budget)
            room = budget;
        if (room > SSIZE_MAX)
            room = SSIZE_MAX;
        n = read(co->rd, in->data + in->len, room);
        if (n > 0) {
            in->len += (size_t)n;
            budget -= (size_t)n;
            grew = 1;
            if (budget == 0) {
                co->more = 1;
                break;
            }
            /* Less than offered: the pipe is empty now; poll tells when it fills again. */
            if ((size_t)n < room)
                break;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        /* End of file, or a read error that no retry will mend. */
        c->eof = 1;
        grew = 1;
        break;
    }
    if (grew)
        c->news = 1;
    return r;
}

/* The watched process of co has ended: everything it wrote before is in the pipe now, and is
 * read whole (past the budget) before the front end hears of the end. */
static int mark_exited(chan_os *co)
{
    int r = MPROC_OK;
    while (co->rd >= 0 && !co->c->eof && r == MPROC_OK) {
        r = fill_in(co);
        if (!co->more)
            break;
    }
    co->c->exited = 1;
    co->c->news = 1;
    return r;
}

static int watched(const chan_os *co)
{
    return co->proc != NULL && !co->c->exited;
}

/* Processes without a pidfd: waitpid says whether they have ended (and reaps them). */
static int ask_waitpid(mproc__loop *l)
{
    uint64_t now = mproc__os_now_ms();
    size_t i;
    int r = MPROC_OK;

    if (now < l->next_reap)
        return MPROC_OK;
    l->next_reap = now + REAP_SLICE_MS;
    for (i = 0; i < l->n; i++) {
        chan_os *co = l->chans[i];
        if (watched(co) && co->proc->h == MPROC__INVALID_HANDLE &&
            (co->proc->reaped || mproc__os_wait(co->proc, 0) == MPROC_OK)) {
            int mr = mark_exited(co);
            if (mr < 0)
                r = mr;
        }
    }
    return r;
}

int mproc__os_loop_run(mproc__loop *l, long timeout_ms)
{
    size_t i, np = 1;
    int ready = 0, pr, t, news = 0, r = MPROC_OK, slice = 0;
    assert(l != NULL);

    for (i = 0; i < l->n; i++) {
        chan_os *co = l->chans[i];
        if (co->wr >= 0 || mproc__buf_avail(&co->c->out) > 0)
            flush_out(co);
    }

    l->pfds[0].fd = l->wake_rd;
    l->pfds[0].events = POLLIN;
    l->pfds[0].revents = 0;
    l->pchan[0] = NULL;
    for (i = 0; i < l->n; i++) {
        chan_os *co = l->chans[i];
        if (co->rd >= 0 && !co->c->eof) {
            ready |= co->more;
            l->pfds[np].fd = co->rd;
            l->pfds[np].events = POLLIN;
            l->pfds[np].revents = 0;
            l->pchan[np++] = co;
        }
        if (co->wr >= 0 && mproc__buf_avail(&co->c->out) > 0) {
            l->pfds[np].fd = co->wr;
            l->pfds[np].events = POLLOUT;
            l->pfds[np].revents = 0;
            l->pchan[np++] = co;
        }
        if (watched(co) && co->proc->h != MPROC__INVALID_HANDLE) {
            /* A pidfd turns readable once the process has ended. */
            l->pfds[np].fd = (int)co->proc->h;
            l->pfds[np].events = POLLIN;
            l->pfds[np].revents = 0;
            l->pchan[np++] = co;
        } else if (watched(co)) {
            slice = 1;
        }
    }

    if (ready)
        t = 0;
    else if (timeout_ms < 0)
        t = -1;
    else
        t = timeout_ms > INT_MAX ? INT_MAX : (int)timeout_ms;
    if (slice && (t < 0 || t > REAP_SLICE_MS))
        t = REAP_SLICE_MS;
    pr = poll(l->pfds, (nfds_t)np, t);
    if (pr < 0) {
        if (errno != EINTR)
            return mproc__sys_error(errno);
        pr = 0;
    }

    if (l->pfds[0].revents)
        drain_wake(l);
    for (i = 1; i < np; i++) {
        chan_os *co = l->pchan[i];
        short ev = l->pfds[i].revents;
        if (l->pfds[i].fd == co->rd) {
            if (ev || co->more) {
                int fr = fill_in(co);
                if (fr < 0)
                    r = fr;
            }
        } else if (ev && l->pfds[i].fd == co->wr) {
            flush_out(co);
        }
    }
    /* After the reads above: an end seen here is reported with all the process wrote. */
    for (i = 1; i < np; i++) {
        chan_os *co = l->pchan[i];
        if (l->pfds[i].revents && co->proc != NULL && co->proc->h != MPROC__INVALID_HANDLE &&
            l->pfds[i].fd == (int)co->proc->h && !co->c->exited) {
            int mr = mark_exited(co);
            if (mr < 0)
                r = mr;
        }
    }
    if (slice) {
        int mr = ask_waitpid(l);
        if (mr < 0)
            r = mr;
    }
    if (r < 0)
        return r;
    for (i = 0; i < l->n; i++)
        news += l->chans[i]->c->news != 0;
    return news;
}
