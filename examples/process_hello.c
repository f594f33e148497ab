/*
 * The seed's section 1: ten processes each sleep 1 s and say hello; the parent joins them all.
 * The elapsed time is about 1 s, not 10: the children run in parallel.
 *
 * Python:  p = multiprocessing.Process(target=run, args=("bob",)); p.start(); ... p.join()
 */
#include "example_util.h"

#include <stdio.h>

#define NPROC 10

/* The target. Its argument arrives as a copy of the bytes the parent gave: here "bob", without
 * a terminating NUL, so it is printed with its length. */
static int run(const void *arg, size_t arg_len)
{
    ex_sleep_ms(1000);
    printf("hello %.*s run in %ld ppid: %ld\n", (int)arg_len, (const char *)arg, mproc_getpid(),
           mproc_getppid());
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    static const char name[] = "bob";
    mproc_process *procs[NPROC];
    double start;
    int i;

    /* The guard, the C form of Python's `if __name__ == "__main__":`. A spawned child (always
     * on Windows, which has no fork) runs this same executable again from the top; mproc_init
     * sends it to its target and ends it there, so only the parent gets past this line. */
    ex_check(mproc_init(argc, argv), "mproc_init");

    printf("main pid: %ld\n", mproc_getpid());
    fflush(stdout);

    start = ex_now();
    for (i = 0; i < NPROC; i++) {
        /* sizeof name - 1: the three letters; bytes travel, never a pointer into our memory. */
        ex_check(mproc_process_create(&procs[i], run, name, sizeof name - 1),
                 "mproc_process_create");
        ex_check(mproc_process_start(procs[i]), "mproc_process_start");
    }
    for (i = 0; i < NPROC; i++) {
        ex_check(mproc_process_join(procs[i], MPROC_FOREVER), "mproc_process_join");
        mproc_process_destroy(procs[i]);
    }
    printf("run in main\n");
    fflush(stdout);
    printf("spend time : %.3f\n", ex_now() - start);
    fflush(stdout);
    return 0;
}
