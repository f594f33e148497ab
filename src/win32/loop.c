/* The pool's event loop on Windows. Anonymous pipes cannot be waited on, and a wait for many
 * objects stops at 64, so each channel has two small threads doing blocking I/O: a reader that
 * stages what the child sends, and a writer that sends what the loop hands it. The loop's own
 * thread (the only one that touches a mproc__chan) moves bytes between those stages and the
 * channel's buffers under one lock, and sleeps on a condition variable in between. */
#include "win32.h"

#include <assert.h>
#include <string.h>

/* One ReadFile at most this much: a pipe never holds more at once (64 KiB buffer). */
#define READ_CHUNK 65536
/* One WriteFile at most this much (see pipe.c). */
#define WRITE_CHUNK (1u << 20)
/* How long mproc__os_loop_remove keeps cancelling a thread's blocking call before it leaves the
 * thread to finish on its own (when the child ends). */
#define STOP_TRIES 100
#define STOP_WAIT_MS 10
/* A watched process has ended, but its pipe has not: its reader is given this long to stage
 * what the process wrote before it ended (a pipe holds 64 KiB, read in one call), then the end
 * is reported anyway. A process it started keeps the pipe open and would hide the end. */
#define EXIT_GRACE_MS 200

typedef struct wchan wchan;

struct mproc__loop {
    SRWLOCK lock;
    CONDITION_VARIABLE cv; /* the loop thread sleeps here */
    /* The owner, plus one per channel state still alive: a thread that outlives
     * mproc__os_loop_remove still takes the lock, so the loop outlives it. */
    volatile LONG refs;
    int woken;
    wchan *chans;                   /* every channel (the loop thread's list) */
    wchan *ready_head, *ready_tail; /* channels with staged input or end of file */
    int exits;                      /* channels whose process ended, not yet reported */
};

/* The lists, stages and flags are under the loop's lock. rd is the reader's; wr is the
 * writer's, and the loop thread's once the writer has ended. */
struct wchan {
    mproc__loop *loop;
    mproc__chan *c; /* NULL once removed: the threads never touch it */
    wchan *prev, *next;
    wchan *ready_next;
    int ready;
    /* The loop side, the reader and the writer: whoever lets go last closes and frees. */
    volatile LONG refs;
    volatile LONG stop; /* removed: the threads end without touching the loop's lists */

    HANDLE rd, reader;
    mproc__buf staged; /* read, not yet moved to c->in */
    int staged_eof;

    HANDLE wr, writer;
    CONDITION_VARIABLE wcv; /* the writer sleeps here */
    mproc__buf pending;     /* handed over by the loop, not yet written */
    int shutdown;           /* close wr once pending is written */
    int wdone;              /* the writer has ended (wr closed or broken) */

    /* mproc__os_loop_watch: our copy of the process handle, a thread that waits for it (a thread
     * of the channel's own, like the reader and the writer: the system thread pool would keep
     * threads and handles after the pool is gone), and the event that tells it to stop. */
    HANDLE proc, watcher, unwatch;
    int proc_ended;    /* the process has ended (the watcher saw it) */
    uint64_t ended_at; /* when */
};

static void swap_bufs(mproc__buf *a, mproc__buf *b)
{
    mproc__buf t = *a;
    *a = *b;
    *b = t;
}

/* Moves src's unread bytes to the end of dst; src ends up empty. A swap when dst holds
 * nothing, so a big message changes hands without a copy. */
static int move_bytes(mproc__buf *dst, mproc__buf *src)
{
    size_t n = mproc__buf_avail(src);
    int r;
    if (n == 0)
        return MPROC_OK;
    if (mproc__buf_avail(dst) == 0) {
        dst->len = dst->pos = 0;
        swap_bufs(dst, src);
        return MPROC_OK;
    }
    r = mproc__buf_append(dst, src->data + src->pos, n);
    if (r < 0)
        return r;
    src->len = src->pos = 0;
    return MPROC_OK;
}

static void loop_release(mproc__loop *l)
{
    if (InterlockedDecrement(&l->refs) == 0)
        mproc__free(l);
}

