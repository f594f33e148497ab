/* The pool's lifecycle: create, close, join, terminate, destroy (and destroy in a fork's copy). */
#include "engine.h"
#include "remote.h"
#include "runtime.h"
#include "wire.h"

#include <string.h>

/* destroy in a fork's copy: the copy's descriptors are closed, the creator's workers and pool
 * thread are not touched (the creator has its own descriptors). The memory goes unless handles
 * or iterators of the copy still point to it; those are never freed in the copy either. */
static void release_copy(mproc_pool *p)
{
    int i;
    for (i = 0; p->workers != NULL && i < p->nworkers; i++) {
        mproc__worker *w = &p->workers[i];
        if (w->alive) {
            mproc__os_proc_close(&w->proc);
            mproc__os_shm_destroy(&w->shm);
            w->alive = 0;
        }
    }
    if (p->loop != NULL)
        mproc__os_loop_destroy(p->loop);
    p->loop = NULL;
    if (--p->refs == 0)
        mproc__pool_free_parts(p, 0);
}

int mproc_pool_create(mproc_pool **out, int workers)
{
    mproc_pool_options o;
    memset(&o, 0, sizeof o);
    o.workers = workers;
    return mproc_pool_create_ex(out, &o);
}

int mproc_pool_create_ex(mproc_pool **out, const mproc_pool_options *opts)
{
    mproc_pool *p;
    int method, r;
    long os_error;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (opts == NULL || (opts->initarg == NULL && opts->initarg_len > 0) ||
        opts->max_tasks_per_child < 0 || opts->task_timeout_ms < 0 || opts->max_pending < 0 ||
        (opts->share == NULL && opts->share_count > 0) ||
        opts->share_count > MPROC__SHARE_MAX_OBJECTS)
        return MPROC_EINVAL;
    if (opts->initarg_len > MPROC__WIRE_MAX_ITEM)
        return MPROC_ETOOBIG;
    if (mproc__resolve_method(opts->start_method, &method) < 0)
        return MPROC_EINVAL;
    if ((r = mproc__start_allowed()) < 0)
        return r;
    /* Checked as tasks are (fn.c): a bad initializer would crash, or fail to boot, every
     * worker. */
    if (opts->initializer != NULL && (r = mproc__fn_check((mproc__fn)opts->initializer)) < 0)
        return r;

    p = mproc__calloc(1, sizeof *p);
    if (p == NULL)
        return MPROC_ENOMEM;
    p->refs = 1;
    p->creator_pid = mproc__os_getpid();
    p->method = method;
    if (method == MPROC_START_MPI) {
        /* The workers are a transport's (remote.h): it says how many by default. */
        r = mproc__remote_workers(opts->workers);
        if (r < 0) {
            mproc__free(p);
            return r;
        }
        p->nworkers = r;
    } else {
        p->nworkers = opts->workers > 0 ? opts->workers : mproc_cpu_count();
    }
    p->init = opts->initializer;
    p->max_tasks = opts->max_tasks_per_child;
    p->task_timeout_ms = opts->task_timeout_ms;
    p->max_pending = opts->max_pending;
    p->max_memory = opts->max_memory_per_child;
    /* A borrower cannot time its task out: with a task timeout every task goes through the
     * pool thread. */
    p->can_lend = mproc__os_word_wait_works() && p->task_timeout_ms == 0;
    p->initarg_len = opts->initarg_len;
    r = MPROC_ENOMEM;
    p->initarg = mproc__malloc(opts->initarg_len);
    p->workers = mproc__calloc((size_t)p->nworkers, sizeof *p->workers);
    if (p->initarg == NULL || p->workers == NULL)
        goto fail;
    if (opts->initarg_len > 0)
        memcpy(p->initarg, opts->initarg, opts->initarg_len);
    if ((r = mproc__share_list_make(&p->shares, opts->share, opts->share_count)) < 0)
        goto fail;
    if ((r = mproc__os_mutex_create(&p->lock)) < 0 || (r = mproc__os_cond_create(&p->cv)) < 0 ||
        (r = mproc__os_loop_create(&p->loop)) < 0)
        goto fail;
    /* The pool thread starts the workers: a worker dies with the thread that started it
     * (PR_SET_PDEATHSIG), and this thread may be a short-lived one of the caller's. */
    r = mproc__os_thread_start(&p->thread, mproc__pool_thread, p);
    if (r < 0)
        goto fail;
    mproc__os_mutex_lock(p->lock);
    mproc__pool_wait(p, &p->start_result, MPROC_FOREVER);
    r = p->start_result;
    os_error = p->start_os_error;
    mproc__os_mutex_unlock(p->lock);
    if (r < 0) {
        mproc__os_thread_join(p->thread);
        mproc__pool_free(p);
        /* A worker failed to start on the pool's thread: its OS error is that thread's, and
         * the caller asks mproc_last_os_error() on its own. */
        if (r == MPROC_ESYS)
            mproc__os_set_last_error(os_error);
        return r;
    }
    *out = p;
    return MPROC_OK;

fail:
    mproc__pool_free(p);
    return r;
}

