/*
 * Ten processes sleep for random times; the parent reports each one as it ends, in the order
 * they end, with one call that waits on all of them at once (mproc_wait, Python's
 * multiprocessing.connection.wait over the processes' sentinels). An event is the starting gun:
 * the sleeps begin together once every process runs, however long the starts took.
 *
 * Python:  while procs: for s in connection.wait([p.sentinel for p in procs]): ...
 */
#include "example_util.h"

#include <stdio.h>
#include <stdlib.h>

#define NPROC 10

static int nap(const void *arg, size_t len)
{
    mproc_event *go;
    int ms = 0;
    if (len == sizeof ms)
        ms = *(const int *)arg;
    ex_check(mproc_child_event(0, &go), "mproc_child_event");
    ex_check(mproc_event_wait(go, MPROC_FOREVER), "mproc_event_wait");
    ex_sleep_ms((unsigned long)ms);
    return 0;
}

int main(int argc, char **argv)
{
    mproc_process *procs[NPROC];
    mproc_waitable *items[NPROC];
    unsigned char ready[NPROC];
    int which[NPROC], ms[NPROC];
    size_t left = NPROC, i, k;
    mproc_process_options o = {0};
    mproc_shared *share[1];
    mproc_event *go;
    double start;
    int reported = 0;

    ex_check(mproc_init(argc, argv), "mproc_init");
    ex_check(mproc_event_create(&go), "mproc_event_create");
    share[0] = mproc_event_shared(go);
    o.target = nap;
    o.share = share;
    o.share_count = 1;
    srand(2024);
    for (i = 0; i < NPROC; i++) {
        /* Distinct sleeps 150 ms apart, in a shuffled order. */
        ms[i] = (int)(i + 1) * 150;
    }
    for (i = NPROC - 1; i > 0; i--) {
        size_t j = (size_t)rand() % (i + 1);
        int t = ms[i];
        ms[i] = ms[j];
        ms[j] = t;
    }
    for (i = 0; i < NPROC; i++) {
        o.arg = &ms[i];
        o.arg_len = sizeof ms[i];
        ex_check(mproc_process_create_ex(&procs[i], &o), "create");
        ex_check(mproc_process_start(procs[i]), "start");
        items[i] = mproc_process_waitable(procs[i]);
        which[i] = (int)i;
    }
    start = ex_now();
    ex_check(mproc_event_set(go), "mproc_event_set"); /* go */
    while (left > 0) {
        int n = mproc_wait(items, left, 30000, ready);
        ex_check(n, "mproc_wait");
        if (n == 0) {
            printf("nothing ended in 30 s\n");
            return 1;
        }
        /* Report the ready ones, keep the others for the next wait. */
        for (i = 0, k = 0; i < left; i++) {
            if (ready[i]) {
                printf("done: process %d (slept %d ms), %d of %d\n", which[i], ms[which[i]],
                       ++reported, NPROC);
            } else {
                items[k] = items[i];
                which[k++] = which[i];
            }
        }
        left = k;
    }
    printf("spend time : %.2f\n", ex_now() - start);
    for (i = 0; i < NPROC; i++)
        mproc_process_destroy(procs[i]);
    mproc_event_destroy(go);
    return 0;
}