static void chan_release(wchan *w)
{
    if (InterlockedDecrement(&w->refs) == 0) {
        mproc__loop *l = w->loop;
        if (w->rd != NULL)
            CloseHandle(w->rd);
        if (w->wr != NULL)
            CloseHandle(w->wr);
        mproc__buf_free(&w->staged);
        mproc__buf_free(&w->pending);
        mproc__free(w);
        loop_release(l);
    }
}

/* Under the lock: queue w for the loop thread and wake it. */
static void mark_ready(mproc__loop *l, wchan *w)
{
    if (w->ready)
        return;
    w->ready = 1;
    w->ready_next = NULL;
    if (l->ready_tail != NULL)
        l->ready_tail->ready_next = w;
    else
        l->ready_head = w;
    l->ready_tail = w;
    WakeConditionVariable(&l->cv);
}

static void unmark_ready(mproc__loop *l, wchan *w)
{
    wchan **pp, *prev = NULL;
    if (!w->ready)
        return;
    for (pp = &l->ready_head; *pp != NULL; prev = *pp, pp = &(*pp)->ready_next) {
        if (*pp == w) {
            *pp = w->ready_next;
            if (l->ready_tail == w)
                l->ready_tail = prev;
            break;
        }
    }
    w->ready = 0;
    w->ready_next = NULL;
}

static unsigned __stdcall reader_main(void *arg)
{
    wchan *w = arg;
    mproc__loop *l = w->loop;
    unsigned char *chunk = mproc__malloc(READ_CHUNK);

    for (;;) {
        DWORD got = 0;
        int eof = 0;
        /* Any failure ends the input, as the end of file does: the child's output is gone
         * (ERROR_BROKEN_PIPE) or mproc__os_loop_remove cancelled the read. */
        if (chunk == NULL || w->stop)
            eof = 1;
        else if (!ReadFile(w->rd, chunk, READ_CHUNK, &got, NULL))
            eof = 1;
        else if (got == 0 && GetFileType(w->rd) != FILE_TYPE_PIPE)
            eof = 1; /* a zero-byte write on a pipe reads as 0 bytes: not the end */
        AcquireSRWLockExclusive(&l->lock);
        if (w->stop) {
            ReleaseSRWLockExclusive(&l->lock);
            break;
        }
        if (got > 0 && mproc__buf_append(&w->staged, chunk, got) < 0)
            eof = 1;
        if (got > 0 || eof) {
            if (eof)
                w->staged_eof = 1;
            mark_ready(l, w);
        }
        ReleaseSRWLockExclusive(&l->lock);
        if (eof)
            break;
    }
    mproc__free(chunk);
    chan_release(w);
    return 0;
}

static int write_all(HANDLE h, const unsigned char *p, size_t len)
{
    while (len > 0) {
        DWORD put = 0, n = len > WRITE_CHUNK ? WRITE_CHUNK : (DWORD)len;
        if (!WriteFile(h, p, n, &put, NULL) || put == 0)
            return 0;
        p += put;
        len -= put;
    }
    return 1;
}

static unsigned __stdcall writer_main(void *arg)
{
    wchan *w = arg;
    mproc__loop *l = w->loop;
    mproc__buf mine = {0};

    AcquireSRWLockExclusive(&l->lock);
    for (;;) {
        int ok;
        while (!w->stop && !w->shutdown && mproc__buf_avail(&w->pending) == 0)
            SleepConditionVariableSRW(&w->wcv, &l->lock, INFINITE, 0);
        if (w->stop)
            break;
        if (mproc__buf_avail(&w->pending) == 0) {
            /* Shut down and drained: the child now reads end of file. */
            CloseHandle(w->wr);
            w->wr = NULL;
            break;
        }
        /* Take all that is pending; the loop refills the (empty) other buffer meanwhile. */
        swap_bufs(&mine, &w->pending);
        ReleaseSRWLockExclusive(&l->lock);
        ok = write_all(w->wr, mine.data + mine.pos, mproc__buf_avail(&mine));
        mine.len = mine.pos = 0;
        AcquireSRWLockExclusive(&l->lock);
        /* The child stopped reading (it ended): what it would have got is dropped, and its
         * end of file on the read side tells the front end. */
        if (!ok)
            break;
    }
    w->wdone = 1;
    ReleaseSRWLockExclusive(&l->lock);
    mproc__buf_free(&mine);
    chan_release(w);
    return 0;
}