static void join_thread(mproc_pool *p)
{
    /* Lock held. The first caller joins the thread at once: asleep in the OS's join, not on the
     * condition variable, which the thread broadcasts on every turn that finishes tasks (a
     * wake-up of the joiner each time). Others wait for it to finish. */
    if (!p->joining) {
        p->joining = 1;
        mproc__os_mutex_unlock(p->lock);
        mproc__os_thread_join(p->thread);
        mproc__os_mutex_lock(p->lock);
        p->joined = 1;
        mproc__os_cond_broadcast(p->cv);
    }
    mproc__pool_wait(p, &p->joined, MPROC_FOREVER);
}

int mproc_pool_close(mproc_pool *p)
{
    int wake;
    if (p == NULL)
        return MPROC_EINVAL;
    if (mproc__pool_foreign(p))
        return MPROC_EFOREIGN;
    mproc__os_mutex_lock(p->lock);
    if (p->state == POOL_OPEN)
        p->state = POOL_CLOSED;
    /* Submitters waiting for room (max_pending) give up: the pool takes no more. */
    mproc__os_cond_broadcast(p->cv);
    wake = mproc__pool_need_wake(p);
    mproc__os_mutex_unlock(p->lock);
    if (wake)
        mproc__os_loop_wake(p->loop);
    return MPROC_OK;
}

int mproc_pool_join(mproc_pool *p)
{
    if (p == NULL)
        return MPROC_EINVAL;
    if (mproc__pool_foreign(p))
        return MPROC_EFOREIGN;
    /* From a callback: the tasks and workers it would wait for need this very thread. */
    if (mproc__pool_own_thread(p))
        return MPROC_EDEADLK;
    mproc__os_mutex_lock(p->lock);
    if (p->state == POOL_OPEN) {
        mproc__os_mutex_unlock(p->lock);
        return MPROC_ESTATE;
    }
    join_thread(p);
    mproc__os_mutex_unlock(p->lock);
    return MPROC_OK;
}

/* Lock not held. Asks the pool thread to stop the workers; it does so in its next locked phase,
 * which for a request made from a callback comes once the callbacks of this turn have run. */
static void request_terminate(mproc_pool *p)
{
    mproc__os_mutex_lock(p->lock);
    if (p->state == POOL_OPEN || p->state == POOL_CLOSED)
        p->state = POOL_TERMINATING;
    mproc__os_cond_broadcast(p->cv); /* and submitters waiting for room */
    mproc__os_mutex_unlock(p->lock);
    mproc__os_loop_wake(p->loop);
}

int mproc_pool_terminate(mproc_pool *p)
{
    if (p == NULL)
        return MPROC_EINVAL;
    if (mproc__pool_foreign(p))
        return MPROC_EFOREIGN;
    request_terminate(p);
    /* From a callback: the pool thread carries the request out once the callback returns;
     * waiting for it here would wait for ourselves. */
    if (mproc__pool_own_thread(p))
        return MPROC_OK;
    mproc__os_mutex_lock(p->lock);
    join_thread(p);
    mproc__os_mutex_unlock(p->lock);
    return MPROC_OK;
}

void mproc_pool_destroy(mproc_pool *p)
{
    long saved;
    int last;
    if (p == NULL)
        return;
    saved = mproc__os_errno();
    if (mproc__pool_foreign(p)) {
        release_copy(p);
        mproc__os_restore_errno(saved);
        return;
    }
    if (mproc__pool_own_thread(p)) {
        /* From a callback the pool cannot be freed under the thread running it: it is only
         * terminated, and a later destroy from another thread frees it. */
        request_terminate(p);
        mproc__os_restore_errno(saved);
        return;
    }
    mproc_pool_terminate(p);
    mproc__os_mutex_lock(p->lock);
    last = mproc__pool_drop(p);
    mproc__os_mutex_unlock(p->lock);
    if (last)
        mproc__pool_free(p);
    mproc__os_restore_errno(saved);
}

int mproc_pool_workers(const mproc_pool *p)
{
    return p != NULL ? p->nworkers : 0;
}
