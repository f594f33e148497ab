/* What every part of the pool shares: the state checks, the waits on the pool's condition
 * variable, the reference count and the freeing of a pool. */
#include "pool.h"

int mproc__pool_check_open(mproc_pool *p)
{
    return p->state == POOL_OPEN ? MPROC_OK : MPROC_ESTATE;
}

int mproc__pool_foreign(const mproc_pool *p)
{
    return p->creator_pid != mproc__os_getpid();
}

int mproc__pool_own_thread(const mproc_pool *p)
{
    return mproc__os_thread_is_self(p->thread);
}

int mproc__pool_need_wake(mproc_pool *p)
{
    if (!p->sleeping)
        return 0;
    /* One wake per sleep: later submitters find the flag clear and skip the system call. */
    p->sleeping = 0;
    return 1;
}

int mproc__pool_drop(mproc_pool *p)
{
    return --p->refs == 0;
}

int mproc__pool_wait(mproc_pool *p, const int *flag, long timeout_ms)
{
    uint64_t deadline = timeout_ms > 0 ? mproc__os_now_ms() + (uint64_t)timeout_ms : 0;
    while (!*flag) {
        long left = MPROC_FOREVER;
        if (timeout_ms == 0)
            return MPROC_ETIMEDOUT;
        if (timeout_ms > 0) {
            uint64_t now = mproc__os_now_ms();
            if (now >= deadline)
                return MPROC_ETIMEDOUT;
            left = (long)(deadline - now);
        }
        mproc__os_cond_wait(p->cv, p->lock, left);
    }
    return MPROC_OK;
}

/* own: p belongs to this process; else it is a fork's copy, whose lock and condition variable
 * are left alone (another thread of the creator may have held the lock at the fork, and a
 * condition variable with waiters cannot be destroyed safely). */
void mproc__pool_free_parts(mproc_pool *p, int own)
{
    size_t i;
    for (i = 0; i < p->ndefs; i++)
        mproc__buf_free(&p->defs[i].body);
    mproc__free(p->defs);
    if (p->workers != NULL)
        for (i = 0; i < (size_t)p->nworkers; i++) {
            mproc__free(p->workers[i].defined);
            mproc__buf_free(&p->workers[i].direct_out);
        }
    mproc__free(p->workers);
    mproc__free(p->initarg);
    mproc__spare_free_all(p);
    /* A fork's copy: the list's descriptors were closed at the fork, their numbers may be
     * another's now. */
    for (i = 0; !own && i < p->shares.n; i++)
        p->shares.recs[i].nh = 0;
    mproc__share_list_free(&p->shares);
    if (p->loop != NULL)
        mproc__os_loop_destroy(p->loop);
    if (own && p->cv != NULL)
        mproc__os_cond_destroy(p->cv);
    if (own && p->lock != NULL)
        mproc__os_mutex_destroy(p->lock);
    mproc__free(p);
}

void mproc__pool_free(mproc_pool *p)
{
    mproc__pool_free_parts(p, 1);
}