int mproc__os_loop_create(mproc__loop **out)
{
    mproc__loop *l = mproc__calloc(1, sizeof *l);
    assert(out != NULL);
    *out = l;
    if (l == NULL)
        return MPROC_ENOMEM;
    InitializeSRWLock(&l->lock);
    InitializeConditionVariable(&l->cv);
    l->refs = 1;
    return MPROC_OK;
}

/* Waits for a thread that was told to stop. One blocked in ReadFile or WriteFile on a pipe
 * whose child still holds the other end is woken by cancelling its I/O; cancel again until it
 * has ended, since a cancel that comes just before the call starts is lost. Returns whether it
 * ended; the handle is closed either way (a thread that could not be woken keeps its
 * reference to the channel and lets go of it when its call returns, once the child ends). */
static int stop_thread(HANDLE t)
{
    int tries, ended = 0;
    for (tries = 0; tries < STOP_TRIES && !ended; tries++) {
        ended = WaitForSingleObject(t, 0) == WAIT_OBJECT_0;
        if (!ended) {
            CancelSynchronousIo(t);
            ended = WaitForSingleObject(t, STOP_WAIT_MS) == WAIT_OBJECT_0;
        }
    }
    CloseHandle(t);
    return ended;
}

/* Ends w's threads, closes its handles and lets go of it; does not touch w->c. */
static void chan_stop(mproc__loop *l, wchan *w)
{
    /* Before the lock, which the watcher takes when the process ends. */
    if (w->watcher != NULL) {
        SetEvent(w->unwatch);
        WaitForSingleObject(w->watcher, INFINITE);
        CloseHandle(w->watcher);
    }
    if (w->unwatch != NULL)
        CloseHandle(w->unwatch);
    if (w->proc != NULL)
        CloseHandle(w->proc);
    w->watcher = w->unwatch = w->proc = NULL;
    AcquireSRWLockExclusive(&l->lock);
    if (w->proc_ended && w->c != NULL && !w->c->exited)
        l->exits--;
    InterlockedExchange(&w->stop, 1);
    unmark_ready(l, w);
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        l->chans = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->c = NULL;
    WakeConditionVariable(&w->wcv);
    ReleaseSRWLockExclusive(&l->lock);

    /* The writer first: once its end is closed the child reads end of file, and a child that
     * then exits ends the reader's ReadFile by itself. */
    if (w->writer == NULL || stop_thread(w->writer)) {
        if (w->wr != NULL)
            CloseHandle(w->wr);
        w->wr = NULL;
    }
    if (w->reader == NULL || stop_thread(w->reader)) {
        if (w->rd != NULL)
            CloseHandle(w->rd);
        w->rd = NULL;
    }
    w->reader = w->writer = NULL;
    chan_release(w);
}

void mproc__os_loop_destroy(mproc__loop *l)
{
    if (l == NULL)
        return;
    /* Channels are removed first by the front end; any left are stopped here. */
    while (l->chans != NULL)
        chan_stop(l, l->chans);
    loop_release(l);
}

/* Lets a thread created by mproc__os_loop_add run; on failure it is told to end first. */
static void resume(HANDLE t)
{
    if (t != NULL)
        ResumeThread(t);
}

