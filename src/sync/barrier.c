/* Barrier: parties count in under a robust lock in shared memory and sleep on a phase word,
 * (generation << 1) | broken. The last one in starts the next generation; a waiter that times
 * out sets the broken bit; so does any waiter that finds another party's process gone (each
 * looks every CHECK_MS while it sleeps, and the last one in before it releases the round, at the
 * pids the parties left in their slots), or an acquirer of the lock whose holder died inside it.
 * Every sleeper wakes on the changed word. */
#include "sync.h"

#include <string.h>

/* How often a sleeping party looks for dead parties. */
#define CHECK_MS 100

typedef struct barrier_region {
    mproc__sync_hdr hdr;
    uint32_t parties;
    uint32_t count;             /* arrived in this generation (under the lock) */
    volatile uint32_t phase;    /* (generation << 1) | broken */
    volatile uint32_t nwait;    /* the waitq's sleepers */
    volatile uint32_t reset_of; /* the generation a reset ended while parties waited in it */
    uint32_t pad[7];
    unsigned char lock[MPROC__OSLOCK_BYTES]; /* at offset 64 */
    uint32_t slots[1];                       /* parties of them: the pid of each waiter, or 0 */
} barrier_region;

struct mproc_barrier {
    mproc__sync_base base;
    barrier_region *r;
    mproc__oslock lock;
    mproc__waitq q;
};

static size_t region_bytes(unsigned parties)
{
    return offsetof(barrier_region, slots) + (size_t)parties * sizeof(uint32_t);
}

static void destroy(mproc_barrier *b)
{
    if (!mproc__sync_copy(&b->base)) {
        mproc__os_waitq_close(&b->q);
        mproc__os_lock_close(&b->lock);
    }
    mproc__sync_region_close(&b->base);
    mproc__free(b);
}

static void wire(mproc_barrier *b)
{
    b->r = b->base.shm.addr;
    b->lock.area = b->r->lock;
    b->q.nwait = &b->r->nwait;
}

int mproc_barrier_create(mproc_barrier **out, unsigned parties)
{
    mproc_barrier *b;
    int r;
    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (parties == 0 || parties > MPROC_BARRIER_MAX)
        return MPROC_EINVAL;
    b = mproc__calloc(1, sizeof *b);
    if (b == NULL)
        return MPROC_ENOMEM;
    b->q.h = b->lock.h = MPROC__INVALID_HANDLE;
    r = mproc__sync_region(&b->base, MPROC__SYNC_BARRIER, region_bytes(parties));
    if (r < 0) {
        mproc__free(b);
        return r;
    }
    wire(b);
    b->r->parties = parties;
    r = mproc__os_lock_init(&b->lock, 0);
    if (r == MPROC_OK)
        r = mproc__os_waitq_init(&b->q);
    if (r < 0) {
        destroy(b);
        return r;
    }
    *out = b;
    return MPROC_OK;
}

/* Takes the barrier's lock; a holder that died inside it breaks the barrier. */
static void lock(mproc_barrier *b)
{
    if (mproc__os_lock_acquire(&b->lock, 0, MPROC_FOREVER) == MPROC_EOWNERDEAD)
        mproc__os_store(&b->r->phase, mproc__os_load(&b->r->phase) | 1u);
}

static void unlock(mproc_barrier *b)
{
    (void)mproc__os_lock_release(&b->lock, 0);
}

/* Lock held: breaks the generation under way (and wakes its sleepers once the caller lets go). */
static void break_locked(mproc_barrier *b)
{
    mproc__os_store(&b->r->phase, mproc__os_load(&b->r->phase) | 1u);
}

static void wake_all(mproc_barrier *b)
{
    mproc__os_waitq_wake(&b->q, &b->r->phase, 0);
}

/* What the phase says to a party that went to sleep in phase `mine`. */
static int outcome(mproc_barrier *b, uint32_t now, uint32_t mine, int idx)
{
    if ((now >> 1) != (mine >> 1) && mproc__os_load(&b->r->reset_of) != (mine >> 1))
        return idx; /* the generation completed */
    return MPROC_EBROKEN;
}

/* Lock held: 1 when a party of this generation sleeping in another process has ended. */
static int party_died_locked(mproc_barrier *b)
{
    uint32_t i, self = (uint32_t)mproc__os_getpid();
    for (i = 0; i < b->r->count && i < b->r->parties; i++) {
        uint32_t pid = b->r->slots[i];
        if (pid != 0 && pid != self && mproc__os_pid_ended((long)pid))
            return 1;
    }
    return 0;
}

