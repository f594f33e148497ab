/* mproc_wait(): one sleep over any mix of processes, task handles and shared objects. Each round
 * looks at every item (ready), then sleeps on the handles the kinds give, this process's
 * notifier (for notify kinds) and, for kinds without either, a bounded nap; see waitable.h. */
#include "sync.h"
#include "waitable.h"

#include <string.h>

/* The longest a sleep lasts when an item has a handle that fired yet did not turn ready (a
 * pidfd a moment before the status is there): the next rounds nap, backing off to this. */
#define SPURIOUS_BACKOFF_MAX_MS 50

mproc_waitable *mproc__waitable_init(mproc_waitable *w, const mproc__waitable_kind *kind, void *obj)
{
    w->kind = kind;
    w->obj = obj;
    return w;
}

/* ---- the notifiers of this process's sleeping waits ---- */

static mproc__mutex *reg_mu;
static volatile uint32_t reg_count; /* sleepers registered; read without the lock */
static mproc__notifier **reg;
static size_t reg_len, reg_cap;

/* The registry's mutex is made once; a wait that cannot make it fails with MPROC_ENOMEM. The
 * first calls may race: the loser's mutex is freed (a CAS on the pointer, via a word). */
static volatile uint32_t reg_init_state; /* 0 none, 1 being made, 2 ready */

static int reg_ready(void)
{
    while (mproc__os_load(&reg_init_state) != 2) {
        if (mproc__os_cas(&reg_init_state, 0, 1) == 0) {
            if (mproc__os_mutex_create(&reg_mu) < 0) {
                mproc__os_store(&reg_init_state, 0);
                return MPROC_ENOMEM;
            }
            mproc__os_store(&reg_init_state, 2);
        } else {
            mproc__os_sleep_ms(1);
        }
    }
    return MPROC_OK;
}

static int reg_add(mproc__notifier *n)
{
    void *g;
    mproc__os_mutex_lock(reg_mu);
    if (reg_len == reg_cap) {
        g = mproc__grow(reg, &reg_cap, reg_len + 1, sizeof *reg, 8);
        if (g == NULL) {
            mproc__os_mutex_unlock(reg_mu);
            return MPROC_ENOMEM;
        }
        reg = g;
    }
    reg[reg_len++] = n;
    mproc__os_add(&reg_count, 1);
    mproc__os_mutex_unlock(reg_mu);
    return MPROC_OK;
}

static void reg_remove(mproc__notifier *n)
{
    size_t i;
    mproc__os_mutex_lock(reg_mu);
    for (i = 0; i < reg_len; i++) {
        if (reg[i] == n) {
            reg[i] = reg[--reg_len];
            mproc__os_add(&reg_count, (uint32_t)-1);
            break;
        }
    }
    mproc__os_mutex_unlock(reg_mu);
}

void mproc__wait_notify(void)
{
    size_t i;
    if (mproc__os_load(&reg_count) == 0)
        return;
    mproc__os_mutex_lock(reg_mu);
    for (i = 0; i < reg_len; i++)
        mproc__os_notifier_signal(reg[i]);
    mproc__os_mutex_unlock(reg_mu);
}

/* ---- the wait ---- */

/* Looks at the items whose mask byte is set (all of them when mask is NULL); the others are
 * not ready. The number ready, or a negative code. */
static int look(mproc_waitable *const *items, size_t n, const unsigned char *mask,
                unsigned char *ready)
{
    size_t i;
    int count = 0, r;
    for (i = 0; i < n; i++) {
        ready[i] = 0;
        if (mask != NULL && !mask[i])
            continue;
        r = items[i]->kind->ready(items[i]->obj);
        if (r < 0)
            return r;
        ready[i] = (unsigned char)(r > 0);
        count += r > 0;
    }
    return count;
}

static void end_all(mproc_waitable *const *items, size_t n, const unsigned char *begun)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (begun[i] && items[i]->kind->end != NULL)
            items[i]->kind->end(items[i]->obj);
}

/* The memory one sleeping wait needs, in one block. */
typedef struct sleep_state {
    mproc__handle *hs;    /* the handles slept on: [0] the notifier when there is one */
    size_t *item_of;      /* hs[j] belongs to items[item_of[j]] (the notifier: n) */
    unsigned char *fired; /* per handle, filled by the backend */
    unsigned char *begun; /* per item: begin was called */
    unsigned char *mask;  /* per item: look at it after this sleep */
} sleep_state;