int mproc__os_loop_add(mproc__loop *l, mproc__chan *c, mproc__handle rd, mproc__handle wr)
{
    wchan *w = mproc__calloc(1, sizeof *w);
    DWORD err;
    assert(l != NULL && c != NULL);

    c->os = NULL;
    if (w == NULL) {
        mproc__os_close(rd);
        mproc__os_close(wr);
        return MPROC_ENOMEM;
    }
    w->loop = l;
    w->rd = rd != MPROC__INVALID_HANDLE ? MPROC__H(rd) : NULL;
    w->wr = wr != MPROC__INVALID_HANDLE ? MPROC__H(wr) : NULL;
    w->wdone = w->wr == NULL;
    InitializeConditionVariable(&w->wcv);
    /* Both threads are created suspended, so a failure to create the second leaves nothing
     * running that touches the handles, which are closed here: ownership passes at the call. */
    if (w->rd != NULL && (w->reader = mproc__w32_thread_start(reader_main, w)) == NULL)
        goto fail;
    if (w->wr != NULL && (w->writer = mproc__w32_thread_start(writer_main, w)) == NULL)
        goto fail;

    w->c = c;
    w->refs = 1 + (w->reader != NULL) + (w->writer != NULL);
    InterlockedIncrement(&l->refs);
    AcquireSRWLockExclusive(&l->lock);
    w->next = l->chans;
    if (l->chans != NULL)
        l->chans->prev = w;
    l->chans = w;
    ReleaseSRWLockExclusive(&l->lock);
    c->os = w;
    resume(w->reader);
    resume(w->writer);
    return MPROC_OK;

fail:
    err = GetLastError();
    if (w->reader != NULL) {
        /* Told to stop before its first call, it ends at once without touching rd. */
        w->rd = w->wr = NULL;
        w->stop = 1;
        w->refs = 2;
        InterlockedIncrement(&l->refs);
        resume(w->reader);
        WaitForSingleObject(w->reader, INFINITE);
        CloseHandle(w->reader);
        chan_release(w);
    } else {
        mproc__free(w);
    }
    mproc__os_close(rd);
    mproc__os_close(wr);
    return mproc__sys_error((long)err);
}

static unsigned __stdcall watcher_main(void *arg)
{
    wchan *w = arg;
    mproc__loop *l = w->loop;
    HANDLE hs[2];

    hs[0] = w->unwatch;
    hs[1] = w->proc;
    if (WaitForMultipleObjects(2, hs, FALSE, INFINITE) == WAIT_OBJECT_0 + 1) {
        AcquireSRWLockExclusive(&l->lock);
        if (!w->stop && !w->proc_ended) {
            w->proc_ended = 1;
            w->ended_at = mproc__w32_now_ms();
            l->exits++;
            WakeConditionVariable(&l->cv);
        }
        ReleaseSRWLockExclusive(&l->lock);
    }
    return 0;
}

int mproc__os_loop_watch(mproc__loop *l, mproc__chan *c, mproc__proc *proc)
{
    wchan *w;
    HANDLE dup;
    assert(l != NULL && c != NULL && proc != NULL);

    if ((w = c->os) == NULL || proc->h == MPROC__INVALID_HANDLE || w->watcher != NULL)
        return MPROC_EINVAL;
    /* Our own copy: the process handle is closed when the process is reaped, maybe before
     * the channel leaves the loop. */
    if (!DuplicateHandle(GetCurrentProcess(), MPROC__H(proc->h), GetCurrentProcess(), &dup,
                         SYNCHRONIZE, FALSE, 0))
        return mproc__sys_error((long)GetLastError());
    w->proc = dup;
    w->unwatch = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (w->unwatch == NULL || (w->watcher = mproc__w32_thread_start(watcher_main, w)) == NULL) {
        DWORD err = GetLastError();
        if (w->unwatch != NULL)
            CloseHandle(w->unwatch);
        CloseHandle(dup);
        w->proc = w->unwatch = NULL;
        return mproc__sys_error((long)err);
    }
    ResumeThread(w->watcher);
    return MPROC_OK;
}

/* Under the lock: channels whose process ended and whose input is all staged (end of file) or
 * whose grace ran out are reported. Returns how many; *wait_ms: when to look again. */
static int collect_exits(mproc__loop *l, DWORD *wait_ms)
{
    uint64_t now = mproc__w32_now_ms();
    int n = 0;
    wchan *w;

    for (w = l->chans; w != NULL && l->exits > 0; w = w->next) {
        mproc__chan *c = w->c;
        if (!w->proc_ended || c == NULL || c->exited)
            continue;
        if (w->ready)
            continue; /* staged input first: collect_input takes it, then this */
        if (w->staged_eof || c->eof || now >= w->ended_at + EXIT_GRACE_MS) {
            c->exited = 1;
            c->news = 1;
            l->exits--;
            n++;
        } else {
            DWORD left = (DWORD)(w->ended_at + EXIT_GRACE_MS - now);
            if (left < *wait_ms)
                *wait_ms = left;
        }
    }
    return n;
}

