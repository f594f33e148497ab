/* mproc_wait()'s OS part on Windows: WaitForMultipleObjects takes 64 handles at most, so past
 * that, helper threads wait on 63 more each (plus a stop event) and set one shared event when
 * any of theirs fires; the calling thread waits on that event and on the first handles itself.
 * A manual-reset event is the notifier of a sleeping wait. */
#include "win32.h"
#include "../sync/waitable.h"

#include <stdlib.h>

struct mproc__notifier {
    HANDLE ev;
};

int mproc__os_notifier_create(mproc__notifier **out)
{
    mproc__notifier *n = mproc__malloc(sizeof *n);
    if (n == NULL)
        return MPROC_ENOMEM;
    n->ev = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (n->ev == NULL) {
        DWORD e = GetLastError();
        mproc__free(n);
        return mproc__sys_error((long)e);
    }
    *out = n;
    return MPROC_OK;
}

mproc__handle mproc__os_notifier_handle(mproc__notifier *n)
{
    return MPROC__HV(n->ev);
}

void mproc__os_notifier_signal(mproc__notifier *n)
{
    SetEvent(n->ev);
}

void mproc__os_notifier_clear(mproc__notifier *n)
{
    ResetEvent(n->ev);
}

void mproc__os_notifier_destroy(mproc__notifier *n)
{
    if (n == NULL)
        return;
    CloseHandle(n->ev);
    mproc__free(n);
}

/* One kernel wait: 1 + the index fired, 0 on timeout, or MPROC_ESYS. */
static int wait_some(const HANDLE *h, DWORD n, DWORD ms)
{
    DWORD w = WaitForMultipleObjects(n, h, FALSE, ms);
    if (w < WAIT_OBJECT_0 + n)
        return (int)(w - WAIT_OBJECT_0) + 1;
    if (w >= WAIT_ABANDONED_0 && w < WAIT_ABANDONED_0 + n)
        return (int)(w - WAIT_ABANDONED_0) + 1;
    if (w == WAIT_TIMEOUT)
        return 0;
    return mproc__sys_error((long)GetLastError());
}

/* A handle and where it came from: the kernel refuses an array that holds one handle twice. */
typedef struct slot {
    HANDLE h;
    size_t at;
} slot;

