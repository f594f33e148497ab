/* Workers that die before they are ready: the count of boot failures, the back-off between
 * tries, giving up (the pool is broken), and starting the workers that are missing. */
#include "engine.h"
#include "ring.h"

#include <stdio.h>

/* A worker that dies before it is ready (its initializer returned nonzero, crashed or exited)
 * failed to boot. Such failures are counted in rounds: the first death of a round counts, and
 * until a worker boots again only one worker at a time is started, after a back-off that
 * doubles from BOOT_BACKOFF_MS up to BOOT_BACKOFF_MAX_MS. After MAX_BOOT_FAILURES rounds in a
 * row (about 3 s) the pool gives up: it is broken and tasks fail at once. A worker that boots
 * ends the count, so a cause that goes away within that time costs nothing but the wait. */
#define MAX_BOOT_FAILURES 6
#define BOOT_BACKOFF_MS 100
#define BOOT_BACKOFF_MAX_MS 1600
/* Wait before trying again to start a worker the OS refused. */
#define RESPAWN_DELAY_MS 100

/* Workers that have become ready since last looked end a run of boot failures. */
void mproc__boot_note(mproc_pool *p)
{
    int i;
    for (i = 0; i < p->nworkers; i++) {
        mproc__worker *w = &p->workers[i];
        if (w->alive && !w->booted && mproc__os_load(&((mproc__ring *)w->shm.addr)->ready)) {
            w->booted = 1;
            p->early_deaths = 0;
        }
    }
}

/* w died while booting: one more failure in a row (once per round), then a back-off before
 * the next start, or the pool gives up. */
void mproc__boot_failed(mproc_pool *p, const mproc__worker *w, int exitcode)
{
    long delay = BOOT_BACKOFF_MS;
    int i;

    if (w->boot_round != p->boot_round)
        return; /* started before the failure that counted for its round */
    p->boot_round++;
    p->broken_exit = exitcode;
    if (++p->early_deaths < MAX_BOOT_FAILURES) {
        for (i = 1; i < p->early_deaths && delay < BOOT_BACKOFF_MAX_MS; i++)
            delay *= 2;
        p->respawn_at = mproc__os_now_ms() + (uint64_t)delay;
        return;
    }
    p->broken = 1;
    if (exitcode == MPROC__EXIT_INIT)
        snprintf(p->broken_msg, sizeof p->broken_msg,
                 "the pool gave up starting workers: the initializer returned nonzero (exit code "
                 "%d), %d times in a row",
                 exitcode, p->early_deaths);
    else if (exitcode == MPROC__EXIT_BOOT && p->init == NULL)
        snprintf(p->broken_msg, sizeof p->broken_msg,
                 "the pool gave up starting workers: a worker could not boot (exit code %d), %d "
                 "times in a row",
                 exitcode, p->early_deaths);
    else
        snprintf(p->broken_msg, sizeof p->broken_msg,
                 "the pool gave up starting workers: %s (exit code %d), %d times in a row",
                 exitcode == MPROC__EXIT_BOOT ? "the initializer could not be run"
                 : p->init != NULL            ? "the initializer died"
                                              : "a worker died while booting",
                 exitcode, p->early_deaths);
}

/* needed: the pool is open, or work remains (decided in the locked phase). */
void mproc__boot_start_missing(mproc_pool *p, uint64_t now, int needed)
{
    int i;
    mproc__boot_note(p);
    if (p->broken || now < p->respawn_at || !needed)
        return;
    /* After boot failures one worker at a time tries, until one boots. */
    if (p->early_deaths > 0)
        for (i = 0; i < p->nworkers; i++)
            if (p->workers[i].alive && !p->workers[i].booted)
                return;
    for (i = 0; i < p->nworkers; i++) {
        if (p->workers[i].alive)
            continue;
        if (mproc__worker_start(p, &p->workers[i]) < 0) {
            p->respawn_at = now + RESPAWN_DELAY_MS;
            return;
        }
        if (p->early_deaths > 0)
            return;
    }
}