int mproc_wait(mproc_waitable *const *items, size_t n, long timeout_ms, unsigned char *ready)
{
    mproc__notifier *note = NULL;
    sleep_state st;
    void *block = NULL;
    long poll_ms = 0, backoff = 1, nap = 0;
    int any_notify = 0, r;
    uint64_t start;
    size_t i;

    if (timeout_ms < MPROC_FOREVER || (n > 0 && (items == NULL || ready == NULL)))
        return MPROC_EINVAL;
    if (n == 0) {
        if (timeout_ms == MPROC_FOREVER)
            return MPROC_EINVAL;
        mproc__os_sleep_ms(timeout_ms);
        return 0;
    }
    for (i = 0; i < n; i++)
        if (items[i] == NULL || items[i]->kind == NULL || items[i]->kind->ready == NULL)
            return MPROC_EINVAL;
    for (i = 0; i < n; i++) {
        if (items[i]->kind->check != NULL) {
            r = items[i]->kind->check(items[i]->obj, timeout_ms);
            if (r < 0)
                return r;
        }
    }
    start = mproc__os_now_ms();
    r = look(items, n, NULL, ready);
    if (r != 0 || timeout_ms == 0)
        return r;
    /* After the first look: a kind may settle which form it takes there. */
    for (i = 0; i < n; i++) {
        const mproc__waitable_kind *k = items[i]->kind;
        any_notify |= k->notify;
        if (k->poll_ms > 0 && (poll_ms == 0 || k->poll_ms < poll_ms))
            poll_ms = k->poll_ms;
    }

    /* Nothing ready: set up the sleep. */
    if (n > ((size_t)-1) / 4 / (sizeof(mproc__handle) + sizeof(size_t) + 4))
        return MPROC_ENOMEM;
    block = mproc__malloc((n + 1) * (sizeof(mproc__handle) + sizeof(size_t) + 1) + 3 * n);
    if (block == NULL)
        return MPROC_ENOMEM;
    st.hs = block;
    st.item_of = (size_t *)(void *)(st.hs + n + 1);
    st.fired = (unsigned char *)(st.item_of + n + 1);
    st.begun = st.fired + n + 1;
    st.mask = st.begun + n;
    memset(st.begun, 0, n);
    if (any_notify) {
        r = reg_ready();
        if (r == MPROC_OK)
            r = mproc__os_notifier_create(&note);
        if (r == MPROC_OK) {
            r = reg_add(note);
            if (r < 0) {
                mproc__os_notifier_destroy(note);
                note = NULL;
            }
        }
        if (r < 0)
            goto done;
        /* A change between the first look and the registration is seen by this one. */
        r = look(items, n, NULL, ready);
        if (r != 0)
            goto done;
    }
    for (;;) {
        size_t nh = 0, j;
        long left = mproc__sync_left(start, timeout_ms), slice = left;
        int fired_item = 0;

        if (left == 0) {
            r = 0;
            break;
        }
        if (note != NULL) {
            st.item_of[nh] = n;
            st.hs[nh++] = mproc__os_notifier_handle(note);
        }
        for (i = 0; i < n; i++) {
            const mproc__waitable_kind *k = items[i]->kind;
            mproc__handle h = MPROC__INVALID_HANDLE;
            if (k->begin != NULL) {
                h = k->begin(items[i]->obj);
                st.begun[i] = 1;
            }
            /* Looked at after every sleep: no handle, or one that may not fire (poll_ms). */
            st.mask[i] = (unsigned char)(h == MPROC__INVALID_HANDLE || k->poll_ms > 0);
            if (h != MPROC__INVALID_HANDLE) {
                st.item_of[nh] = i;
                st.hs[nh++] = h;
            }
        }
        if (poll_ms > 0) {
            long p = backoff < poll_ms ? backoff : poll_ms;
            if (slice < 0 || slice > p)
                slice = p;
            if (backoff < poll_ms)
                backoff *= 2;
        }
        memset(st.fired, 0, nh);
        if (nap > 0) {
            /* A handle fired last round without its item turning ready (a pidfd a moment
             * before the status is there): nap, then look at the handles without sleeping. */
            mproc__os_sleep_ms(slice < 0 || slice > nap ? nap : slice);
            r = mproc__os_wait_handles(st.hs, nh, 0, st.fired);
        } else {
            r = mproc__os_wait_handles(st.hs, nh, slice, st.fired);
        }
        end_all(items, n, st.begun);
        memset(st.begun, 0, n);
        if (r < 0)
            break;
        if (note != NULL)
            mproc__os_notifier_clear(note);
        /* Only what may have changed is looked at: 1 000 items cost one poll, not 1 000
         * looks, when one of them fires. */
        for (j = 0; j < nh; j++) {
            if (st.fired[j] && st.item_of[j] < n) {
                st.mask[st.item_of[j]] = 1;
                fired_item = 1;
            }
        }
        r = look(items, n, st.mask, ready);
        if (r != 0)
            break;
        if (fired_item)
            nap = nap == 0
                      ? 1
                      : (nap * 2 > SPURIOUS_BACKOFF_MAX_MS ? SPURIOUS_BACKOFF_MAX_MS : nap * 2);
        else
            nap = 0;
    }
done:
    if (note != NULL) {
        reg_remove(note);
        mproc__os_notifier_destroy(note);
    }
    mproc__free(block);
    return r;
}
