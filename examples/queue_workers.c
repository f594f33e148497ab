/*
 * A producer and four consumer processes sharing a queue: the parent puts 100 numbers, then one
 * sentinel (an empty message) per consumer; each consumer squares what it takes, puts the result
 * into a second queue, and stops at its sentinel. The parent adds up the 100 results.
 *
 * Python:  q = multiprocessing.Queue(); Process(target=worker, args=(q, results)).start()
 *          q.put(item) ... q.put(None)  (one sentinel per worker); results.get()
 *
 * The queues are handed to each child explicitly (.share) and taken back by position
 * (mproc_child_queue), the same under fork, spawn and Windows.
 */
#include "example_util.h"

#include <stdio.h>
#include <string.h>

#define WORKERS 4
#define ITEMS 100

static int worker(const void *arg, size_t len)
{
    mproc_queue *jobs, *results;
    long done = 0;
    (void)arg;
    (void)len;
    ex_check(mproc_child_queue(0, &jobs), "mproc_child_queue(0)");
    ex_check(mproc_child_queue(1, &results), "mproc_child_queue(1)");
    for (;;) {
        void *msg;
        size_t n;
        long v, sq;
        ex_check(mproc_queue_get(jobs, MPROC_FOREVER, &msg, &n), "mproc_queue_get");
        if (n == 0) { /* the sentinel */
            mproc_free(msg);
            break;
        }
        memcpy(&v, msg, sizeof v);
        mproc_free(msg);
        sq = v * v;
        ex_check(mproc_queue_put(results, &sq, sizeof sq, MPROC_FOREVER), "mproc_queue_put");
        done++;
    }
    printf("worker %ld: %ld items\n", mproc_getpid(), done);
    fflush(stdout);
    return 0; /* what it put is in the queue already: nothing to flush */
}

int main(int argc, char **argv)
{
    mproc_queue *jobs, *results;
    mproc_process *procs[WORKERS];
    mproc_shared *share[2];
    mproc_process_options o;
    long i, sum = 0;
    int w;

    ex_check(mproc_init(argc, argv), "mproc_init");
    ex_check(mproc_queue_create(&jobs, 10), "mproc_queue_create"); /* at most 10 waiting */
    ex_check(mproc_queue_create(&results, 0), "mproc_queue_create");

    share[0] = mproc_queue_shared(jobs);
    share[1] = mproc_queue_shared(results);
    memset(&o, 0, sizeof o);
    o.target = worker;
    o.share = share;
    o.share_count = 2;
    for (w = 0; w < WORKERS; w++) {
        ex_check(mproc_process_create_ex(&procs[w], &o), "mproc_process_create_ex");
        ex_check(mproc_process_start(procs[w]), "mproc_process_start");
    }

    /* The producer: put blocks while 10 items wait (maxsize), so memory stays bounded. */
    for (i = 0; i < ITEMS; i++)
        ex_check(mproc_queue_put(jobs, &i, sizeof i, MPROC_FOREVER), "mproc_queue_put");
    for (w = 0; w < WORKERS; w++)
        ex_check(mproc_queue_put(jobs, NULL, 0, MPROC_FOREVER), "mproc_queue_put(sentinel)");

    for (i = 0; i < ITEMS; i++) {
        void *msg;
        size_t n;
        long sq;
        ex_check(mproc_queue_get(results, MPROC_FOREVER, &msg, &n), "mproc_queue_get");
        memcpy(&sq, msg, sizeof sq);
        mproc_free(msg);
        sum += sq;
    }
    for (w = 0; w < WORKERS; w++) {
        ex_check(mproc_process_join(procs[w], MPROC_FOREVER), "mproc_process_join");
        mproc_process_destroy(procs[w]);
    }
    printf("sum of squares of 0..99 = %ld\n", sum);
    mproc_queue_destroy(jobs);
    mproc_queue_destroy(results);
    return 0;
}