static int slot_cmp(const void *a, const void *b)
{
    const slot *x = a, *y = b;
    if (x->h != y->h)
        return (uintptr_t)x->h < (uintptr_t)y->h ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

/* After a wait that found h[first] signalled: marks it and every later one signalled now (a
 * wait of 0 ms on what is left, again after each found), in terms of the caller's indexes (map:
 * the slots h came from, or NULL when h is the caller's array). The number marked. */
static int mark_rest(const HANDLE *h, size_t n, size_t first, const slot *map, unsigned char *fired)
{
    int count = 0;
    size_t i = first;
    for (;;) {
        int r;
        if (fired != NULL)
            fired[map != NULL ? map[i].at : i] = 1;
        count++;
        if (++i >= n)
            break;
        r = wait_some(h + i, (DWORD)(n - i), 0);
        if (r <= 0)
            break;
        i += (size_t)r - 1;
    }
    return count;
}

#define GROUP (MAXIMUM_WAIT_OBJECTS - 1)

typedef struct helper {
    HANDLE thread;
    HANDLE hs[MAXIMUM_WAIT_OBJECTS]; /* [0] the stop event, then up to GROUP handles */
    DWORD n;
    const slot *slots; /* the group's slots, for the index */
    HANDLE fired;
    volatile LONG *first; /* the caller's index + 1 of the first fired, 0 none yet */
} helper;

static unsigned __stdcall helper_main(void *arg)
{
    helper *t = arg;
    int r = wait_some(t->hs, t->n, INFINITE);
    if (r > 1) {
        InterlockedCompareExchange(t->first, (LONG)t->slots[r - 2].at + 1, 0);
        SetEvent(t->fired);
    } else if (r < 0) {
        InterlockedCompareExchange(t->first, -1, 0);
        SetEvent(t->fired);
    }
    return 0;
}

int mproc__os_wait_handles(const mproc__handle *hv, size_t n, long timeout_ms, unsigned char *fired)
{
    DWORD ms = timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms;
    HANDLE mine[MAXIMUM_WAIT_OBJECTS];
    HANDLE stop = NULL, fired_ev = NULL;
    helper *helpers = NULL;
    slot *s = NULL;
    size_t i, u = 0, nh = 0, started = 0, own;
    volatile LONG first = 0;
    int r;

    if (n == 0) {
        if (timeout_ms < 0)
            return MPROC_EINVAL;
        mproc__os_sleep_ms(timeout_ms);
        return 0;
    }
    if (n <= MAXIMUM_WAIT_OBJECTS) {
        /* The usual case: no copy unless a handle repeats. */
        for (i = 0; i < n; i++)
            mine[i] = MPROC__H(hv[i]);
        r = wait_some(mine, (DWORD)n, ms);
        if (r > 0)
            return mark_rest(mine, n, (size_t)r - 1, NULL, fired);
        if (r != MPROC_ESYS || GetLastError() != ERROR_INVALID_PARAMETER)
            return r;
    }
    s = mproc__malloc(n * sizeof *s);
    if (s == NULL)
        return MPROC_ENOMEM;
    for (i = 0; i < n; i++) {
        s[i].h = MPROC__H(hv[i]);
        s[i].at = i;
    }
    qsort(s, n, sizeof *s, slot_cmp);
    for (i = 0; i < n; i++)
        if (u == 0 || s[i].h != s[u - 1].h)
            s[u++] = s[i];
    if (u <= MAXIMUM_WAIT_OBJECTS) {
        for (i = 0; i < u; i++)
            mine[i] = s[i].h;
        r = wait_some(mine, (DWORD)u, ms);
        if (r > 0)
            r = mark_rest(mine, u, (size_t)r - 1, s, fired);
        goto out;
    }
    /* Past 64: this thread waits on `fired` and the first GROUP handles; helpers take the rest. */
    own = GROUP;
    nh = (u - own + GROUP - 1) / GROUP;
    stop = CreateEventW(NULL, TRUE, FALSE, NULL);
    fired_ev = CreateEventW(NULL, TRUE, FALSE, NULL);
    helpers = mproc__calloc(nh, sizeof *helpers);
    if (stop == NULL || fired_ev == NULL || helpers == NULL) {
        r = helpers == NULL ? MPROC_ENOMEM : mproc__sys_error((long)GetLastError());
        goto out;
    }
    for (i = 0; i < nh; i++) {
        helper *t = &helpers[i];
        size_t from = own + i * GROUP, k, cnt = u - from < GROUP ? u - from : GROUP;
        t->hs[0] = stop;
        for (k = 0; k < cnt; k++)
            t->hs[1 + k] = s[from + k].h;
        t->n = (DWORD)(1 + cnt);
        t->slots = &s[from];
        t->fired = fired_ev;
        t->first = &first;
        t->thread = mproc__w32_thread_start(helper_main, t);
        if (t->thread == NULL) {
            r = mproc__sys_error((long)GetLastError());
            goto out;
        }
        ResumeThread(t->thread);
        started++;
    }
    mine[0] = fired_ev;
    for (i = 0; i < own; i++)
        mine[1 + i] = s[i].h;
    r = wait_some(mine, (DWORD)(1 + own), ms);
    if (r == 1) {
        LONG f = InterlockedCompareExchange(&first, 0, 0);
        if (f < 0) {
            r = MPROC_ESYS;
        } else {
            if (fired != NULL && f > 0)
                fired[f - 1] = 1;
            r = 1;
        }
    } else if (r > 1) {
        r = mark_rest(mine + 1, own, (size_t)r - 2, s, fired);
    }
out:
    if (stop != NULL)
        SetEvent(stop);
    for (i = 0; i < started; i++) {
        WaitForSingleObject(helpers[i].thread, INFINITE);
        CloseHandle(helpers[i].thread);
    }
    if (stop != NULL)
        CloseHandle(stop);
    if (fired_ev != NULL)
        CloseHandle(fired_ev);
    mproc__free(helpers);
    mproc__free(s);
    return r;
}