/* Under the lock: hands c->out to w's writer (or drops it when nobody will write it). */
static int push_output(wchan *w)
{
    mproc__chan *c = w->c;
    int was_empty, r;

    if (mproc__buf_avail(&c->out) == 0)
        return MPROC_OK;
    if (w->wdone || w->shutdown) {
        mproc__buf_consume(&c->out, mproc__buf_avail(&c->out));
        return MPROC_OK;
    }
    was_empty = mproc__buf_avail(&w->pending) == 0;
    r = move_bytes(&w->pending, &c->out);
    if (r < 0)
        return r;
    if (was_empty)
        WakeConditionVariable(&w->wcv);
    return MPROC_OK;
}

void mproc__os_loop_remove(mproc__loop *l, mproc__chan *c)
{
    wchan *w = c->os;
    if (w == NULL)
        return;
    c->os = NULL;
    chan_stop(l, w);
}

void mproc__os_loop_shutdown(mproc__loop *l, mproc__chan *c)
{
    wchan *w = c->os;
    if (w == NULL)
        return;
    AcquireSRWLockExclusive(&l->lock);
    if (!w->shutdown) {
        /* What the front end queued goes out before the end of file. */
        (void)push_output(w);
        w->shutdown = 1;
        if (w->wdone) {
            if (w->wr != NULL)
                CloseHandle(w->wr);
            w->wr = NULL;
        } else {
            WakeConditionVariable(&w->wcv);
        }
    }
    ReleaseSRWLockExclusive(&l->lock);
}

/* The channel's writer thread owns the pipe: nothing writes past it. */
int mproc__os_loop_send_now(mproc__loop *l, mproc__chan *c, const void *frame, size_t len)
{
    (void)l;
    (void)c;
    (void)frame;
    (void)len;
    return MPROC_ENOTSUP;
}

void mproc__os_loop_wake(mproc__loop *l)
{
    AcquireSRWLockExclusive(&l->lock);
    l->woken = 1;
    WakeConditionVariable(&l->cv);
    ReleaseSRWLockExclusive(&l->lock);
}

/* Under the lock: moves every staged input to its channel. Returns how many got news. */
static int collect_input(mproc__loop *l, int *err)
{
    int n = 0;
    while (l->ready_head != NULL) {
        wchan *w = l->ready_head;
        mproc__chan *c = w->c;
        int r = move_bytes(&c->in, &w->staged);
        if (r < 0) {
            /* Left staged (and queued) for the next call. */
            *err = r;
            break;
        }
        l->ready_head = w->ready_next;
        if (l->ready_head == NULL)
            l->ready_tail = NULL;
        w->ready = 0;
        w->ready_next = NULL;
        if (w->staged_eof)
            c->eof = 1;
        c->news = 1;
        n++;
    }
    return n;
}

int mproc__os_loop_run(mproc__loop *l, long timeout_ms)
{
    uint64_t start = timeout_ms > 0 ? mproc__w32_now_ms() : 0;
    int n = 0, err = MPROC_OK;
    wchan *w;
    assert(l != NULL);

    AcquireSRWLockExclusive(&l->lock);
    for (w = l->chans; w != NULL; w = w->next) {
        int r = push_output(w);
        if (r < 0)
            err = r;
    }
    for (;;) {
        DWORD left, grace = INFINITE;
        n += collect_input(l, &err);
        if (l->exits > 0)
            n += collect_exits(l, &grace);
        if (n > 0 || l->woken || err < 0)
            break;
        left = mproc__w32_remaining(start, timeout_ms);
        if (left == 0)
            break;
        SleepConditionVariableSRW(&l->cv, &l->lock, grace < left ? grace : left, 0);
    }
    l->woken = 0;
    ReleaseSRWLockExclusive(&l->lock);
    return err < 0 ? err : n;
}
