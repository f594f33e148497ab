/* A worker that died: its last answers recovered, the item it was running failed (or judged a
 * suspect), the rest of its tasks sent elsewhere, a boot failure counted. */
#include "engine.h"
#include "ring.h"

#include <stdio.h>
#include <string.h>

/* The first item of t's flight without an outcome: the one its worker was running. */
static size_t running_item(const mproc__task *t)
{
    size_t i = t->from;
    while (i < t->end && t->result->at[i] != 0)
        i++;
    return i;
}

/* Fails the item t's dead worker was running; those before it keep their outcomes. */
static int fail_running(mproc__task *t, int code, int exitcode, const char *msg)
{
    mproc__chunk *c = t->result;
    size_t i = running_item(t);
    if (i >= t->end)
        return MPROC_OK; /* it died between two flights' items: none was running */
    c->items[i].err = mproc__chunk_error(c, code, 0, exitcode, msg, strlen(msg));
    if (c->items[i].err == NULL)
        return MPROC_ENOMEM;
    c->items[i].code = code;
    c->at[i] = 1;
    t->got++;
    return MPROC_OK;
}

/* The answers a dead worker finished but had not published: what it wrote to the ring since
 * the last read, and the frame it was filling. A worker we killed for a timeout answered its
 * earlier items honestly; one that sent garbage is not believed any further. */
static void recover_answers(mproc_pool *p, mproc__worker *w)
{
    int reason = w->kill_reason, r;
    if (w->shm.addr == NULL || (reason != 0 && reason != MPROC_ETIMEDOUT))
        return;
    w->kill_reason = 0;
    r = mproc__ring_drain(w->shm.addr, &w->ring_tail, &w->ring_in);
    if (r >= 0)
        r = mproc__ring_drain_open(w->shm.addr, w->ring_tail, &w->ring_in);
    if (r >= 0)
        mproc__results_decode(p, w, &w->ring_in);
    if (reason != 0)
        w->kill_reason = reason;
}

void mproc__worker_died(mproc_pool *p, mproc__worker *w)
{
    mproc__task *t, *last;
    size_t n = 0;
    int exitcode, booting;
    char msg[128];

    /* End of file comes as the process exits; reaping it cannot take long, but a child that
     * closed its end and lives on is killed rather than waited for. */
    if (mproc__os_wait(&w->proc, 2000) != MPROC_OK) {
        mproc__os_signal(&w->proc, 1);
        mproc__os_wait(&w->proc, MPROC_FOREVER);
    }
    /* The application may have taken the status (its own waitpid, SIGCHLD ignored): then a
     * distinct code, never a false 0. */
    exitcode = w->proc.status_lost ? MPROC_ENOSTATUS : w->proc.exitcode;
    recover_answers(p, w);
    /* A worker that never said it was ready failed to boot, whatever its exit code (an
     * initializer that aborts is such a failure): no task of it ran. */
    mproc__boot_note(p);
    booting = w->kill_reason == 0 && !w->booted &&
              mproc__os_load(&((mproc__ring *)w->shm.addr)->ready) == 0;

    /* Garbage read from the pipe cannot be placed exactly: the worker's answers also come
     * through the ring, so the item that wrote it may have answered already, and the oldest
     * unanswered item be an innocent one. That item runs once more elsewhere; if garbage
     * comes again while it is the oldest, it is the one. */
    if (w->head != NULL && w->kill_reason == MPROC_EPROTO && !w->head->suspect) {
        w->head->suspect = 1;
    } else if (w->head != NULL && !booting) {
        int code = w->kill_reason ? w->kill_reason : MPROC_EWORKER_LOST;
        if (code == MPROC_ETIMEDOUT)
            sprintf(msg, "the task ran past the pool's task timeout; its worker was killed");
        else if (code == MPROC_EPROTO)
            sprintf(msg, "the worker sent a malformed message and was killed");
        else if (exitcode == MPROC_ENOSTATUS)
            sprintf(msg, "the worker running the task died (its exit status was taken by "
                         "someone else)");
        else
            sprintf(msg, "the worker running the task died (exit code %d)", exitcode);
        t = w->head;
        if (t->async != NULL || t->result == NULL) {
            mproc__task_fail(p, mproc__inflight_pop(w), code, exitcode, msg);
        } else if (fail_running(t, code, exitcode, msg) < 0) {
            /* No memory left to say which item failed: all those without an outcome do. */
            mproc__task_fail(p, mproc__inflight_pop(w), MPROC_ENOMEM, exitcode,
                             mproc_strerror(MPROC_ENOMEM));
        } else if (t->got == t->count) {
            /* The chunk's other items are done. */
            (void)mproc__inflight_pop(w);
            mproc__chunk_seal(t->result);
            mproc__task_deliver(p, t);
        }
    }
    /* The rest were never started (the head's items after the one that failed included):
     * they run elsewhere. */
    for (t = w->head; t != NULL; t = t->next)
        mproc__task_rewind(t);
    for (last = w->head; last != NULL && last->next != NULL; last = last->next)
        n++;
    if (last != NULL)
        mproc__task_requeue(p, w->head, last, n + 1);
    w->head = w->tail = NULL;
    w->inflight = 0;
    mproc__worker_release(p, w);

    if (booting)
        mproc__boot_failed(p, w, exitcode);
}