int mproc_barrier_wait(mproc_barrier *b, long timeout_ms)
{
    uint64_t start;
    uint32_t mine;
    int idx;

    if (b == NULL || timeout_ms < MPROC_FOREVER)
        return MPROC_EINVAL;
    start = mproc__os_now_ms();
    lock(b);
    mine = mproc__os_load(&b->r->phase);
    if (mine & 1u) {
        unlock(b);
        return MPROC_EBROKEN;
    }
    idx = (int)b->r->count++;
    /* The last one in makes sure every party it releases is still there: one that died while
     * waiting breaks the round, whether or not a sleeper noticed yet. */
    if (b->r->count >= b->r->parties && party_died_locked(b)) {
        break_locked(b);
        unlock(b);
        wake_all(b);
        return MPROC_EBROKEN;
    }
    if (b->r->count >= b->r->parties) {
        b->r->count = 0;
        memset(b->r->slots, 0, (size_t)b->r->parties * sizeof(uint32_t));
        mproc__os_store(&b->r->phase, mine + 2u);
        unlock(b);
        wake_all(b);
        return idx;
    }
    b->r->slots[idx] = (uint32_t)mproc__os_getpid();
    unlock(b);

    for (;;) {
        uint32_t now = mproc__os_load(&b->r->phase);
        long left, slice;
        int broke = 0;
        if (now != mine)
            return outcome(b, now, mine, idx);
        left = mproc__sync_left(start, timeout_ms);
        if (left != 0) {
            slice = left < 0 || left > CHECK_MS ? CHECK_MS : left;
            if (mproc__os_waitq_wait(&b->q, &b->r->phase, mine, slice) != MPROC_ETIMEDOUT)
                continue;
            left = mproc__sync_left(start, timeout_ms);
        }
        lock(b);
        now = mproc__os_load(&b->r->phase);
        if (now == mine && (left == 0 || party_died_locked(b))) {
            break_locked(b);
            broke = 1;
        }
        now = mproc__os_load(&b->r->phase);
        unlock(b);
        if (broke)
            wake_all(b);
        if (now != mine)
            return outcome(b, now, mine, idx);
    }
}

int mproc_barrier_reset(mproc_barrier *b)
{
    uint32_t ph;
    if (b == NULL)
        return MPROC_EINVAL;
    lock(b);
    ph = mproc__os_load(&b->r->phase);
    if (b->r->count > 0 || (ph & 1u)) {
        if (b->r->count > 0)
            mproc__os_store(&b->r->reset_of, ph >> 1);
        b->r->count = 0;
        memset(b->r->slots, 0, (size_t)b->r->parties * sizeof(uint32_t));
        mproc__os_store(&b->r->phase, ((ph >> 1) + 1u) << 1);
    }
    unlock(b);
    wake_all(b);
    return MPROC_OK;
}

int mproc_barrier_broken(mproc_barrier *b)
{
    return b != NULL && (mproc__os_load(&b->r->phase) & 1u) != 0;
}

void mproc_barrier_destroy(mproc_barrier *b)
{
    if (b != NULL)
        destroy(b);
}

/* ---- handing to a child: [0] the region, [1] the waitq's handle, [2] the lock's handle ---- */

int mproc__barrier_export(void *obj, mproc__sync_export *e)
{
    mproc_barrier *b = obj;
    mproc__sync_put(e, 0, &b->base);
    mproc__sync_put_handle(e, 1, b->q.h);
    mproc__sync_put_handle(e, 2, b->lock.h);
    return MPROC_OK;
}

int mproc__barrier_adopt(const mproc__sync_export *e, void **out)
{
    mproc_barrier *b;
    int r;
    if (e->nhandles != 3)
        return MPROC_EINVAL;
    b = mproc__calloc(1, sizeof *b);
    if (b == NULL)
        return MPROC_ENOMEM;
    r = mproc__sync_attach(e, 0, MPROC__SYNC_BARRIER, &b->base);
    if (r == MPROC_OK &&
        b->base.shm.size < region_bytes(((barrier_region *)b->base.shm.addr)->parties)) {
        b->base.shm.h = MPROC__INVALID_HANDLE; /* still the caller's */
        mproc__os_shm_destroy(&b->base.shm);
        r = MPROC_EINVAL;
    }
    if (r < 0) {
        mproc__free(b);
        return r;
    }
    wire(b);
    b->q.h = e->handles[1];
    b->lock.h = e->handles[2];
    *out = b;
    return MPROC_OK;
}
